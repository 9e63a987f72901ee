/**
 * `iot-dr bench capture --burst N`: a provisioning burst's registry events through the capture
 * queue (the SQS stand-in, the deployed redrive policy; IoT and DynamoDB in moto), the capture containers the event source
 * mapping allows (separate processes running the deployed capture function) and one emulated
 * account quota at AWS's default rates (bench/quotaEmulator.ts).
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  batchTimeline,
  idleSecondsOf,
  maxInSlidingSecond,
  runCaptureBurstBench,
} from "../../../bench/captureBurst.js";
import { runCli } from "../../../cli/main.js";
import type { IotRegistryPort } from "../../../functions/registry/iotPort.js";
import { memoryOpsTable, type OpsTablePort } from "../../../functions/registry/table.js";
import { captureEvent } from "../../../functions/replication/capture.js";
import {
  AWS_CAPTURE_LATENCIES,
  BURST_CHAIN,
  BURST_READS_PER_THING,
  CAPTURE_READ_APIS,
  burstBatchOverheadMs,
  burstReadSeconds,
  captureShareRates,
  captureSizing,
  predictBurstClearSeconds,
  shareWindowMs,
} from "../../../functions/replication/captureSizing.js";
import { silentLogger } from "../../../functions/shared/observability.js";
import { virtualTime } from "../../support/virtualTime.js";

/**
 * Capture of one event in virtual time with every IoT read taking 1,000 ms and every table call
 * 1 ms, so a span of time reads as (IoT reads, table calls) in sequence; returns when each read was
 * called and when capture ended, from its start.
 */
async function chainOf(topic: string, payload: Record<string, unknown>, setUp?: string[]) {
  const IOT_MS = 1000;
  const { clock, runUntil } = virtualTime();
  const calls: { api: string; at: number }[] = [];
  const read =
    <A extends unknown[], T>(api: string, value: (...args: A) => T) =>
    async (...args: A) => {
      calls.push({ api, at: clock.now() });
      await clock.sleep(IOT_MS);
      return value(...args);
    };
  // Each thing its own certificate.
  const certOf = (thing: string) => createHash("sha256").update(thing).digest("hex");
  const iot = {
    describeThing: read("DescribeThing", (name: string) => ({ name, attributes: {} })),
    listThingPrincipals: read("ListThingPrincipals", (thing: string) => [certOf(thing)]),
    describeCertificate: read("DescribeCertificate", (certificateId: string) => ({
      certificateId,
      pem: `-----BEGIN CERTIFICATE-----\nMIIB${certificateId}\n-----END CERTIFICATE-----\n`,
      status: "ACTIVE",
    })),
    listAttachedPolicies: read("ListAttachedPolicies", () => ["fleet"]),
    listThingGroupsForThing: read("ListThingGroupsForThing", () => ["g1"]),
    getPolicy: read("GetPolicy", (name: string) => ({ name, document: "{}", defaultVersionId: "1" })),
  } as unknown as IotRegistryPort;
  const slow = (t: OpsTablePort): OpsTablePort => ({
    ...t,
    get: async (pk) => (await clock.sleep(1), t.get(pk)),
    put: async (item, c) => (await clock.sleep(1), t.put(item, c)),
  });
  const deps = {
    region: "eu-west-1",
    iot,
    table: slow(memoryOpsTable()),
    markers: slow(memoryOpsTable()),
    clock,
    logger: silentLogger,
  };
  const event = (t: string, id: string) => ({ topic: t, payload: { ...payload, eventId: id, timestamp: 1 } });
  // The fleet's policy is recorded before the burst (a first thing records it).
  for (const t of setUp ?? []) await runUntil(captureEvent(event(t, "setup"), deps));
  calls.length = 0;
  const t0 = clock.now();
  await runUntil(captureEvent(event(topic, "e1"), deps));
  const end = clock.now();
  const split = (ms: number) => ({ iot: Math.floor(ms / IOT_MS), table: ms % IOT_MS });
  return Object.fromEntries(
    calls.map((c) => [c.api, { before: split(c.at - t0), after: split(end - c.at) }]),
  );
}

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
    // No faster than the binding read at the containers' paced shares (the quota is what binds).
    expect(r.readSeconds).toBe(burstReadSeconds(burst, {}, { timeoutSeconds: 30 }));
    expect(r.clearSeconds).toBeGreaterThanOrEqual(r.readSeconds * 0.9);
    expect(r.predictedAtMeasuredLatenciesSeconds).toBeGreaterThan(r.readSeconds);
    // Every request the containers made was timed: 5 reads a thing, and the DynamoDB calls.
    expect(r.callLatencyMs.iot.calls).toBeGreaterThanOrEqual(5 * burst);
    expect(r.callLatencyMs.dynamodb.calls).toBeGreaterThan(burst);
    expect(r.handlerSecondsPerInvocation).toBeGreaterThan(0);
  }, 600_000);

  it("the model's chains are the ones capture runs: the requests before and after each read of a burst's events", async () => {
    const thing = await chainOf("$aws/events/thing/t1/created", { thingName: "t1" }, [
      "$aws/events/thing/t0/created",
    ]);
    const membership = await chainOf("$aws/events/thingGroupMembership/thingGroup/g1/thing/t1/added", {});
    expect({ ...thing, ...membership }).toEqual(BURST_CHAIN);
  });

  it("adds each batch's head, tail and poller time to the binding read's calls", () => {
    // ListThingPrincipals binds at AWS's defaults: before it, DescribeThing and the thing's record;
    // after its call, its answer, ListAttachedPolicies and DescribeCertificate, and the
    // certificate's marker read and put after its first get.
    expect(burstBatchOverheadMs("ListThingPrincipals", { iotReadMs: 100, tableMs: 10, queueMs: 20 })).toEqual(
      {
        headMs: 110,
        tailMs: 330,
        betweenMs: 40,
      },
    );
    const s = captureSizing({}, { timeoutSeconds: 30 });
    const batches = (2 * 5000) / s.batchSize / s.maximumConcurrency;
    // At 100 ms a read, a share of 5 takes the send guard's window and the round trip: 1,102 ms.
    const batchMs = 110 + ((s.batchSize / 2 - 1) * (1002 + 100)) / 5 + 330 + 40;
    expect(predictBurstClearSeconds(5000, {}, { timeoutSeconds: 30 })).toBeCloseTo(
      (batches * batchMs) / 1000,
      0,
    );
    expect(AWS_CAPTURE_LATENCIES).toEqual({ iotReadMs: 100, tableMs: 10, queueMs: 20 });
    // Slower requests only lengthen the batches; zero latencies leave the paced reads alone.
    const zero = { iotReadMs: 0, tableMs: 0, queueMs: 0 };
    const none = predictBurstClearSeconds(5000, {}, { timeoutSeconds: 30, latencies: zero });
    expect(none).toBeLessThan(burstReadSeconds(5000, {}, { timeoutSeconds: 30 }));
    expect(none).toBeGreaterThan(burstReadSeconds(5000, {}, { timeoutSeconds: 30 }) * 0.97);
    const slow = { iotReadMs: 150, tableMs: 100, queueMs: 40 };
    expect(predictBurstClearSeconds(5000, {}, { timeoutSeconds: 30, latencies: slow })).toBeGreaterThan(
      predictBurstClearSeconds(5000, {}, { timeoutSeconds: 30 }),
    );
    expect(predictBurstClearSeconds(0, {}, { timeoutSeconds: 30 })).toBe(0);
  });

  it("paces a share at the pacer's 95 % while reads answer within 50 ms, and at the send guard's window plus the round trip beyond", () => {
    const at = (iotReadMs: number) =>
      predictBurstClearSeconds(
        5000,
        {},
        { timeoutSeconds: 30, latencies: { iotReadMs, tableMs: 10, queueMs: 20 } },
      );
    const s = captureSizing({}, { timeoutSeconds: 30 });
    const batches = (2 * 5000) / s.batchSize / s.maximumConcurrency;
    const calls = s.batchSize / 2 - 1;
    const overhead = (iotReadMs: number) => {
      const o = burstBatchOverheadMs("ListThingPrincipals", { iotReadMs, tableMs: 10, queueMs: 20 });
      return o.headMs + o.tailMs + o.betweenMs;
    };
    expect(at(20)).toBeCloseTo((batches * (overhead(20) + (calls * 1000) / (5 * 0.95))) / 1000, 0);
    expect(at(100)).toBeCloseTo((batches * (overhead(100) + (calls * 1102) / 5)) / 1000, 0);
    // The latency term: 49.4 ms more per 5 calls of the share, beyond the batches' longer chains.
    expect(at(100) - at(20)).toBeGreaterThan(
      (batches * (overhead(100) - overhead(20) + (calls * 49) / 5)) / 1000,
    );
    expect(shareWindowMs({ iotReadMs: 20, tableMs: 10, queueMs: 20 })).toBeCloseTo(1000 / 0.95, 6);
    expect(shareWindowMs({ iotReadMs: 100, tableMs: 10, queueMs: 20 })).toBe(1102);
  });

  it("reads a container's invocations against its binding reads: head, reads, tail and the poller's time between", () => {
    const t = batchTimeline(
      [
        {
          spans: [
            { start: 0, end: 1000 },
            { start: 1100, end: 2000 },
          ],
          sent: [100, 500, 700, 1300, 1800],
        },
      ],
      "ListThingPrincipals",
    );
    expect(t).toEqual({
      api: "ListThingPrincipals",
      invocations: 2,
      headMs: 150,
      bindingMs: 550,
      tailMs: 250,
      betweenMs: 100,
      bindingCalls: 2.5,
    });
  });

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
    // The burst's reads clear at the slowest read: 5,000 things, one ListThingPrincipals each, at
    // 2 x 5 x 0.95 per second; with DescribeCertificate at 10 as well, raising one changes nothing.
    expect(burstReadSeconds(5000, {}, { timeoutSeconds: 30 })).toBeCloseTo(5000 / 9.5, 0);
    expect(
      predictBurstClearSeconds(5000, { ListThingPrincipals: 20 }, { timeoutSeconds: 30 }),
    ).toBeGreaterThanOrEqual(burstReadSeconds(5000, {}, { timeoutSeconds: 30 }));
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
