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
import * as iotSdk from "@aws-sdk/client-iot";
import * as lib from "@aws-sdk/lib-dynamodb";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from "@aws-sdk/client-dynamodb-streams";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { Command } from "commander";
import type { RegisterCommand } from "./register.js";
import { UsageError } from "../errors.js";
import { awsClient } from "../aws.js";
import { checkTableName, parseRegion } from "../options.js";
import { checkTableExists } from "./reconcile.js";
import { iotPortFromSdk, type IotRegistryPort } from "../../functions/registry/iotPort.js";
import { isRecordKey } from "../../functions/registry/records.js";
import { getRecord, opsTableFromSdk, type OpsTablePort } from "../../functions/registry/table.js";
import { applyRecord, type ApplyDeps, type ReplayOutcome } from "../../functions/replication/apply.js";
import { captureDelivery } from "../../functions/replication/capture.js";
import { parseDeadLetter, type StreamBatchInfo } from "../../functions/replication/deadLetter.js";
import { describeError } from "../../functions/replication/errors.js";
import { noMetrics, silentLogger } from "../../functions/replication/observability.js";
import { createPacer, systemClock } from "../../functions/replication/pacing.js";

export interface QueueMessage {
  id: string;
  body: string;
  receiptHandle: string;
}

export interface RedriveDeps {
  iot(region: string): IotRegistryPort;
  table(name: string, region: string): OpsTablePort;
  queue(
    url: string,
    region: string,
  ): {
    receive(max: number): Promise<QueueMessage[]>;
    remove(receiptHandle: string): Promise<void>;
    /** Makes a message visible again at once (it failed and stays for the next redrive). */
    release(receiptHandle: string): Promise<void>;
  };
  /** Keys of the ops table items in a stream range; throws when the range is no longer retained. */
  streamKeys(batch: StreamBatchInfo, region: string): Promise<string[]>;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Reads a shard from the start sequence number up to the end one and returns the item keys in it. */
async function readStreamRange(client: DynamoDBStreamsClient, batch: StreamBatchInfo): Promise<string[]> {
  const keys: string[] = [];
  let iterator = (
    await client.send(
      new GetShardIteratorCommand({
        StreamArn: batch.streamArn,
        ShardId: batch.shardId,
        ShardIteratorType: "AT_SEQUENCE_NUMBER",
        SequenceNumber: batch.startSequenceNumber,
      }),
    )
  ).ShardIterator;
  const end = BigInt(batch.endSequenceNumber);
  for (let pages = 0; iterator && pages < 1000; pages++) {
    const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    const records: StreamRecord[] = out.Records ?? [];
    for (const r of records) {
      const seq = BigInt(r.dynamodb?.SequenceNumber ?? "0");
      if (seq > end) return keys;
      const pk = r.dynamodb?.Keys?.pk?.S;
      if (pk) keys.push(pk);
    }
    if (records.length === 0) break;
    iterator = out.NextShardIterator;
  }
  return keys;
}

export const defaultRedriveDeps = (): RedriveDeps => ({
  iot: (region) => iotPortFromSdk(iotSdk, awsClient(iotSdk.IoTClient, "iot", region)),
  table: (name, region) =>
    opsTableFromSdk(lib, lib.DynamoDBDocumentClient.from(awsClient(DynamoDBClient, "table", region)), name),
  queue: (url, region) => {
    const sqs = awsClient(SQSClient, "queue", region);
    return {
      async receive(max) {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: max,
            WaitTimeSeconds: 0,
            VisibilityTimeout: 300,
          }),
        );
        return (out.Messages ?? []).map((m) => ({
          id: m.MessageId ?? "",
          body: m.Body ?? "",
          receiptHandle: m.ReceiptHandle ?? "",
        }));
      },
      async remove(receiptHandle) {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: receiptHandle }));
      },
      async release(receiptHandle) {
        await sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: url,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: 0,
          }),
        );
      },
    };
  },
  streamKeys: (batch, region) => readStreamRange(awsClient(DynamoDBStreamsClient, "queue", region), batch),
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
});

export interface RedriveSummary {
  received: number;
  applied: number;
  unchanged: number;
  deleted: number;
  failed: { messageId: string; key?: string; error: string }[];
}

export async function runRedrive(
  options: { queue: string; targetRegion: string; table?: string; markerTable?: string; max?: number },
  deps: RedriveDeps,
): Promise<RedriveSummary> {
  const queue = deps.queue(options.queue, options.targetRegion);
  const table = options.table ? deps.table(options.table, options.targetRegion) : undefined;
  const markers = options.markerTable ? deps.table(options.markerTable, options.targetRegion) : undefined;
  const applyDeps: ApplyDeps = {
    region: options.targetRegion,
    iot: deps.iot(options.targetRegion),
    pacer: createPacer(),
    ...(table ? { table } : {}),
    ...(markers ? { markers } : {}),
    clock: systemClock,
    logger: silentLogger,
    metrics: noMetrics,
  };
  const summary: RedriveSummary = { received: 0, applied: 0, unchanged: 0, deleted: 0, failed: [] };
  const count = (o: ReplayOutcome) => (o.outcome === "applied" ? summary.applied++ : summary.unchanged++);
  const max = options.max ?? 10_000;
  const seen = new Set<string>();
  const failedHandles: string[] = [];

  while (summary.received < max) {
    const batch = (await queue.receive(Math.min(10, max - summary.received))).filter((m) => !seen.has(m.id));
    if (batch.length === 0) break;
    for (const message of batch) {
      seen.add(message.id);
      summary.received++;
      const fail = (error: string, key?: string) => {
        deps.stderr(`message ${message.id}${key ? ` (${key})` : ""}: ${error}\n`);
        summary.failed.push({ messageId: message.id, ...(key ? { key } : {}), error });
      };
      let ok = true;
      try {
        const parsed = parseDeadLetter(message.body);
        if (parsed.kind === "capture") {
          if (!table) {
            fail("a capture dead letter is captured again into the ops table: pass --table NAME");
            ok = false;
          } else {
            try {
              const outcomes = await captureDelivery(parsed.delivery, {
                region: options.targetRegion,
                iot: applyDeps.iot,
                table,
                ...(markers ? { markers } : {}),
                clock: systemClock,
                logger: silentLogger,
              });
              if (outcomes.some((o) => o.result === "written")) summary.applied++;
              else summary.unchanged++;
            } catch (err) {
              const e = describeError(err);
              fail(`${e.name}: ${e.message} (${parsed.from})`);
              ok = false;
            }
          }
        } else if (parsed.kind === "record") {
          const record = parsed.message.record;
          try {
            count(await applyRecord(record, applyDeps));
          } catch (err) {
            const e = describeError(err);
            fail(`${e.name}: ${e.message}`, record.key);
            ok = false;
          }
        } else {
          if (!table) {
            fail(
              "a stream failure names only a sequence range; pass --table NAME to apply the current records of its keys",
            );
            ok = false;
          } else {
            let keys: string[];
            try {
              keys = [...new Set(await deps.streamKeys(parsed.batch, options.targetRegion))].filter(
                isRecordKey,
              );
            } catch (err) {
              const e = describeError(err);
              keys = [];
              ok = false;
              fail(
                `cannot read stream range ${parsed.batch.startSequenceNumber}..${parsed.batch.endSequenceNumber} of shard ${parsed.batch.shardId} (${e.name}: ${e.message}); streams keep 24 h, past that run iot-dr reconcile`,
              );
            }
            for (const key of keys) {
              const record = await getRecord(table, key);
              if (!record) continue;
              try {
                count(await applyRecord(record, applyDeps));
              } catch (err) {
                const e = describeError(err);
                fail(`${e.name}: ${e.message}`, key);
                ok = false;
              }
            }
          }
        }
      } catch (err) {
        const e = describeError(err);
        fail(`${e.name}: ${e.message}`);
        ok = false;
      }
      if (ok) {
        await queue.remove(message.receiptHandle);
        summary.deleted++;
      } else failedHandles.push(message.receiptHandle);
    }
  }
  // Failed messages stay in the queue, visible again for the next redrive.
  for (const handle of failedHandles) await queue.release(handle);
  return summary;
}

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
