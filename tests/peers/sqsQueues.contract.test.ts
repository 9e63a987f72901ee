/**
 * The SQS stand-in (peers/emulators/sqsQueues.ts) is not kinder than SQS: one scenario, run through
 * the same SDK client code against moto's SQS and against the stand-in, must observe the same
 * things, and the things SQS documents. What moto gets wrong (stale receipt handles, message
 * character set, attribute ranges) is checked against the stand-in alone in sqsQueues.test.ts.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { startMoto } from "../../peers/moto.js";
import { startSqsQueues } from "../../peers/emulators/sqsQueues.js";
import { createQueueWithDeadLetters, queueDepth } from "../../peers/emulators/sqsEventSource.js";

const REGION = "eu-west-1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const md5 = (s: string) => createHash("md5").update(s, "utf8").digest("hex");

/** The error name the SDK raised, or "ok". */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return (err as Error).name;
  }
}

/** Everything the scenario saw, in a form both servers must agree on. */
async function scenario(sqs: SQSClient) {
  const seen: Record<string, unknown> = {};
  const { queueUrl, deadLetterUrl } = await createQueueWithDeadLetters(
    sqs,
    { queue: "contract-queue", deadLetters: "contract-dlq" },
    2,
  );
  const depth = (url: string) => queueDepth(sqs, url);
  const attrs = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["All"] }))
  ).Attributes!;
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterUrl, AttributeNames: ["QueueArn"] }))
  ).Attributes!.QueueArn;
  seen.arns = [attrs.QueueArn, dlqArn];
  seen.redrivePolicy = JSON.parse(attrs.RedrivePolicy!);
  seen.defaultVisibility = attrs.VisibilityTimeout;
  seen.urlByName =
    (await sqs.send(new GetQueueUrlCommand({ QueueName: "contract-queue" }))).QueueUrl === queueUrl;

  // 15 messages: a batch of 10 (one with characters outside ASCII) and 5 single sends.
  const bodies = Array.from({ length: 15 }, (_, i) => (i === 3 ? `m${i} é 🚀` : `m${i}`));
  const batch = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: bodies.slice(0, 10).map((b, i) => ({ Id: `e${i}`, MessageBody: b })),
    }),
  );
  seen.batchSent = [batch.Successful?.length, batch.Failed?.length ?? 0];
  seen.batchMd5 = batch.Successful?.find((s) => s.Id === "e3")?.MD5OfMessageBody === md5(bodies[3]);
  for (const b of bodies.slice(10))
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: b }));
  seen.depthSent = await depth(queueUrl);

  // Receive in batches of at most 10, hidden for 1 s.
  const receive = async (url: string, visibility?: number, wait = 0) =>
    (
      await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: wait,
          MessageSystemAttributeNames: ["All"],
          ...(visibility !== undefined ? { VisibilityTimeout: visibility } : {}),
        }),
      )
    ).Messages ?? [];
  const first: Message[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const got = await receive(queueUrl, 1);
    sizes.push(got.length);
    first.push(...got);
  }
  seen.firstReceiveSizes = sizes;
  // In the order sent, so that both servers delete the same messages whatever order they returned.
  const bySent = (a: Message, b: Message) => bodies.indexOf(a.Body!) - bodies.indexOf(b.Body!);
  first.sort(bySent);
  seen.firstBodies = first.map((m) => m.Body).sort();
  seen.firstMd5 = first.every((m) => m.MD5OfBody === md5(m.Body!));
  seen.firstCounts = [...new Set(first.map((m) => m.Attributes?.ApproximateReceiveCount))];
  seen.depthReceived = await depth(queueUrl);

  // Delete 6 (5 in a batch, 1 alone); the other 9 come back after the visibility timeout.
  const del = await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: first.slice(0, 5).map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })),
    }),
  );
  seen.batchDeleted = [del.Successful?.length, del.Failed?.length ?? 0];
  await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first[5].ReceiptHandle! }));
  seen.depthDeleted = await depth(queueUrl);
  seen.deleteAgain = await outcome(
    sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first[5].ReceiptHandle! })),
  );
  seen.invisibleBeforeTimeout = (await receive(queueUrl, 1)).length;
  await sleep(1300);
  seen.depthExpired = await depth(queueUrl);
  const second = [...(await receive(queueUrl, 1)), ...(await receive(queueUrl, 1))].sort(bySent);
  seen.secondBodies = second.map((m) => m.Body).sort();
  seen.secondCounts = [...new Set(second.map((m) => m.Attributes?.ApproximateReceiveCount))];
  const firstOf = new Map(first.map((m) => [m.MessageId, m]));
  seen.secondKeepsIdsAndTimes = second.every((m) => {
    const f = firstOf.get(m.MessageId);
    return (
      f !== undefined &&
      f.ReceiptHandle !== m.ReceiptHandle &&
      f.Attributes?.SentTimestamp === m.Attributes?.SentTimestamp &&
      f.Attributes?.ApproximateFirstReceiveTimestamp === m.Attributes?.ApproximateFirstReceiveTimestamp
    );
  });

  // ChangeMessageVisibility to 0 shows a message again at once (received a third time: redriven instead).
  seen.changeVisibility = await outcome(
    sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: second[0].ReceiptHandle!,
        VisibilityTimeout: 0,
      }),
    ),
  );
  seen.depthVisibilityChanged = await depth(queueUrl);

  // Delete 4 more; the 5 left were received twice (maxReceiveCount): the next receive moves them.
  for (const m of second.slice(1, 5))
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
  await sleep(1300);
  seen.receivePastMax = (await receive(queueUrl, 1)).length;
  seen.depthRedriven = [await depth(queueUrl), await depth(deadLetterUrl)];
  const dead = await receive(deadLetterUrl, 30);
  seen.deadBodies = dead.map((m) => m.Body).sort();
  seen.deadCounts = [...new Set(dead.map((m) => m.Attributes?.ApproximateReceiveCount))];
  seen.deadKeepIds = dead.every((m) => firstOf.has(m.MessageId));
  seen.remainingExpected = [...bodies]
    .filter(
      (b) => !first.slice(0, 6).some((m) => m.Body === b) && !second.slice(1, 5).some((m) => m.Body === b),
    )
    .sort();

  // Long polls: one returns when a message arrives, one waits its time and returns empty.
  const plain = (
    await sqs.send(
      new CreateQueueCommand({ QueueName: "contract-plain", Attributes: { VisibilityTimeout: "1" } }),
    )
  ).QueueUrl!;
  let t0 = performance.now();
  const polled = receive(plain, undefined, 5);
  await sleep(400);
  await sqs.send(new SendMessageCommand({ QueueUrl: plain, MessageBody: "late" }));
  const late = await polled;
  seen.longPollArrival = [late.map((m) => m.Body), performance.now() - t0 < 3000];
  // The queue's own visibility timeout (1 s) applies without an override: "late" is hidden, then back.
  seen.queueVisibility = [(await receive(plain)).length, (await sleep(1300), (await receive(plain)).length)];
  t0 = performance.now();
  const emptyPoll = await receive(deadLetterUrl, undefined, 1);
  seen.emptyLongPoll = [emptyPoll.length, performance.now() - t0 >= 900];

  // Errors, by the name the SDK gives them.
  const missing = queueUrl.replace("contract-queue", "no-such-queue");
  seen.errors = {
    getUrlMissing: await outcome(sqs.send(new GetQueueUrlCommand({ QueueName: "no-such-queue" }))),
    sendMissing: await outcome(sqs.send(new SendMessageCommand({ QueueUrl: missing, MessageBody: "x" }))),
    eleven: await outcome(
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `x${i}`, MessageBody: "x" })),
        }),
      ),
    ),
    empty: await outcome(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [] }))),
    duplicateIds: await outcome(
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [
            { Id: "a", MessageBody: "x" },
            { Id: "a", MessageBody: "y" },
          ],
        }),
      ),
    ),
    receiveEleven: await outcome(
      sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 11 })),
    ),
    garbageHandle: await outcome(
      sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: "garbage" })),
    ),
    queueExistsOtherAttributes: await outcome(
      sqs.send(
        new CreateQueueCommand({ QueueName: "contract-plain", Attributes: { VisibilityTimeout: "7" } }),
      ),
    ),
  };
  const mixed = await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: deadLetterUrl,
      Entries: [
        { Id: "bad", ReceiptHandle: "garbage" },
        { Id: "good", ReceiptHandle: dead[0].ReceiptHandle! },
      ],
    }),
  );
  seen.mixedBatch = [
    mixed.Successful?.map((s) => s.Id),
    mixed.Failed?.map((f) => [f.Id, f.Code, f.SenderFault]),
  ];
  return seen;
}

describe("the SQS stand-in against moto's SQS", () => {
  it("sends, receives, hides, deletes, redrives to the dead-letter queue and long-polls as moto's SQS does", async () => {
    const moto = await startMoto();
    const standIn = await startSqsQueues();
    try {
      const config = moto.clientConfig(REGION);
      const [onMoto, onStandIn] = await Promise.all([
        scenario(new SQSClient(config)),
        scenario(new SQSClient({ ...config, endpoint: standIn.endpoint })),
      ]);
      // What SQS documents, so that both cannot be equally wrong.
      expect(onStandIn).toMatchObject({
        arns: [
          "arn:aws:sqs:eu-west-1:123456789012:contract-queue",
          "arn:aws:sqs:eu-west-1:123456789012:contract-dlq",
        ],
        redrivePolicy: {
          deadLetterTargetArn: "arn:aws:sqs:eu-west-1:123456789012:contract-dlq",
          maxReceiveCount: 2,
        },
        defaultVisibility: "30",
        urlByName: true,
        batchSent: [10, 0],
        batchMd5: true,
        depthSent: [15, 0],
        firstReceiveSizes: [10, 5, 0],
        firstMd5: true,
        firstCounts: ["1"],
        depthReceived: [0, 15],
        batchDeleted: [5, 0],
        depthDeleted: [0, 9],
        deleteAgain: "ok",
        invisibleBeforeTimeout: 0,
        depthExpired: [9, 0],
        secondCounts: ["2"],
        secondKeepsIdsAndTimes: true,
        changeVisibility: "ok",
        depthVisibilityChanged: [1, 8],
        receivePastMax: 0,
        depthRedriven: [
          [0, 0],
          [5, 0],
        ],
        deadCounts: ["3"],
        deadKeepIds: true,
        longPollArrival: [["late"], true],
        queueVisibility: [0, 1],
        emptyLongPoll: [0, true],
        errors: {
          getUrlMissing: "QueueDoesNotExist",
          sendMissing: "QueueDoesNotExist",
          eleven: "TooManyEntriesInBatchRequest",
          empty: "EmptyBatchRequest",
          duplicateIds: "BatchEntryIdsNotDistinct",
          receiveEleven: "InvalidParameterValue",
          garbageHandle: "ReceiptHandleIsInvalid",
          queueExistsOtherAttributes: "QueueNameExists",
        },
        mixedBatch: [["good"], [["bad", "ReceiptHandleIsInvalid", true]]],
      });
      expect(onStandIn.deadBodies).toEqual(onStandIn.remainingExpected);
      expect(onStandIn.secondBodies).toHaveLength(9);
      // And moto observed the same.
      expect(onStandIn).toEqual(onMoto);
    } finally {
      await standIn.close();
      await moto.stop();
    }
  }, 60_000);
});
