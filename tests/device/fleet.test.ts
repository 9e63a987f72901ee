import { afterEach, describe, expect, it } from "vitest";
import { Fleet } from "../../device/fleet.js";
import { ENDPOINT, startRegions, type Regions } from "./harness.js";

let regions: Regions | undefined;
let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop({ drainMs: 0 });
  fleet = undefined;
  await regions?.close();
  regions = undefined;
});

const fleetOn = (r: Regions, count: number) =>
  new Fleet({
    count,
    endpoint: ENDPOINT,
    port: r.a.port,
    dnsServers: [r.dns.server],
    publishIntervalMs: 200,
    startRatePerSecond: 0,
    client: { reresolveIntervalMs: 500, backoff: { minDelayMs: 300 } },
  });

describe("fleet simulator", () => {
  it("reports connects per second per target and accounts for every message by sequence number across a DNS move", async () => {
    regions = await startRegions(1);
    const r = regions;
    fleet = fleetOn(r, 30);
    const A = `${r.a.host}:${r.a.port}`;
    const B = `${r.b.host}:${r.b.port}`;
    await fleet.start();
    await fleet.waitUntil((s) => s.connectedByTarget[A] === 30, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    r.dns.setRecord(ENDPOINT, r.b.host, 1);
    await fleet.waitUntil((s) => s.connectedByTarget[B] === 30, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const report = await fleet.stop();
    fleet = undefined;

    const total = (target: string) => report.timeline.reduce((n, s) => n + (s.connects[target] ?? 0), 0);
    expect(total(A)).toBe(30);
    expect(total(B)).toBe(30);
    // The gauge saw the whole fleet on A at some second, and on B at the end.
    expect(report.timeline.some((s) => s.connected[A] === 30 && s.connected[B] === undefined)).toBe(true);
    expect(report.timeline.at(-1)?.connected).toEqual({ [B]: 30 });
    const m = report.messages;
    expect(m.sent).toBeGreaterThan(30 * 10);
    expect(report.lost).toBe(0);
    expect(m.dropped).toBe(0);
    expect(m.received).toBe(m.sent);
    expect(report.timeline.reduce((n, s) => n + s.sent, 0)).toBe(m.sent);
    expect(report.counters.moves).toBe(30);
  });

  it("after a region is killed, every message is either received, dropped or counted lost", async () => {
    regions = await startRegions(1);
    const r = regions;
    fleet = fleetOn(r, 30);
    await fleet.start();
    await fleet.waitUntil((s) => s.connected === 30, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 600));
    r.dns.setRecord(ENDPOINT, r.b.host, 1);
    await r.a.kill();
    await fleet.waitUntil((s) => s.connectedByTarget[`${r.b.host}:${r.b.port}`] === 30, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const report = await fleet.stop();
    fleet = undefined;
    const m = report.messages;
    expect(m.sent).toBeGreaterThan(0);
    expect(m.received + m.dropped + report.lost).toBe(m.sent);
    expect(m.dropped).toBe(0);
  });

  it("ends its timeline with the gauge sampled before the devices stop, however long stopping takes", async () => {
    regions = await startRegions(1);
    const r = regions;
    fleet = fleetOn(r, 5);
    const A = `${r.a.host}:${r.a.port}`;
    await fleet.start();
    await fleet.waitUntil((s) => s.connectedByTarget[A] === 5, 10_000);
    // A loaded machine: every device takes past the next second boundary to stop.
    for (const client of fleet.clients) {
      const stop = client.stop.bind(client);
      client.stop = async () => {
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        return stop();
      };
    }
    const report = await fleet.stop({ drainMs: 0 });
    fleet = undefined;
    expect(report.connectedByTarget).toEqual({ [A]: 5 });
    expect(report.timeline.at(-1)?.connected).toEqual({ [A]: 5 });
    // The devices' own disconnects at stop are counted, in the last second.
    expect(report.timeline.at(-1)?.disconnects).toBe(5);
  });

  it("rejects a fleet it cannot build, naming the setting", () => {
    expect(() => new Fleet({ count: 0, endpoint: ENDPOINT })).toThrow(
      /count must be an integer from 1 to 50000/,
    );
    expect(() => new Fleet({ count: 1, endpoint: "" })).toThrow(/endpoint is required/);
    expect(() => new Fleet({ count: 1, endpoint: ENDPOINT, dnsServers: ["nope"] })).toThrow(
      /'nope' is not of the form/,
    );
  });
});
