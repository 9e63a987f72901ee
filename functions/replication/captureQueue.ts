/**
 * Capture behind a queue: the IoT rules and the CloudTrail EventBridge rule send their deliveries
 * to the capture queue, and Lambda's SQS event source mapping hands capture a batch at a time with
 * at most `maximumConcurrency` containers (captureSizing.ts). Each message is captured on its own;
 * the ones that fail (throttled past the pacer's attempts, a table or IoT error) are reported as
 * batch item failures (`ReportBatchItemFailures`), so SQS delivers them again after the visibility
 * timeout and the others are deleted. A message that keeps failing reaches the dead-letter queue
 * after the queue's `maxReceiveCount` receives, with its body unchanged (deadLetter.ts reads it).
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { CloudTrailApiCallEvent } from "./cloudTrail.js";
import type { CaptureOutcome, RegistryEventMessage } from "./capture.js";
import { captureDeliveryOf } from "./deadLetter.js";
import { InvalidRecord, describeError } from "./errors.js";
import type { Logger } from "../shared/observability.js";

export type { SQSBatchResponse, SQSEvent, SQSRecord };

/** Whether a Lambda event is an SQS batch (Lambda's documented event shape). */
export function isSqsEvent(event: unknown): event is SQSEvent {
  const records = (event as { Records?: unknown } | null)?.Records;
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every((r) => (r as { eventSource?: unknown } | null)?.eventSource === "aws:sqs")
  );
}

/** The delivery a capture queue message carries: a rule's SQL output (with the topic field) or an EventBridge event. */
export function deliveryOfMessage(body: string): RegistryEventMessage | CloudTrailApiCallEvent {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new InvalidRecord("capture queue message body is not JSON");
  }
  const delivery = captureDeliveryOf(value);
  if (!delivery)
    throw new InvalidRecord(
      "capture queue message is neither a registry event from a capture rule (with its topic field) nor an IoT CloudTrail event",
    );
  return delivery;
}

/**
 * Captures each message of an SQS batch at once (the batch is sized by captureSizing.ts, 71 at AWS's
 * default quotas; the container's pacer spaces their reads) and returns the ones to deliver again.
 */
export async function captureBatch(
  event: SQSEvent,
  capture: (delivery: RegistryEventMessage | CloudTrailApiCallEvent) => Promise<CaptureOutcome[]>,
  logger: Logger,
): Promise<SQSBatchResponse> {
  const failed = await Promise.all(
    event.Records.map(async (r: SQSRecord) => {
      try {
        await capture(deliveryOfMessage(r.body));
        return undefined;
      } catch (err) {
        const e = describeError(err);
        logger.warn(`capture failed; the queue delivers the message again`, {
          messageId: r.messageId,
          receiveCount: r.attributes?.ApproximateReceiveCount,
          error: e.name,
          reason: e.message,
        });
        return r.messageId;
      }
    }),
  );
  return {
    batchItemFailures: failed
      .filter((id): id is string => id !== undefined)
      .map((itemIdentifier) => ({ itemIdentifier })),
  };
}
