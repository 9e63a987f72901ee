/**
 * Emulates what Lambda's SQS event source mapping does inside the service: long-poll the queue for
 * up to `batchSize` messages, hand the function the batch in Lambda's documented SQS event shape,
 * delete the messages the function did not report in `batchItemFailures`, and leave those to come
 * back after the visibility timeout (SQS then counts another receive and, past the queue's
 * `maxReceiveCount`, moves the message to its dead-letter queue). A function that throws fails the
 * whole batch, as on AWS. Tests and benches use this; deployed code never does.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";

export interface SqsPollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  region: string;
  batchSize: number;
  /** Visibility timeout given to each receive, seconds (the queue's own when undefined). */
  visibilityTimeoutSeconds?: number;
  /** Long-poll wait per receive; default 1 s. */
  waitSeconds?: number;
}

export interface PollOutcome {
  received: number;
  deleted: number;
  failed: number;
}

/** Receives one batch and runs `handler` on it; returns what happened (received 0: the queue looked empty). */
export async function pollOnce(
  options: SqsPollerOptions,
  handler: (event: SQSEvent) => Promise<unknown>,
): Promise<PollOutcome> {
  const { sqs, queueUrl } = options;
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: options.batchSize,
      WaitTimeSeconds: options.waitSeconds ?? 1,
      MessageSystemAttributeNames: ["All"],
      ...(options.visibilityTimeoutSeconds !== undefined
        ? { VisibilityTimeout: options.visibilityTimeoutSeconds }
        : {}),
    }),
  );
  const messages = out.Messages ?? [];
  if (messages.length === 0) return { received: 0, deleted: 0, failed: 0 };
  const arn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))
  ).Attributes?.QueueArn;
  const event: SQSEvent = {
    Records: messages.map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? "",
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? "1",
        SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: m.Attributes?.SenderId ?? "AIDAEXAMPLE",
        ApproximateFirstReceiveTimestamp:
          m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: arn ?? "",
      awsRegion: options.region,
    })),
  };
  let failedIds: Set<string>;
  try {
    const response = (await handler(event)) as SQSBatchResponse | undefined;
    failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  } catch {
    failedIds = new Set(messages.map((m) => m.MessageId!));
  }
  const done = messages.filter((m) => !failedIds.has(m.MessageId!));
  if (done.length > 0)
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  return { received: messages.length, deleted: done.length, failed: failedIds.size };
}
