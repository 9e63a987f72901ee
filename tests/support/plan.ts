import { spawnSync } from "node:child_process";
import * as path from "node:path";
import type { PlanOptions, PlanResult } from "../../cli/plan/run.js";

const ROOT = path.resolve(__dirname, "..", "..");

/** Plans a stack in a fresh Node process (isolated Pulumi runtime state). */
export function planIsolated(
  options: PlanOptions,
): { ok: true; result: PlanResult } | { ok: false; error: string } {
  const run = spawnSync(
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "cli/plan/child.ts"), JSON.stringify(options)],
    {
      cwd: ROOT,
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  const last = run.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last) as { ok: true; result: PlanResult } | { ok: false; error: string };
  } catch {
    throw new Error(`plan child failed (exit ${run.status}): ${run.stderr.slice(-2000)}`);
  }
}
