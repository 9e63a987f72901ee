/** The work of `iot-dr redrive` (cli/commands/redrive.ts): dead letters re-applied or re-captured. */
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
import { awsClient } from "../aws.js";
import { iotPortFromSdk, type IotRegistryPort } from "../../functions/registry/iotPort.js";
import { isRecordKey } from "../../functions/registry/records.js";
import { getRecord, opsTableFromSdk, type OpsTablePort } from "../../functions/registry/table.js";
import { applyRecord, type ApplyDeps, type ReplayOutcome } from "../../functions/replication/apply.js";
import { captureDelivery } from "../../functions/replication/capture.js";
import { parseDeadLetter, type StreamBatchInfo } from "../../functions/replication/deadLetter.js";
import { describeError } from "../../functions/replication/errors.js";
import { noMetrics, silentLogger } from "../../functions/shared/observability.js";
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
export async function readStreamRange(
  client: DynamoDBStreamsClient,
  batch: StreamBatchInfo,
): Promise<string[]> {
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
