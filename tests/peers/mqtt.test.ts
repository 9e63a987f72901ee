import { afterEach, describe, expect, it } from "vitest";
import {
  connectClient,
  startBroker,
  startBrokerPair,
  startMosquittoPair,
  type MosquittoBroker,
  type TestBroker,
} from "../../peers/mqtt.js";

const brokers: (TestBroker | MosquittoBroker)[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("MQTT broker fixture", () => {
  it("counts connected clients and delivers QoS 1 round trips without Nagle delays", async () => {
    const broker = await startBroker();
    brokers.push(broker);
    const client = await connectClient(broker, { clientId: "fixture-a" });
    expect(broker.connectedClients()).toBe(1);
    expect(broker.clientIds()).toEqual(["fixture-a"]);

    await client.subscribeAsync("echo/#", { qos: 1 });
    const received: string[] = [];
    let arrived: (() => void) | undefined;
    client.on("message", (_topic, payload) => {
      received.push(payload.toString());
      arrived?.();
    });
    const roundTrips: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const echoed = new Promise<void>((resolve) => (arrived = resolve));
      await client.publishAsync("echo/x", String(i), { qos: 1 });
      await echoed;
      roundTrips.push(performance.now() - started);
    }
    // Nagle + delayed ACK make each QoS 1 round trip cost 40-90 ms; without them it takes ~1 ms.
    const median = roundTrips.sort((a, b) => a - b)[10];
    expect(median).toBeLessThan(40);
    expect(received).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    await client.endAsync();
    await waitFor(() => broker.connectedClients() === 0);
  });

  it("counts subscribers per topic filter and publishes to them from the broker side", async () => {
    const broker = await startBroker();
    brokers.push(broker);
    const client = await connectClient(broker, { clientId: "sub-1" });
    expect(broker.subscriberCount("dr/notice")).toBe(0);
    await client.subscribeAsync("dr/notice", { qos: 1 });
    expect(broker.subscriberCount("dr/notice")).toBe(1);
    const got = new Promise<string>((resolve) => client.once("message", (_t, p) => resolve(p.toString())));
    await broker.publish("dr/notice", '{"region":"b"}');
    expect(await got).toBe('{"region":"b"}');
    await client.endAsync();
    await waitFor(() => broker.subscriberCount("dr/notice") === 0);
  });

  it("disconnectAll closes every connection while the broker keeps accepting new ones", async () => {
    const broker = await startBroker();
    brokers.push(broker);
    const clients = await Promise.all([1, 2, 3].map((i) => connectClient(broker, { clientId: `d${i}` })));
    const closed = clients.map((c) => new Promise<void>((resolve) => c.once("close", () => resolve())));
    await broker.disconnectAll();
    await Promise.all(closed);
    await waitFor(() => broker.connectedClients() === 0);
    expect(broker.listening()).toBe(true);
    const again = await connectClient(broker, { clientId: "d4" });
    expect(broker.connectedClients()).toBe(1);
    await again.endAsync();
  });

  it("kill resets every connection and refuses new connects", async () => {
    const broker = await startBroker();
    brokers.push(broker);
    const client = await connectClient(broker, { clientId: "k1" });
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    await broker.kill();
    await closed;
    expect(broker.listening()).toBe(false);
    await expect(connectClient(broker, { clientId: "k2" })).rejects.toThrow(/ECONNREFUSED/);
    client.end(true);
  });

  it("a broker pair listens on one shared port at two loopback addresses", async () => {
    const [a, b] = await startBrokerPair();
    brokers.push(a, b);
    expect([a.host, b.host]).toEqual(["127.0.0.2", "127.0.0.3"]);
    expect(a.port).toBe(b.port);
    const ca = await connectClient(a, { clientId: "same-id" });
    const cb = await connectClient(b, { clientId: "same-id" });
    expect([a.connectedClients(), b.connectedClients()]).toEqual([1, 1]);
    await Promise.all([ca.endAsync(), cb.endAsync()]);
  });

  it("refuses to listen outside loopback", async () => {
    await expect(startBroker({ host: "0.0.0.0" })).rejects.toThrow(/not an IPv4 loopback address/);
  });
});

describe("mosquitto broker fixture", () => {
  it("runs two mosquitto regions on one port, relays messages, and a kill drops every connection", async () => {
    const [a, b] = await startMosquittoPair();
    brokers.push(a, b);
    expect([a.host, b.host, a.port]).toEqual(["127.0.0.2", "127.0.0.3", b.port]);
    const sub = await connectClient(a, { clientId: "m-sub" });
    await sub.subscribeAsync("m/#", { qos: 1 });
    const got = new Promise<string>((resolve) => sub.once("message", (_t, p) => resolve(p.toString())));
    const pub = await connectClient(a, { clientId: "m-pub" });
    await pub.publishAsync("m/x", "hello", { qos: 1 });
    expect(await got).toBe("hello");

    const closed = new Promise<void>((resolve) => sub.once("close", () => resolve()));
    await a.kill();
    await closed;
    expect(a.running()).toBe(false);
    await expect(connectClient(a, { clientId: "m-late" })).rejects.toThrow(/ECONNREFUSED/);
    // The other region is untouched.
    const onB = await connectClient(b, { clientId: "m-b" });
    await onB.endAsync();
    sub.end(true);
    pub.end(true);
  });
});
