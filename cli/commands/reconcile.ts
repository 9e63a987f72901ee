/**
 * `iot-dr reconcile --source A --target B [--table NAME] [--repair --active A | --device-endpoint NAME] [--json]`:
 * compares two regions' registries both ways over every kind and reports each difference; with
 * `--repair` makes B equal to A through the replay code, then compares again. Repair takes the
 * ACTIVE region's live registry as the truth and never changes it: A must be the active region and
 * B the standby, as `--active` says or the device endpoint's fail-over CNAME shows
 * (functions/reconcile/activeRegion.ts).
 * Exit 0: the regions are equal at the end; 3: drift remains; 2: usage.
 */
import type { Command } from "commander";
import { noMetrics } from "../../functions/shared/observability.js";
import { createPacer } from "../../functions/replication/pacing.js";
import { reconcileRegions, type ReconcileResult } from "../../functions/reconcile/repair.js";
import { activeRegionFromDns, type ResolveCname } from "../../functions/reconcile/activeRegion.js";
import { promises as dnsPromises } from "node:dns";
import { UsageError } from "../errors.js";
import { parseRegion } from "../options.js";
import type { RegisterCommand } from "./register.js";

import { defaultRegistryDeps, stderrLogger, tableName, type RegistryCommandDeps } from "../registry/deps.js";

/** Exit code when drift remains (0 none, 1 error, 2 usage). */
export const RECONCILE_DRIFT_EXIT_CODE = 3;

interface ReconcileOptions {
  source?: string;
  target?: string;
  table?: string;
  repair?: boolean;
  active?: string;
  deviceEndpoint?: string;
  json?: boolean;
}

/**
 * Checks, before anything is written, that repair goes from the active region into the standby.
 * Throws UsageError naming the active region and how it was learned.
 */
async function checkRepairDirection(
  options: ReconcileOptions,
  source: string,
  target: string,
  resolveCname: ResolveCname,
): Promise<void> {
  let active: string;
  let how: string;
  if (options.active !== undefined) {
    active = parseRegion("--active", options.active);
    how = "--active";
  } else if (options.deviceEndpoint !== undefined) {
    const found = await activeRegionFromDns(options.deviceEndpoint, resolveCname);
    if (!found.region)
      throw new UsageError(
        `--repair cannot tell the active region: ${found.how}; give it with --active <region>`,
      );
    active = found.region;
    how = found.how;
  } else
    throw new UsageError(
      "--repair takes the active region's registry as the truth: name it with --active <region> or let DNS show it with --device-endpoint <name> (e.g. devices.example.com)",
    );
  if (target === active)
    throw new UsageError(
      `refusing to repair ${target}: it is the active region (${how}); repair only the standby, e.g. --source ${target} --target ${source}`,
    );
  if (source !== active)
    throw new UsageError(
      `--source must be the active region ${active} (${how}), got ${source}: repair copies the active region into the standby`,
    );
}

/** The JSON report: exactly these keys. */
export interface ReconcileReport {
  compared: number;
  drift: ReconcileResult["drift"];
  repaired: number;
}

function formatText(result: ReconcileResult, repair: boolean): string {
  const lines: string[] = [];
  for (const d of result.drift)
    lines.push(`${d.kind.padEnd(9)} ${d.key}${d.fields.length ? `  [${d.fields.join(", ")}]` : ""}`);
  lines.push(
    `compared ${result.compared} resources: ${result.drift.length === 0 ? "no drift" : `${result.drift.length} difference${result.drift.length === 1 ? "" : "s"}`}` +
      (repair ? `; repaired ${result.repaired}` : ""),
  );
  return lines.join("\n") + "\n";
}

export function makeReconcileCommand(deps: () => RegistryCommandDeps = defaultRegistryDeps): RegisterCommand {
  return (program: Command, setExitCode: (code: number) => void) => {
    program
      .command("reconcile")
      .description(
        "compare two regions' registries both ways (things, types, groups, memberships, certificates, policies, attachments); exit 3 on drift",
      )
      .requiredOption("--source <region>", "the region whose registry is right")
      .requiredOption("--target <region>", "the region to compare (and with --repair, to repair)")
      .option(
        "--table <name>",
        "ops table (its replica in the target region): tombstones and echo markers for repair (default: $IOT_DR_OPS_TABLE)",
      )
      .option(
        "--repair",
        "make the target (the standby) equal to the source (the active region) through the replay code, then compare again",
      )
      .option("--active <region>", "with --repair: the active region (Route 53 serves it); must be --source")
      .option(
        "--device-endpoint <name>",
        "with --repair: the device endpoint's fail-over name, whose CNAME shows the active region (instead of --active)",
      )
      .option("--json", "print one JSON report on stdout; progress stays on stderr")
      .action(async (options: ReconcileOptions) => {
        const source = parseRegion("--source", options.source);
        const target = parseRegion("--target", options.target);
        if (source === target)
          throw new UsageError(`--source and --target must be two different regions, both are ${source}`);
        const d = deps();
        const name = tableName(options.table, d.env);
        if (options.repair)
          await checkRepairDirection(
            options,
            source,
            target,
            d.resolveCname ?? ((n) => dnsPromises.resolveCname(n)),
          );
        const logger = stderrLogger(d);
        const pacerOf = (region: string) => d.pacer?.(region) ?? createPacer({ clock: d.clock });
        const side = (region: string) => ({ region, ...d.iot(region), pacer: pacerOf(region) });
        const src = side(source);
        const tgt = side(target);
        let lastKind = "";
        const result = await reconcileRegions({
          source: src,
          target: tgt,
          logger,
          onProgress: (p) => {
            if (p.kind !== lastKind) d.stderr(`reconcile: comparing ${p.kind}\n`);
            lastKind = p.kind;
          },
          ...(options.repair
            ? {
                repair: {
                  apply: {
                    region: target,
                    iot: tgt.iot,
                    pacer: tgt.pacer,
                    ...(name ? { table: d.table(target, name) } : {}),
                    clock: d.clock,
                    logger,
                    metrics: noMetrics,
                  },
                  clock: d.clock,
                },
              }
            : {}),
        });
        for (const s of result.skipped) d.stderr(`reconcile: left ${s.key} in place: ${s.reason}\n`);
        for (const f of result.failed)
          d.stderr(`reconcile: could not repair ${f.key}: ${f.error.name}: ${f.error.message}\n`);
        if (options.repair && result.found.length > 0)
          d.stderr(`reconcile: found ${result.found.length} difference(s), repaired ${result.repaired}\n`);
        const report: ReconcileReport = {
          compared: result.compared,
          drift: result.drift,
          repaired: result.repaired,
        };
        d.stdout(
          options.json ? `${JSON.stringify(report, null, 2)}\n` : formatText(result, options.repair === true),
        );
        setExitCode(result.drift.length > 0 ? RECONCILE_DRIFT_EXIT_CODE : 0);
      });
  };
}

export const registerReconcile: RegisterCommand = makeReconcileCommand();
