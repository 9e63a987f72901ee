/**
 * `iot-dr bench capture --burst N`: a fleet-provisioning burst through capture. N things, each with a
 * certificate (its policy attached) and a group membership, are created in moto as fast as it
 * serves them; the registry events IoT would publish for each (peers/emulators/registryEvents.ts)
 * go, as the capture rules' SQS action sends them, to a capture queue with the deployed redrive
 * policy and visibility timeout, in the SQS stand-in (peers/emulators/sqsQueues.ts: moto's SQS took
 * 19 min to accept the 10,000 events of a 5,000 burst; IoT and DynamoDB stay in moto). As many capture containers as the event source mapping allows
 * (captureSizing's maximumConcurrency), each a separate process running the deployed capture
 * function (bench/captureWorker.ts), poll it and enrich every event through ONE emulated account
 * quota at AWS's default rates (bench/quotaEmulator.ts in front of moto's IoT). Reported: every read
 * API's calls, utilisation and throttles, the most calls it was sent in any one second against its
 * quota, what was captured and dead-lettered, and the burst's clear time against the model's.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { loadavg } from "node:os";
import * as path from "node:path";
import * as iotSdk from "@aws-sdk/client-iot";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as libDynamodb from "@aws-sdk/lib-dynamodb";
import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { iotPortFromSdk } from "../functions/registry/iotPort.js";
import { keys } from "../functions/registry/records.js";
import { markerTableFromSdk, opsTableFromSdk } from "../functions/registry/table.js";
import { captureKeys, type RegistryEventMessage } from "../functions/replication/capture.js";
import {
  BURST_READS_PER_THING,
  CAPTURE_READ_APIS,
  CAPTURE_UTILISATION,
  burstReadSeconds,
  captureSizing,
  predictBurstClearSeconds,
} from "../functions/replication/captureSizing.js";
import { CAPTURE_TOPIC_FIELD } from "../functions/replication/deadLetter.js";
import { silentLogger } from "../functions/shared/observability.js";
import { DEFAULT_IOT_QUOTAS, systemClock } from "../functions/replication/pacing.js";
import { emitRegistryEvents } from "../peers/emulators/registryEvents.js";
import { createQueueWithDeadLetters, queueDepth } from "../peers/emulators/sqsEventSource.js";
import { startSqsQueues } from "../peers/emulators/sqsQueues.js";
import { startMoto } from "../peers/moto.js";
import { createPkTable } from "../peers/tables.js";
import { pool } from "./harness.js";
import { startQuotaEmulator } from "./quotaEmulator.js";
import type { FromCaptureWorker, ToCaptureWorker } from "./captureWorker.js";

/** The capture function's timeout the deployment sizes with (infra/capture.ts CAPTURE_TIMEOUT_SECONDS). */
const CAPTURE_TIMEOUT_SECONDS = 30;
const REGION = "eu-west-1";
const GROUP = "burst-fleet";
const POLICY = "burst-device-policy";

export interface CaptureBurstOptions {
  burst: number;
  /** Things provisioned at once by the source; default 16. */
  sourceConcurrency?: number;
  /** IoT API rates as `iotApiRates` (AWS defaults otherwise). */
  iotApiRates?: Record<string, number>;
}

export interface CaptureApiReport {
  api: string;
  /** The account's quota the emulator enforces (calls per sliding second). */
  quota: number;
  /** Calls IoT accepted. */
  calls: number;
  /** Accepted calls per second over the API's active span ÷ quota. */
  utilisation: number;
  throttles: number;
  /** The most calls (accepted + throttled) the emulator received in any one second (whole seconds). */
  maxCallsInOneSecond: number;
  /**
   * The most calls the containers sent in any one second (whole seconds of the system clock; every
   * SDK attempt): what capture did, without the delays of a busy emulator process bunching arrivals.
   */
  maxSentInOneSecond: number;
  /** The most calls the containers sent in any sliding second (every SDK attempt), what IoT's quota counts. */
  maxSentInSlidingSecond: number;
  /**
   * The most calls of one container that reached the emulator in any sliding second (accepted and
   * throttled): each container's share as the service counts it, after the wire.
   */
  maxArrivedFromOneContainerInSlidingSecond: number;
  /** Milliseconds from a container's HTTP handler to the emulator's (the wire and both event loops). */
  wireLagMs: CallLatency;
  /** The most calls of one container that started on its socket in any sliding second (Node's own request start). */
  maxOnSocketFromOneContainerInSlidingSecond: number;
  /**
   * Requests the containers' send guards held (1 ms or more, between the middleware outside the
   * guard and the HTTP handler), and their waits summed, in milliseconds.
   */
  guardHeld: number;
  guardHeldMs: number;
  /** Accepted calls per thing of the burst. */
  callsPerThing: number;
  /**
   * Seconds a container's share of this API went unused between its sends (gaps over two pacing
   * intervals, less one interval each), mean over containers: time the model counts as busy.
   */
  idleSeconds: number;
}

/** Percentiles of request times, milliseconds. */
export interface CallLatency {
  calls: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * Where a container's time went per invocation (means over invocations that made the binding read,
 * milliseconds): `headMs` from the invocation's start to its first binding read, `bindingMs` its
 * first to its last binding read, `tailMs` from the last to the invocation's end, `betweenMs` from
 * an invocation's end to the container's next (the poller: receive, delete). The binding read's
 * share is busy only in `bindingMs`.
 */
export interface BatchTimeline {
  api: string;
  invocations: number;
  headMs: number;
  bindingMs: number;
  tailMs: number;
  betweenMs: number;
  /** Binding reads per invocation. */
  bindingCalls: number;
}

/** The timeline of each container's invocations against its sends of `api` (all times epoch ms). */
export function batchTimeline(
  containers: { spans: { start: number; end: number }[]; sent: number[] }[],
  api: string,
): BatchTimeline {
  const sums = { invocations: 0, head: 0, binding: 0, tail: 0, between: 0, betweens: 0, calls: 0 };
  for (const c of containers) {
    const spans = [...c.spans].sort((a, b) => a.start - b.start);
    const sent = [...c.sent].sort((a, b) => a - b);
    spans.forEach((span, i) => {
      const inSpan = sent.filter((t) => t >= span.start && t <= span.end);
      if (i + 1 < spans.length) {
        sums.between += spans[i + 1].start - span.end;
        sums.betweens++;
      }
      if (inSpan.length === 0) return;
      sums.invocations++;
      sums.calls += inSpan.length;
      sums.head += inSpan[0] - span.start;
      sums.binding += inSpan.at(-1)! - inSpan[0];
      sums.tail += span.end - inSpan.at(-1)!;
    });
  }
  const n = Math.max(1, sums.invocations);
  const r = (x: number) => Math.round(x);
  return {
    api,
    invocations: sums.invocations,
    headMs: r(sums.head / n),
    bindingMs: r(sums.binding / n),
    tailMs: r(sums.tail / n),
    betweenMs: r(sums.between / Math.max(1, sums.betweens)),
    bindingCalls: Math.round((sums.calls / n) * 10) / 10,
  };
}

/** The most of `times` (ms) inside any window [t, t + 1000). */
export function maxInSlidingSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi] - sorted[lo] >= 1000) lo++;
    most = Math.max(most, hi - lo + 1);
  }
  return most;
}

export interface CaptureBurstReport {
  burst: number;
  /** Things whose thing, certificate, principal and membership records are all in the ops table. */
  captured: number;
  /** Messages in the capture dead-letter queue at the end. */
  deadLettered: number;
  /** Seconds from the capture containers starting on the queued burst until the queue was empty. */
  clearSeconds: number;
  /**
   * predictBurstClearSeconds for this burst and these rates at AWS_CAPTURE_LATENCIES (the figure
   * `iot-dr rto` adds to the RPO).
   */
  predictedClearSeconds: number;
  /**
   * The same model at the latencies this run measured (mean IoT read through the emulator, mean
   * DynamoDB call to moto, mean SQS request to the stand-in): how far the clear time is from the
   * model when the model is given the stand-ins' speed instead of AWS's.
   */
  predictedAtMeasuredLatenciesSeconds: number;
  /** The binding read's calls alone at the containers' paced shares (the model before batch overhead). */
  readSeconds: number;
  /** Seconds the source took to provision the burst. */
  provisionSeconds: number;
  workers: number;
  batchSize: number;
  apis: CaptureApiReport[];
  /** Messages delivered again after a batch item failure, over all workers. */
  redelivered: number;
  invocations: number;
  cpuMsPerThing: number;
  /** How long the containers' IoT reads (through the quota emulator) and DynamoDB calls to moto took. */
  callLatencyMs: { iot: CallLatency; dynamodb: CallLatency; sqs: CallLatency };
  /** Mean seconds inside the capture function per invocation; the rest of a container's time is its poller's. */
  handlerSecondsPerInvocation: number;
  /** Milliseconds from a request entering the IoT client (the pacer's call) to the send guard. */
  sdkMs: CallLatency;
  /** Milliseconds from the HTTP handler to the request's start on its socket, and requests that waited for a new connection. */
  handlerToSocketMs: CallLatency;
  newConnections: number;
  /** DynamoDB requests the containers made per thing of the burst. */
  dynamodbCallsPerThing: number;
  /** Where each container's time went per invocation, against the binding read (`captureSizing().bindingApi`). */
  batches: BatchTimeline;
  loadAverage: { start: number; end: number; max: number };
}

function latencyOf(ms: number[]): CallLatency {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0
      ? 0
      : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10;
  return {
    calls: sorted.length,
    mean: sorted.length === 0 ? 0 : Math.round((sorted.reduce((a, x) => a + x, 0) / sorted.length) * 10) / 10,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted.length === 0 ? 0 : Math.round(sorted.at(-1)! * 10) / 10,
  };
}

/** Time a container's share of an API at `rate` calls/s went unused between the sends at `times` (ms). */
export function idleSecondsOf(times: number[], rate: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  const interval = 1000 / rate;
  let idle = 0;
  for (let i = 1; i < sorted.length; i++) {
    const gap = sorted[i] - sorted[i - 1];
    if (gap > 2 * interval) idle += gap - interval;
  }
  return idle / 1000;
}

/** A capture container in its own process (bench/captureWorker.ts). */
export class CaptureWorker {
  private readonly child: ChildProcess;
  private stopped?: (m: FromCaptureWorker) => void;
  private failure?: Error;

  constructor(env: Record<string, string>) {
    this.child = fork(path.join(__dirname, "captureWorker.ts"), [], {
      execArgv: ["--require", require.resolve("tsx/cjs")],
      env: { ...process.env, ...env, IOT_DR_BENCH_WORKER: "capture" },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    this.child.on("message", (m: FromCaptureWorker) => {
      if (m.type === "error") this.failure ??= new Error(`capture worker: ${m.message}`);
      this.stopped?.(m);
    });
    this.child.on("exit", (code) => {
      this.failure ??= new Error(`capture worker exited (${code})`);
      this.stopped?.({ type: "error", message: this.failure.message });
    });
  }

  get error(): Error | undefined {
    return this.failure;
  }

  send(m: ToCaptureWorker): void {
    this.child.send(m);
  }

  stop(): Promise<FromCaptureWorker> {
    return new Promise((resolve) => {
      if (this.failure) return resolve({ type: "error", message: this.failure.message });
      this.stopped = resolve;
      this.child.send({ type: "stop" });
    });
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.pid) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await exited;
  }
}

const pemOf = (i: number) =>
  `-----BEGIN CERTIFICATE-----\nMIIBburst${String(i).padStart(12, "0")}${"A".repeat(48)}\n-----END CERTIFICATE-----\n`;
const idOf = (pem: string) => createHash("sha256").update(pem).digest("hex");
const thingOf = (i: number) => `burst-${String(i).padStart(6, "0")}`;

/** The thing a registry event is about (its topic names it). */
function thingOfTopic(topic: string): string | undefined {
  const seg = topic.split("/");
  if (seg[2] === "thing") return seg[3];
  if (seg[2] === "thingGroupMembership") return seg[6];
  return undefined;
}

export async function runCaptureBurstBench(
  options: CaptureBurstOptions,
  log: (line: string) => void,
): Promise<CaptureBurstReport> {
  const rates = options.iotApiRates ?? {};
  const sizing = captureSizing(rates, { timeoutSeconds: CAPTURE_TIMEOUT_SECONDS });
  const quotaOf = (api: string) => rates[api] ?? (DEFAULT_IOT_QUOTAS as Record<string, number>)[api] ?? 10;
  const moto = await startMoto();
  const queues = await startSqsQueues();
  const emulator = await startQuotaEmulator(moto.endpoint);
  emulator.setQuota(quotaOf);
  const workers: CaptureWorker[] = [];
  const load = { start: loadavg()[0], end: 0, max: loadavg()[0] };
  const sampler = setInterval(() => (load.max = Math.max(load.max, loadavg()[0])), 5000).unref();
  try {
    // The bench's own setup and source calls retry moto's transient failures (it answers a request it
    // raced on with a 500 page); the capture workers keep the deployed client settings.
    const config = { ...moto.clientConfig(REGION), maxAttempts: 6 };
    const ddb = new dynamodb.DynamoDBClient(config);
    for (const table of ["ops", "markers"]) await createPkTable(ddb, table);
    const doc = libDynamodb.DynamoDBDocumentClient.from(ddb);
    const sqs = new SQSClient({ ...config, endpoint: queues.endpoint });
    const { queueUrl, deadLetterUrl: dlqUrl } = await createQueueWithDeadLetters(
      sqs,
      { queue: "capture-queue", deadLetters: "capture-dlq" },
      sizing.maxReceiveCount,
      { visibilityTimeoutSeconds: sizing.visibilityTimeoutSeconds },
    );
    const depth = async (url: string) => (await queueDepth(sqs, url)).reduce((a, n) => a + n, 0);

    // The fleet's group and policy exist and are recorded before the burst (a rollout reuses them).
    const source = new iotSdk.IoTClient(config);
    const sourcePort = iotPortFromSdk(iotSdk, source);
    await source.send(new iotSdk.CreateThingGroupCommand({ thingGroupName: GROUP }));
    await source.send(
      new iotSdk.CreatePolicyCommand({
        policyName: POLICY,
        policyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Action: "iot:Connect", Resource: "*" }],
        }),
      }),
    );
    await captureKeys([keys.thingGroup(GROUP), keys.policy(POLICY)], {
      region: REGION,
      iot: sourcePort,
      table: opsTableFromSdk(libDynamodb, doc, "ops"),
      markers: markerTableFromSdk(libDynamodb, doc, "markers"),
      clock: systemClock,
      logger: silentLogger,
    });

    const env = {
      ...moto.env(REGION),
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_IOT: emulator.endpoint,
      OPS_TABLE: "ops",
      MARKER_TABLE: "markers",
      IOT_API_RATES: JSON.stringify(rates),
      CAPTURE_CONTAINERS: String(sizing.maximumConcurrency),
    };
    for (let i = 0; i < sizing.maximumConcurrency; i++) workers.push(new CaptureWorker(env));

    // The source: every thing provisioned complete (certificate with its policy, attached, in the
    // group) as fast as moto serves it. moto provisions far slower than a fleet-provisioning burst
    // on AWS (thousands within a minute), so the events are held, sent to the capture queue once the
    // burst is provisioned, and the containers start when the queue holds the whole burst.
    const observed = new iotSdk.IoTClient(config);
    const events = emitRegistryEvents(observed, { reader: new iotSdk.IoTClient(config) });
    const t0 = performance.now();
    let provisioned = 0;
    const indices = Array.from({ length: options.burst }, (_, i) => i);
    await pool(indices, options.sourceConcurrency ?? 16, async (i) => {
      const thingName = thingOf(i);
      const cert = await observed.send(
        new iotSdk.RegisterCertificateWithoutCACommand({ certificatePem: pemOf(i), status: "ACTIVE" }),
      );
      await observed.send(
        new iotSdk.AttachPolicyCommand({ policyName: POLICY, target: cert.certificateArn }),
      );
      await observed.send(new iotSdk.CreateThingCommand({ thingName }));
      await observed.send(
        new iotSdk.AttachThingPrincipalCommand({ thingName, principal: cert.certificateArn }),
      );
      await observed.send(new iotSdk.AddThingToThingGroupCommand({ thingName, thingGroupName: GROUP }));
      if (++provisioned % 500 === 0) log(`provisioned ${provisioned} of ${options.burst}\n`);
    });
    const messages = events.take().filter((m) => thingOfTopic(m.topic) !== undefined);
    events.detach();
    const provisionSeconds = (performance.now() - t0) / 1000;
    let firstSent = 0;
    let sent = 0;
    const sendBatch = async (batch: RegistryEventMessage[]) => {
      if (firstSent === 0) firstSent = performance.now();
      const out = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          // What a capture rule's SQS action sends: the rule SQL's output, payload plus topic.
          Entries: batch.map((m, j) => ({
            Id: String(j),
            MessageBody: JSON.stringify({ ...(m.payload as object), [CAPTURE_TOPIC_FIELD]: m.topic }),
          })),
        }),
      );
      if ((out.Failed ?? []).length > 0)
        throw new Error(`SendMessageBatch failed: ${out.Failed![0].Message}`);
      sent += batch.length;
    };
    const chunks: RegistryEventMessage[][] = [];
    for (let i = 0; i < messages.length; i += 10) chunks.push(messages.slice(i, i + 10));
    await pool(chunks, 8, sendBatch);
    log(
      `burst provisioned in ${provisionSeconds.toFixed(1)} s; ${sent} events sent to the capture queue in ${((performance.now() - firstSent) / 1000).toFixed(1)} s\n`,
    );

    // The burst is in the queue: the containers start on it now, as Lambda's pollers would find it.
    const clearStart = performance.now();
    for (const w of workers)
      w.send({
        type: "run",
        queueUrl,
        sqsEndpoint: queues.endpoint,
        region: REGION,
        batchSize: sizing.batchSize,
        batchWindowSeconds: sizing.batchWindowSeconds,
        // The deployed queue's: shorter, a batch still in flight would be received again by another container.
        visibilityTimeoutSeconds: sizing.visibilityTimeoutSeconds,
      });

    let lastLog = performance.now();
    for (;;) {
      const broken = workers.find((w) => w.error);
      if (broken) throw broken.error!;
      const left = await depth(queueUrl);
      if (left === 0) break;
      if (performance.now() - lastLog > 30_000) {
        log(`capture queue: ${left} messages left\n`);
        lastLog = performance.now();
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const clearSeconds = (performance.now() - clearStart) / 1000;
    const stops = await Promise.all(workers.map((w) => w.stop()));
    const failedStop = stops.find((s) => s.type === "error");
    if (failedStop && failedStop.type === "error") throw new Error(failedStop.message);
    const totals = stops.reduce(
      (a, s) =>
        s.type === "stopped"
          ? {
              invocations: a.invocations + s.invocations,
              failed: a.failed + s.failedMessages,
              cpu: a.cpu + s.cpuMicros,
            }
          : a,
      { invocations: 0, failed: 0, cpu: 0 },
    );
    const stopped = stops.flatMap((s) => (s.type === "stopped" ? [s] : []));
    const handlerMs = stopped.reduce((a, s) => a + s.handlerMs, 0);
    const deadLettered = await depth(dlqUrl);
    const sentByApi = new Map<string, Map<number, number>>();
    const sentTimes = new Map<string, number[]>();
    for (const s of stops)
      if (s.type === "stopped")
        for (const [api, times] of Object.entries(s.sentAt)) {
          const bySecond = sentByApi.get(api) ?? new Map<number, number>();
          for (const t of times)
            bySecond.set(Math.floor(t / 1000), (bySecond.get(Math.floor(t / 1000)) ?? 0) + 1);
          sentByApi.set(api, bySecond);
          sentTimes.set(api, [...(sentTimes.get(api) ?? []), ...times]);
        }

    // Captured: every record a provisioned thing needs in the other region.
    const stored = new Set<string>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(
        new libDynamodb.ScanCommand({
          TableName: "ops",
          ProjectionExpression: "pk",
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) stored.add(String(item.pk));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    const captured = indices.filter((i) => {
      const thingName = thingOf(i);
      const certificateId = idOf(pemOf(i));
      return [
        keys.thing(thingName),
        keys.certificate(certificateId),
        keys.principal(thingName, certificateId),
        keys.membership(GROUP, thingName),
      ].every((k) => stored.has(k));
    }).length;

    const apis: CaptureApiReport[] = [...emulator.counters.entries()]
      .filter(([api]) => (CAPTURE_READ_APIS as readonly string[]).includes(api))
      .map(([api, c]) => {
        const perSecond = new Map<number, number>();
        for (const t of [...c.acceptedAt, ...c.throttledAt]) {
          const s = Math.floor(t / 1000);
          perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
        }
        const span = (c.last - c.first) / 1000;
        const achieved = c.ok > 1 && span > 0 ? (c.ok - 1) / span : 0;
        return {
          api,
          quota: quotaOf(api),
          calls: c.ok,
          utilisation: Math.round((achieved / quotaOf(api)) * 1000) / 1000,
          throttles: c.throttled,
          maxCallsInOneSecond: Math.max(0, ...perSecond.values()),
          maxSentInOneSecond: Math.max(0, ...(sentByApi.get(api)?.values() ?? [])),
          maxSentInSlidingSecond: maxInSlidingSecond(sentTimes.get(api) ?? []),
          maxArrivedFromOneContainerInSlidingSecond: Math.max(
            0,
            ...[...c.arrivalsBySender.values()].map(maxInSlidingSecond),
          ),
          wireLagMs: latencyOf(c.wireLagMs),
          maxOnSocketFromOneContainerInSlidingSecond: Math.max(
            0,
            ...stopped.map((s) => maxInSlidingSecond(s.socketAt[api] ?? [])),
          ),
          guardHeld: stopped.reduce((n, s) => n + (s.guardMs[api] ?? []).filter((ms) => ms >= 1).length, 0),
          guardHeldMs: Math.round(
            stopped.reduce(
              (n, s) => n + (s.guardMs[api] ?? []).reduce((a, ms) => a + (ms >= 1 ? ms : 0), 0),
              0,
            ),
          ),
          callsPerThing: Math.round((c.ok / options.burst) * 100) / 100,
          idleSeconds:
            Math.round(
              (stopped.reduce(
                (a, s) =>
                  a + idleSecondsOf(s.sentAt[api] ?? [], sizing.shareRates[api] * CAPTURE_UTILISATION),
                0,
              ) /
                Math.max(1, stopped.length)) *
                10,
            ) / 10,
        };
      })
      .sort((a, b) => a.api.localeCompare(b.api));
    clearInterval(sampler);
    load.end = loadavg()[0];
    load.max = Math.max(load.max, load.end);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    return {
      burst: options.burst,
      captured,
      deadLettered,
      clearSeconds: Math.round(clearSeconds * 10) / 10,
      predictedClearSeconds: predictBurstClearSeconds(options.burst, rates, {
        timeoutSeconds: CAPTURE_TIMEOUT_SECONDS,
      }),
      predictedAtMeasuredLatenciesSeconds: predictBurstClearSeconds(options.burst, rates, {
        timeoutSeconds: CAPTURE_TIMEOUT_SECONDS,
        latencies: {
          iotReadMs: latencyOf(stopped.flatMap((s) => s.callMs.iot)).mean,
          tableMs: latencyOf(stopped.flatMap((s) => s.callMs.dynamodb)).mean,
          queueMs: latencyOf(stopped.flatMap((s) => s.callMs.sqs)).mean,
        },
      }),
      readSeconds: burstReadSeconds(options.burst, rates, { timeoutSeconds: CAPTURE_TIMEOUT_SECONDS }),
      provisionSeconds: Math.round(provisionSeconds * 10) / 10,
      workers: sizing.maximumConcurrency,
      batchSize: sizing.batchSize,
      apis,
      redelivered: totals.failed,
      invocations: totals.invocations,
      cpuMsPerThing: Math.round((totals.cpu / 1000 / options.burst) * 1000) / 1000,
      callLatencyMs: {
        iot: latencyOf(stopped.flatMap((s) => s.callMs.iot)),
        dynamodb: latencyOf(stopped.flatMap((s) => s.callMs.dynamodb)),
        sqs: latencyOf(stopped.flatMap((s) => s.callMs.sqs)),
      },
      handlerSecondsPerInvocation:
        Math.round((handlerMs / 1000 / Math.max(1, totals.invocations)) * 100) / 100,
      sdkMs: latencyOf(stopped.flatMap((s) => s.sdkMs)),
      handlerToSocketMs: latencyOf(stopped.flatMap((s) => s.handlerToSocketMs)),
      newConnections: stopped.reduce((a, s) => a + s.newConnections, 0),
      dynamodbCallsPerThing:
        Math.round((stopped.reduce((a, s) => a + s.callMs.dynamodb.length, 0) / options.burst) * 100) / 100,
      batches: batchTimeline(
        stopped.map((s) => ({ spans: s.invocationSpans, sent: s.sentAt[sizing.bindingApi.api] ?? [] })),
        sizing.bindingApi.api,
      ),
      loadAverage: { start: r2(load.start), end: r2(load.end), max: r2(load.max) },
    };
  } finally {
    clearInterval(sampler);
    await Promise.all(workers.map((w) => w.kill()));
    await emulator.close();
    await queues.close();
    await moto.stop();
  }
}

/** The report as text. */
export function formatCaptureBurst(r: CaptureBurstReport): string {
  const lines = [
    `burst ${r.burst} things: captured ${r.captured}, dead-lettered ${r.deadLettered}, redelivered ${r.redelivered}`,
    `clear ${r.clearSeconds} s (model ${r.predictedClearSeconds} s at AWS latencies, ${r.predictedAtMeasuredLatenciesSeconds} s at this run's, ${r.readSeconds} s of binding reads); provisioned in ${r.provisionSeconds} s`,
    `${r.workers} capture containers, batches of ${r.batchSize}, ${r.invocations} invocations, ${r.cpuMsPerThing} ms CPU per thing`,
    "api                        quota  calls  util   throttles  max/s  per thing  idle s",
    ...r.apis.map(
      (a) =>
        `${a.api.padEnd(26)} ${String(a.quota).padStart(5)} ${String(a.calls).padStart(6)} ${(a.utilisation * 100).toFixed(1).padStart(5)}% ${String(a.throttles).padStart(10)} ${String(a.maxCallsInOneSecond).padStart(6)} ${String(a.callsPerThing).padStart(10)} ${String(a.idleSeconds).padStart(7)}`,
    ),
    `IoT reads p50/p99 ${r.callLatencyMs.iot.p50}/${r.callLatencyMs.iot.p99} ms, DynamoDB p50/p99 ${r.callLatencyMs.dynamodb.p50}/${r.callLatencyMs.dynamodb.p99} ms (${r.dynamodbCallsPerThing} per thing); ${r.handlerSecondsPerInvocation} s in the function per invocation`,
    `per invocation (${r.batches.api}, ${r.batches.bindingCalls} calls): head ${r.batches.headMs} ms, binding reads ${r.batches.bindingMs} ms, tail ${r.batches.tailMs} ms, between invocations ${r.batches.betweenMs} ms`,
    `pacer to send guard p50/p99/max ${r.sdkMs.p50}/${r.sdkMs.p99}/${r.sdkMs.max} ms; held by the guard: ${r.apis
      .filter((a) => a.guardHeld > 0)
      .map((a) => `${a.api} ${a.guardHeld} (${a.guardHeldMs} ms)`)
      .join(
        ", ",
      )}; most arrivals of one container in a sliding second: ${r.apis.map((a) => `${a.api} ${a.maxArrivedFromOneContainerInSlidingSecond}`).join(", ")}`,
    `load average ${r.loadAverage.start} -> ${r.loadAverage.end} (max ${r.loadAverage.max})`,
  ];
  return lines.join("\n") + "\n";
}

/** The model's reads per thing, for comparing with `callsPerThing`. */
export const MODEL_READS_PER_THING = BURST_READS_PER_THING;
