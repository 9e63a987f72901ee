/**
 * Emulates what Lambda's SQS event source mapping does inside the service: long-poll the queue for
 * up to `batchSize` messages, hand the function the batch in Lambda's documented SQS event shape,
 * delete the messages the function did not report in `batchItemFailures`, and leave those to come
 * back after the visibility timeout (SQS then counts another receive and, past the queue's
 * `maxReceiveCount`, moves the message to its dead-letter queue). A function that throws fails the
 * whole batch, as on AWS. Tests and benches use this; deployed code never does.
 */
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";

/**
 * A queue and its dead-letter queue, wired as infra/capture.ts wires the capture queue: a message
 * received `maxReceiveCount` times without being deleted moves to the dead-letter queue.
 * `visibilityTimeoutSeconds` is the queue's own (SQS's 30 s when undefined).
 */
export async function createQueueWithDeadLetters(
  sqs: SQSClient,
  names: { queue: string; deadLetters: string },
  maxReceiveCount: number,
  options: { visibilityTimeoutSeconds?: number } = {},
): Promise<{ queueUrl: string; deadLetterUrl: string }> {
  const deadLetterUrl = (await sqs.send(new CreateQueueCommand({ QueueName: names.deadLetters }))).QueueUrl!;
  const deadLetterArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterUrl, AttributeNames: ["QueueArn"] }))
  ).Attributes!.QueueArn!;
  const queueUrl = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: names.queue,
        Attributes: {
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount }),
          ...(options.visibilityTimeoutSeconds !== undefined
            ? { VisibilityTimeout: String(options.visibilityTimeoutSeconds) }
            : {}),
        },
      }),
    )
  ).QueueUrl!;
  return { queueUrl, deadLetterUrl };
}

/** A queue's depth as SQS reports it: [visible, in flight] (ApproximateNumberOf... attributes). */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<[number, number]> {
  const a = (
    await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    )
  ).Attributes;
  return [Number(a?.ApproximateNumberOfMessages ?? 0), Number(a?.ApproximateNumberOfMessagesNotVisible ?? 0)];
}

export interface SqsPollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  region: string;
  batchSize: number;
  /** Visibility timeout given to each receive, seconds (the queue's own when undefined). */
  visibilityTimeoutSeconds?: number;
  /** Lambda's `maximumBatchingWindowInSeconds`: gather up to batchSize for this long; default 0. */
  batchWindowSeconds?: number;
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
  // Lambda's pollers gather up to batchSize messages (10 per receive, several receives at once)
  // within the batching window.
  const windowEnds = performance.now() + (options.batchWindowSeconds ?? 0) * 1000;
  const gathered: Message[] = [];
  const receive = async (max: number, wait: number) =>
    (
      await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: wait,
          MessageSystemAttributeNames: ["All"],
          ...(options.visibilityTimeoutSeconds !== undefined
            ? { VisibilityTimeout: options.visibilityTimeoutSeconds }
            : {}),
        }),
      )
    ).Messages ?? [];
  gathered.push(...(await receive(Math.min(10, options.batchSize), options.waitSeconds ?? 1)));
  while (gathered.length > 0 && gathered.length < options.batchSize && performance.now() < windowEnds) {
    const want = options.batchSize - gathered.length;
    const parts = await Promise.all(
      Array.from({ length: Math.ceil(want / 10) }, (_, i) => receive(Math.min(10, want - 10 * i), 0)),
    );
    const got = parts.flat();
    gathered.push(...got);
    if (got.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  const out = { Messages: gathered };
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
  // DeleteMessageBatch takes at most 10 entries (moto accepts more; SQS refuses the whole request).
  const chunks: Message[][] = [];
  for (let i = 0; i < done.length; i += 10) chunks.push(done.slice(i, i + 10));
  const deleted = await Promise.all(
    chunks.map(
      async (chunk) =>
        (
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          )
        ).Successful?.length ?? 0,
    ),
  );
  return { received: messages.length, deleted: deleted.reduce((a, b) => a + b, 0), failed: failedIds.size };
}
