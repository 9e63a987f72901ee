/**
 * One quota, many workers (sharedPacing.ts): a simulation in virtual time of 1-32 workers, each its
 * own pacer (as separate Lambda containers are), reserving starts in one shared schedule through a
 * store with network latency, calling an API whose emulated quota throttles the (q+1)th call in any
 * sliding second. Loads, concurrency and latencies are uneven and random.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createPacer } from "../../../functions/replication/pacing.js";
import {
  blockSlots,
  memorySlotStore,
  nextSlot,
  type SlotStore,
} from "../../../functions/replication/sharedPacing.js";
import { maxInSlidingSecond } from "../../../bench/captureBurst.js";
import { virtualTime } from "../../support/virtualTime.js";
import type { Clock } from "../../../functions/shared/clock.js";
import { seeded } from "../../support/random.js";

interface Scenario {
  quota: number;
  /** Each worker reserves blocks of starts (blockSlots) rather than one start per call. */
  blocks: boolean;
  /**
   * A worker's calls: `concurrency` loops, each making its calls one after another; or, with
   * `group`, consecutive groups of that many calls all at once (a replay group's records).
   */
  workers: { calls: number; concurrency: number; group?: number }[];
  seed: number;
}

/** One shared schedule behind a network: 1-10 ms each way; the caller's `now` is taken before it, as with DynamoDB. */
function storeWithLatency(clock: Clock, random: () => number): SlotStore {
  const shared = memorySlotStore();
  return {
    async reserve(api, intervalMs, now, count) {
      await clock.sleep(1 + Math.floor(random() * 10));
      const start = await shared.reserve(api, intervalMs, now, count);
      await clock.sleep(1 + Math.floor(random() * 10));
      return start;
    },
  };
}

async function simulate(s: Scenario) {
  const { clock, runUntil } = virtualTime();
  const random = seeded(s.seed);
  const store = storeWithLatency(clock, random);
  const attempts: number[] = [];
  // When each call left its worker (the pacer ran it): what the quota must hold for.
  const starts: number[] = [];
  const blocks: ReturnType<typeof blockSlots>[] = [];
  const accepted: number[] = [];
  let throttles = 0;
  const api = "AttachPolicy";
  const service = async (): Promise<void> => {
    await clock.sleep(Math.floor(random() * 20)); // network to the service
    const now = clock.now();
    attempts.push(now);
    const inWindow = accepted.filter((x) => now - x < 1000).length;
    if (inWindow >= s.quota) {
      throttles++;
      throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    }
    accepted.push(now);
    await clock.sleep(5 + Math.floor(random() * 20)); // the call's own work and the way back
  };
  const pending = { n: 0 };
  const saturatedUntil = { t: Number.POSITIVE_INFINITY };
  const waits: number[] = [];
  const done = s.workers.map(() => 0);
  const work = Promise.all(
    s.workers.map(async (w, i) => {
      // Each worker is its own process: its own pacer (and blocks) over the shared schedule.
      const own = s.blocks ? blockSlots(store, { clock }) : undefined;
      if (own) blocks.push(own);
      const pacer = createPacer({
        clock,
        rates: { [api]: s.quota },
        utilisation: 0.95,
        slots: own ?? store,
        random,
      });
      const one = async () => {
        pending.n++;
        const asked = clock.now();
        await pacer.run(api, async () => {
          waits.push(clock.now() - asked);
          starts.push(clock.now());
          await service();
        });
        pending.n--;
        if (pending.n < 2 && saturatedUntil.t === Number.POSITIVE_INFINITY) saturatedUntil.t = clock.now();
        done[i]++;
      };
      if (w.group) {
        for (let g = 0; g < w.calls; g += w.group)
          await Promise.all(Array.from({ length: Math.min(w.group, w.calls - g) }, one));
        return;
      }
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(w.concurrency, w.calls) }, async () => {
          while (next < w.calls) {
            next++;
            await one();
          }
        }),
      );
    }),
  );
  await runUntil(work);
  const writes = blocks.reduce((a, b) => a + b.stats().blocks, 0);
  const unspent = blocks.reduce((a, b) => a + b.stats().held + b.stats().expired, 0);
  return {
    attempts,
    accepted,
    starts,
    throttles,
    waits,
    done,
    writes,
    unspent,
    saturatedUntil: saturatedUntil.t,
    end: clock.now(),
  };
}

const scenario = fc.record({
  quota: fc.constantFrom(10, 15, 25, 100),
  blocks: fc.boolean(),
  workers: fc.array(
    fc.record({
      calls: fc.integer({ min: 0, max: 40 }),
      concurrency: fc.integer({ min: 1, max: 4 }),
      group: fc.option(fc.integer({ min: 1, max: 25 }), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 32 },
  ),
  seed: fc.integer(),
});

describe("one quota shared by many workers", () => {
  it("a GCRA step spaces starts one interval apart and restarts at now when idle", () => {
    expect(nextSlot(undefined, 1000, 100)).toEqual({ start: 1000, nextFree: 1100 });
    expect(nextSlot(1100, 1050, 100)).toEqual({ start: 1100, nextFree: 1200 });
    expect(nextSlot(1100, 5000, 100)).toEqual({ start: 5000, nextFree: 5100 });
  });

  it("converges for 1-32 workers with uneven load: every call made, none starved, <= 2% throttled, >= 90% of the quota while saturated", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const r = await simulate(s);
        const total = s.workers.reduce((a, w) => a + w.calls, 0);
        // Nothing lost: every worker made every call (a throttled call is retried, not dropped).
        expect(r.done).toEqual(s.workers.map((w) => w.calls));
        expect(r.accepted).toHaveLength(total);
        // Throttled calls <= 2 % of all calls.
        expect(r.throttles).toBeLessThanOrEqual(Math.floor(0.02 * r.attempts.length));
        // No sustained over-quota: no 5-second window sees more attempts than 5 quotas.
        for (const a of r.attempts)
          expect(r.attempts.filter((x) => x >= a && x < a + 5000).length).toBeLessThanOrEqual(5 * s.quota);
        // Never over the quota: the workers together start at most `quota` calls in any sliding
        // second, blocks or not (each start is used once, at its time or at most 25 ms later).
        expect(maxInSlidingSecond(r.starts)).toBeLessThanOrEqual(s.quota);
        // No starvation: a call waits at most for every other outstanding call once (FIFO over the
        // shared schedule; a block holds starts only for calls waiting, so they are among them),
        // plus the store's round trips: its own, and the block its worker was reserving when it came.
        const atOnce = (w: Scenario["workers"][number]) => Math.min(w.group ?? w.concurrency, w.calls);
        const outstanding = s.workers.reduce((a, w) => a + atOnce(w), 0);
        const interval = 1000 / (0.95 * s.quota);
        // With blocks, a call may first gather (sharedPacing.ts blockSlots): it reserves when its
        // worker's last block nears its end, which is at most every outstanding call away, and
        // calls that started meanwhile may come back ahead of it once: each at most twice.
        const bound = (s.blocks ? 2 * outstanding + 1 : outstanding + 1) * interval + 50;
        for (const w of r.waits) expect(w).toBeLessThanOrEqual(bound);
        // Blocks: at most one write per call (one per call without them).
        if (s.blocks) expect(r.writes).toBeLessThanOrEqual(r.starts.length);
        // A block holds starts only for calls waiting for one, and in virtual time no timer fires
        // late: no start is left unspent, so the calls the schedule handed out are the quota used.
        expect(r.unspent).toBe(0);
        // Utilisation: while at least two calls are waiting, >= 90 % of the quota.
        const first = Math.min(...r.accepted);
        const span = r.saturatedUntil - first;
        if (span >= 3000) {
          const inSpan = r.accepted.filter((x) => x <= r.saturatedUntil).length;
          expect(inSpan / ((span / 1000) * s.quota)).toBeGreaterThanOrEqual(0.9);
        }
      }),
      { numRuns: 40, seed: 20 },
    );
  }, 120_000);

  it("blocks: a worker's calls that wait together write once or twice per group (<= 1 in 4 calls), inside the quota and as fast as one start per call", async () => {
    for (const [quota, group] of [
      [100, 10],
      [15, 10],
      [10, 25],
      [25, 1],
    ] as const) {
      const s: Scenario = {
        quota,
        blocks: true,
        workers: Array.from({ length: 4 }, (_, i) => ({ calls: 60 * (i + 1), concurrency: 1, group })),
        seed: quota,
      };
      const r = await simulate(s);
      const single = await simulate({ ...s, blocks: false });
      expect(r.done).toEqual(single.done);
      expect(r.throttles).toBe(0);
      expect(r.unspent).toBe(0);
      expect(maxInSlidingSecond(r.starts)).toBeLessThanOrEqual(quota);
      // As fast as one start per call (within 3 %).
      expect(r.end).toBeLessThanOrEqual(single.end * 1.03);
      if (group > 1) expect(r.writes / r.starts.length).toBeLessThanOrEqual(0.25);
      // A worker with one call at a time has nothing to share a block with: one write per call.
      else expect(r.writes).toBe(r.starts.length);
    }
  });

  it("gathering: a group's records that read, then write, share a block at each step; the quota holds and the drain is as fast", async () => {
    // 4 workers, each applying groups of 10 records one after another; each record reads
    // (DescribeThing, 350 TPS) and then writes (CreateThing, 100 TPS), as replay's plans do, with
    // uneven latencies, so a group's writes reach the write API one by one.
    async function drain(maxGatherMs: number | undefined, seed: number) {
      const { clock, runUntil } = virtualTime();
      const random = seeded(seed);
      const store = storeWithLatency(clock, random);
      const quotas: Record<string, number> = { DescribeThing: 350, CreateThing: 100 };
      const starts: Record<string, number[]> = { DescribeThing: [], CreateThing: [] };
      let throttles = 0;
      const blocks = Array.from({ length: 4 }, () => blockSlots(store, { clock, maxGatherMs }));
      const work = Promise.all(
        blocks.map(async (own) => {
          const pacer = createPacer({ clock, rates: quotas, utilisation: 0.95, slots: own, random });
          const call = (api: string) =>
            pacer.run(api, async () => {
              starts[api].push(clock.now());
              await clock.sleep(5 + Math.floor(random() * 40));
            });
          for (let g = 0; g < 15; g++)
            await Promise.all(
              Array.from({ length: 10 }, async () => {
                await call("DescribeThing");
                await call("CreateThing");
              }),
            );
          throttles += Object.values(pacer.stats()).reduce((a, x) => a + x.throttles, 0);
        }),
      );
      await runUntil(work);
      const stats = blocks.map((b) => b.stats());
      return {
        writes: stats.reduce((a, x) => a + x.blocks, 0),
        unspent: stats.reduce((a, x) => a + x.held + x.expired, 0),
        gathered: stats.reduce((a, x) => a + x.gathered, 0),
        calls: starts.DescribeThing.length + starts.CreateThing.length,
        starts,
        throttles,
        end: clock.now(),
      };
    }
    for (const seed of [1, 2, 3]) {
      const gathered = await drain(undefined, seed);
      const alone = await drain(0, seed);
      for (const r of [gathered, alone]) {
        expect(r.calls).toBe(2 * 4 * 15 * 10);
        expect(r.throttles).toBe(0);
        expect(r.unspent).toBe(0);
        expect(maxInSlidingSecond(r.starts.DescribeThing)).toBeLessThanOrEqual(350);
        expect(maxInSlidingSecond(r.starts.CreateThing)).toBeLessThanOrEqual(100);
      }
      expect(alone.gathered).toBe(0);
      expect(gathered.gathered).toBeGreaterThan(0);
      // The writes wait for their calls to gather: at most half the schedule writes ...
      expect(gathered.writes).toBeLessThanOrEqual(0.6 * alone.writes);
      expect(gathered.writes / gathered.calls).toBeLessThanOrEqual(0.2);
      // ... and the 600 writes at 95 TPS take as long (within 3 %): the schedule was never idle for it.
      expect(gathered.end).toBeLessThanOrEqual(alone.end * 1.03);
    }
  });

  it("refuses a negative block or gathering span, naming the option", () => {
    const store = memorySlotStore();
    expect(() => blockSlots(store, { maxBlockMs: -1 })).toThrow("blockSlots maxBlockMs must be >= 0, got -1");
    expect(() => blockSlots(store, { maxGatherMs: -5 })).toThrow(
      "blockSlots maxGatherMs must be >= 0, got -5",
    );
    expect(() => blockSlots(store, { maxGatherMs: Number.NaN })).toThrow(/maxGatherMs must be >= 0/);
  });

  it("where each worker paces alone at the whole quota, the same load is throttled far above 2 %", async () => {
    // The design this replaces: 8 workers, each with its own schedule (no shared store).
    const { clock, runUntil } = virtualTime();
    const accepted: number[] = [];
    let throttles = 0;
    let attempts = 0;
    let gaveUp = 0;
    const work = Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        // Seeded back-off jitter: with Math.random, whether any record exhausts its retries
        // varied from run to run (CI saw none once).
        const pacer = createPacer({
          clock,
          random: seeded(worker + 1),
          rates: { AttachPolicy: 15 },
          utilisation: 0.95,
        });
        for (let i = 0; i < 30; i++) {
          await pacer
            .run("AttachPolicy", async () => {
              attempts++;
              const now = clock.now();
              if (accepted.filter((x) => now - x < 1000).length >= 15) {
                throttles++;
                throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
              }
              accepted.push(now);
            })
            .catch((err: Error) => (gaveUp += err.name === "Throttled" ? 1 : 0));
        }
      }),
    );
    await runUntil(work);
    expect(throttles / attempts).toBeGreaterThan(0.2);
    // ... and some records give up after the pacer's retries: the state machine would retry them.
    expect(gaveUp).toBeGreaterThan(0);
  }, 60_000);
});
