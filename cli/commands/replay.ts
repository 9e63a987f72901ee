/**
 * `iot-dr replay --events FILE --source-region A --target-region B`: runs registry event messages
 * (`{"topic","payload"}`) and IoT's CloudTrail API-call events as EventBridge delivers them
 * (`"detail-type": "AWS API Call via CloudTrail"`), mixed in one file (JSON Lines, or one JSON
 * array), through the deployed capture code, reading from region A's IoT API, and the deployed
 * replay code against region B, in file order. Records go
 * through an in-memory ops table unless `--table NAME` names the real one. Endpoints and
 * credentials come from the SDK's standard settings (AWS_ENDPOINT_URL, AWS_PROFILE, env).
 * Exit 0: everything applied or already there; 1: something failed (listed); 2: usage.
 */
import type { Command } from "commander";
import type { RegisterCommand } from "./register.js";
import { UsageError } from "../errors.js";
import { checkTableName, parseRegion } from "../options.js";
import { checkTableExists, tableName } from "../registry/deps.js";

import { defaultReplayDeps, runReplay, type ReplayCommandDeps } from "../registry/replay.js";

interface ReplayOptions {
  events?: string;
  sourceRegion?: string;
  targetRegion?: string;
  table?: string;
  markerTable?: string;
  json?: boolean;
  verbose?: boolean;
}

export function makeReplayCommand(deps: () => ReplayCommandDeps = defaultReplayDeps): RegisterCommand {
  return (program: Command, setExitCode: (code: number) => void) => {
    program
      .command("replay")
      .description(
        "replay registry event messages and CloudTrail API-call events from region A into region B through capture and replay",
      )
      .option(
        "--events <file>",
        'registry event messages {"topic","payload"} and EventBridge CloudTrail events, mixed: JSON Lines or one JSON array; - reads stdin',
      )
      .option("--source-region <region>", "region the events come from (its IoT API enriches the records)")
      .option("--target-region <region>", "region to apply the records to")
      .option("--table <name>", "use this ops table instead of an in-memory one")
      .option(
        "--marker-table <name>",
        "the target region's marker table (stack output markerTableNameInRegion), so its capture knows these applies as echoes; default: --table",
      )
      .option("--json", "print one JSON summary on stdout; progress stays on stderr")
      .option("--verbose", "structured logs of every capture and replay on stderr")
      .action(async (o: ReplayOptions) => {
        if (!o.events)
          throw new UsageError(
            "--events FILE is required (registry event messages and CloudTrail events: JSON Lines or a JSON array)",
          );
        const sourceRegion = parseRegion("--source-region", o.sourceRegion);
        const targetRegion = parseRegion("--target-region", o.targetRegion);
        if (sourceRegion === targetRegion)
          throw new UsageError(
            "--source-region and --target-region must differ: replay copies one region into another",
          );
        // The same name checks as the other commands, before any call.
        const table = o.table === undefined ? undefined : tableName(o.table, {});
        const markerTable =
          o.markerTable === undefined ? undefined : checkTableName("--marker-table", o.markerTable);
        const d = deps();
        if (table) await checkTableExists("--table", table, targetRegion, d.table(table, targetRegion));
        if (markerTable)
          await checkTableExists(
            "--marker-table",
            markerTable,
            targetRegion,
            d.table(markerTable, targetRegion),
          );
        const summary = await runReplay(
          {
            events: o.events,
            sourceRegion,
            targetRegion,
            table,
            markerTable,
            verbose: o.verbose,
          },
          d,
        );
        if (o.json) d.stdout(JSON.stringify(summary) + "\n");
        else {
          d.stdout(
            `replay: read ${summary.read}, applied ${summary.applied}, unchanged ${summary.unchanged}, failed ${summary.failed.length}\n`,
          );
          for (const f of summary.failed) d.stdout(`  failed ${f.key}: ${f.error}\n`);
        }
        setExitCode(summary.failed.length > 0 ? 1 : 0);
      });
  };
}

export const registerReplay: RegisterCommand = makeReplayCommand();
