/**
 * The local peers of a drill: one moto_server for both regions' AWS APIs and every account, an
 * MQTT broker per region (two loopback addresses sharing one port, because a DNS answer moves
 * devices by address only) and the DNS server of the device endpoint. Reuses the test fixtures
 * (which import nothing from vitest) and owns their lifetime: `stop()` ends every peer, once, and
 * `describe()` says what to look for when checking that nothing was left behind.
 *
 * Brokers are Debian `mosquitto` processes when it is installed (a thousand devices need it:
 * aedes shares the drill's event loop and accepts only tens of connects per second on a loaded
 * machine), else in-process aedes.
 *
 * With `connectQuota`, devices reach each broker through a connect gate (peers/connectGate.ts) that
 * admits connects at IoT Core's per-account, per-region rate (on a worker thread, so the devices'
 * traffic through it does not delay the drill's own loop); the broker itself then listens on a
 * second port (`brokerPort`) that the drill's own clients use: the telemetry observer and the
 * notifier's publish stand for IoT's data plane (no MQTT connect on AWS). The health canary goes
 * through the gate like a device: on AWS it draws on the same quota.
 */
import { spawnSync } from "node:child_process";
import type { MqttClient } from "mqtt";
import {
  connectClient,
  freePortOn,
  startBroker,
  startMosquitto,
  type MosquittoBroker,
  type TestBroker,
} from "../peers/mqtt.js";
import { GateWorker } from "../peers/connectGateWorker.js";
import { startDnsServer, type TestDnsServer } from "../peers/dns.js";
import { startMoto, type MotoServer } from "../peers/moto.js";

export const PRIMARY_ADDRESS = "127.0.0.2";
export const SECONDARY_ADDRESS = "127.0.0.3";

export type Role = "primary" | "secondary";

/** What a drill started, for the interrupt check and for operators reading stderr. */
export interface PeerInventory {
  /** Child processes (moto_server, mosquitto). */
  pids: number[];
  /** TCP listeners as `address:port`. */
  tcp: string[];
  /** UDP sockets as `address:port`. */
  udp: string[];
}

/** A region's broker, whichever implementation runs it. */
export interface DrillBroker {
  readonly kind: "mosquitto" | "aedes";
  readonly host: string;
  readonly port: number;
  /** The process, for mosquitto. */
  readonly pid?: number;
  /** The in-process broker, for aedes. */
  readonly aedes?: TestBroker["aedes"];
  alive(): boolean;
  /** Publishes one QoS 1 message from the broker side (the IoT data plane's publish). */
  publish(topic: string, payload: string): Promise<void>;
  /** A crash: every connection drops, new connects are refused. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

function fromAedes(broker: TestBroker): DrillBroker {
  let killed = false;
  return {
    kind: "aedes",
    host: broker.host,
    port: broker.port,
    aedes: broker.aedes,
    alive: () => !killed && broker.listening(),
    publish: (topic, payload) => broker.publish(topic, payload, { qos: 1 }),
    kill: async () => {
      killed = true;
      await broker.kill();
    },
    stop: () => broker.stop(),
  };
}

function fromMosquitto(broker: MosquittoBroker): DrillBroker {
  return {
    kind: "mosquitto",
    host: broker.host,
    port: broker.port,
    pid: broker.pid,
    alive: () => broker.running(),
    async publish(topic, payload) {
      const client: MqttClient = await connectClient(broker, { clientId: `iot-dr-notifier-${Date.now()}` });
      try {
        await client.publishAsync(topic, payload, { qos: 1 });
      } finally {
        await client.endAsync();
      }
    },
    kill: () => broker.kill(),
    stop: () => broker.stop(),
  };
}

export interface Peers {
  readonly moto: MotoServer;
  readonly dns: TestDnsServer;
  /** The broker of each region; replaced when a killed broker is started again. */
  readonly brokers: Record<Role, DrillBroker>;
  /** The port devices connect to on both addresses (the connect gate's, when there is one). */
  readonly mqttPort: number;
  /** The port the brokers themselves listen on (= mqttPort without a connect quota). */
  readonly brokerPort: number;
  /** Connects the gate of each region admitted and refused (zero without a connect quota). */
  connectCounts(): Promise<Record<Role, { admitted: number; refused: number }>>;
  killBroker(role: Role): Promise<void>;
  /** Starts a killed broker again on its address and port. */
  restartBroker(role: Role): Promise<DrillBroker>;
  describe(): PeerInventory;
  /** Stops every peer; safe to call more than once. */
  stop(): Promise<void>;
}

export interface PeerOptions {
  /** "mosquitto" (default when installed) or "aedes". */
  broker?: "mosquitto" | "aedes";
  /** Called, and awaited, with every broker started (to observe its traffic before devices arrive). */
  onBroker?: (role: Role, broker: DrillBroker) => Promise<void> | void;
  /** Devices' connects per second per region (IoT Core's quota); default: no gate. */
  connectQuota?: { ratePerSecond: number; burst?: number };
}

export const mosquittoInstalled = () => !spawnSync("mosquitto", ["-h"]).error;

/** Starts the peers; whatever started before a failure is stopped again before the error is thrown. */
export async function startPeers(options: PeerOptions = {}): Promise<Peers> {
  const kind = options.broker ?? (mosquittoInstalled() ? "mosquitto" : "aedes");
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.splice(0).reverse()) await stop().catch(() => undefined);
  };
  const addressOf = (role: Role) => (role === "primary" ? PRIMARY_ADDRESS : SECONDARY_ADDRESS);
  const launch = async (role: Role, port: number): Promise<DrillBroker> =>
    kind === "mosquitto"
      ? fromMosquitto(await startMosquitto({ host: addressOf(role), port }))
      : fromAedes(await startBroker({ host: addressOf(role), port }));
  try {
    const moto = await startMoto();
    started.push(() => moto.stop());
    const port = await freePortOn([PRIMARY_ADDRESS, SECONDARY_ADDRESS]);
    let brokerPort = port;
    if (options.connectQuota)
      do brokerPort = await freePortOn([PRIMARY_ADDRESS, SECONDARY_ADDRESS]);
      while (brokerPort === port);
    const quota = options.connectQuota;
    let gates: GateWorker | undefined;
    if (quota) {
      gates = await GateWorker.start();
      started.push(() => gates!.terminate());
    }
    const openGate = async (role: Role) =>
      gates?.open(role, {
        host: addressOf(role),
        port,
        target: { host: addressOf(role), port: brokerPort },
        ...quota!,
      });
    const brokers = {} as Record<Role, DrillBroker>;
    brokers.primary = await launch("primary", brokerPort);
    started.push(() => brokers.primary.stop());
    brokers.secondary = await launch("secondary", brokerPort);
    started.push(() => brokers.secondary.stop());
    for (const role of ["primary", "secondary"] as const) await openGate(role);
    const dns = await startDnsServer();
    started.push(() => dns.stop());
    await options.onBroker?.("primary", brokers.primary);
    await options.onBroker?.("secondary", brokers.secondary);
    let stopped = false;
    return {
      moto,
      dns,
      brokers,
      mqttPort: port,
      brokerPort,
      async connectCounts() {
        const counts = (await gates?.counts()) ?? {};
        const none = { admitted: 0, refused: 0 };
        return { primary: counts.primary ?? none, secondary: counts.secondary ?? none };
      },
      async killBroker(role) {
        await gates?.kill(role);
        await brokers[role].kill();
      },
      async restartBroker(role) {
        await brokers[role].stop();
        // The kernel may hold the port for a moment after the listener closed.
        const retry = async (start: () => Promise<void>) => {
          for (let attempt = 0; ; attempt++) {
            try {
              return await start();
            } catch (err) {
              if (attempt >= 50) throw err;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        };
        await retry(async () => void (brokers[role] = await launch(role, brokerPort)));
        await retry(() => openGate(role));
        await options.onBroker?.(role, brokers[role]);
        return brokers[role];
      },
      describe: () => ({
        pids: [moto.pid, ...Object.values(brokers).flatMap((b) => (b.pid ? [b.pid] : []))],
        tcp: [
          `127.0.0.1:${moto.port}`,
          ...[port, ...(brokerPort !== port ? [brokerPort] : [])].flatMap((p) => [
            `${PRIMARY_ADDRESS}:${p}`,
            `${SECONDARY_ADDRESS}:${p}`,
          ]),
        ],
        udp: [dns.server],
      }),
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
