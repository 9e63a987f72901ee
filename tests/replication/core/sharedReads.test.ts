/**
 * DescribeThing in one region is read by replay (every thing record) and by capture (every thing
 * event, the echo's in the standby included): the two share its quota, capture's containers at
 * their shares and replay's workers through the shared schedule at what those leave.
 */
import * as iot from "@aws-sdk/client-iot";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as libDynamodb from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import {
  CAPTURE_UTILISATION,
  REPLAY_READ_SHARE,
  captureContainers,
  captureShareRates,
  captureSizing,
  replayReadRates,
} from "../../../functions/replication/captureSizing.js";
import { silentLogger } from "../../../functions/shared/observability.js";
import { DEFAULT_IOT_QUOTAS, createPacer } from "../../../functions/replication/pacing.js";
import { replayFromEnv } from "../../../functions/replication/replayRuntime.js";
import { memorySlotStore } from "../../../functions/replication/sharedPacing.js";
import { maxInSlidingSecond } from "../../../bench/captureBurst.js";
import { virtualTime } from "../../support/virtualTime.js";
import { seeded } from "../../support/random.js";

const api = "DescribeThing";

/**
 * Capture's containers (each its own pacer at its share, as captureRuntime builds it) and replay's
 * workers (each its own pacer over one shared schedule, as replayRuntime builds it) reading
 * DescribeThing as fast as their pacers let them for `seconds`; every start, in virtual time.
 */
async function readTogether(rates: Record<string, number>, replayRate: number, workers: number, seconds = 5) {
  const { clock, runUntil } = virtualTime();
  const random = seeded(7);
  const starts: number[] = [];
  const read = async () => {
    starts.push(clock.now());
    await clock.sleep(5 + Math.floor(random() * 30));
  };
  const containers = captureContainers(rates);
  const shares = captureShareRates(rates, containers);
  const capture = Array.from({ length: containers }, () =>
    createPacer({ clock, rates: { ...rates, ...shares }, utilisation: CAPTURE_UTILISATION, maxLateMs: 25 }),
  );
  const schedule = memorySlotStore();
  const replay = Array.from({ length: workers }, () =>
    createPacer({ clock, rates: { ...rates, [api]: replayRate }, slots: schedule }),
  );
  const busy = async (pacer: ReturnType<typeof createPacer>) => {
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (clock.now() < seconds * 1000) await pacer.run(api, read);
      }),
    );
  };
  await runUntil(Promise.all([...capture, ...replay].map(busy)));
  return starts;
}

describe("DescribeThing shared by replay and capture in one region", () => {
  it("splits the quota so that capture's containers and replay together never exceed it", () => {
    const cases: Record<string, number>[] = [
      {},
      { DescribeThing: 10 },
      { DescribeThing: 1000, ListThingPrincipals: 100 },
      Object.fromEntries(Object.keys(DEFAULT_IOT_QUOTAS).map((k) => [k, 100])),
    ];
    for (const rates of cases) {
      const quota = rates[api] ?? DEFAULT_IOT_QUOTAS[api];
      const s = captureSizing(rates, { timeoutSeconds: 30 });
      expect(captureContainers(rates)).toBe(s.maximumConcurrency);
      const replay = replayReadRates(rates);
      expect(s.maximumConcurrency * s.shareRates[api] + replay[api]).toBeLessThanOrEqual(quota);
      expect(replay[api]).toBeGreaterThanOrEqual(Math.floor(quota * REPLAY_READ_SHARE[api]!));
      expect(s.shareRates[api]).toBeGreaterThanOrEqual(1);
      // Only the shared read changes for replay.
      expect({ ...replay, [api]: rates[api] }).toEqual({ ...rates, [api]: rates[api] });
    }
    // AWS's defaults: 2 containers at 87 each, replay 176 of 350.
    expect(replayReadRates({})[api]).toBe(176);
    expect(captureSizing({}, { timeoutSeconds: 30 }).shareRates[api]).toBe(87);
  });

  it("never starts more DescribeThing calls than the quota in any sliding second, with 1 to 16 replay workers busy beside capture", async () => {
    for (const [rates, workers] of [
      [{}, 1],
      [{}, 16],
      [{ DescribeThing: 20 }, 4],
    ] as const) {
      const quota = (rates as Record<string, number>)[api] ?? DEFAULT_IOT_QUOTAS[api];
      const starts = await readTogether(rates, replayReadRates(rates)[api], workers);
      expect(maxInSlidingSecond(starts), `${workers} workers, quota ${quota}`).toBeLessThanOrEqual(quota);
      // Both keep reading: together they use most of the quota (capture at 95 % of its share).
      expect(starts.length / 5).toBeGreaterThan(0.9 * quota);
    }
    // Before the split, replay paced DescribeThing at the whole quota beside capture: ~1.5 x over.
    const unsplit = await readTogether({}, DEFAULT_IOT_QUOTAS[api], 4);
    expect(maxInSlidingSecond(unsplit)).toBeGreaterThan(1.4 * DEFAULT_IOT_QUOTAS[api]);
  });

  it("refuses a DescribeThing quota too low to split, naming IOT_API_RATES and a rate that works", () => {
    const env = {
      AWS_REGION: "eu-west-1",
      OPS_TABLE: "ops",
      MARKER_TABLE: "markers",
      IOT_API_RATES: JSON.stringify({ DescribeThing: 3 }),
    };
    expect(() =>
      replayFromEnv(env, {
        iot,
        dynamodb,
        libDynamodb,
        logger: silentLogger,
        metrics: { addMetric() {}, publishStoredMetrics() {} },
      }),
    ).toThrow(/IOT_API_RATES: iotApiRates: DescribeThing at 3 calls\/s .*DescribeThing=4/);
  });
});
