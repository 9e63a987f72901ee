/**
 * What lands in the replication dead-letter queue, and how redrive reads it back. Two producers:
 * 1. the replay state machine's Catch, which sends `{ "record": <RegistryRecord>, "error": {"Error","Cause"} }`
 *    (the Step Functions error output under `error`, record untouched);
 * 2. the DynamoDB-stream event source mapping's on-failure destination, which sends the Lambda
 *    invocation record with `DDBStreamBatchInfo` (shard and sequence range, not the items).
 */
import { validateRecord, type RegistryRecord } from "../registry/records.js";
import { InvalidRecord } from "./errors.js";

/** Body the state machine's Catch sends for a record that could not be applied. */
export interface DeadLetterMessage {
  record: RegistryRecord;
  /** Step Functions error output (`Error` = error name such as DependencyNotReady, `Cause` = message or JSON). */
  error: { Error: string; Cause?: string };
}

/** The part of a Lambda on-failure record for a DynamoDB stream batch that redrive needs. */
export interface StreamBatchInfo {
  streamArn: string;
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  batchSize?: number;
  approximateArrivalOfFirstRecord?: string;
  approximateArrivalOfLastRecord?: string;
  /** Why Lambda gave up on the batch (e.g. RetryAttemptsExhausted). */
  condition?: string;
}

export type ParsedDeadLetter =
  { kind: "record"; message: DeadLetterMessage } | { kind: "streamBatch"; batch: StreamBatchInfo };

/** Builds the body the state machine sends (used by tests and any code path that dead-letters directly). */
export function deadLetterBody(record: RegistryRecord, error: { name: string; message: string }): string {
  const message: DeadLetterMessage = { record, error: { Error: error.name, Cause: error.message } };
  return JSON.stringify(message);
}

/** Reads a dead-letter message body. Throws InvalidRecord naming what is wrong. */
export function parseDeadLetter(body: string): ParsedDeadLetter {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new InvalidRecord("dead-letter message body is not JSON");
  }
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new InvalidRecord("dead-letter message body is not a JSON object");
  const v = value as Record<string, unknown>;
  if ("record" in v) {
    let record: RegistryRecord;
    try {
      record = validateRecord(v.record);
    } catch (err) {
      throw new InvalidRecord(`dead-letter message holds an invalid record: ${(err as Error).message}`);
    }
    const e = v.error as Record<string, unknown> | string | undefined;
    const error =
      typeof e === "string"
        ? { Error: e }
        : e && typeof e === "object"
          ? {
              Error: String(e.Error ?? e.name ?? "Error"),
              ...((e.Cause ?? e.message) ? { Cause: String(e.Cause ?? e.message) } : {}),
            }
          : { Error: "Unknown" };
    return { kind: "record", message: { record, error } };
  }
  const info = v.DDBStreamBatchInfo as Record<string, unknown> | undefined;
  if (info && typeof info === "object") {
    for (const f of ["streamArn", "shardId", "startSequenceNumber", "endSequenceNumber"] as const)
      if (typeof info[f] !== "string" || info[f] === "")
        throw new InvalidRecord(`stream failure message has no DDBStreamBatchInfo.${f}`);
    const ctx = v.requestContext as Record<string, unknown> | undefined;
    return {
      kind: "streamBatch",
      batch: {
        streamArn: String(info.streamArn),
        shardId: String(info.shardId),
        startSequenceNumber: String(info.startSequenceNumber),
        endSequenceNumber: String(info.endSequenceNumber),
        ...(typeof info.batchSize === "number" ? { batchSize: info.batchSize } : {}),
        ...(typeof info.approximateArrivalOfFirstRecord === "string"
          ? { approximateArrivalOfFirstRecord: info.approximateArrivalOfFirstRecord }
          : {}),
        ...(typeof info.approximateArrivalOfLastRecord === "string"
          ? { approximateArrivalOfLastRecord: info.approximateArrivalOfLastRecord }
          : {}),
        ...(ctx && typeof ctx.condition === "string" ? { condition: ctx.condition } : {}),
      },
    };
  }
  throw new InvalidRecord(
    "dead-letter message is neither {record, error} from the replay state machine nor a stream failure with DDBStreamBatchInfo",
  );
}
