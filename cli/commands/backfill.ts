/**
 * `iot-dr backfill --region A [--table NAME] [--dry-run] [--checkpoint FILE] [--json]`: writes the
 * existing registry of region A into the ops table in region A (functions/reconcile/backfill.ts),
 * paced under the IoT quotas, resumable from a checkpoint file. Progress goes to stderr: a bar
 * with ETA on a terminal, plain lines otherwise.
 * JSON: {"scanned": {...per kind}, "written": n, "skipped": n}.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { SingleBar } from "cli-progress";
import { memoryOpsTable } from "../../functions/registry/table.js";
import {
  memoryCheckpoint,
  runBackfill,
  validateCheckpoint,
  type BackfillCheckpoint,
  type BackfillProgress,
  type CheckpointStore,
} from "../../functions/reconcile/backfill.js";
import { createPacer, type Pacer } from "../../functions/replication/pacing.js";
import { wrapListPort, type IotListPort } from "../../functions/reconcile/listPort.js";
import { InputError, UsageError } from "../errors.js";
import { parseRegion } from "../options.js";
import { checkOutputFile } from "../outputPath.js";
import type { RegisterCommand } from "./register.js";
import { defaultRegistryDeps, stderrLogger, tableName, type RegistryCommandDeps } from "../registry/deps.js";

interface BackfillOptions {
  region?: string;
  table?: string;
  dryRun?: boolean;
  checkpoint?: string;
  json?: boolean;
}

/** A checkpoint in a JSON file, replaced atomically (write then rename) so a crash never leaves half a file. */
export function fileCheckpoint(file: string, region: string): CheckpointStore {
  return {
    async load() {
      let text: string;
      try {
        text = await fs.promises.readFile(file, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw new InputError(`cannot read the checkpoint ${file}: ${(err as Error).message}`);
      }
      try {
        return validateCheckpoint(JSON.parse(text), region);
      } catch (err) {
        throw new InputError(`${file}: ${(err as Error).message}`);
      }
    },
    async save(cp: BackfillCheckpoint) {
      const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
      await fs.promises.writeFile(tmp, `${JSON.stringify(cp, null, 2)}\n`);
      await fs.promises.rename(tmp, file);
    },
  };
}

/**
 * Estimated IoT calls of a whole backfill, from one cheap pass of list calls: what the bar and its
 * ETA measure (per-resource reads dominate: DescribeCertificate and ListPrincipalThings per
 * certificate, DescribeThingGroup and ListThingsInThingGroup per group, GetPolicy and
 * ListTargetsForPolicy per policy).
 */
async function estimateCalls(list: IotListPort): Promise<number> {
  const count = async (fetch: (t?: string) => Promise<{ items: unknown[]; next?: string }>) => {
    let n = 0;
    let pages = 0;
    let token: string | undefined;
    do {
      const p = await fetch(token);
      n += p.items.length;
      pages++;
      token = p.next;
    } while (token);
    return { n, pages };
  };
  const things = await count((t) => list.listThings(t));
  const types = await count((t) => list.listThingTypes(t));
  const groups = await count((t) => list.listThingGroups(t));
  const certs = await count((t) => list.listCertificates(t));
  const policies = await count((t) => list.listPolicies(t));
  return (
    things.pages +
    types.pages +
    2 * groups.pages +
    2 * groups.n +
    2 * certs.pages +
    2 * certs.n +
    2 * policies.pages +
    2 * policies.n
  );
}

const totalCalls = (pacer: Pacer) => Object.values(pacer.stats()).reduce((n, s) => n + s.calls, 0);

export function makeBackfillCommand(deps: () => RegistryCommandDeps = defaultRegistryDeps): RegisterCommand {
  return (program: Command, _setExitCode: (code: number) => void) => {
    program
      .command("backfill")
      .description("write the existing registry of a region into the ops table, paced and resumable")
      .requiredOption(
        "--region <region>",
        "the region whose registry to snapshot (the ops table replica in it is written)",
      )
      .option("--table <name>", "ops table name (default: $IOT_DR_OPS_TABLE)")
      .option("--dry-run", "count what would be written; the table is only read (and not needed)")
      .option("--checkpoint <file>", "resume from and record progress in this JSON file")
      .option("--json", "print one JSON report on stdout; progress stays on stderr")
      .action(async (options: BackfillOptions) => {
        const region = parseRegion("--region", options.region);
        const d = deps();
        const name = tableName(options.table, d.env);
        if (!name && !options.dryRun)
          throw new UsageError(
            "backfill needs the ops table: pass --table NAME (stack output opsTableName) or set IOT_DR_OPS_TABLE; --dry-run works without it",
          );
        if (options.checkpoint !== undefined) checkOutputFile("--checkpoint", options.checkpoint);
        const { list, iot } = d.iot(region);
        const pacer = d.pacer?.(region) ?? createPacer({ clock: d.clock });
        const checkpoint = options.checkpoint
          ? fileCheckpoint(options.checkpoint, region)
          : memoryCheckpoint();
        // Validate the checkpoint before any call, so a bad file changes nothing.
        await checkpoint.load();
        const estimate = await estimateCalls(wrapListPort(list, (api, call) => pacer.run(api, call)));
        const baseline = totalCalls(pacer);
        const tty = d.isTTY();
        const bar = tty
          ? new SingleBar({
              stream: {
                write: (s: string) => d.stderr(s),
                isTTY: true,
                columns: 100,
                cursorTo: () => true,
                clearLine: () => true,
                moveCursor: () => true,
              } as unknown as NodeJS.WriteStream,
              format:
                "backfill {bar} {percentage}% | ETA {eta_formatted} | {kind} | scanned {scanned} written {written} skipped {skipped}",
              etaBuffer: 50,
              hideCursor: false,
            })
          : undefined;
        bar?.start(Math.max(1, estimate), 0, { kind: "", scanned: 0, written: 0, skipped: 0 });
        const onPage = (p: BackfillProgress) => {
          const scanned = Object.values(p.scanned).reduce((n, x) => n + (x ?? 0), 0);
          if (bar)
            bar.update(Math.min(estimate, totalCalls(pacer) - baseline), {
              kind: p.kind,
              scanned,
              written: p.written,
              skipped: p.skipped,
            });
          else
            d.stderr(
              `backfill: ${p.kind}: ${p.scanned[p.kind] ?? 0} scanned; total ${scanned} scanned, ${p.written} ${options.dryRun ? "to write" : "written"}, ${p.skipped} skipped\n`,
            );
        };
        let result;
        try {
          result = await runBackfill({
            region,
            snapshot: { list, iot, pacer },
            table: name ? d.table(region, name) : memoryOpsTable(),
            clock: d.clock,
            logger: stderrLogger(d, "warn"),
            checkpoint,
            dryRun: options.dryRun === true,
            onPage,
          });
        } finally {
          bar?.stop();
        }
        if (result.resumed) d.stderr(`backfill: resumed run ${result.runId} from ${options.checkpoint}\n`);
        const report = { scanned: result.scanned, written: result.written, skipped: result.skipped };
        d.stdout(
          options.json
            ? `${JSON.stringify(report, null, 2)}\n`
            : `${Object.entries(result.scanned)
                .map(([k, n]) => `${k}: ${n}`)
                .join(
                  ", ",
                )}\n${options.dryRun ? "would write" : "written"} ${result.written}, skipped ${result.skipped}\n`,
        );
      });
  };
}

export const registerBackfill: RegisterCommand = makeBackfillCommand();
