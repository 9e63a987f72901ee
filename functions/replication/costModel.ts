/**
 * What replicating one registry operation costs, per million operations, with the deployed defaults
 * (infra/capture.ts, infra/replayPipeline.ts): capture function per event, global-table write and
 * its replica, stream → launcher per batch → one synchronous Express execution per batch → replay
 * function per record with its applied marker written to the target's regional marker table
 * (infra/markerTable.ts), and the echo capture in the target. Next to it, the alternative the design
 * rejects: one Standard execution per record. Prices are us-east-1 list prices (on-demand DynamoDB
 * after the November 2024 reduction; Lambda per architecture, the replication functions run on
 * arm64); pass others for other regions.
 *
 * Assumptions: own CPU per operation is measured on a full core (`iot-dr bench replay`) and Lambda
 * gives a function memory / 1,769 MB of a vCPU (AWS: 1,769 MB = one vCPU), so CPU time stretches by
 * 1,769 / memory below that, on arm64 as on x86 (the measurement is an x86 core's; a Graviton2 core
 * is taken as no faster); API latencies are the constants below. Capture runs in the source, and
 * in the target as the echo capture of replay's own change, which finds the record already holding
 * that state and writes nothing (only for registry events: the CloudTrail rule leaves replay's own
 * calls out); each has its own messages, CPU, IoT calls and DynamoDB reads per operation (measured
 * by `iot-dr bench capture-cost`).
 * Markers: one write per applied record (an item under 1 KB, so 1 WRU), a regional write only: the
 * marker table has no replica (no replicated write, no inter-region bytes) and no stream, and TTL
 * deletes in a regional table are free. Capture's marker rewrite is not counted: it happens only
 * for a local change to a resource that replay has written in the same region (after a fail-over
 * or fail-back), not for the active region's changes to resources it owns. Records the other region's stream filter drops cost
 * nothing (Lambda's stream reads and filtered-out events are free).
 */

import { REPLAY_GROUP_SIZE } from "./stateMachine.js";

export interface Prices {
  /** Lambda duration on x86_64, per GB-second. */
  lambdaPerGbSecond: number;
  /** Lambda duration on arm64 (Graviton2), per GB-second: 20 % below x86; requests cost the same. */
  lambdaArmPerGbSecond: number;
  lambdaPerMillionRequests: number;
  expressPerMillionRequests: number;
  /** Express duration, per GB-second of workflow memory (billed in 64 MB steps). */
  expressPerGbSecond: number;
  standardPerMillionTransitions: number;
  dynamoPerMillionWrites: number;
  dynamoPerMillionReplicatedWrites: number;
  dynamoPerMillionReads: number;
  /** GetRecords by a Lambda event source mapping is free; reads by other consumers are not. */
  streamPerMillionReads: number;
  sqsPerMillionRequests: number;
  interRegionPerGb: number;
  /** CloudWatch Logs ingestion per GB (Standard log class; Lambda's logs start at this tier). */
  cloudWatchLogsPerGb: number;
  /** IoT side, outside the pipeline target: registry API operations, rules, event messages. */
  iotRegistryPerMillionOps: number;
  iotRulePerMillion: number;
  iotActionPerMillion: number;
  iotMessagePerMillion: number;
}

export const US_EAST_1_PRICES: Prices = {
  // aws.amazon.com/lambda/pricing, US East (N. Virginia), first 6 billion GB-seconds a month.
  lambdaPerGbSecond: 0.0000166667,
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  expressPerMillionRequests: 1.0,
  expressPerGbSecond: 0.00001667,
  standardPerMillionTransitions: 25,
  dynamoPerMillionWrites: 0.625,
  dynamoPerMillionReplicatedWrites: 0.625,
  dynamoPerMillionReads: 0.125,
  streamPerMillionReads: 0,
  sqsPerMillionRequests: 0.4,
  interRegionPerGb: 0.02,
  // aws.amazon.com/cloudwatch/pricing, US East (N. Virginia), Logs, Standard: collect (ingest) per GB.
  cloudWatchLogsPerGb: 0.5,
  iotRegistryPerMillionOps: 1.25,
  iotRulePerMillion: 0.15,
  iotActionPerMillion: 0.15,
  iotMessagePerMillion: 1.0,
};

export type LambdaArchitecture = "arm64" | "x86_64";

export interface Workload {
  /**
   * Architecture of the replication functions (capture, replay, launcher); infra default arm64
   * (infra/replayPipeline.ts REPLICATION_ARCHITECTURE): what a GB-second costs.
   */
  lambdaArchitecture: LambdaArchitecture;
  /** Replay function memory (infra default 128). */
  replayMemoryMb: number;
  /** Capture function memory (infra default 256). */
  captureMemoryMb: number;
  /** Launcher memory (infra default 128); it waits for the synchronous Express execution. */
  launcherMemoryMb: number;
  /** Stream batch size (infra default 100): one launcher invocation and one Express execution per batch. */
  batchSize: number;
  /** Replay invocations (groups) of one wave at once (infra default 4). */
  waveConcurrency: number;
  /**
   * Records one replay invocation applies at once (stateMachine.ts REPLAY_GROUP_SIZE, 10): one
   * request per group, and the group's waits for IoT and DynamoDB overlap (its CPU adds up).
   */
  replayGroupSize: number;
  /** Own CPU per operation in replay on a full core (measured by `iot-dr bench replay`). */
  replayCpuMs: number;
  /**
   * Messages per capture invocation from the capture queue (infra/capture.ts: up to the sized batch
   * within a 1 s window; a handful in steady state, the whole batch in a burst). Each event, the
   * source's and the echo's, is one SendMessage by its IoT rule; Lambda's pollers receive and
   * delete up to 10 per request.
   */
  captureBatch: number;
  /**
   * Capture queue messages per operation (`iot-dr bench capture-cost`): in the source, the events of
   * its change (a registry event or a CloudTrail call); in the target, the echoes of replay's calls
   * that reach capture: registry events (they name no caller), not CloudTrail calls, which the rule
   * leaves out by replay's role (cloudTrail.ts captureEventPattern).
   */
  captureMessages: number;
  echoCaptureMessages: number;
  /** Own CPU per operation in capture in the source region (`iot-dr bench capture-cost`, source leg). */
  captureCpuMs: number;
  /** Own CPU per operation in the echo capture in the target (`iot-dr bench capture-cost`, echo leg). */
  echoCaptureCpuMs: number;
  /** IoT API calls per operation in replay, capture and echo capture (measured), and their latency on AWS. */
  replayIotCalls: number;
  captureIotCalls: number;
  echoCaptureIotCalls: number;
  iotLatencyMs: number;
  /**
   * DynamoDB reads per operation by capture (its record, the marker when the state differs, and the
   * records of related resources it fills in only when missing) and by the echo capture (its record,
   * and those related records). Replay's are fixed by apply.ts: its record and marker before acting
   * and its record again after.
   */
  captureReads: number;
  echoCaptureReads: number;
  /**
   * Of those, the eventually consistent ones (table.ts recordExists: presence checks of related
   * resources), half a read unit each.
   */
  captureEventualReads: number;
  echoCaptureEventualReads: number;
  /**
   * Record writes per operation by capture (each 1 WRU per KB, and replicated unless the table
   * refused it): more than 1 where one operation's events reach a record twice (a related record
   * filled in from another event, then its own event moving its version up), and the conditional
   * writes a newer record refused (`captureRefusedWrites`, billed but never replicated).
   */
  captureWrites: number;
  captureRefusedWrites: number;
  /** Latency of one DynamoDB call on AWS: capture's reads and record write, replay's reads and marker and schedule writes. */
  ddbLatencyMs: number;
  /** Average item size; WRU per write = ceil(size / 1 KB). */
  recordBytes: number;
  /** Fraction of records that go to the dead-letter queue (send + receive + delete). */
  deadLetterRate: number;
  /** State transitions of one Standard execution per record (Task + Choice + Succeed ...). */
  standardTransitionsPerRecord: number;
  /** Express workflow memory billed (64 MB step). */
  expressMemoryMb: number;
  /**
   * Bytes the functions log per operation (capture, replay, echo capture, the launcher) at their
   * deployed log level (infra REPLICATION_LOG_LEVEL, config replicationLogLevel, default WARN):
   * replay's lag metric (EMF: one document per invocation holding the group's values, 338 B for a
   * group of 10, 34 B per operation; 228 B with one record per invocation) and nothing per record
   * from the logger unless something goes wrong. tests/replication/infra/logVolume.test.ts measures
   * the archives' output (replay given a group, as deployed) and keeps this
   * at least that and under 1.25 times it. At INFO (a line per record with key and version) it is
   * 1,215 B with Lambda's trace id plus the launcher's 327 B line: APP_LOG_BYTES_PER_OP_AT_INFO.
   */
  appLogBytesPerOp: number;
  /**
   * Bytes Lambda itself logs per invocation: START, END and REPORT at the system log level INFO
   * (PLATFORM_LOG_BYTES_PER_INVOCATION); 0 at WARN, the replication functions' setting
   * (infra/replayPipeline.ts REPLICATION_SYSTEM_LOG_LEVEL).
   */
  platformLogBytesPerInvocation: number;
  /**
   * Wall time one replay run waits for the pacer per operation (billed like work; see
   * `pacingWaitMs`). 0 when replay keeps up; a backlog that meets a quota makes it positive.
   */
  pacingWaitMs: number;
  /**
   * Writes to the region's shared pacing schedule per operation (sharedPacing.ts: one conditional
   * UpdateItem per reservation, one more when the API was idle; a reservation is a block of starts
   * (blockSlots) for the worker's calls of that API waiting together, so a replay function with one
   * record at a time makes one per IoT call: see `scheduleWritesPerOpFor`). 0 with per-process pacing.
   */
  scheduleWritesPerOp: number;
}

export const DEPLOYED_DEFAULTS: Workload = {
  lambdaArchitecture: "arm64",
  replayMemoryMb: 128,
  captureMemoryMb: 256,
  launcherMemoryMb: 128,
  captureBatch: 10,
  captureMessages: 1,
  echoCaptureMessages: 1,
  batchSize: 100,
  waveConcurrency: 4,
  replayGroupSize: REPLAY_GROUP_SIZE,
  replayCpuMs: 2,
  captureCpuMs: 2,
  echoCaptureCpuMs: 2,
  replayIotCalls: 2,
  captureIotCalls: 2,
  echoCaptureIotCalls: 2,
  captureReads: 2,
  echoCaptureReads: 1,
  captureEventualReads: 0,
  echoCaptureEventualReads: 0,
  captureWrites: 1,
  captureRefusedWrites: 0,
  iotLatencyMs: 25,
  ddbLatencyMs: 6,
  recordBytes: 700,
  deadLetterRate: 0.001,
  standardTransitionsPerRecord: 5,
  expressMemoryMb: 64,
  appLogBytesPerOp: 40,
  platformLogBytesPerInvocation: 0,
  pacingWaitMs: 0,
  scheduleWritesPerOp: 2,
};

/** `appLogBytesPerOp` with replicationLogLevel INFO: the per-record lines of every function as well. */
export const APP_LOG_BYTES_PER_OP_AT_INFO = 1_550;

/**
 * What Lambda logs per invocation at the system log level INFO, in the Text format: `START RequestId:
 * <id> Version: $LATEST` (70 B), `END RequestId: <id>` (51 B) and `REPORT RequestId: <id>` with
 * duration, billed duration, memory size and memory used (about 142 B), each with its newline.
 */
export const PLATFORM_LOG_BYTES_PER_INVOCATION = 266;

/**
 * Schedule writes per operation for `iotCallsPerOp` paced calls, `writesPerReservation` writes each
 * (1 for a busy API, up to 2 after an idle spell) and blocks of `callsPerBlock` starts on average.
 */
export function scheduleWritesPerOpFor(
  iotCallsPerOp: number,
  writesPerReservation: number,
  callsPerBlock: number,
): number {
  if (!(iotCallsPerOp >= 0) || !(writesPerReservation >= 1) || !(callsPerBlock >= 1))
    throw new Error(
      `schedule writes need iotCallsPerOp >= 0, writesPerReservation >= 1 and callsPerBlock >= 1, got ${iotCallsPerOp}, ${writesPerReservation}, ${callsPerBlock}`,
    );
  return (iotCallsPerOp * writesPerReservation) / callsPerBlock;
}

export interface CostLine {
  item: string;
  perMillion: number;
}

export interface CostEstimate {
  /** Pipeline cost per million replicated operations (the ≤ $5 target). */
  pipelinePerMillion: number;
  pipeline: CostLine[];
  /** IoT Core charges that replication adds (registry reads/writes, rules, echo event messages). */
  iotPerMillion: number;
  iot: CostLine[];
  /** The same replication with one Standard execution per record instead of batched Express. */
  standardAlternativePerMillion: number;
  assumptions: Workload;
}

const M = 1_000_000;
/** Lambda memory that comes with one full vCPU. */
export const LAMBDA_MB_PER_VCPU = 1769;

// CPU-bound time at `mb` of memory: Lambda gives mb / 1,769 of a vCPU.
const cpuMs = (ms: number, mb: number) => ms / Math.min(1, mb / LAMBDA_MB_PER_VCPU);

/**
 * Wall time a replay invocation takes per operation, without waiting for the pacer: its own CPU,
 * and its waits for IoT and DynamoDB shared by the records of its group (they run at once).
 */
export function replayRunMs(w: Workload): number {
  return (
    cpuMs(w.replayCpuMs, w.replayMemoryMb) +
    (w.replayIotCalls * w.iotLatencyMs + (3 + w.scheduleWritesPerOp) * w.ddbLatencyMs) /
      Math.max(1, w.replayGroupSize)
  );
}

/**
 * What each operation waits for the pacer while a backlog drains through an API at `opsPerSecond`
 * (its quota) with `functionsInFlight` replay functions at once (the deployment runs
 * `waveConcurrency` per batch, one batch per stream shard): each function, a group of G records
 * at a time, then gets G operations every functionsInFlight x G / opsPerSecond seconds, so each
 * operation is billed functionsInFlight / opsPerSecond seconds whatever G; the part of that beyond
 * its own run is spent waiting, billed like work. The launcher and the Express execution of the
 * batch wait as long.
 */
export function pacingWaitMs(w: Workload, opsPerSecond: number, functionsInFlight: number): number {
  if (!(opsPerSecond > 0) || !(functionsInFlight >= 1))
    throw new Error(
      `pacing wait needs opsPerSecond > 0 and functionsInFlight >= 1, got ${opsPerSecond} and ${functionsInFlight}`,
    );
  return Math.max(0, (functionsInFlight * 1000) / opsPerSecond - replayRunMs(w));
}

export function estimateCost(w: Workload = DEPLOYED_DEFAULTS, p: Prices = US_EAST_1_PRICES): CostEstimate {
  const { lambdaArchitecture, ...numbers } = w;
  for (const [k, v] of Object.entries(numbers))
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
      throw new Error(`cost model input ${k} must be a non-negative number, got ${v}`);
  if (lambdaArchitecture !== "arm64" && lambdaArchitecture !== "x86_64")
    throw new Error(`cost model input lambdaArchitecture must be arm64 or x86_64, got ${lambdaArchitecture}`);
  const lambdaPerGbSecond = lambdaArchitecture === "arm64" ? p.lambdaArmPerGbSecond : p.lambdaPerGbSecond;
  if (w.batchSize < 1 || w.waveConcurrency < 1 || w.captureBatch < 1 || w.replayGroupSize < 1)
    throw new Error("batchSize, waveConcurrency, replayGroupSize and captureBatch must be at least 1");
  for (const [part, whole] of [
    ["captureEventualReads", "captureReads"],
    ["echoCaptureEventualReads", "echoCaptureReads"],
    ["captureRefusedWrites", "captureWrites"],
  ] as const)
    if (w[part] > w[whole])
      throw new Error(
        `cost model input ${part} (${w[part]}) cannot exceed ${whole} (${w[whole]}): it counts some of them`,
      );
  const gb = (mb: number) => mb / 1024;
  const wru = Math.max(1, Math.ceil(w.recordBytes / 1024));
  // Wall time of one function run (what Lambda bills): own CPU plus waiting for the APIs. Capture
  // takes a queue batch at once: its CPU adds up, its waits for IoT and DynamoDB overlap.
  const captureMs =
    cpuMs(w.captureCpuMs, w.captureMemoryMb) +
    (w.captureIotCalls * w.iotLatencyMs + (w.captureReads + w.captureWrites) * w.ddbLatencyMs) /
      w.captureBatch;
  // The echo capture writes nothing.
  const echoCaptureMs =
    cpuMs(w.echoCaptureCpuMs, w.captureMemoryMb) +
    (w.echoCaptureIotCalls * w.iotLatencyMs + w.echoCaptureReads * w.ddbLatencyMs) / w.captureBatch;
  const replayMs = replayRunMs(w) + w.pacingWaitMs;
  // +20 ms Task dispatch per replay invocation (one per group)
  const batchMs = (w.batchSize / w.waveConcurrency) * (replayMs + 20 / w.replayGroupSize);
  const messages = w.captureMessages + w.echoCaptureMessages;
  const invocations =
    messages / w.captureBatch /* capture + echo capture, in queue batches */ +
    1 / w.replayGroupSize /* replay, one per group */ +
    2 / w.batchSize; /* launchers, both regions */
  const perOp = {
    lambdaRequests: invocations,
    lambdaGbS:
      gb(w.captureMemoryMb) * ((captureMs + echoCaptureMs) / 1000) +
      gb(w.replayMemoryMb) * (replayMs / 1000) +
      (gb(w.launcherMemoryMb) * (batchMs / 1000)) / w.batchSize,
    expressRequests: 1 / w.batchSize,
    expressGbS: (gb(w.expressMemoryMb) * (batchMs / 1000)) / w.batchSize,
    // record by capture in the global table, replicated to the other region
    recordWrites: w.captureWrites * wru,
    replicatedWrites: (w.captureWrites - w.captureRefusedWrites) * wru,
    // marker by replay, in the target's regional marker table: never replicated
    markerWrites: 1,
    // replay's reservations in the shared pacing schedule (same regional table, 1 WRU each)
    scheduleWrites: w.scheduleWritesPerOp,
    // read units: capture and echo capture (measured; an eventually consistent read is half); replay: record + marker, and the record again after
    // acting (apply.ts: a change captured meanwhile wins)
    reads:
      w.captureReads - w.captureEventualReads / 2 + (w.echoCaptureReads - w.echoCaptureEventualReads / 2) + 3,
    sqs: w.deadLetterRate * 3,
    // the source's and the echo's events: one SendMessage each, receives and deletes of 10 at most
    captureQueue: messages * (1 + 2 / Math.min(10, w.captureBatch)),
    // every record write the table accepted crosses to the other region
    interRegionGb: ((w.captureWrites - w.captureRefusedWrites) * w.recordBytes) / 1024 ** 3,
    logGb: (w.appLogBytesPerOp + invocations * w.platformLogBytesPerInvocation) / 1024 ** 3,
  };
  const pipeline: CostLine[] = [
    {
      item: "Lambda requests (capture, echo capture, replay, launchers)",
      perMillion: perOp.lambdaRequests * p.lambdaPerMillionRequests,
    },
    {
      item: `Lambda duration (GB-s, ${lambdaArchitecture})`,
      perMillion: perOp.lambdaGbS * M * lambdaPerGbSecond,
    },
    {
      item: "Express executions (one per batch)",
      perMillion: perOp.expressRequests * p.expressPerMillionRequests,
    },
    { item: "Express duration (GB-s)", perMillion: perOp.expressGbS * M * p.expressPerGbSecond },
    {
      item: "DynamoDB writes (record, ops table)",
      perMillion: perOp.recordWrites * p.dynamoPerMillionWrites,
    },
    {
      item: "DynamoDB replicated writes (record, global table)",
      perMillion: perOp.replicatedWrites * p.dynamoPerMillionReplicatedWrites,
    },
    {
      item: "DynamoDB writes (replay marker, regional marker table)",
      perMillion: perOp.markerWrites * p.dynamoPerMillionWrites,
    },
    {
      item: "DynamoDB writes (shared pacing schedule, regional marker table)",
      perMillion: perOp.scheduleWrites * p.dynamoPerMillionWrites,
    },
    {
      item: "DynamoDB reads (records and markers, read units)",
      perMillion: perOp.reads * p.dynamoPerMillionReads,
    },
    { item: "DynamoDB stream reads (Lambda trigger: free)", perMillion: 0 * p.streamPerMillionReads },
    { item: "SQS dead letters", perMillion: perOp.sqs * p.sqsPerMillionRequests },
    {
      item: "SQS capture queue (rule sends, Lambda's receives and deletes)",
      perMillion: perOp.captureQueue * p.sqsPerMillionRequests,
    },
    { item: "Inter-region transfer (replication)", perMillion: perOp.interRegionGb * M * p.interRegionPerGb },
    {
      item: "CloudWatch Logs ingestion (functions' logs, Lambda's START/END/REPORT lines)",
      perMillion: perOp.logGb * M * p.cloudWatchLogsPerGb,
    },
  ];
  const iot: CostLine[] = [
    {
      item: "IoT registry operations (capture + replay + echo capture reads, replay writes)",
      perMillion: (w.captureIotCalls + w.echoCaptureIotCalls + w.replayIotCalls) * p.iotRegistryPerMillionOps,
    },
    {
      // At most: CloudTrail calls come through EventBridge (not billed), not an IoT rule.
      item: "IoT rules triggered + actions (source events and echoes, at most)",
      perMillion: messages * (p.iotRulePerMillion + p.iotActionPerMillion),
    },
    { item: "Echo registry event messages in the target", perMillion: p.iotMessagePerMillion },
  ];
  const sum = (xs: CostLine[]) => xs.reduce((a, x) => a + x.perMillion, 0);
  const pipelinePerMillion = sum(pipeline);
  const express = pipeline[2].perMillion + pipeline[3].perMillion;
  const launcherGbS = (gb(w.launcherMemoryMb) * (batchMs / 1000)) / w.batchSize;
  const standardAlternativePerMillion =
    pipelinePerMillion -
    express -
    launcherGbS * M * lambdaPerGbSecond +
    w.standardTransitionsPerRecord * p.standardPerMillionTransitions;
  return {
    pipelinePerMillion,
    pipeline,
    iotPerMillion: sum(iot),
    iot,
    standardAlternativePerMillion,
    assumptions: w,
  };
}
