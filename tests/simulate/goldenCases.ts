/**
 * Fixed-seed runs of the fleet simulation whose complete results are kept in tests/simulate/golden/:
 * the summary `iot-dr simulate --json` prints (minus wall time and RSS), the per-second curve, and
 * the decisions of a few traced devices. A faster engine must reproduce them exactly. Regenerate
 * only for a deliberate change of the model: `node --import tsx tests/simulate/goldenCases.ts`.
 * Written last by the engine whose events run in the order (time, device, kind) (issue #21; what
 * that moved against the last-pushed-first order is in BENCHMARKS.md, "Event order").
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { simulate, type SimSecond, type TraceEntry } from "../../simulate/engine.js";
import {
  benchDevicesParams,
  defaultParams,
  parseResolverMix,
  type SimParams,
} from "../../simulate/params.js";
import { summarize, type SimSummary } from "../../simulate/summary.js";

export interface GoldenCase {
  name: string;
  params: SimParams;
}

export const GOLDEN_CASES: GoldenCase[] = [
  { name: "mixed-1e4-q500", params: defaultParams(10_000) },
  { name: "mixed-1e5-q500", params: defaultParams(100_000) },
  { name: "notice-1e5-q2000", params: { ...defaultParams(100_000), trigger: "notice", connectQuota: 2_000 } },
  { name: "dns-1e4-q100", params: { ...defaultParams(10_000), trigger: "dns", connectQuota: 100, seed: 3 } },
  {
    name: "disconnect-2e4-q50-small-queue",
    params: {
      ...defaultParams(20_000),
      trigger: "disconnect",
      connectQuota: 50,
      publishIntervalMs: 1_000,
      maxQueued: 5,
      dropPolicy: "newest",
    },
  },
  { name: "broker-1e4-q200", params: { ...defaultParams(10_000), failure: "broker", connectQuota: 200 } },
  { name: "bench-devices-5000", params: benchDevicesParams(5_000) },
  {
    name: "mixed-1e4-resolvers-backoff",
    params: {
      ...defaultParams(10_000),
      resolverMix: parseResolverMix("direct=0.3,honour=0.3,clamp300=0.2,past3600=0.2"),
      deviceMinTtlSeconds: 30,
      backoff: { minDelayMs: 500, maxDelayMs: 30_000, resetAfterMs: 20_000 },
      reresolveIntervalMs: 10_000,
      seed: 7,
    },
  },
  { name: "mixed-1e4-q10000", params: { ...defaultParams(10_000), connectQuota: 10_000 } },
  {
    name: "mixed-3e4-q500-short-spread",
    params: { ...defaultParams(30_000), maxNoticeSpreadMs: 5_000, noticeDelayMs: 0, seed: 11 },
  },
];

export interface GoldenResult {
  summary: Omit<SimSummary, "wallSeconds" | "rssMb">;
  seconds: SimSecond[];
  traces: Record<number, TraceEntry[]>;
}

/** Devices whose every decision is kept: the first, a few inside, the last. */
export function tracedDevices(n: number): number[] {
  return [...new Set([0, 1, 7, Math.floor(n / 3), Math.floor(n / 2), n - 1])];
}

export function runGolden(c: GoldenCase): GoldenResult {
  const traced = tracedDevices(c.params.devices);
  const traces: Record<number, TraceEntry[]> = Object.fromEntries(traced.map((d) => [d, []]));
  const outcome = simulate(c.params, { trace: new Set(traced), onTrace: (d, e) => traces[d].push(e) });
  const { wallSeconds: _w, rssMb: _r, ...summary } = summarize(outcome, 0, 0);
  // a JSON round trip: the golden files hold what JSON can (Infinity, -0 and undefined as JSON writes them)
  return JSON.parse(JSON.stringify({ summary, seconds: outcome.seconds, traces })) as GoldenResult;
}

export function goldenFile(c: GoldenCase): string {
  return path.join(__dirname, "golden", `${c.name}.json`);
}

if (process.argv[1] === __filename) {
  for (const c of GOLDEN_CASES) {
    writeFileSync(goldenFile(c), `${JSON.stringify(runGolden(c))}\n`);
    process.stdout.write(`${c.name}\n`);
  }
}
