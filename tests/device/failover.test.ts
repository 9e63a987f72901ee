import { afterEach, describe, expect, it } from "vitest";
import { ENDPOINT, startRegions, waitFor, type Regions } from "./harness.js";

let regions: Regions | undefined;
afterEach(async () => {
  await regions?.close();
  regions = undefined;
});

const onB = (r: Regions) => r.clients.filter((c) => c.target?.address === r.b.host).length;

describe("device fail-over", () => {
  it("a DNS flip moves every client within TTL + re-resolve period", async () => {
    const ttl = 1;
    const reresolveIntervalMs = 1_000;
    regions = await startRegions(ttl);
    const r = regions;
    for (let i = 0; i < 20; i++) r.client({ reresolveIntervalMs }).start();
    await waitFor("all on A", () => r.a.connectedClients() === 20);

    const flippedAt = Date.now();
    const movedAfter: number[] = [];
    for (const c of r.clients) c.on("reconnected", (e) => e.moved && movedAfter.push(Date.now() - flippedAt));
    r.dns.setRecord(ENDPOINT, r.b.host, ttl);
    await waitFor("all on B", () => onB(r) === 20, 10_000);

    expect(r.a.connectedClients()).toBe(0);
    expect(movedAfter).toHaveLength(20);
    // Bound: the old answer lives at most TTL, the next re-resolution comes at most one period later.
    expect(Math.max(...movedAfter)).toBeLessThan(ttl * 1000 + reresolveIntervalMs + 500);
    for (const c of r.clients) expect(c.counters).toMatchObject({ moves: 1, dropped: 0 });
  });

  it("a fail-over notice moves every client within one second, even while DNS caches still point at the old region", async () => {
    // A long TTL: without the notice the clients would stay on A for minutes.
    regions = await startRegions(300);
    const r = regions;
    for (let i = 0; i < 20; i++) r.client({ noticeTopic: "dr/notice", noticeSpreadMs: 500 }).start();
    await waitFor("all on A", () => r.a.connectedClients() === 20);
    // Route 53 has flipped; the devices' caches have not.
    r.dns.setRecord(ENDPOINT, r.b.host, 300);

    await waitFor("notice subscriptions", () => r.a.subscriberCount("dr/notice") === 20);
    const sentAt = Date.now();
    await r.a.publish("dr/notice", '{"id":"n1"}');
    await waitFor("all on B", () => onB(r) === 20, 5_000);
    expect(Date.now() - sentAt).toBeLessThan(1_000);
    for (const c of r.clients) expect(c.counters.notices).toBe(1);
  });

  it("a notice naming a region moves clients to that region's endpoint without waiting for DNS", async () => {
    regions = await startRegions(300);
    const r = regions;
    r.dns.setRecord("iot.eu-west-1.example.test", r.b.host, 300);
    const regionEndpoints = { "us-east-1": ENDPOINT, "eu-west-1": "iot.eu-west-1.example.test" };
    for (let i = 0; i < 10; i++)
      r.client({ noticeTopic: "dr/notice", noticeSpreadMs: 200, regionEndpoints }).start();
    await waitFor("notice subscriptions", () => r.a.subscriberCount("dr/notice") === 10);
    const ignored: string[] = [];
    for (const c of r.clients) c.on("notice", (e) => e.action === "ignored" && ignored.push(e.detail));
    await r.a.publish("dr/notice", JSON.stringify({ region: "ap-south-1" }));
    await r.a.publish("dr/notice", JSON.stringify({ region: "eu-west-1" }));
    await waitFor("all on B", () => onB(r) === 10, 5_000);
    for (const c of r.clients) {
      expect(c.target).toMatchObject({ host: "iot.eu-west-1.example.test", address: r.b.host });
    }
    // A region the device has no endpoint for cannot move it anywhere.
    expect(ignored).toHaveLength(10);
    expect(ignored[0]).toMatch(/ap-south-1 is not in regionEndpoints/);
    // DNS for the fail-over name never changed: the notice alone moved them.
    expect(r.dns.queryCount(ENDPOINT)).toBe(10);
  });

  it("the server closing connections makes clients re-resolve past their cache and reconnect where DNS now points", async () => {
    regions = await startRegions(300);
    const r = regions;
    for (let i = 0; i < 20; i++) r.client({ backoff: { minDelayMs: 300 } }).start();
    await waitFor("all on A", () => r.a.connectedClients() === 20);
    r.dns.setRecord(ENDPOINT, r.b.host, 300);
    await r.a.disconnectAll();
    await waitFor("all on B", () => onB(r) === 20, 5_000);
    // A is still up and DNS answers were cached for 300 s: only re-resolution can explain the move.
    expect(r.a.listening()).toBe(true);
    expect(r.dns.queryCount(ENDPOINT)).toBeGreaterThanOrEqual(40);
    for (const c of r.clients) expect(c.counters).toMatchObject({ disconnects: 1, reconnects: 1, moves: 1 });
  });

  it("after a broker dies its clients retry with backoff and move once DNS names the other region", async () => {
    regions = await startRegions(1);
    const r = regions;
    for (let i = 0; i < 20; i++) {
      const c = r.client({ backoff: { minDelayMs: 200, maxDelayMs: 800 } });
      void c.subscribe(`cmd/${c.clientId}`);
      c.start();
    }
    await waitFor("all on A", () => r.a.connectedClients() === 20);
    await r.a.kill();
    // Route 53 needs a few failed health checks before it flips the record.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const failedBeforeFlip = r.clients.reduce((n, c) => n + c.counters.connectFailures, 0);
    r.dns.setRecord(ENDPOINT, r.b.host, 1);
    await waitFor("all on B", () => onB(r) === 20, 10_000);

    expect(failedBeforeFlip).toBeGreaterThan(0);
    const received = new Set<string>();
    for (const c of r.clients) c.on("message", (topic) => received.add(topic));
    await waitFor("subscriptions restored on B", () =>
      r.clients.every((c) => r.b.subscriberCount(`cmd/${c.clientId}`) === 1),
    );
    for (const c of r.clients) await r.b.publish(`cmd/${c.clientId}`, "ping");
    await waitFor("commands delivered on B", () => received.size === 20);
    for (const c of r.clients) expect(c.counters).toMatchObject({ disconnects: 1, reconnects: 1, moves: 1 });
  });
});
