/**
 * The fast run leaves nothing out that a device could notice: with every refused connect's answer
 * and every retry timer queued as its own event (`exact`), the same fleets give the same summary,
 * per-second curve and traced devices' decisions as the fast run, which answers refusals when the
 * connect goes out and retries certain to be refused without the queue (simulate/queue.ts, quota.ts).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simulate, type TraceEntry } from "../../simulate/engine.js";
import { defaultParams, parseResolverMix, type SimParams } from "../../simulate/params.js";
import { GOLDEN_CASES, tracedDevices } from "./goldenCases.js";

function run(params: SimParams, exact: boolean) {
  const traced = tracedDevices(params.devices);
  const traces: Record<number, TraceEntry[]> = Object.fromEntries(traced.map((d) => [d, []]));
  const o = simulate(params, { trace: new Set(traced), onTrace: (d, e) => traces[d].push(e), exact });
  const { events, eventsAnswered, ...rest } = o;
  return { rest, traces, events, eventsAnswered };
}

function expectSame(params: SimParams) {
  const fast = run(params, false);
  const exact = run(params, true);
  expect(fast.rest).toEqual(exact.rest);
  expect(fast.traces).toEqual(exact.traces);
  // what the exact run queued, the fast run queued or answered
  expect(fast.events + fast.eventsAnswered).toBe(exact.events);
  expect(exact.eventsAnswered).toBe(0);
  return { fast, exact };
}

describe("the fast run equals the run with every event queued", () => {
  it.each(GOLDEN_CASES.filter((c) => c.params.devices <= 30_000).map((c) => [c.name, c.params] as const))(
    "%s",
    (_name, params) => {
      const { fast, exact } = expectSame(params);
      if (params.connectQuota !== Infinity && fast.rest.refusedConnects > 0)
        expect(fast.events).toBeLessThan(exact.events);
    },
  );

  it("answers most of a quota-bound storm without the queue (100,000 devices at 500/s)", () => {
    const { fast, exact } = expectSame(defaultParams(100_000));
    expect(fast.rest.refusedConnects).toBeGreaterThan(500_000);
    // 1.72 M events queued one by one; 0.59 M queued and 1.13 M answered in the fast run
    expect(fast.eventsAnswered).toBeGreaterThan(fast.events);
    expect(fast.events).toBeLessThan(exact.events / 2);
  });

  it("for random small fleets, quotas, triggers, failures, latencies, backoffs and run lengths", () => {
    fc.assert(
      fc.property(
        fc.record({
          devices: fc.integer({ min: 1, max: 3_000 }),
          connectQuota: fc.integer({ min: 1, max: 400 }),
          trigger: fc.constantFrom("notice", "dns", "disconnect", "mixed" as const),
          failure: fc.constantFrom("services", "broker" as const),
          connectLatencyMs: fc.constantFrom(0, 1, 300),
          minDelayMs: fc.integer({ min: 1, max: 3_000 }),
          maxDelayMs: fc.integer({ min: 3_000, max: 150_000 }),
          mix: fc.constantFrom(
            "honour=1",
            "direct=0.5,past600=0.5",
            "honour=0.9,clamp300=0.08,past3600=0.02",
          ),
          seed: fc.integer({ min: 0, max: 1_000 }),
          maxSimSeconds: fc.constantFrom(60, 400, 100_000),
        }),
        (r) => {
          expectSame({
            ...defaultParams(r.devices),
            connectQuota: r.connectQuota,
            trigger: r.trigger,
            failure: r.failure,
            connectLatencyMs: r.connectLatencyMs,
            backoff: { minDelayMs: r.minDelayMs, maxDelayMs: r.maxDelayMs, resetAfterMs: 20_000 },
            resolverMix: parseResolverMix(r.mix),
            seed: r.seed,
            maxSimSeconds: r.maxSimSeconds,
          });
        },
      ),
      { numRuns: 40, seed: 21 },
    );
  }, 120_000);
});
