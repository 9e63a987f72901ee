/**
 * `iot-dr bench capture --burst N`: a provisioning burst's registry events through the capture
 * queue (the SQS stand-in, the deployed redrive policy; IoT and DynamoDB in moto), the capture containers the event source
 * mapping allows (separate processes running the deployed capture function) and one emulated
 * account quota at AWS's default rates (bench/quotaEmulator.ts).
 */
import { describe, expect, it } from "vitest";
import { idleSecondsOf, maxInSlidingSecond, runCaptureBurstBench } from "../../../bench/captureBurst.js";
import { runCli } from "../../../cli/main.js";
import {
  BURST_READS_PER_THING,
  CAPTURE_READ_APIS,
  captureShareRates,
  captureSizing,
  predictBurstClearSeconds,
} from "../../../functions/replication/captureSizing.js";

describe("capture under a provisioning burst", () => {
  it("captures every thing of a burst, dead-letters nothing, and never sends an enrichment read over its quota in any second", async () => {
    const burst = 120;
    const r = await runCaptureBurstBench({ burst }, () => {});
    expect(r.captured).toBe(burst);
    expect(r.deadLettered).toBe(0);
    expect(r.workers).toBe(2);
    expect(r.apis.length).toBeGreaterThanOrEqual(Object.keys(BURST_READS_PER_THING).length);
    for (const a of r.apis) {
      // Every attempt the containers sent (the SDK's own included), not what IoT let through, in
      // any sliding second, as IoT counts: paced clients make one SDK attempt and the pacer owns
      // the retries, so none goes out beside its share. Capture at the whole quota per container,
      // as before the shares, sends ~19.
      expect(a.maxSentInSlidingSecond, `${a.api} calls sent in a sliding second`).toBeLessThanOrEqual(
        a.quota,
      );
      expect(a.maxSentInOneSecond).toBeLessThanOrEqual(a.maxSentInSlidingSecond);
      expect(a.throttles, `${a.api} throttles`).toBeLessThanOrEqual(Math.ceil(0.02 * a.calls));
    }
    // The model's reads per thing are the reads capture makes (each a little over once, for retries).
    for (const [api, n] of Object.entries(BURST_READS_PER_THING)) {
      const a = r.apis.find((x) => x.api === api);
      expect(a?.callsPerThing, api).toBeGreaterThanOrEqual(n!);
      expect(a?.callsPerThing, api).toBeLessThanOrEqual(n! * 1.05);
    }
    expect(r.predictedClearSeconds).toBe(predictBurstClearSeconds(burst, {}, { timeoutSeconds: 30 }));
    expect(r.clearSeconds).toBeGreaterThanOrEqual(r.predictedClearSeconds * 0.9);
    // Every request the containers made was timed: 5 reads a thing, and the DynamoDB calls.
    expect(r.callLatencyMs.iot.calls).toBeGreaterThanOrEqual(5 * burst);
    expect(r.callLatencyMs.dynamodb.calls).toBeGreaterThan(burst);
    expect(r.handlerSecondsPerInvocation).toBeGreaterThan(0);
  }, 600_000);

  it("counts sends in a sliding second, not in whole seconds of the clock", () => {
    expect(maxInSlidingSecond([])).toBe(0);
    expect(maxInSlidingSecond([900, 950, 1000, 1050])).toBe(4);
    expect(maxInSlidingSecond([0, 999, 1000, 1999, 2000])).toBe(2);
  });

  it("counts a share as idle only across gaps longer than two pacing intervals, less the interval it was due", () => {
    // 5 calls/s: one every 200 ms.
    expect(idleSecondsOf([0, 200, 400, 600], 5)).toBe(0);
    expect(idleSecondsOf([0, 200, 400, 1400, 1600], 5)).toBeCloseTo(0.8, 6);
    expect(idleSecondsOf([1600, 0, 400], 5)).toBeCloseTo(1.0, 6);
    expect(idleSecondsOf([], 5)).toBe(0);
  });

  it("sizes the consumer so that all containers together stay inside every read quota", () => {
    const cases: Record<string, number>[] = [
      {},
      { ListThingPrincipals: 50 },
      { ListThingPrincipals: 3, DescribeCertificate: 7 },
      { DescribeThing: 1000, ListThingPrincipals: 100 },
    ];
    for (const rates of cases) {
      const s = captureSizing(rates, { timeoutSeconds: 30 });
      for (const api of CAPTURE_READ_APIS) {
        const quota = rates[api];
        if (quota !== undefined) expect(s.maximumConcurrency * s.shareRates[api]).toBeLessThanOrEqual(quota);
        expect(s.shareRates[api]).toBeGreaterThanOrEqual(1);
      }
      expect(s.batchSize).toBeGreaterThanOrEqual(1);
      expect(s.batchSize).toBeLessThanOrEqual(100);
      expect(s.batchWindowSeconds).toBe(s.batchSize > 10 ? 1 : 0);
    }
    // More containers only when every read quota is raised: 100 TPS each -> 4 containers at 25.
    const raised = Object.fromEntries(CAPTURE_READ_APIS.map((api) => [api, 100]));
    expect(captureSizing(raised, { timeoutSeconds: 30 }).maximumConcurrency).toBe(4);
    expect(captureSizing({ ListThingPrincipals: 100 }, { timeoutSeconds: 30 }).maximumConcurrency).toBe(2);
    // The burst clears at the slowest read: 5,000 things, one ListThingPrincipals each, at 2 x 5 x 0.95 per second.
    expect(predictBurstClearSeconds(5000, {}, { timeoutSeconds: 30 })).toBeCloseTo(5000 / 9.5, 0);
    expect(predictBurstClearSeconds(5000, { ListThingPrincipals: 20 }, { timeoutSeconds: 30 })).toBeCloseTo(
      5000 / 9.5,
      0,
    );
  });

  it("refuses quotas below the containers and bad --burst values, naming what to change", async () => {
    expect(() => captureShareRates({ ListThingPrincipals: 1 }, 2)).toThrow(
      /iotApiRates: ListThingPrincipals at 1 calls\/s.*ListThingPrincipals=2/,
    );
    expect(() => predictBurstClearSeconds(-1, {}, { timeoutSeconds: 30 })).toThrow(/burst/);
    expect(await runCli(["bench", "capture", "--burst", "0"])).toBe(2);
    expect(await runCli(["bench", "capture", "--burst", "many"])).toBe(2);
  });
});
