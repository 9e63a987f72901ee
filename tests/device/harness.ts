/**
 * Two local "regions" for device tests: brokers A (127.0.0.2) and B (127.0.0.3) on one port, and a
 * DNS server answering ENDPOINT with A's address until a test flips it.
 */
import { expect } from "vitest";
import { FailoverClient, type FailoverClientOptions } from "../../device/client.js";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";
import { startBrokerPair, type TestBroker } from "../../peers/mqtt.js";

export const ENDPOINT = "iot.dr.example.test";

export interface Regions {
  a: TestBroker;
  b: TestBroker;
  dns: TestDnsServer;
  clients: FailoverClient[];
  /** A client on ENDPOINT through the test DNS server; stopped by close(). */
  client(options?: Partial<FailoverClientOptions>): FailoverClient;
  close(): Promise<void>;
}

export async function startRegions(ttlSeconds = 1): Promise<Regions> {
  const [a, b] = await startBrokerPair();
  const dns = await startDnsServer({ [ENDPOINT]: { addresses: [a.host], ttl: ttlSeconds } });
  const clients: FailoverClient[] = [];
  let n = 0;
  return {
    a,
    b,
    dns,
    clients,
    client(options = {}) {
      const client = new FailoverClient({
        endpoint: ENDPOINT,
        clientId: `device-${++n}`,
        port: a.port,
        dnsServers: [dns.server],
        ...options,
      });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.stop()));
      await Promise.all([a.stop(), b.stop(), dns.stop()]);
    },
  };
}

/** Polls until `condition` holds; fails with `what` after timeoutMs. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Starts `count` FailoverClients `device-0` … `device-<count-1>` with `options`, pushed onto
 * `clients` (the caller stops them).
 */
export function startFleet(
  clients: FailoverClient[],
  count: number,
  options: Omit<FailoverClientOptions, "clientId">,
): void {
  for (let i = 0; i < count; i++) {
    const client = new FailoverClient({ ...options, clientId: `device-${i}` });
    clients.push(client);
    client.start();
  }
}

/** Devices only a server-side disconnect moves: no periodic re-resolution, quick reconnects. */
export const MOVED_BY_DISCONNECT = { reresolveIntervalMs: 0, backoff: { minDelayMs: 50, maxDelayMs: 200 } };

/** startFleet() on `broker`'s port through `dns`, resolved once every device is connected to `broker`. */
export async function startFleetOn(
  clients: FailoverClient[],
  count: number,
  broker: TestBroker,
  dns: TestDnsServer,
  options: Omit<FailoverClientOptions, "clientId" | "port" | "dnsServers">,
): Promise<void> {
  startFleet(clients, count, { ...options, port: broker.port, dnsServers: [dns.server] });
  await waitFor("every device on the failing region", () =>
    clients.every((c) => c.target?.address === broker.host),
  );
}

/**
 * Starts a client that must not connect and returns the first failure it reports (it is stopped
 * before returning).
 */
export async function firstFailure(client: FailoverClient): Promise<string> {
  const failures: string[] = [];
  client.on("connectFailed", (e) => failures.push(e.error));
  client.start();
  await waitFor("a refused connection", () => failures.length > 0);
  await client.stop();
  expect(client.counters.connects).toBe(0);
  return failures[0]!;
}
