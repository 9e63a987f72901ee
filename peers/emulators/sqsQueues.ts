/**
 * A standard-queue SQS on a loopback port for benches and tests, because moto's SQS slows down as a
 * queue grows (issue #20: 19 min for 10,000 SendMessageBatch entries). It speaks the AWS JSON 1.0
 * protocol the SDK v3 SQS client uses (`X-Amz-Target: AmazonSQS.<Op>`, errors with
 * `x-amzn-query-error`), so real clients in any process talk to it with only the endpoint changed.
 * Every operation is O(log n) in the queue's size: visible messages wait in a FIFO, in-flight and
 * delayed ones in a heap by the time they become visible.
 *
 * Semantics are SQS's documented ones, never kinder, and tests/peers/sqsQueues.contract.test.ts
 * runs one scenario against this and moto: redrive moves a message whose next receive would exceed
 * `maxReceiveCount` to the dead-letter queue; a delete with a receipt handle that is not the
 * message's latest succeeds and deletes nothing; bodies outside SQS's character set are refused.
 * Not implemented (answered with UnsupportedOperation, never ignored): FIFO queues, message
 * attributes, queue tags and policies, SetQueueAttributes, PurgeQueue, DeleteQueue, ListQueues,
 * message-move tasks. Not emulated: retention expiry, short polls sampling only some servers,
 * duplicate deliveries, approximate (lagging) depth attributes, signature checks.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { closeHttpServer } from "../ports.js";

const DEFAULT_ACCOUNT = "123456789012";
const DEFAULT_REGION = "us-east-1";
const SENDER_ID = "AIDASQSSTANDINSENDER";
/** SQS's limits (Developer Guide, "Amazon SQS quotas"). */
const MAX_BATCH_ENTRIES = 10;
const MAX_VISIBILITY_SECONDS = 43_200;
const MAX_IN_FLIGHT = 120_000;
const MESSAGE_SYSTEM_ATTRIBUTES = [
  "SenderId",
  "SentTimestamp",
  "ApproximateReceiveCount",
  "ApproximateFirstReceiveTimestamp",
  "DeadLetterQueueSourceArn",
] as const;
const QUERYABLE_ATTRIBUTES = [
  "QueueArn",
  "ApproximateNumberOfMessages",
  "ApproximateNumberOfMessagesNotVisible",
  "ApproximateNumberOfMessagesDelayed",
  "CreatedTimestamp",
  "LastModifiedTimestamp",
  "VisibilityTimeout",
  "MaximumMessageSize",
  "MessageRetentionPeriod",
  "DelaySeconds",
  "ReceiveMessageWaitTimeSeconds",
  "RedrivePolicy",
  "SqsManagedSseEnabled",
] as const;
/** Settable at CreateQueue: [least, most, default]. */
const SETTABLE: Record<string, [number, number, number]> = {
  VisibilityTimeout: [0, MAX_VISIBILITY_SECONDS, 30],
  DelaySeconds: [0, 900, 0],
  MaximumMessageSize: [1024, 1_048_576, 1_048_576],
  MessageRetentionPeriod: [60, 1_209_600, 345_600],
  ReceiveMessageWaitTimeSeconds: [0, 20, 0],
};

/** An SQS error as the JSON protocol carries it: the SDK resolves it by the query-error code. */
class SqsError extends Error {
  constructor(
    readonly shape: string,
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const invalidValue = (message: string) =>
  new SqsError("InvalidParameterValue", "InvalidParameterValue", message);
const noSuchQueue = () =>
  new SqsError(
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "The specified queue does not exist.",
  );
const badHandle = (handle: string) =>
  new SqsError(
    "ReceiptHandleIsInvalid",
    "ReceiptHandleIsInvalid",
    `The input receipt handle "${handle}" is not a valid receipt handle.`,
    404,
  );
const unsupported = (what: string) =>
  new SqsError(
    "UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation",
    `${what} is not implemented by the SQS stand-in (peers/emulators/sqsQueues.ts)`,
  );

type State = "visible" | "inflight" | "delayed" | "gone";

interface StoredMessage {
  id: string;
  body: string;
  md5: string;
  sentAt: number;
  firstReceivedAt?: number;
  receivedAt?: number;
  receiveCount: number;
  /** The latest receipt handle; only it deletes the message. */
  handle?: string;
  /** Bumped on every change of state, so that stale FIFO and heap entries are skipped. */
  generation: number;
  state: State;
  deadLetterSourceArn?: string;
}

interface Entry {
  message: StoredMessage;
  generation: number;
}

interface TimedEntry extends Entry {
  at: number;
}

/** Binary min-heap by `at`. */
class TimeHeap {
  private readonly items: TimedEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): TimedEntry | undefined {
    return this.items[0];
  }

  push(item: TimedEntry): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent].at <= a[i].at) break;
      [a[parent], a[i]] = [a[i], a[parent]];
      i = parent;
    }
  }

  pop(): TimedEntry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let least = i;
        if (l < a.length && a[l].at < a[least].at) least = l;
        if (r < a.length && a[r].at < a[least].at) least = r;
        if (least === i) break;
        [a[least], a[i]] = [a[i], a[least]];
        i = least;
      }
    }
    return top;
  }
}

/** FIFO with O(1) amortised push and shift. */
class Fifo {
  private items: Entry[] = [];
  private head = 0;

  push(item: Entry): void {
    this.items.push(item);
  }

  shift(): Entry | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

class Queue {
  readonly messages = new Map<string, StoredMessage>();
  readonly visible = new Fifo();
  readonly hidden = new TimeHeap();
  readonly counts = { visible: 0, inflight: 0, delayed: 0 };
  private readonly waiters = new Set<() => void>();
  readonly createdAt = Math.floor(Date.now() / 1000);

  constructor(
    readonly key: string,
    readonly arn: string,
    readonly url: string,
    readonly settings: Record<string, number>,
    readonly redrive: RedrivePolicy | undefined,
  ) {}

  private move(m: StoredMessage, to: State): void {
    if (m.state !== "gone") this.counts[m.state]--;
    m.state = to;
    m.generation++;
    if (to !== "gone") this.counts[to]++;
  }

  /** Makes every message whose invisibility has ended visible again. */
  settle(now: number): void {
    for (let top = this.hidden.peek(); top && top.at <= now; top = this.hidden.peek()) {
      this.hidden.pop();
      const m = top.message;
      if (m.generation !== top.generation || (m.state !== "inflight" && m.state !== "delayed")) continue;
      this.makeVisible(m);
    }
  }

  private makeVisible(m: StoredMessage): void {
    this.move(m, "visible");
    this.visible.push({ message: m, generation: m.generation });
    for (const wake of this.waiters) wake();
  }

  private hide(m: StoredMessage, state: "inflight" | "delayed", until: number): void {
    this.move(m, state);
    this.hidden.push({ message: m, generation: m.generation, at: until });
  }

  add(m: StoredMessage, delaySeconds: number, now: number): void {
    this.messages.set(m.id, m);
    m.state = "gone";
    if (delaySeconds > 0) this.hide(m, "delayed", now + delaySeconds * 1000);
    else this.makeVisible(m);
  }

  remove(m: StoredMessage): void {
    this.move(m, "gone");
    this.messages.delete(m.id);
  }

  /** The next visible message, or undefined. */
  nextVisible(): StoredMessage | undefined {
    for (let e = this.visible.shift(); e; e = this.visible.shift())
      if (e.message.generation === e.generation && e.message.state === "visible") return e.message;
    return undefined;
  }

  receive(m: StoredMessage, visibilitySeconds: number, now: number): string {
    m.receiveCount++;
    m.firstReceivedAt ??= now;
    m.receivedAt = now;
    m.handle = Buffer.from(
      `${this.key}\n${m.id}\n${m.receiveCount}\n${randomBytes(12).toString("hex")}`,
    ).toString("base64url");
    this.hide(m, "inflight", now + visibilitySeconds * 1000);
    return m.handle;
  }

  /** Changes an in-flight message's visibility timeout, counted from now. */
  changeVisibility(m: StoredMessage, seconds: number, now: number): void {
    if (m.state !== "inflight")
      throw invalidValue(
        `Value ${m.handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.`,
      );
    if (now + seconds * 1000 > (m.receivedAt ?? now) + MAX_VISIBILITY_SECONDS * 1000)
      throw invalidValue(
        `Value ${seconds} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]`,
      );
    if (seconds === 0) this.makeVisible(m);
    else this.hide(m, "inflight", now + seconds * 1000);
  }

  /** Resolves when a message may have become visible, or at `deadline` (ms, Date.now()). */
  waitForMessages(deadline: number): Promise<void> {
    const wakeAt = Math.min(deadline, this.hidden.peek()?.at ?? deadline);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, wakeAt - Date.now()));
      this.waiters.add(done);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

export interface SqsQueues {
  /** e.g. http://127.0.0.1:40123, the SQS endpoint for SDK clients (`endpoint` or AWS_ENDPOINT_URL_SQS). */
  readonly endpoint: string;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const str = (input: Json, name: string, required = true): string | undefined => {
  const v = input[name];
  if (v === undefined || v === null) {
    if (required)
      throw new SqsError(
        "MissingParameter",
        "MissingParameter",
        `The request must contain the parameter ${name}.`,
      );
    return undefined;
  }
  if (typeof v !== "string") throw invalidValue(`Value for parameter ${name} must be a string.`);
  return v;
};

const int = (input: Json, name: string, least: number, most: number): number | undefined => {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < least || v > most)
    throw invalidValue(
      `Value ${String(v)} for parameter ${name} is invalid. Reason: Must be between ${least} and ${most}, if provided.`,
    );
  return v;
};

/** SQS's message character set: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF. */
// eslint-disable-next-line no-control-regex
const OUTSIDE_CHARSET = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const BATCH_ID = /^[A-Za-z0-9_-]{1,80}$/;

/** Starts the stand-in on a free loopback port. Stop it with `close()`. */
export async function startSqsQueues(): Promise<SqsQueues> {
  const queues = new Map<string, Queue>();
  const byArn = new Map<string, Queue>();
  let endpoint = "";
  let closing = false;

  const scope = (req: IncomingMessage) => {
    const auth = String(req.headers.authorization ?? "");
    const region = /Credential=[^/]+\/\d{8}\/([^/]+)\/sqs\//.exec(auth)?.[1] ?? DEFAULT_REGION;
    return { region, account: DEFAULT_ACCOUNT };
  };

  const queueOf = (region: string, input: Json): Queue => {
    const url = str(input, "QueueUrl")!;
    let path: string;
    try {
      path = new URL(url).pathname;
    } catch {
      throw new SqsError(
        "InvalidAddress",
        "InvalidAddress",
        `The address ${url} is not valid for this endpoint.`,
        404,
      );
    }
    const [, account, name] = path.split("/");
    const q = queues.get(`${region}/${account}/${name}`);
    if (!q) throw noSuchQueue();
    return q;
  };

  const entriesOf = (input: Json, emptyName: string): Json[] => {
    const entries = input.Entries;
    if (!Array.isArray(entries) || entries.length === 0)
      throw new SqsError(
        "EmptyBatchRequest",
        "AWS.SimpleQueueService.EmptyBatchRequest",
        `There should be at least one ${emptyName} in the request.`,
      );
    if (entries.length > MAX_BATCH_ENTRIES)
      throw new SqsError(
        "TooManyEntriesInBatchRequest",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        `Maximum number of entries per request are ${MAX_BATCH_ENTRIES}. You have sent ${entries.length}.`,
      );
    const ids = new Set<string>();
    for (const e of entries as Json[]) {
      const id = str(e, "Id")!;
      if (!BATCH_ID.test(id))
        throw new SqsError(
          "InvalidBatchEntryId",
          "AWS.SimpleQueueService.InvalidBatchEntryId",
          "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
        );
      if (ids.has(id))
        throw new SqsError(
          "BatchEntryIdsNotDistinct",
          "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
          `Id ${id} repeated.`,
        );
      ids.add(id);
    }
    return entries as Json[];
  };

  const checkBody = (q: Queue, input: Json): string => {
    const body = str(input, "MessageBody")!;
    if (body.length === 0)
      throw invalidValue("The request must contain the parameter MessageBody with at least one character.");
    if (OUTSIDE_CHARSET.test(body))
      throw new SqsError(
        "InvalidMessageContents",
        "InvalidMessageContents",
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
      );
    if (Buffer.byteLength(body) > q.settings.MaximumMessageSize)
      throw invalidValue(
        `One or more parameters are invalid. Reason: Message must be shorter than ${q.settings.MaximumMessageSize} bytes.`,
      );
    const attrs = input.MessageAttributes ?? input.MessageSystemAttributes;
    if (attrs && typeof attrs === "object" && Object.keys(attrs).length > 0)
      throw unsupported("Message attributes");
    if (input.MessageGroupId !== undefined || input.MessageDeduplicationId !== undefined)
      throw unsupported("MessageGroupId and MessageDeduplicationId");
    return body;
  };

  const enqueue = (q: Queue, body: string, input: Json): StoredMessage => {
    const now = Date.now();
    const m: StoredMessage = {
      id: randomUUID(),
      body,
      md5: createHash("md5").update(body, "utf8").digest("hex"),
      sentAt: now,
      receiveCount: 0,
      generation: 0,
      state: "gone",
    };
    q.add(m, int(input, "DelaySeconds", 0, 900) ?? q.settings.DelaySeconds, now);
    return m;
  };

  /** The message a receipt handle names, undefined when it is gone, its latest handle or not. */
  const messageOfHandle = (q: Queue, handle: string): { message?: StoredMessage; latest: boolean } => {
    const parts = Buffer.from(handle, "base64url").toString("utf8").split("\n");
    if (parts.length !== 4 || parts[0] !== q.key) throw badHandle(handle);
    const message = q.messages.get(parts[1]);
    return { message, latest: message?.handle === handle };
  };

  const parseRedrive = (region: string, account: string, raw: string): RedrivePolicy => {
    let policy: Partial<RedrivePolicy>;
    try {
      policy = JSON.parse(raw) as Partial<RedrivePolicy>;
    } catch {
      throw invalidValue(`Value ${raw} for parameter RedrivePolicy is invalid. Reason: Invalid JSON.`);
    }
    const max = Number(policy.maxReceiveCount);
    if (!Number.isInteger(max) || max < 1 || max > 1000)
      throw invalidValue(
        `Value ${raw} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: ${String(policy.maxReceiveCount)}, valid values are from 1 to 1000 both inclusive.`,
      );
    const target = String(policy.deadLetterTargetArn ?? "");
    const [, , , targetRegion, targetAccount, name] = target.split(":");
    if (targetRegion !== region || targetAccount !== account || !queues.has(`${region}/${account}/${name}`))
      throw invalidValue(
        `Value ${raw} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.`,
      );
    return { deadLetterTargetArn: target, maxReceiveCount: max };
  };

  const attributesOf = (q: Queue, names: string[]): Record<string, string> => {
    const all = names.includes("All");
    const out: Record<string, string> = {};
    const value: Record<(typeof QUERYABLE_ATTRIBUTES)[number], () => string | undefined> = {
      QueueArn: () => q.arn,
      ApproximateNumberOfMessages: () => String(q.counts.visible),
      ApproximateNumberOfMessagesNotVisible: () => String(q.counts.inflight),
      ApproximateNumberOfMessagesDelayed: () => String(q.counts.delayed),
      CreatedTimestamp: () => String(q.createdAt),
      LastModifiedTimestamp: () => String(q.createdAt),
      VisibilityTimeout: () => String(q.settings.VisibilityTimeout),
      MaximumMessageSize: () => String(q.settings.MaximumMessageSize),
      MessageRetentionPeriod: () => String(q.settings.MessageRetentionPeriod),
      DelaySeconds: () => String(q.settings.DelaySeconds),
      ReceiveMessageWaitTimeSeconds: () => String(q.settings.ReceiveMessageWaitTimeSeconds),
      RedrivePolicy: () => (q.redrive ? JSON.stringify(q.redrive) : undefined),
      SqsManagedSseEnabled: () => "true",
    };
    for (const name of names)
      if (name !== "All" && !(QUERYABLE_ATTRIBUTES as readonly string[]).includes(name))
        throw new SqsError("InvalidAttributeName", "InvalidAttributeName", `Unknown Attribute ${name}.`);
    for (const name of QUERYABLE_ATTRIBUTES)
      if (all || names.includes(name)) {
        const v = value[name]();
        if (v !== undefined) out[name] = v;
      }
    return out;
  };

  const stringList = (input: Json, name: string): string[] => {
    const v = input[name];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
      throw invalidValue(`Value for parameter ${name} must be a list of strings.`);
    return v as string[];
  };

  const receive = async (region: string, input: Json): Promise<Json> => {
    const q = queueOf(region, input);
    const max = int(input, "MaxNumberOfMessages", 1, 10) ?? 1;
    const visibility =
      int(input, "VisibilityTimeout", 0, MAX_VISIBILITY_SECONDS) ?? q.settings.VisibilityTimeout;
    const wait = int(input, "WaitTimeSeconds", 0, 20) ?? q.settings.ReceiveMessageWaitTimeSeconds;
    const wanted = [
      ...stringList(input, "AttributeNames"),
      ...stringList(input, "MessageSystemAttributeNames"),
    ];
    for (const name of wanted)
      if (
        name !== "All" &&
        !(MESSAGE_SYSTEM_ATTRIBUTES as readonly string[]).includes(name) &&
        name !== "AWSTraceHeader"
      )
        throw new SqsError("InvalidAttributeName", "InvalidAttributeName", `Unknown Attribute ${name}.`);
    const deadline = Date.now() + wait * 1000;
    for (;;) {
      const now = Date.now();
      q.settle(now);
      const got: Json[] = [];
      while (got.length < max) {
        if (q.counts.inflight >= MAX_IN_FLIGHT) {
          if (got.length > 0 || wait > 0) break;
          throw new SqsError(
            "OverLimit",
            "OverLimit",
            "Too many messages in flight (120,000 for a standard queue).",
            403,
          );
        }
        const m = q.nextVisible();
        if (!m) break;
        const dlq = q.redrive && byArn.get(q.redrive.deadLetterTargetArn);
        if (dlq && m.receiveCount >= q.redrive!.maxReceiveCount) {
          // This receive would exceed maxReceiveCount: SQS moves the message to the dead-letter queue.
          q.remove(m);
          dlq.add(
            { ...m, generation: 0, state: "gone", handle: undefined, deadLetterSourceArn: q.arn },
            0,
            now,
          );
          continue;
        }
        const handle = q.receive(m, visibility, now);
        const attrs: Record<string, string> = {};
        const all = wanted.includes("All");
        const system: Record<string, string | undefined> = {
          SenderId: SENDER_ID,
          SentTimestamp: String(m.sentAt),
          ApproximateReceiveCount: String(m.receiveCount),
          ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
          DeadLetterQueueSourceArn: m.deadLetterSourceArn,
        };
        for (const [name, v] of Object.entries(system))
          if (v !== undefined && (all || wanted.includes(name))) attrs[name] = v;
        got.push({
          MessageId: m.id,
          ReceiptHandle: handle,
          MD5OfBody: m.md5,
          Body: m.body,
          ...(Object.keys(attrs).length > 0 ? { Attributes: attrs } : {}),
        });
      }
      if (got.length > 0 || Date.now() >= deadline || closing) return got.length > 0 ? { Messages: got } : {};
      await q.waitForMessages(deadline);
    }
  };

  const operations: Record<string, (region: string, account: string, input: Json) => Json | Promise<Json>> = {
    CreateQueue: (region, account, input) => {
      const name = str(input, "QueueName")!;
      if (name.endsWith(".fifo")) throw unsupported("FIFO queues");
      if (!QUEUE_NAME.test(name))
        throw invalidValue(
          "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        );
      if (input.tags !== undefined && Object.keys(input.tags as object).length > 0)
        throw unsupported("Queue tags");
      const given = (input.Attributes ?? {}) as Record<string, string>;
      const settings: Record<string, number> = {};
      let redrive: RedrivePolicy | undefined;
      for (const [k, [, , dflt]] of Object.entries(SETTABLE)) settings[k] = dflt;
      for (const [k, v] of Object.entries(given)) {
        if (k === "RedrivePolicy") {
          redrive = parseRedrive(region, account, String(v));
          continue;
        }
        const range = SETTABLE[k];
        if (!range)
          throw new SqsError("InvalidAttributeName", "InvalidAttributeName", `Unknown Attribute ${k}.`);
        const n = Number(v);
        if (!/^\d+$/.test(String(v)) || n < range[0] || n > range[1])
          throw new SqsError(
            "InvalidAttributeValue",
            "InvalidAttributeValue",
            `Invalid value for the parameter ${k}. Reason: must be between ${range[0]} and ${range[1]}.`,
          );
        settings[k] = n;
      }
      const key = `${region}/${account}/${name}`;
      const existing = queues.get(key);
      if (existing) {
        const same = Object.entries(given).every(([k, v]) =>
          k === "RedrivePolicy"
            ? JSON.stringify(redrive) === JSON.stringify(existing.redrive)
            : existing.settings[k] === Number(v),
        );
        if (!same)
          throw new SqsError("QueueNameExists", "QueueAlreadyExists", "The specified queue already exists.");
        return { QueueUrl: existing.url };
      }
      const q = new Queue(
        key,
        `arn:aws:sqs:${region}:${account}:${name}`,
        `${endpoint}/${account}/${name}`,
        settings,
        redrive,
      );
      queues.set(key, q);
      byArn.set(q.arn, q);
      return { QueueUrl: q.url };
    },
    GetQueueUrl: (region, account, input) => {
      const owner = str(input, "QueueOwnerAWSAccountId", false) ?? account;
      const q = queues.get(`${region}/${owner}/${str(input, "QueueName")}`);
      if (!q) throw noSuchQueue();
      return { QueueUrl: q.url };
    },
    GetQueueAttributes: (region, _account, input) => {
      const q = queueOf(region, input);
      q.settle(Date.now());
      return { Attributes: attributesOf(q, stringList(input, "AttributeNames")) };
    },
    SendMessage: (region, _account, input) => {
      const q = queueOf(region, input);
      const m = enqueue(q, checkBody(q, input), input);
      return { MessageId: m.id, MD5OfMessageBody: m.md5 };
    },
    SendMessageBatch: (region, _account, input) => {
      const q = queueOf(region, input);
      const entries = entriesOf(input, "SendMessageBatchRequestEntry");
      const total = entries.reduce((n, e) => n + Buffer.byteLength(String(e.MessageBody ?? "")), 0);
      if (total > q.settings.MaximumMessageSize)
        throw new SqsError(
          "BatchRequestTooLong",
          "AWS.SimpleQueueService.BatchRequestTooLong",
          `Batch requests cannot be longer than ${q.settings.MaximumMessageSize} bytes. You have sent ${total} bytes.`,
        );
      const Successful: Json[] = [];
      const Failed: Json[] = [];
      for (const e of entries) {
        try {
          const m = enqueue(q, checkBody(q, e), e);
          Successful.push({ Id: e.Id, MessageId: m.id, MD5OfMessageBody: m.md5 });
        } catch (err) {
          if (!(err instanceof SqsError)) throw err;
          Failed.push({ Id: e.Id, SenderFault: true, Code: err.shape, Message: err.message });
        }
      }
      return { Successful, Failed };
    },
    ReceiveMessage: (region, _account, input) => receive(region, input),
    DeleteMessage: (region, _account, input) => {
      const q = queueOf(region, input);
      const { message, latest } = messageOfHandle(q, str(input, "ReceiptHandle")!);
      if (message && latest) q.remove(message);
      return {};
    },
    DeleteMessageBatch: (region, _account, input) => {
      const q = queueOf(region, input);
      const Successful: Json[] = [];
      const Failed: Json[] = [];
      for (const e of entriesOf(input, "DeleteMessageBatchRequestEntry")) {
        try {
          const { message, latest } = messageOfHandle(q, str(e, "ReceiptHandle")!);
          if (message && latest) q.remove(message);
          Successful.push({ Id: e.Id });
        } catch (err) {
          if (!(err instanceof SqsError)) throw err;
          Failed.push({ Id: e.Id, SenderFault: true, Code: err.shape, Message: err.message });
        }
      }
      return { Successful, Failed };
    },
    ChangeMessageVisibility: (region, _account, input) => {
      const q = queueOf(region, input);
      const handle = str(input, "ReceiptHandle")!;
      const seconds = int(input, "VisibilityTimeout", 0, MAX_VISIBILITY_SECONDS);
      if (seconds === undefined)
        throw new SqsError(
          "MissingParameter",
          "MissingParameter",
          "The request must contain the parameter VisibilityTimeout.",
        );
      const now = Date.now();
      q.settle(now);
      const { message, latest } = messageOfHandle(q, handle);
      if (!message || !latest) throw badHandle(handle);
      q.changeVisibility(message, seconds, now);
      return {};
    },
    ChangeMessageVisibilityBatch: (region, _account, input) => {
      const q = queueOf(region, input);
      const Successful: Json[] = [];
      const Failed: Json[] = [];
      const now = Date.now();
      q.settle(now);
      for (const e of entriesOf(input, "ChangeMessageVisibilityBatchRequestEntry")) {
        try {
          const handle = str(e, "ReceiptHandle")!;
          const seconds = int(e, "VisibilityTimeout", 0, MAX_VISIBILITY_SECONDS) ?? 0;
          const { message, latest } = messageOfHandle(q, handle);
          if (!message || !latest) throw badHandle(handle);
          q.changeVisibility(message, seconds, now);
          Successful.push({ Id: e.Id });
        } catch (err) {
          if (!(err instanceof SqsError)) throw err;
          Failed.push({ Id: e.Id, SenderFault: true, Code: err.shape, Message: err.message });
        }
      }
      return { Successful, Failed };
    },
  };

  const answer = (res: ServerResponse, status: number, body: Json, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/x-amz-json-1.0",
      "content-length": Buffer.byteLength(text),
      "x-amzn-requestid": randomUUID(),
      ...headers,
    });
    res.end(text);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        try {
          const target = String(req.headers["x-amz-target"] ?? "");
          if (req.method !== "POST" || !target.startsWith("AmazonSQS."))
            throw new SqsError(
              "UnknownOperationException",
              "UnknownOperationException",
              `Unknown target ${target}`,
            );
          const op = operations[target.slice("AmazonSQS.".length)];
          if (!op) throw unsupported(target.slice("AmazonSQS.".length));
          let input: Json;
          try {
            input = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Json;
          } catch {
            throw new SqsError(
              "SerializationException",
              "SerializationException",
              "The request body is not JSON.",
            );
          }
          const { region, account } = scope(req);
          answer(res, 200, await op(region, account, input));
        } catch (err) {
          if (err instanceof SqsError)
            answer(
              res,
              err.status,
              { __type: `com.amazonaws.sqs#${err.shape}`, message: err.message },
              { "x-amzn-query-error": `${err.code};Sender` },
            );
          else
            answer(
              res,
              500,
              { __type: "com.amazonaws.sqs#InternalError", message: String(err) },
              { "x-amzn-query-error": "InternalError;Receiver" },
            );
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    close: async () => {
      closing = true;
      for (const q of queues.values()) q.wakeAll();
      await closeHttpServer(server);
    },
  };
}
