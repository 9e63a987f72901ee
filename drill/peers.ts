/**
 * The local peers of a drill: one moto_server for both regions' AWS APIs and every account, an
 * MQTT broker per region (two loopback addresses sharing one port, because a DNS answer moves
 * devices by address only) and the DNS server of the device endpoint. Reuses the test fixtures
 * (which import nothing from vitest) and owns their lifetime: `stop()` ends every peer, once, and
 * `describe()` says what to look for when checking that nothing was left behind.
 */
import { startBroker, startBrokerPair, type TestBroker } from "../tests/support/mqtt.js";
import { startDnsServer, type TestDnsServer } from "../tests/support/dns.js";
import { startMoto, type MotoServer } from "../tests/support/moto.js";

export const PRIMARY_ADDRESS = "127.0.0.2";
export const SECONDARY_ADDRESS = "127.0.0.3";

/** What a drill started, for the interrupt check and for operators reading stderr. */
export interface PeerInventory {
  /** Child processes (moto_server). */
  pids: number[];
  /** TCP listeners as `address:port`. */
  tcp: string[];
  /** UDP sockets as `address:port`. */
  udp: string[];
}

export interface Peers {
  readonly moto: MotoServer;
  readonly dns: TestDnsServer;
  /** The broker of each region; replaced when a stopped broker is started again. */
  readonly brokers: Record<"primary" | "secondary", TestBroker>;
  /** The port both brokers listen on. */
  readonly mqttPort: number;
  /** Kills a region's broker (connections reset, listener closed). */
  killBroker(role: "primary" | "secondary"): Promise<void>;
  /** Starts a killed broker again on its address and port; `onStart` re-attaches observers. */
  restartBroker(role: "primary" | "secondary"): Promise<TestBroker>;
  describe(): PeerInventory;
  /** Stops every peer; safe to call more than once. */
  stop(): Promise<void>;
}

export interface PeerOptions {
  /** Called with every broker started, the first two included (to observe its traffic). */
  onBroker?: (role: "primary" | "secondary", broker: TestBroker) => void;
}

/** Starts the peers; whatever started before a failure is stopped again before the error is thrown. */
export async function startPeers(options: PeerOptions = {}): Promise<Peers> {
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    const moto = await startMoto();
    started.push(() => moto.stop());
    const [primary, secondary] = await startBrokerPair([PRIMARY_ADDRESS, SECONDARY_ADDRESS]);
    const brokers = { primary: primary!, secondary: secondary! };
    started.push(
      () => brokers.primary.stop(),
      () => brokers.secondary.stop(),
    );
    const dns = await startDnsServer();
    started.push(() => dns.stop());
    options.onBroker?.("primary", brokers.primary);
    options.onBroker?.("secondary", brokers.secondary);
    const port = primary!.port;
    let stopped = false;
    return {
      moto,
      dns,
      brokers,
      mqttPort: port,
      killBroker: (role) => brokers[role].kill(),
      async restartBroker(role) {
        await brokers[role].stop();
        const host = role === "primary" ? PRIMARY_ADDRESS : SECONDARY_ADDRESS;
        // The kernel may hold the port for a moment after the listener closed.
        for (let attempt = 0; ; attempt++) {
          try {
            brokers[role] = await startBroker({ host, port });
            break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 50) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        options.onBroker?.(role, brokers[role]);
        return brokers[role];
      },
      describe: () => ({
        pids: [moto.pid],
        tcp: [`127.0.0.1:${moto.port}`, `${PRIMARY_ADDRESS}:${port}`, `${SECONDARY_ADDRESS}:${port}`],
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
