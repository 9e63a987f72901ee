/**
 * `iot-dr reconcile --source A --target B [--table NAME] [--repair --active A | --device-endpoint NAME] [--json]`:
 * compares two regions' registries both ways over every kind and reports each difference; with
 * `--repair` makes B equal to A through the replay code, then compares again. Repair takes the
 * ACTIVE region's live registry as the truth and never changes it: A must be the active region and
 * B the standby, as `--active` says or the device endpoint's fail-over CNAME shows
 * (functions/reconcile/activeRegion.ts).
 * Exit 0: the regions are equal at the end; 3: drift remains; 2: usage.
 * Also holds what the registry commands (backfill, reconcile, bench reconcile) share: AWS clients
 * per region, the ops table, the terminal.
 */
import * as iotSdk from "@aws-sdk/client-iot";
import * as ddb from "@aws-sdk/client-dynamodb";
import * as lib from "@aws-sdk/lib-dynamodb";
import type { Command } from "commander";
import { iotPortFromSdk, type IotRegistryPort } from "../../functions/registry/iotPort.js";
import { opsTableFromSdk, type OpsTablePort } from "../../functions/registry/table.js";
import { jsonLogger, noMetrics, type Logger } from "../../functions/replication/observability.js";
import { createPacer, systemClock, type Clock, type Pacer } from "../../functions/replication/pacing.js";
import { listPortFromSdk, type IotListPort } from "../../functions/reconcile/listPort.js";
import { reconcileRegions, type ReconcileResult } from "../../functions/reconcile/repair.js";
import { activeRegionFromDns, type ResolveCname } from "../../functions/reconcile/activeRegion.js";
import { promises as dnsPromises } from "node:dns";
import { InputError, UsageError } from "../errors.js";
import { checkTableName, parseRegion } from "../options.js";
import { awsClient } from "../aws.js";
import type { RegisterCommand } from "./register.js";

/** Exit code when drift remains (0 none, 1 error, 2 usage). */
export const RECONCILE_DRIFT_EXIT_CODE = 3;

/** What the registry commands need from outside; tests pass moto-backed ones. */
export interface RegistryCommandDeps {
  /** IoT of a region: the list port and the registry port. */
  iot(region: string): { list: IotListPort; iot: IotRegistryPort };
  /** The ops table (or its replica) in a region. */
  table(region: string, name: string): OpsTablePort;
  /** Pacer per region; default the AWS default quotas. */
  pacer?(region: string): Pacer;
  clock: Clock;
  stdout(text: string): void;
  stderr(text: string): void;
  /** True when stderr is a terminal (progress bar instead of plain lines). */
  isTTY(): boolean;
  /** Environment, for IOT_DR_OPS_TABLE. */
  env: Record<string, string | undefined>;
  /** CNAME lookups for `--device-endpoint`; default the system resolver. */
  resolveCname?: ResolveCname;
}

/** The real AWS clients (cli/aws.ts: deadlines, budget; the SDK's standard settings) and the process terminal. */
export function defaultRegistryDeps(): RegistryCommandDeps {
  return {
    iot(region) {
      const client = awsClient(iotSdk.IoTClient, "iot", region);
      return { list: listPortFromSdk(iotSdk, client), iot: iotPortFromSdk(iotSdk, client) };
    },
    table(region, name) {
      return opsTableFromSdk(
        lib,
        lib.DynamoDBDocumentClient.from(awsClient(ddb.DynamoDBClient, "table", region)),
        name,
      );
    },
    clock: systemClock,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: () => process.stderr.isTTY === true,
    env: process.env,
  };
}

const TABLE_HINTS: Record<string, string> = {
  "--table": "give the stack output opsTableName",
  "--marker-table": "give the target region stack's output markerTableNameInRegion",
};

/**
 * Reads one key so that a table that does not exist fails before any work, naming the option,
 * the table and the region (not later as a replay error on every record).
 */
export async function checkTableExists(
  option: string,
  name: string,
  region: string,
  table: OpsTablePort,
): Promise<void> {
  try {
    await table.get("iot-dr#probe");
  } catch (err) {
    if ((err as Error).name !== "ResourceNotFoundException") throw err;
    throw new InputError(
      `${option} ${name}: no such DynamoDB table in ${region}; ${TABLE_HINTS[option] ?? "check the name and region"}`,
    );
  }
}

/** The ops table name from --table or IOT_DR_OPS_TABLE; undefined when neither is set. */
export function tableName(
  option: string | undefined,
  env: Record<string, string | undefined>,
): string | undefined {
  const name = option ?? env.IOT_DR_OPS_TABLE;
  if (name === undefined) return undefined;
  return checkTableName("--table", name);
}

/** A logger that writes JSON lines to stderr, so stdout keeps only the report. */
export function stderrLogger(deps: RegistryCommandDeps, level: "info" | "warn" = "warn"): Logger {
  return jsonLogger((line) => deps.stderr(`${line}\n`), level);
}

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
