/**
 * The connect quota in front of the drill's brokers (peers/connectGate.ts): connects over the rate
 * are refused as IoT Core refuses them (the CONNECT read, the connection closed, no CONNACK), and
 * the device library backs off and gets in at the rate the quota allows.
 */
import { afterEach, describe, expect, it } from "vitest";
import { FailoverClient } from "../../device/client.js";
import { startConnectGate, tokenBucket, type ConnectGate } from "../../peers/connectGate.js";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";
import { connectClient, freePortOn, startBroker, type TestBroker } from "../../peers/mqtt.js";

describe("token bucket", () => {
  it("allows its burst at once, then one token per 1/rate seconds", () => {
    let now = 0;
    const bucket = tokenBucket({ ratePerSecond: 10, burst: 2, now: () => now });
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
    now = 50;
    expect(bucket.take()).toBe(false);
    now = 100;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
    now = 10_000;
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
  });

  it("defaults its burst to a tenth of a second's connects", () => {
    expect(tokenBucket({ ratePerSecond: 500 }).burst).toBe(50);
    expect(tokenBucket({ ratePerSecond: 4 }).burst).toBe(1);
  });
});

describe("connect gate in front of a broker", () => {
  const stops: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function gated(
    host: string,
    ratePerSecond: number,
  ): Promise<{ gate: ConnectGate; broker: TestBroker }> {
    const broker = await startBroker({ host });
    stops.push(() => broker.stop());
    const port = await freePortOn([host]);
    const gate = await startConnectGate({
      host,
      port,
      target: { host, port: broker.port },
      bucket: tokenBucket({ ratePerSecond, burst: 1 }),
    });
    stops.push(() => gate.stop());
    return { gate, broker };
  }

  it("refuses connects over the quota by closing them before CONNACK", async () => {
    const { gate } = await gated("127.0.0.1", 1);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => connectClient(gate, { clientId: `c${i}` })),
    );
    const connected = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.filter((o) => o.status === "rejected");
    expect(connected).toHaveLength(1);
    expect(refused.map((r) => String((r as PromiseRejectedResult).reason))).toEqual(
      Array(4).fill(expect.stringContaining("closed before CONNACK")),
    );
    expect(gate.counts).toEqual({ admitted: 1, refused: 4 });
    for (const c of connected)
      await (c as PromiseFulfilledResult<{ endAsync(): Promise<void> }>).value.endAsync();
  });

  it("lets a device fleet in at the quota's rate, each device backing off after a refusal", async () => {
    const host = "127.0.0.2";
    const { gate } = await gated(host, 4);
    const dns: TestDnsServer = await startDnsServer();
    stops.push(() => dns.stop());
    dns.setRecord("devices.gate.test", host, 1);
    const started = Date.now();
    const clients = Array.from(
      { length: 6 },
      (_, i) =>
        new FailoverClient({
          endpoint: "devices.gate.test",
          clientId: `device-${i}`,
          port: gate.port,
          dnsServers: [dns.server],
          backoff: { minDelayMs: 100, maxDelayMs: 400 },
          reresolveIntervalMs: 0,
        }),
    );
    stops.push(async () => Promise.all(clients.map((c) => c.stop())));
    for (const c of clients) c.start();
    expect(await Promise.all(clients.map((c) => c.whenConnected()))).toEqual(Array(6).fill(true));
    // 1 at once, then 4 per second: the sixth gets in no sooner than 1.25 s after the first
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(gate.counts.admitted).toBe(6);
    expect(gate.counts.refused).toBeGreaterThan(0);
    expect(clients.reduce((n, c) => n + c.counters.connectFailures, 0)).toBe(gate.counts.refused);
  });

  it("refuses every connect once killed, as a dead broker does", async () => {
    const { gate } = await gated("127.0.0.1", 100);
    await gate.kill();
    await expect(connectClient(gate)).rejects.toThrow(/ECONNREFUSED/);
  });
});
