/**
 * Runs one plan in this process and prints `{"ok": true, "result": ...}` or
 * `{"ok": false, "error": "..."}` as the last line of stdout. Tests use it to plan in isolation:
 * a failing program leaves registrations in flight that would leak into the next plan.
 */
import { planStack, type PlanOptions } from "./run.js";

const options = JSON.parse(process.argv[2] ?? "{}") as PlanOptions;
planStack(options)
  .then(
    (result) => process.stdout.write(`\n${JSON.stringify({ ok: true, result })}\n`),
    (err: unknown) => {
      process.stdout.write(
        `\n${JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) })}\n`,
      );
    },
  )
  .finally(() => setTimeout(() => process.exit(0), 10).unref());
