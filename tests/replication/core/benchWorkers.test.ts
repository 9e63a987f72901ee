/**
 * `iot-dr bench replay --workers N`: worker processes (bench/replayWorker.ts) behind one emulated
 * account quota (bench/quotaEmulator.ts) with the shared schedule in a serial moto.
 */
import { describe, expect, it } from "vitest";
import { workersReport } from "../../../bench/replay.js";
import { runCli } from "../../../cli/main.js";
import { groupsOf, runReplayWorkersBench } from "../../../bench/replayWorkers.js";
import {
  DEPLOYED_DEFAULTS,
  estimateCost,
  scheduleWritesPerOpFor,
} from "../../../functions/replication/costModel.js";

describe("iot-dr bench replay --workers", () => {
  it("cuts a wave into consecutive groups as States.ArrayPartition does, losing nothing", () => {
    const items = Array.from({ length: 23 }, (_, i) => i);
    const groups = groupsOf(items, 10);
    expect(groups.map((g) => g.length)).toEqual([10, 10, 3]);
    expect(groups.flat()).toEqual(items);
    expect(groupsOf([], 10)).toEqual([]);
  });

  it("prices the shared schedule: one write unit per reservation", () => {
    const none = estimateCost({ ...DEPLOYED_DEFAULTS, scheduleWritesPerOp: 0 });
    const two = estimateCost({ ...DEPLOYED_DEFAULTS, scheduleWritesPerOp: 2 });
    const line = two.pipeline.find((l) => /shared pacing schedule/.test(l.item))!;
    expect(line.perMillion).toBeCloseTo(2 * 0.625, 10);
    expect(two.pipelinePerMillion).toBeGreaterThan(none.pipelinePerMillion + 1.25);
    // Blocks of starts divide the writes: 1.55 calls per operation, 1.45 writes per reservation.
    expect(scheduleWritesPerOpFor(1.55, 1.45, 1)).toBeCloseTo(2.2475, 10);
    expect(scheduleWritesPerOpFor(1.55, 1.45, 4)).toBeCloseTo(2.2475 / 4, 10);
    expect(() => scheduleWritesPerOpFor(1.55, 1.45, 0)).toThrow(/callsPerBlock >= 1/);
  });

  it("replays a small backlog with two worker processes behind one quota, losing nothing, and reports them", async () => {
    const r = workersReport(
      await runReplayWorkersBench({ ops: 40, workers: 2, groupSize: 4, scale: 0.2 }, () => {}),
    );
    expect(r.workers).toBe(2);
    expect(r.groupSize).toBe(4);
    expect(r.pacing).toBe("shared");
    expect(r.lost).toBe(0);
    expect(r.deadLettered).toBe(0);
    // Both workers took groups, and every record was applied by one of them.
    expect(r.recordsPerWorker.every((n) => n > 0)).toBe(true);
    expect(r.recordsPerWorker.reduce((a, n) => a + n, 0)).toBe(r.ops);
    expect(r.apis.map((a) => a.api)).toEqual(expect.arrayContaining(["CreateThing", "AttachPolicy"]));
    for (const a of r.apis)
      expect(a).toEqual(
        expect.objectContaining({ calls: expect.any(Number), throttles: expect.any(Number) }),
      );
    // Every IoT call's start came from the shared schedule: a block of starts per write (once, or
    // twice after an idle spell), so writes per call times starts per block is about 1 or more.
    expect(r.startsPerBlock).toBeGreaterThanOrEqual(1);
    expect(r.scheduleWritesPerIotCall).toBeGreaterThan(0);
    expect(r.scheduleWritesPerIotCall * r.startsPerBlock).toBeGreaterThanOrEqual(0.9);
    expect(r.costWhileDraining.map((d) => d.workers)).toEqual([1, 4, 16]);
    // The workers replay with the marker table, as deployed: certificates new here are registered
    // unread, so DescribeCertificate serves the status changes only (one each).
    const calls = (api: string) => r.apis.find((a) => a.api === api)?.calls ?? 0;
    expect(calls("RegisterCertificateWithoutCA")).toBeGreaterThan(0);
    expect(calls("UpdateCertificate")).toBeGreaterThan(0);
    expect(calls("DescribeCertificate")).toBeLessThanOrEqual(calls("UpdateCertificate"));
  }, 300_000);

  it("refuses a worker count or group size it cannot run, and options of the other mode, with exit 2", async () => {
    expect(await runCli(["bench", "replay", "--workers", "0"])).toBe(2);
    expect(await runCli(["bench", "replay", "--workers", "33"])).toBe(2);
    expect(await runCli(["bench", "replay", "--local-pacing"])).toBe(2);
    expect(await runCli(["bench", "replay", "--workers", "4", "--group-size", "0"])).toBe(2);
    expect(await runCli(["bench", "replay", "--workers", "4", "--group-size", "26"])).toBe(2);
    expect(await runCli(["bench", "replay", "--workers", "4", "--concurrency", "8"])).toBe(2);
    expect(await runCli(["bench", "replay", "--group-size", "4"])).toBe(2);
  });
});
