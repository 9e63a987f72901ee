/**
 * What capture costs per replicated operation, measured rather than assumed: the cost model prices
 * two captures per operation (the source's, and the echo capture in the target that finds replay's
 * own change already recorded), and until this bench it took replay's CPU for both.
 *
 * The backlog of `iot-dr bench replay` (the same mix, its seeds in both regions) is made in the
 * source region in moto by an operator (the replay code, without table or markers, as a person or a
 * provisioning tool would call IoT), and the events IoT would publish for those calls
 * (peers/emulators/registryEvents.ts, cloudTrailEvents.ts) go to the source's capture queue in the SQS
 * stand-in, as the capture rules send them. One capture container (bench/captureWorker.ts: the
 * deployed capture function behind Lambda's poller, batches of 10) captures them: the source leg.
 * The records it wrote are copied to the target's ops table (the global table's replication),
 * replayed there by the deployed replay code with the target's marker table, and the events replay's
 * own calls raise go to the target's capture queue: the echo leg, which must write nothing.
 *
 * Each leg's CPU is the container's process CPU while it drains its queue (the poller's SQS calls
 * included, which Lambda does not bill), per operation of the backlog; the containers reach IoT and
 * DynamoDB through a pass-through that keeps connections open, as the AWS endpoints do (moto closes
 * each after its answer), and that counts the IoT calls by API.
 */
import * as iotSdk from "@aws-sdk/client-iot";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as libDynamodb from "@aws-sdk/lib-dynamodb";
import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { iotPortFromSdk } from "../functions/registry/iotPort.js";
import {
  fromItem,
  isRecordKey,
  keys,
  replayWaves,
  type RegistryRecord,
} from "../functions/registry/records.js";
import {
  markerTableFromSdk,
  opsTableFromSdk,
  scanRecords,
  type OpsTablePort,
  type TableItem,
} from "../functions/registry/table.js";
import { applyRecord, type ApplyDeps } from "../functions/replication/apply.js";
import { captureKeys, type RegistryEventMessage } from "../functions/replication/capture.js";
import { CAPTURE_TOPIC_FIELD } from "../functions/replication/deadLetter.js";
import { describeError } from "../functions/replication/errors.js";
import { createPacer, systemClock } from "../functions/replication/pacing.js";
import { noMetrics, silentLogger } from "../functions/shared/observability.js";
import { captureEventPattern, type CloudTrailApiCallEvent } from "../functions/replication/cloudTrail.js";
import { emitCloudTrailEvents, type Caller } from "../peers/emulators/cloudTrailEvents.js";
import { emitRegistryEvents } from "../peers/emulators/registryEvents.js";
import { createQueueWithDeadLetters, queueDepth } from "../peers/emulators/sqsEventSource.js";
import { startSqsQueues } from "../peers/emulators/sqsQueues.js";
import { startMoto } from "../peers/moto.js";
import { createPkTable } from "../peers/tables.js";
import { buildBacklog } from "./backlog.js";
import { CaptureWorker } from "./captureBurst.js";
import { pool, sampleLoad, seedBacklogs } from "./harness.js";
import { startQuotaEmulator, type QuotaEmulator } from "./quotaEmulator.js";

const SOURCE = "us-east-1";
const TARGET = "eu-west-1";
const ACCOUNT = "123456789012";
/** The role replay's function runs as in a region (its calls are logged under it). */
const replayRoleOf = (region: string) => `arn:aws:iam::${ACCOUNT}:role/iot-dr-${region}-replay-role`;
/** Messages per capture invocation: the cost model's steady-state capture batch. */
const BATCH = 10;

export interface CaptureLegReport {
  /** Messages the capture rules sent to the leg's queue (registry events and CloudTrail calls). */
  messages: number;
  /** Of those, CloudTrail calls (through the EventBridge rule, which leaves replay's own out). */
  cloudTrailMessages: number;
  invocations: number;
  /** Messages a capture invocation failed (the queue delivered them again). */
  redelivered: number;
  cpuMs: number;
  /** The container's CPU over the backlog's operations: the cost model's capture CPU per operation. */
  cpuMsPerOp: number;
  iotCalls: number;
  iotCallsPerOp: number;
  /** DynamoDB calls the capture function made (retries not counted: a failed request is not billed). */
  dynamodbCalls: number;
  dynamodbCallsPerOp: number;
  /** The SDK's attempts of those calls (moto fails some under load; the client retries them). */
  dynamodbAttempts: number;
  /** DynamoDB reads (GetItem) and writes (PutItem, UpdateItem) per operation. */
  dynamodbReadsPerOp: number;
  /** Of those reads, the eventually consistent ones (half a read unit each): presence checks. */
  dynamodbEventualReadsPerOp: number;
  dynamodbWritesPerOp: number;
  /** Of those writes, the conditional ones the table refused (a newer record): billed, not replicated. */
  dynamodbRefusedWritesPerOp: number;
  /** DynamoDB requests by operation over the leg. */
  dynamodbByCommand: Record<string, number>;
  /** Records the leg wrote or moved in its region's ops table. */
  recordsWritten: number;
  seconds: number;
}

export interface CaptureCostReport {
  ops: number;
  /** Capture in the source region of the backlog's own operations. */
  source: CaptureLegReport;
  /** Capture in the target region of the events replay's own calls raised: recordsWritten must be 0. */
  echo: CaptureLegReport;
  /** Records replay applied in the target (what the source leg captured). */
  replayed: number;
  loadAverage: { start: number; end: number; max: number };
}

/** A capture rule's SQS message body for a delivery: the rule SQL's output, or the EventBridge event. */
function bodyOf(delivery: RegistryEventMessage | CloudTrailApiCallEvent): string {
  if ("detail-type" in delivery) return JSON.stringify(delivery);
  return JSON.stringify({ ...(delivery.payload as object), [CAPTURE_TOPIC_FIELD]: delivery.topic });
}

/** Items of a table by key, with the version each holds, to see what a leg wrote. */
async function versions(table: OpsTablePort): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const r of scanRecords(table)) out.set(r.key, JSON.stringify(r.version));
  return out;
}

const changedSince = (before: Map<string, string>, after: Map<string, string>) =>
  [...after].filter(([k, v]) => before.get(k) !== v).map(([k]) => k);

const okCalls = (emulator: QuotaEmulator) =>
  [...emulator.counters].filter(([api]) => api !== "unknown").reduce((a, [, c]) => a + c.ok + c.throttled, 0);

export async function runCaptureCostBench(
  options: { ops: number },
  log: (line: string) => void,
): Promise<CaptureCostReport> {
  if (!Number.isInteger(options.ops) || options.ops < 20)
    throw new Error(`the capture cost bench needs at least 20 operations, got ${options.ops}`);
  const moto = await startMoto();
  const pass = await startQuotaEmulator(moto.endpoint);
  const queues = await startSqsQueues();
  const load = sampleLoad();
  const workers: CaptureWorker[] = [];
  try {
    const regions = [SOURCE, TARGET].map((region) => {
      // The bench's own calls retry moto's transient failures; the capture containers keep the
      // deployed client settings.
      const config = { ...moto.clientConfig(region), maxAttempts: 6 };
      const ddb = new dynamodb.DynamoDBClient(config);
      const doc = libDynamodb.DynamoDBDocumentClient.from(ddb);
      const setup = new iotSdk.IoTClient(config);
      return {
        region,
        config,
        ddb,
        ops: opsTableFromSdk(libDynamodb, doc, "ops"),
        markers: markerTableFromSdk(libDynamodb, doc, "markers"),
        setup,
        port: iotPortFromSdk(iotSdk, setup),
      };
    });
    const [source, target] = regions;
    for (const r of regions) for (const t of ["ops", "markers"]) await createPkTable(r.ddb, t);
    const unpaced = createPacer({ rates: {}, defaultRate: 1e6, utilisation: 1 });

    // What the backlog's updates and deletes act on, in both regions and in the table: made and
    // captured at the source, replicated, and replayed into the target as a standby holds them.
    const backlog = buildBacklog(options.ops, Date.now(), SOURCE, "k");
    await seedBacklogs(source.port, [backlog], { region: SOURCE });
    const seedKeys = [
      ...backlog.seed.things.map((t) => keys.thing(t)),
      ...backlog.seed.deleteThings.map((t) => keys.thing(t)),
      ...backlog.seed.certs.map((c) => c.key),
    ];
    await captureKeys(seedKeys, {
      region: SOURCE,
      iot: source.port,
      table: source.ops,
      markers: source.markers,
      clock: systemClock,
      logger: silentLogger,
    });
    // The global table's replication: each record item copied as it is, read once by the scan.
    const replicate = async (only?: Set<string>) => {
      const items: TableItem[] = [];
      let next: TableItem | undefined;
      do {
        const page = await source.ops.scan(next, 100);
        for (const item of page.items)
          if (isRecordKey(String(item.pk)) && (!only || only.has(String(item.pk)))) items.push(item);
        next = page.next;
      } while (next);
      await pool(items, 8, async (item) => void (await target.ops.put(item)));
      return items.map(fromItem);
    };
    await replicate();
    await seedBacklogs(target.port, [backlog], { region: TARGET, markers: target.markers });

    /**
     * Runs `produce` (the region's own calls, through a client observed by the event emulators)
     * while one capture container of `region` drains a new capture queue, to which what `take`
     * returns is sent every 200 ms, as the capture rules send each event when IoT publishes it.
     */
    const captureLeg = async (
      region: (typeof regions)[number],
      name: string,
      produce: () => Promise<void>,
      take: () => (RegistryEventMessage | CloudTrailApiCallEvent)[],
    ): Promise<CaptureLegReport> => {
      // The region's own queue, as each region's capture rules send to their region's queue.
      const sqs = new SQSClient({ ...region.config, endpoint: queues.endpoint });
      const { queueUrl } = await createQueueWithDeadLetters(
        sqs,
        { queue: `${name}-capture`, deadLetters: `${name}-capture-dlq` },
        5,
        { visibilityTimeoutSeconds: 30 },
      );
      let messages = 0;
      let cloudTrailMessages = 0;
      const flush = async () => {
        const deliveries = take();
        cloudTrailMessages += deliveries.filter((d) => "detail-type" in d).length;
        const bodies = deliveries.map(bodyOf);
        messages += bodies.length;
        for (let i = 0; i < bodies.length; i += 10) {
          const out = await sqs.send(
            new SendMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: bodies.slice(i, i + 10).map((MessageBody, j) => ({ Id: String(j), MessageBody })),
            }),
          );
          if ((out.Failed ?? []).length > 0)
            throw new Error(`SendMessageBatch failed: ${out.Failed![0].Message}`);
        }
      };
      const before = await versions(region.ops);
      const calls0 = okCalls(pass);
      const worker = new CaptureWorker({
        ...moto.env(region.region),
        // IoT and DynamoDB through the pass-through: connections kept open, IoT calls counted.
        AWS_ENDPOINT_URL: pass.endpoint,
        AWS_REGION: region.region,
        OPS_TABLE: "ops",
        MARKER_TABLE: "markers",
        CAPTURE_CONTAINERS: "1",
      });
      workers.push(worker);
      const t0 = performance.now();
      worker.send({
        type: "run",
        queueUrl,
        sqsEndpoint: queues.endpoint,
        region: region.region,
        batchSize: BATCH,
        batchWindowSeconds: 1,
        visibilityTimeoutSeconds: 5,
      });
      let producing = true;
      const flusher = (async () => {
        while (producing) {
          await flush();
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      try {
        await produce();
      } finally {
        producing = false;
        await flusher;
      }
      await flush();
      for (;;) {
        if (worker.error) throw worker.error;
        const [visible, inFlight] = await queueDepth(sqs, queueUrl);
        if (visible + inFlight === 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const seconds = (performance.now() - t0) / 1000;
      const stopped = await worker.stop();
      if (stopped.type === "error") throw new Error(stopped.message);
      const iotCalls = okCalls(pass) - calls0;
      const written = changedSince(before, await versions(region.ops)).length;
      const per = (n: number) => Math.round((n / options.ops) * 1000) / 1000;
      const attempts = stopped.callMs.dynamodb.length;
      const byCommand = stopped.dynamodbByCommand;
      const count = (names: string[]) => names.reduce((a, n) => a + (byCommand[n] ?? 0), 0);
      const eventualReads = count(["GetItem:eventual"]);
      const reads = count(["GetItem", "Query", "Scan"]) + eventualReads;
      const writes = count(["PutItem", "UpdateItem", "DeleteItem"]);
      const refused = count(["PutItem:refused", "UpdateItem:refused", "DeleteItem:refused"]);
      const dynamodbCalls = Object.entries(byCommand)
        .filter(([command]) => !command.endsWith(":refused"))
        .reduce((a, [, n]) => a + n, 0);
      if (reads + writes !== dynamodbCalls)
        throw new Error(
          `${name}: capture made DynamoDB requests this bench does not price: ${JSON.stringify(byCommand)}`,
        );
      log(`${name}: ${messages} messages captured in ${seconds.toFixed(1)} s, ${written} records written\n`);
      return {
        messages,
        cloudTrailMessages,
        invocations: stopped.invocations,
        redelivered: stopped.failedMessages,
        cpuMs: Math.round(stopped.cpuMicros / 1000),
        cpuMsPerOp: per(stopped.cpuMicros / 1000),
        iotCalls,
        iotCallsPerOp: per(iotCalls),
        dynamodbCalls,
        dynamodbCallsPerOp: per(dynamodbCalls),
        dynamodbAttempts: attempts,
        dynamodbReadsPerOp: per(reads),
        dynamodbEventualReadsPerOp: per(eventualReads),
        dynamodbWritesPerOp: per(writes),
        dynamodbRefusedWritesPerOp: per(refused),
        dynamodbByCommand: byCommand,
        recordsWritten: written,
        seconds: Math.round(seconds * 10) / 10,
      };
    };

    /**
     * An IoT client of `region` whose successful writes publish the events IoT would, as `caller`:
     * its CloudTrail calls reach the queue only through the region's deployed rule, which leaves
     * out the calls of that region's replay role.
     */
    const observedClient = (region: (typeof regions)[number], caller: Caller) => {
      const client = new iotSdk.IoTClient(region.config);
      const registry = emitRegistryEvents(client, { reader: region.setup });
      const trail = emitCloudTrailEvents(client, {
        region: region.region,
        accountId: ACCOUNT,
        caller,
        pattern: captureEventPattern([replayRoleOf(region.region)]),
      });
      return {
        port: iotPortFromSdk(iotSdk, client),
        take: () => [...registry.take(), ...trail.take()],
      };
    };
    const applyAll = async (records: RegistryRecord[], deps: ApplyDeps, what: string) => {
      for (const wave of replayWaves(records, (r) => r)) {
        const failed: string[] = [];
        await pool(wave, 8, async (record) => {
          try {
            await applyRecord(record, deps);
          } catch (err) {
            failed.push(`${record.key}: ${describeError(err).message}`);
          }
        });
        if (failed.length > 0)
          throw new Error(`${what}: ${failed.length} records failed, first ${failed[0]}`);
      }
    };

    // The source leg: the backlog's operations made at the source while capture there takes their
    // events as they come.
    const operator = observedClient(source, { userArn: `arn:aws:iam::${ACCOUNT}:user/operator` });
    const beforeSource = await versions(source.ops);
    const sourceLeg = await captureLeg(
      source,
      "source",
      () =>
        applyAll(
          backlog.waves.flat(),
          {
            region: SOURCE,
            iot: operator.port,
            pacer: unpaced,
            clock: systemClock,
            logger: silentLogger,
            metrics: noMetrics,
          },
          "the source's operations",
        ),
      operator.take,
    );
    const captured = changedSince(beforeSource, await versions(source.ops));

    // The echo leg: what the source captured, replicated and replayed in the target as deployed,
    // while capture there takes the events replay's own calls raise.
    const replayed = await replicate(new Set(captured));
    const replay = observedClient(target, { roleArn: replayRoleOf(target.region) });
    const echoLeg = await captureLeg(
      target,
      "echo",
      () =>
        applyAll(
          replayed,
          {
            region: TARGET,
            iot: replay.port,
            pacer: unpaced,
            table: target.ops,
            markers: target.markers,
            clock: systemClock,
            logger: silentLogger,
            metrics: noMetrics,
          },
          "replay in the target",
        ),
      replay.take,
    );

    return {
      ops: options.ops,
      source: sourceLeg,
      echo: echoLeg,
      replayed: replayed.length,
      loadAverage: load.stop(),
    };
  } finally {
    load.stop();
    await Promise.all(workers.map((w) => w.kill()));
    await pass.close();
    await queues.close();
    await moto.stop();
  }
}

export function formatCaptureCost(r: CaptureCostReport): string {
  const leg = (name: string, l: CaptureLegReport) =>
    `${name.padEnd(7)} ${String(l.messages).padStart(8)} ${String(l.invocations).padStart(11)} ${l.cpuMsPerOp.toFixed(2).padStart(10)} ${l.iotCallsPerOp.toFixed(2).padStart(9)} ${l.dynamodbCallsPerOp.toFixed(2).padStart(12)} ${String(l.recordsWritten).padStart(8)}  (reads ${l.dynamodbReadsPerOp.toFixed(2)}, ${l.dynamodbEventualReadsPerOp.toFixed(2)} of them eventually consistent, writes ${l.dynamodbWritesPerOp.toFixed(2)}, ${l.dynamodbRefusedWritesPerOp.toFixed(2)} of them refused)`;
  return [
    `capture per replicated operation, ${r.ops} operations of the replay bench's mix (${r.replayed} records replayed in the target)`,
    "leg     messages invocations  CPU ms/op    IoT/op  DynamoDB/op  written",
    leg("source", r.source),
    leg("echo", r.echo),
    r.echo.recordsWritten === 0
      ? "echo capture wrote nothing (echo-free)"
      : `ECHO: echo capture wrote ${r.echo.recordsWritten} records`,
    "",
  ].join("\n");
}
