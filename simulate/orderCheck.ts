/**
 * Summaries of one engine over a grid of fleets, for comparing two versions of the engine (issue
 * #21's event-order change): one JSON line per run, with the run's user CPU.
 *
 *   node --import tsx simulate/orderCheck.ts ROOT [--devices 10000,100000] [--triggers mixed,notice]
 *        [--quotas 500] [--seeds 1,2,3]
 *
 * ROOT is a checkout of this repository (its simulate/ engine is the one run), so the same grid can
 * be run through an older commit: `git archive COMMIT | tar -x -C DIR`.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { TriggerMode } from "./params.js";

function list(flag: string, fallback: string): string[] {
  const i = process.argv.indexOf(flag);
  return (i >= 0 ? process.argv[i + 1] : fallback).split(",");
}

async function main(): Promise<void> {
  const root = path.resolve(process.argv[2] ?? ".");
  const load = (file: string) => import(pathToFileURL(path.join(root, "simulate", file)).href);
  const { simulate } = (await load("engine.ts")) as typeof import("./engine.js");
  const { defaultParams } = (await load("params.ts")) as typeof import("./params.js");
  const { summarize } = (await load("summary.ts")) as typeof import("./summary.js");
  for (const n of list("--devices", "10000,100000").map(Number))
    for (const q of list("--quotas", "500").map(Number))
      for (const trigger of list("--triggers", "mixed,notice,dns,disconnect") as TriggerMode[])
        for (const seed of list("--seeds", "1").map(Number)) {
          const cpu = process.cpuUsage();
          const o = simulate({ ...defaultParams(n), connectQuota: q, trigger, seed });
          const user = process.cpuUsage(cpu).user / 1e6;
          const { wallSeconds: _w, rssMb: _r, ...r } = summarize(o, 0, 0);
          process.stdout.write(`${JSON.stringify({ ...r, userCpuSeconds: user })}\n`);
        }
}

void main();
