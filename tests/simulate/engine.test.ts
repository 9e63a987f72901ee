/**
 * The simulation's world and accounting: the same seed gives the same run, the quota holds in
 * every second, the band of functions/rto.ts for 99 % of the fleet contains the simulated 99 %
 * time, and `bench devices`' scenario moves everyone within its first reconnect window.
 */
import { describe, expect, it } from "vitest";
import { estimateRto } from "../../functions/rto.js";
import { simulate } from "../../simulate/engine.js";
import { benchDevicesParams, defaultParams } from "../../simulate/params.js";
import { summarize } from "../../simulate/summary.js";
import { WORKED_EXAMPLE } from "../support/rto.js";

describe("fleet simulation", () => {
  it("gives the same run for the same seed, and a different one for another seed", () => {
    const p = { ...defaultParams(3_000), connectQuota: 100 };
    const { seconds: s1, ...a } = simulate(p);
    const { seconds: s2, ...b } = simulate(p);
    expect(a).toEqual(b);
    expect(s1).toEqual(s2);
    expect(simulate({ ...p, seed: 2 }).connectedMs).not.toEqual(a.connectedMs);
  });

  it("admits at most the quota per region in every whole second and retries every refused connect", () => {
    const o = simulate({ ...defaultParams(20_000), connectQuota: 250, trigger: "mixed" });
    expect(o.refusedConnects).toBeGreaterThan(0);
    for (const s of o.seconds) {
      expect(s.connectsB).toBeLessThanOrEqual(250);
      expect(s.connectsA).toBeLessThanOrEqual(250);
    }
    expect(o.devicesOnB).toBe(20_000);
    expect(o.seconds.at(-1)!.onB).toBe(20_000);
    // 20,000 devices at 250/s cannot all be back sooner than 80 s after the DNS flip
    expect(o.connectedMs.p100! - o.detectionMs).toBeGreaterThanOrEqual(80_000);
  });

  it.each([1_000, 10_000, 100_000])(
    "iot-dr rto's band for 99 percent of %i devices contains the simulated 99th-percentile time (mixed triggers)",
    (n) => {
      const o = simulate(defaultParams(n));
      const r = summarize(o, 0, 0);
      expect(r.p99WithinExpected).toBe(true);
      expect(r.connectedSeconds.p99!).toBeGreaterThanOrEqual(r.expectedP99Seconds[0]);
      expect(r.connectedSeconds.p99!).toBeLessThanOrEqual(r.expectedP99Seconds[1]);
    },
  );

  it("moves bench devices' fleet within the first reconnect window at about devices / window per second", () => {
    const o = simulate(benchDevicesParams(5_000));
    expect(o.byTrigger["connection-lost"]).toBe(5_000);
    expect(o.connectedMs.p100!).toBeLessThanOrEqual(10_000 + 5 + 10);
    expect(o.connectedMs.p99!).toBeGreaterThan(9_500);
    expect(o.peakConnectsSliding1s).toBeGreaterThan(500);
    expect(o.peakConnectsSliding1s).toBeLessThan(650);
    expect(o.droppedMessages).toBe(0);
  });

  it("counts telemetry dropped past each device's queue bound", () => {
    const base = {
      ...defaultParams(2_000),
      connectQuota: 50,
      trigger: "disconnect" as const,
      publishIntervalMs: 1_000,
    };
    expect(simulate(base).droppedMessages).toBe(0);
    const small = simulate({ ...base, maxQueued: 5 });
    expect(small.droppedMessages).toBeGreaterThan(0);
    expect(small.queuedMessages).toBeLessThan(simulate(base).queuedMessages);
  });

  it("scales only the paced reconnects when rto is asked for a share of the fleet", () => {
    const inputs = { ...WORKED_EXAMPLE, devices: 1_000_000 };
    const all = estimateRto(inputs);
    const most = estimateRto({ ...inputs, share: 0.99 });
    expect(all.reconnectSeconds[0] - most.reconnectSeconds[0]).toBeCloseTo(20, 6);
    expect(most.detectionSeconds).toEqual(all.detectionSeconds);
    expect(() => estimateRto({ ...inputs, share: 0 })).toThrow(/share must be a number in \(0, 1\]/);
    expect(() => estimateRto({ ...inputs, share: 1.5 })).toThrow(/share/);
  });
});
