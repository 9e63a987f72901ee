/**
 * The README's sizing table: the simulation over fleets, connect quotas and trigger mixes with
 * the deployed defaults, printed as Markdown (one row per run, as it finishes).
 *
 *   node --import tsx simulate/sizing.ts [--devices 10000,100000] [--quotas 500,2000] [--triggers mixed,notice]
 */
import { simulate } from "./engine.js";
import { defaultParams, type TriggerMode } from "./params.js";
import { summarize } from "./summary.js";

function list(flag: string, fallback: string): string[] {
  const i = process.argv.indexOf(flag);
  return (i >= 0 ? process.argv[i + 1] : fallback).split(",");
}

const devices = list("--devices", "10000,100000,1000000,10000000").map(Number);
const quotas = list("--quotas", "500,2000,10000").map(Number);
const triggers = list("--triggers", "mixed,notice,dns,disconnect") as TriggerMode[];
const backoffMaxMs = Number(list("--backoff-max-ms", "120000")[0]);

process.stdout.write(
  "| devices | quota/s | trigger | 50 % | 99 % | 100 % | rto band (99 %) | refused | peak/s | dropped | wall s |\n" +
    "| ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n",
);
for (const n of devices) {
  for (const q of quotas) {
    for (const trigger of triggers) {
      const p = { ...defaultParams(n), connectQuota: q, trigger };
      p.backoff = { ...p.backoff, maxDelayMs: backoffMaxMs };
      const t0 = process.hrtime.bigint();
      const o = simulate(p);
      const r = summarize(
        o,
        Number(process.hrtime.bigint() - t0) / 1e9,
        process.resourceUsage().maxRSS * 1024,
      );
      const c = r.connectedSeconds;
      const f = (x: number | null) => (x === null ? "-" : String(Math.round(x)));
      process.stdout.write(
        `| ${n.toLocaleString("en")} | ${q} | ${trigger} | ${f(c.p50)} | ${f(c.p99)} | ${f(c.p100)} | ${r.expectedP99Seconds[0]}–${r.expectedP99Seconds[1]} ${r.p99WithinExpected ? "✓" : "✗"} | ${r.refusedConnects.toLocaleString("en")} | ${r.peakConnectsPerSecond} | ${r.droppedMessages} | ${r.wallSeconds} |\n`,
      );
    }
  }
}
