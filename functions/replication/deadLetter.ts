/**
 * What lands in the dead-letter queues of replication and capture, and how redrive reads it back.
 * Replication (replay's queues):
 * 1. the replay state machine's Catch, which sends `{ "record": <RegistryRecord>, "error": {"Error","Cause"} }`
 *    (the Step Functions error output under `error`, record untouched);
 * 2. the DynamoDB-stream event source mapping's on-failure destination, which sends the Lambda
 *    invocation record with `DDBStreamBatchInfo` (shard and sequence range, not the items).
 * Capture (infra/capture.ts's queue), each holding a delivery to capture again in its region:
 * 3. an IoT rule's error action: `{ruleName, topic, base64OriginalPayload, failures, ...}`;
 * 4. the CloudTrail EventBridge rule's dead-letter queue: the event itself as the body;
 * 5. Lambda's asynchronous on-failure destination: `{requestContext, requestPayload, responsePayload, ...}`,
 *    `requestPayload` being what the function was invoked with (a rule's SQL output or the event)
 *    (deployments before the capture queue);
 * 6. the capture queue's redrive after `maxReceiveCount` receives: the message body unchanged, a
 *    rule's SQL output (registry event + topic field) or the EventBridge event (read as 4).
 */
import { validateRecord, type RegistryRecord } from "../registry/records.js";
import type { RegistryEventMessage } from "./capture.js";
import { isCloudTrailEvent, type CloudTrailApiCallEvent } from "./cloudTrail.js";
import { InvalidRecord } from "./errors.js";

/** The field the capture rules' SQL adds with the topic (infra/capture.ts TOPIC_FIELD). */
export const CAPTURE_TOPIC_FIELD = "iotDrTopic";

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
  | { kind: "record"; message: DeadLetterMessage }
  | { kind: "streamBatch"; batch: StreamBatchInfo }
  | {
      kind: "capture";
      /** What to capture again, in the queue's region. */
      delivery: RegistryEventMessage | CloudTrailApiCallEvent;
      /** Which producer sent it. */
      from: "ruleError" | "eventBridge" | "lambdaOnFailure" | "captureQueue";
    };

/** A capture delivery from what the function was invoked with (a rule's SQL output, or an EventBridge event). */
export function captureDeliveryOf(
  payload: unknown,
): RegistryEventMessage | CloudTrailApiCallEvent | undefined {
  if (isCloudTrailEvent(payload)) return payload;
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) return undefined;
  const rest: Record<string, unknown> = { ...(payload as Record<string, unknown>) };
  const topic = rest[CAPTURE_TOPIC_FIELD];
  if (typeof topic !== "string") return undefined;
  delete rest[CAPTURE_TOPIC_FIELD];
  return { topic, payload: rest };
}

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
  if (isCloudTrailEvent(v)) return { kind: "capture", delivery: v, from: "eventBridge" };
  if (typeof v.base64OriginalPayload === "string" && typeof v.topic === "string") {
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(v.base64OriginalPayload, "base64").toString("utf8"));
    } catch {
      throw new InvalidRecord(`rule error message for ${v.topic} holds a payload that is not JSON`);
    }
    return { kind: "capture", delivery: { topic: v.topic, payload }, from: "ruleError" };
  }
  if (typeof v[CAPTURE_TOPIC_FIELD] === "string") {
    const delivery = captureDeliveryOf(v);
    if (delivery) return { kind: "capture", delivery, from: "captureQueue" };
  }
  if ("requestPayload" in v && v.requestContext && typeof v.requestContext === "object") {
    const delivery = captureDeliveryOf(v.requestPayload);
    if (delivery) return { kind: "capture", delivery, from: "lambdaOnFailure" };
    throw new InvalidRecord(
      `Lambda on-failure record holds a requestPayload that is neither a CloudTrail event nor a registry event with '${CAPTURE_TOPIC_FIELD}'`,
    );
  }
  throw new InvalidRecord(
    "dead-letter message is neither {record, error} from the replay state machine, a stream failure with DDBStreamBatchInfo, nor a capture delivery (rule error action, EventBridge event, Lambda on-failure record, capture queue message)",
  );
}
