/**
 * `iot-dr redrive --queue URL --target-region B`: re-applies what the replication path dead-lettered
 * and deletes each message only after it was applied; what still fails stays in the queue and is
 * listed. Two kinds of message (functions/replication/deadLetter.ts):
 * - `{record, error}` from the replay state machine: the record is applied (skipped as superseded
 *   when the ops table given with `--table` holds a newer version);
 * - a DynamoDB-stream on-failure record (shard + sequence range): the range is read again from the
 *   table's stream while it is retained (24 h), and for every key in it the record *now current in
 *   the ops table* is applied (so `--table` is required). Past retention the message stays and the
 *   operator runs `iot-dr reconcile`.
 * Capture's queue holds deliveries capture could not record (IoT rule error actions, the CloudTrail
 * rule's EventBridge dead letters, Lambda on-failure records): each is captured again in the
 * queue's region (`--target-region`, the region where the change was made), reading that region's
 * current state into the ops table (`--table`, required), from where replication carries it on.
 * Exit 0: everything applied; 1: something failed; 2: usage.
 */
import type { Command } from "commander";
import type { RegisterCommand } from "./register.js";
import { UsageError } from "../errors.js";
import { checkTableName, parseRegion } from "../options.js";
import { checkTableExists } from "../registry/deps.js";

import { defaultRedriveDeps, runRedrive, type RedriveDeps } from "../registry/redrive.js";

interface RedriveOptions {
  queue?: string;
  targetRegion?: string;
  table?: string;
  markerTable?: string;
  max?: string;
  json?: boolean;
}

export function makeRedriveCommand(deps: () => RedriveDeps = defaultRedriveDeps): RegisterCommand {
  return (program: Command, setExitCode: (code: number) => void) => {
    program
      .command("redrive")
      .description("re-apply dead-lettered replication messages; delete each only once applied")
      .option("--queue <url>", "URL of a replication or capture dead-letter queue")
      .option("--target-region <region>", "region to apply to (the queue's region)")
      .option(
        "--table <name>",
        "ops table: skip superseded records; required for stream failure messages and capture's queue",
      )
      .option(
        "--marker-table <name>",
        "the target region's marker table (stack output markerTableNameInRegion), so its capture knows these applies as echoes; default: --table",
      )
      .option("--max <n>", "stop after this many messages", "10000")
      .option("--json", "print one JSON summary on stdout; progress stays on stderr")
      .action(async (o: RedriveOptions) => {
        if (!o.queue) throw new UsageError("--queue URL is required (the dead-letter queue's URL)");
        if (!/^https?:\/\//.test(o.queue))
          throw new UsageError(
            `--queue '${o.queue}' is not a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)`,
          );
        const targetRegion = parseRegion("--target-region", o.targetRegion);
        const max = Number(o.max);
        if (!Number.isInteger(max) || max < 1)
          throw new UsageError(`--max '${o.max}' must be a positive integer`);
        const d = deps();
        for (const [flag, name] of [
          ["--table", o.table],
          ["--marker-table", o.markerTable],
        ] as const)
          if (name !== undefined)
            await checkTableExists(
              flag,
              checkTableName(flag, name),
              targetRegion,
              d.table(name, targetRegion),
            );
        const summary = await runRedrive(
          { queue: o.queue, targetRegion, table: o.table, markerTable: o.markerTable, max },
          d,
        );
        if (o.json) d.stdout(JSON.stringify(summary) + "\n");
        else {
          d.stdout(
            `redrive: received ${summary.received}, applied ${summary.applied}, unchanged ${summary.unchanged}, deleted ${summary.deleted}, failed ${summary.failed.length}\n`,
          );
          for (const f of summary.failed)
            d.stdout(`  kept ${f.messageId}${f.key ? ` ${f.key}` : ""}: ${f.error}\n`);
        }
        setExitCode(summary.failed.length > 0 ? 1 : 0);
      });
  };
}

export const registerRedrive: RegisterCommand = makeRedriveCommand();
