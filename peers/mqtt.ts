/**
 * Test fixture: an in-process MQTT 3.1.1 broker (aedes) on a loopback address.
 *
 *   const broker = await startBroker();                  // 127.0.0.1, free port
 *   const [a, b] = await startBrokerPair();              // 127.0.0.2:P and 127.0.0.3:P, one shared port P
 *   broker.connectedClients();                           // clients past CONNACK
 *   broker.subscriberCount("dr/notice");                 // connected clients subscribed to that filter
 *   broker.publish("dr/notice", '{"region":"b"}');      // publish from the broker side (QoS 1)
 *   await broker.disconnectAll();                        // server closes every connection, keeps listening
 *   await broker.kill();                                 // crash: RST every connection, stop listening
 *   await broker.stop();                                 // orderly shutdown (idempotent, also after kill)
 *   const client = await connectClient(broker, { clientId: "observer" });  // mqtt.js client, no-delay
 *   const [ma, mb] = await startMosquittoPair();         // Debian mosquitto processes, for load; kill() is SIGKILL
 *
 * Two "regions" share one port on two loopback addresses because a DNS A record carries an address
 * only: devices keep their configured port when DNS moves them. TCP no-delay is set on every server
 * socket (clients must set it too), otherwise Nagle + delayed ACK make a QoS 1 round trip ~90 ms.
 */
import { Aedes } from "aedes";
import { MqttClient, type IClientOptions } from "mqtt";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export interface StartBrokerOptions {
  /** Loopback address to listen on; default 127.0.0.1. Anything outside 127.0.0.0/8 is refused. */
  host?: string;
  /** Port; default 0 (a free port chosen by the kernel). */
  port?: number;
}

export interface TestBroker {
  /** Address the broker listens on. */
  readonly host: string;
  /** Port the broker listens on. */
  readonly port: number;
  /** `mqtt://host:port`. */
  readonly url: string;
  /** The aedes instance, for tests that need its events (publish, client, clientDisconnect ...). */
  readonly aedes: Aedes;
  /** Number of clients connected (past CONNACK) right now. */
  connectedClients(): number;
  /** Client ids connected right now. */
  clientIds(): string[];
  /** Closes one client's connection from the broker side, as IoT's DeleteConnection does; false when it is not connected. */
  closeClient(clientId: string): boolean;
  /** Connected clients holding a subscription with exactly this topic filter (SUBSCRIBE processed). */
  subscriberCount(topicFilter: string): number;
  /** Publishes from the broker side to every matching subscriber; resolves once handed to them. */
  publish(
    topic: string,
    payload: string | Buffer,
    options?: { qos?: 0 | 1; retain?: boolean },
  ): Promise<void>;
  /** Whether the listener accepts new connections. */
  listening(): boolean;
  /** The server closes every client connection (as IoT Core does on a forced disconnect); keeps listening. */
  disconnectAll(): Promise<void>;
  /** A crash: every connection is reset, the listener closes, new connects are refused. */
  kill(): Promise<void>;
  /** Orderly shutdown; safe to call more than once and after kill(). */
  stop(): Promise<void>;
}

function assertLoopback(host: string): void {
  if (net.isIPv4(host) && host.startsWith("127.")) return;
  throw new Error(`broker host '${host}' is not an IPv4 loopback address; use one in 127.0.0.0/8`);
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen({ host, port }, () => {
      server.off("error", onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Starts one broker on a loopback address. */
export async function startBroker(options: StartBrokerOptions = {}): Promise<TestBroker> {
  const host = options.host ?? "127.0.0.1";
  assertLoopback(host);
  const aedes = await Aedes.createBroker();
  // Keyed by connection, not client id: a reconnect under the same id must not lose the new set.
  const subscriptions = new Map<object, Set<string>>();
  aedes.on("subscribe", (subs, client) => {
    const set = subscriptions.get(client) ?? new Set<string>();
    for (const sub of subs) set.add(sub.topic);
    subscriptions.set(client, set);
  });
  aedes.on("unsubscribe", (topics, client) => {
    for (const topic of topics) subscriptions.get(client)?.delete(topic);
  });
  aedes.on("clientDisconnect", (client) => subscriptions.delete(client));
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    // A reset peer is normal in these tests; aedes reports it through its own events.
    socket.on("error", () => undefined);
    aedes.handle(socket);
  });
  let port: number;
  try {
    port = await listen(server, host, options.port ?? 0);
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  }
  let isListening = true;
  let stopped = false;

  const closeListener = () =>
    new Promise<void>((resolve) => {
      if (!isListening) return resolve();
      isListening = false;
      server.close(() => resolve());
    });

  // aedes keeps its clients by id but does not type the map.
  const clientsById = () => (aedes as unknown as { clients: Record<string, { close(): void }> }).clients;

  const waitForSocketsClosed = async () => {
    const deadline = Date.now() + 5_000;
    while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };

  return {
    host,
    port,
    url: `mqtt://${host}:${port}`,
    aedes,
    connectedClients: () => aedes.connectedClients,
    clientIds: () => Object.keys(clientsById()),
    closeClient: (clientId) => {
      const client = clientsById()[clientId];
      if (!client) return false;
      client.close();
      return true;
    },
    subscriberCount: (topicFilter) =>
      [...subscriptions.values()].filter((set) => set.has(topicFilter)).length,
    publish: (topic, payload, publishOptions = {}) =>
      new Promise<void>((resolve, reject) =>
        aedes.publish(
          {
            cmd: "publish",
            topic,
            payload: typeof payload === "string" ? Buffer.from(payload) : payload,
            qos: publishOptions.qos ?? 1,
            retain: publishOptions.retain ?? false,
            dup: false,
          },
          (err) => (err ? reject(err) : resolve()),
        ),
      ),
    listening: () => isListening,
    async disconnectAll() {
      for (const socket of sockets) socket.end();
      await waitForSocketsClosed();
    },
    async kill() {
      const closed = closeListener();
      for (const socket of sockets) socket.resetAndDestroy();
      await closed;
      await waitForSocketsClosed();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const closed = closeListener();
      for (const socket of sockets) socket.destroy();
      await closed;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}

/**
 * Starts brokers on several loopback addresses that share one port (default 127.0.0.2 and
 * 127.0.0.3): two "regions" a DNS name can point devices at.
 */
export async function startBrokerPair(
  hosts: [string, string] = ["127.0.0.2", "127.0.0.3"],
): Promise<TestBroker[]> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await startBroker({ host: hosts[0] });
    try {
      const second = await startBroker({ host: hosts[1], port: first.port });
      return [first, second];
    } catch (err) {
      await first.stop();
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    }
  }
  throw new Error(`no port free on both ${hosts.join(" and ")} after 20 attempts`);
}

/**
 * Connects a plain mqtt.js client (MQTT 3.1.1, TCP no-delay, no automatic reconnect) and waits for
 * CONNACK. The caller ends it (`await client.endAsync()`).
 */
export function connectClient(
  broker: { host: string; port: number },
  options: IClientOptions = {},
): Promise<MqttClient> {
  const client = new MqttClient(() => net.connect({ host: broker.host, port: broker.port, noDelay: true }), {
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...options,
  });
  return new Promise((resolve, reject) => {
    client.once("connect", () => resolve(client));
    client.once("error", (err) => {
      client.end(true);
      reject(err);
    });
    client.once("close", () =>
      reject(new Error(`connection to ${broker.host}:${broker.port} closed before CONNACK`)),
    );
  });
}

/**
 * A Debian `mosquitto` broker in a child process (MQTT 5 and 3.1.1; thousands of connections where
 * aedes, sharing the test's event loop, cannot keep up). Needs `apt-get install mosquitto`.
 * `kill()` is SIGKILL: the kernel drops every connection, as in a real crash.
 */
export interface MosquittoBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Whether the process is running. */
  running(): boolean;
  /** SIGKILL: every connection drops, connects are refused. */
  kill(): Promise<void>;
  /** SIGTERM and wait; safe after kill(). */
  stop(): Promise<void>;
}

async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline)
      throw new Error(`mosquitto did not listen on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts mosquitto on a loopback address and port (the port must be free). */
export async function startMosquitto(options: { host?: string; port: number }): Promise<MosquittoBroker> {
  const host = options.host ?? "127.0.0.1";
  assertLoopback(host);
  if (spawnSync("mosquitto", ["-h"]).error) {
    throw new Error("mosquitto is not installed: apt-get install mosquitto (Debian) to run this test");
  }
  const dir = mkdtempSync(path.join(tmpdir(), "iot-dr-mosquitto-"));
  const conf = path.join(dir, "mosquitto.conf");
  writeFileSync(
    conf,
    [
      `listener ${options.port} ${host}`,
      "allow_anonymous true",
      "persistence false",
      "max_connections -1",
      "max_queued_messages 100000",
      "set_tcp_nodelay true",
      "log_dest stderr",
      "log_type error",
      "",
    ].join("\n"),
  );
  const child = spawn("mosquitto", ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      rmSync(dir, { recursive: true, force: true });
      resolve();
    }),
  );
  try {
    await Promise.race([
      waitForPort(host, options.port, 5_000),
      exit.then(() => {
        throw new Error(`mosquitto exited at start: ${stderr.trim() || "no output"}`);
      }),
    ]);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const signal = async (sig: NodeJS.Signals) => {
    if (!exited) child.kill(sig);
    await exit;
  };
  return {
    host,
    port: options.port,
    url: `mqtt://${host}:${options.port}`,
    pid: child.pid!,
    running: () => !exited,
    kill: () => signal("SIGKILL"),
    stop: () => signal("SIGTERM"),
  };
}

/** A port free on every one of these loopback addresses right now. */
export async function freePortOn(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const servers: net.Server[] = [];
    try {
      const first = net.createServer();
      servers.push(first);
      const port = await listen(first, hosts[0], 0);
      for (const host of hosts.slice(1)) {
        const server = net.createServer();
        servers.push(server);
        await listen(server, host, port);
      }
      return port;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => (s.listening ? s.close(r) : r(undefined)))));
    }
  }
  throw new Error(`no port free on all of ${hosts.join(", ")} after 20 attempts`);
}

/** Two mosquitto "regions" on 127.0.0.2 and 127.0.0.3 sharing one port. */
export async function startMosquittoPair(
  hosts: [string, string] = ["127.0.0.2", "127.0.0.3"],
): Promise<MosquittoBroker[]> {
  const port = await freePortOn(hosts);
  const first = await startMosquitto({ host: hosts[0], port });
  try {
    return [first, await startMosquitto({ host: hosts[1], port })];
  } catch (err) {
    await first.stop();
    throw err;
  }
}
