/* eslint-disable @typescript-eslint/no-require-imports -- callbacks require npm modules inside their body (DESIGN.md §8) */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from "aws-lambda";
import { LAUNCHER_ITERATOR_AGE } from "../functions/reconcile/driftMetric.js";
import { PORT_API } from "../functions/registry/iotPort.js";
import {
  DEFAULT_REPLICATION_LOG_LEVEL,
  METRICS_NAMESPACE,
  REPLAY_SERVICE,
  REPLICATION_LAG_METRIC,
  type ReplicationLogLevel,
} from "../functions/replication/observability.js";
import { launcherFromEnv } from "../functions/replication/launcherRuntime.js";
import {
  replayFromEnv,
  type ReplayInput,
  type ReplayResult,
} from "../functions/replication/replayRuntime.js";
import { PACE_KEY_PREFIX } from "../functions/replication/sharedPacing.js";
import {
  REPLAY_GROUP_SIZE,
  replayStateMachineDefinition,
  type RetrySettings,
} from "../functions/replication/stateMachine.js";
import { replayFilterPattern } from "../functions/replication/streamFilter.js";
import {
  ARN_LESS_ACTIONS,
  LOG_DELIVERY_ACTIONS,
  iotRegistryArns,
  callbackFunction,
  opsTableKeyStatement,
  type PolicyStatement,
} from "./callbackFunction.js";
import { powertoolsLogger } from "../functions/shared/observability.js";
import { serviceRole } from "./serviceRole.js";
import { ANY_IN_A_MINUTE, alarmFamily } from "./alarms.js";
import { requireProvider } from "./provider.js";

/** Powertools service name of the replay function; the lag metric carries it as dimension `service`. */
export { REPLAY_SERVICE };
/**
 * Replay's memory: it waits on the IoT API, its CPU per record (5.5 ms on a full core, ~75 ms at
 * 128 MB's share of a vCPU) fits, and its archive peaks at ~89 MB RSS applying a record
 * (tests/replication/infra/serialized.test.ts keeps it under three quarters of this). 128 MB
 * instead of 256 cuts the cost while a backlog drains (BENCHMARKS.md, Replication replay, several workers).
 */
export const REPLAY_MEMORY_MB = 128;
/** The launcher's memory: it waits for the Express execution; its archive peaks at ~68 MB RSS. */
export const LAUNCHER_MEMORY_MB = 128;
/**
 * The replication functions (capture, replay, launcher) run on arm64: a GB-second costs 20 % less
 * than on x86_64 at the same memory and vCPU share, and their archives are plain JavaScript. The cost
 * model prices it (costModel.ts DEPLOYED_DEFAULTS.lambdaArchitecture; BENCHMARKS.md, cost levers).
 */
export const REPLICATION_ARCHITECTURE = "arm64" as const;
/**
 * Lambda's own lines for the replication functions: WARN, so not START, END and REPORT on every
 * invocation (about 266 bytes each, one replay invocation per record; CloudWatch Logs bills every
 * ingested byte). Lambda's application log level stays INFO: Lambda takes a line without a `level`
 * key (the lag metric's EMF document) as INFO. How much the functions log themselves is
 * REPLICATION_LOG_LEVEL's (config replicationLogLevel). Invocation duration and errors stay in
 * Lambda's CloudWatch metrics.
 */
export const REPLICATION_SYSTEM_LOG_LEVEL = "WARN" as const;

export const LAUNCHER_SERVICE = "iot-dr-launcher";
/** Lambda timeouts; each call's deadline (functions/deadlines.ts) fits inside them. */
export const REPLAY_TIMEOUT_SECONDS = 60;
/** The launcher waits for whole Express workflows (at most 5 minutes each) through StartSyncExecution, one after another when a batch is split by size. */
export const LAUNCHER_TIMEOUT_SECONDS = 900;

export const DEFAULT_THROTTLE_RETRY: RetrySettings = {
  intervalSeconds: 1,
  backoffRate: 2,
  maxAttempts: 6,
  maxDelaySeconds: 20,
};
export const DEFAULT_DEPENDENCY_RETRY: RetrySettings = {
  intervalSeconds: 2,
  backoffRate: 2,
  maxAttempts: 4,
  maxDelaySeconds: 15,
};

/** Every IoT action replay's port may call, so IAM follows the port (iotPort.ts). */
export const REPLAY_IOT_ACTIONS = [...new Set(Object.values(PORT_API))].sort().map((api) => `iot:${api}`);

export interface ReplayPipelineArgs {
  /** The region this pipeline runs in; records that originated here are filtered out. Required. */
  region: string;
  /** Ops table name in this region. Required. */
  tableName: pulumi.Input<string>;
  /** Ops table (or replica) ARN in this region. Required. */
  tableArn: pulumi.Input<string>;
  /** The table's stream ARN in this region (for the replica: its own stream). Required. */
  streamArn: pulumi.Input<string>;
  /** KMS key of the table in this region; it also encrypts the marker table (infra/markerTable.ts). Required. */
  tableKeyArn: pulumi.Input<string>;
  /** Name of this region's marker table, where replay writes its applied markers. Required. */
  markerTableName: pulumi.Input<string>;
  /** ARN of this region's marker table. Required. */
  markerTableArn: pulumi.Input<string>;
  /** Lambda runtime of both functions; default nodejs22.x. */
  runtime?: string;
  /** Stream records per launcher invocation; default 100. */
  batchSize?: number;
  /** Seconds the mapping waits to fill a batch; default 1. */
  batchWindowSeconds?: number;
  /** Stream retries of a failed batch (bisected) before the on-failure queue; default 3. */
  maxRetries?: number;
  /** Age after which a stream record goes to the on-failure queue; default 21600 (6 h). */
  maxRecordAgeSeconds?: number;
  /** Retries of `Throttled` inside the state machine; default DEFAULT_THROTTLE_RETRY. */
  throttleRetry?: RetrySettings;
  /** Retries of `DependencyNotReady` inside the state machine; default DEFAULT_DEPENDENCY_RETRY. */
  dependencyRetry?: RetrySettings;
  /** Replay invocations (groups) of one dependency wave at once; default 4. */
  waveConcurrency?: number;
  /** Records one replay invocation applies at once; default REPLAY_GROUP_SIZE (10, stateMachine.ts). */
  groupSize?: number;
  /** IoT API rates in calls per second overriding AWS's default quotas; default none. */
  iotApiRates?: Record<string, number>;
  /** p99 replication lag (ms from capture to apply) that raises the lag alarm, in seconds; default 60. */
  lagAlarmSeconds?: number;
  /** SNS topic for alarm and OK notifications; default none (alarms only change state). */
  alarmTopicArn?: pulumi.Input<string>;
  /** Retention of every log group, in days; default 30. */
  logRetentionDays?: number;
  /**
   * What the functions log (config replicationLogLevel): WARN keeps errors, warnings and the lag
   * metric and drops the per-record INFO lines; INFO adds them. Default DEFAULT_REPLICATION_LOG_LEVEL (WARN).
   */
  logLevel?: ReplicationLogLevel;
}

const DAY = 24 * 3600;

/**
 * Replays records written to the ops table by the other region: stream → launcher (filter, order,
 * per-item failures) → Express state machine (waves, retries, dead letters) → replay function
 * (applyRecord). Deployed in both regions in the IoT services account (opts.provider).
 */
export class ReplayPipeline extends pulumi.ComponentResource {
  readonly launcher: aws.lambda.Function;
  readonly replay: aws.lambda.Function;
  readonly stateMachine: aws.sfn.StateMachine;
  readonly mapping: aws.lambda.EventSourceMapping;
  /** Records the state machine could not apply, with the reason (redrive reads it). */
  readonly deadLetterQueue: aws.sqs.Queue;
  /** Stream batches the mapping gave up on (shard and sequence range). */
  readonly streamFailureQueue: aws.sqs.Queue;
  readonly alarms: aws.cloudwatch.MetricAlarm[];
  readonly stateMachineArn: pulumi.Output<string>;
  readonly deadLetterQueueUrl: pulumi.Output<string>;
  readonly streamFailureQueueUrl: pulumi.Output<string>;

  constructor(name: string, args: ReplayPipelineArgs, opts: pulumi.ComponentResourceOptions = {}) {
    requireProvider(opts.provider, "ReplayPipeline", "IoT services");
    if (!args.region) throw new Error("ReplayPipeline needs the region it runs in (args.region)");
    const batchSize = args.batchSize ?? 100;
    const maxRetries = args.maxRetries ?? 3;
    const maxRecordAgeSeconds = args.maxRecordAgeSeconds ?? 6 * 3600;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) {
      throw new Error(`ReplayPipeline batchSize must be 1..1000 for a DynamoDB stream, got ${batchSize}`);
    }
    if (maxRecordAgeSeconds !== -1 && (maxRecordAgeSeconds < 60 || maxRecordAgeSeconds > 604800)) {
      throw new Error(
        `ReplayPipeline maxRecordAgeSeconds must be 60..604800 or -1, got ${maxRecordAgeSeconds}`,
      );
    }
    super("iot-dr:replication:ReplayPipeline", name, {}, opts);
    const logRetentionDays = args.logRetentionDays ?? 30;
    const runtime = args.runtime ?? "nodejs22.x";
    const logLevel = args.logLevel ?? DEFAULT_REPLICATION_LOG_LEVEL;
    const parent = { parent: this };

    const queue = (suffix: string) =>
      new aws.sqs.Queue(
        `${name}-${suffix}`,
        { sqsManagedSseEnabled: true, messageRetentionSeconds: 14 * DAY, visibilityTimeoutSeconds: 300 },
        parent,
      );
    this.deadLetterQueue = queue("dlq");
    this.streamFailureQueue = queue("stream-failures");

    const iotArns = iotRegistryArns(args.tableArn, args.region);
    const scopedIot = REPLAY_IOT_ACTIONS.filter((a) => !ARN_LESS_ACTIONS.includes(a));
    const arnLessIot = REPLAY_IOT_ACTIONS.filter((a) => ARN_LESS_ACTIONS.includes(a));
    const tableStatements: PolicyStatement[] = [
      // Replay only reads records (to skip superseded ones); capture writes them.
      {
        Sid: "OpsTableReadRecords",
        Effect: "Allow",
        Action: ["dynamodb:GetItem"],
        Resource: args.tableArn,
      },
      {
        Sid: "MarkerTableReadWrite",
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
        Resource: args.markerTableArn,
      },
      // The region's shared pacing schedule (sharedPacing.ts): its `pace#<api>` items only.
      {
        Sid: "PacingSchedule",
        Effect: "Allow",
        Action: ["dynamodb:UpdateItem"],
        Resource: args.markerTableArn,
        Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${PACE_KEY_PREFIX}*`] } },
      },
      opsTableKeyStatement(args.tableKeyArn),
    ];
    const iotApiRates = JSON.stringify(args.iotApiRates ?? {});

    const replay = callbackFunction<ReplayInput, ReplayResult>(
      `${name}-replay`,
      {
        description: `registry replay in ${args.region}: applies ops-table records (a group of a wave, or one) to this region's IoT registry`,
        runtime,
        timeoutSeconds: REPLAY_TIMEOUT_SECONDS,
        memoryMb: REPLAY_MEMORY_MB,
        architecture: REPLICATION_ARCHITECTURE,
        systemLogLevel: REPLICATION_SYSTEM_LOG_LEVEL,
        logRetentionDays,
        environment: {
          OPS_TABLE: pulumi.output(args.tableName),
          MARKER_TABLE: pulumi.output(args.markerTableName),
          IOT_API_RATES: iotApiRates,
          REPLICATION_LOG_LEVEL: logLevel,
        },
        statements: [
          { Sid: "IotRegistryWrite", Effect: "Allow", Action: scopedIot, Resource: iotArns },
          // These IoT actions have no resource ARN (IAM grants them only on "*").
          { Sid: "IotRegistryArnLess", Effect: "Allow", Action: arnLessIot, Resource: "*" },
          ...tableStatements,
        ],
        callbackFactory: () => {
          const { Metrics } =
            require("@aws-lambda-powertools/metrics") as typeof import("@aws-lambda-powertools/metrics");
          return replayFromEnv(process.env, {
            iot: require("@aws-sdk/client-iot"),
            dynamodb: require("@aws-sdk/client-dynamodb"),
            libDynamodb: require("@aws-sdk/lib-dynamodb"),
            logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), REPLAY_SERVICE),
            metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: REPLAY_SERVICE }),
          });
        },
      },
      this,
    );
    this.replay = replay.fn;

    const smLogs = new aws.cloudwatch.LogGroup(
      `${name}-state-machine-logs`,
      { retentionInDays: logRetentionDays },
      parent,
    );
    const { role: smRole, policy: smPolicy } = serviceRole(
      { role: `${name}-state-machine-role`, policy: `${name}-state-machine-policy` },
      {
        service: "states.amazonaws.com",
        description: `iot-dr replay state machine in ${args.region}`,
        statements: [
          {
            Sid: "InvokeReplay",
            Effect: "Allow",
            Action: ["lambda:InvokeFunction"],
            Resource: [this.replay.arn, pulumi.interpolate`${this.replay.arn}:*`],
          },
          {
            Sid: "DeadLetter",
            Effect: "Allow",
            Action: ["sqs:SendMessage"],
            Resource: this.deadLetterQueue.arn,
          },
          // Step Functions delivers logs through CloudWatch Logs log deliveries, which have no resource ARN.
          { Sid: "LogDelivery", Effect: "Allow", Action: [...LOG_DELIVERY_ACTIONS], Resource: "*" },
        ],
      },
      parent,
    );
    const throttleRetry = args.throttleRetry ?? DEFAULT_THROTTLE_RETRY;
    const dependencyRetry = args.dependencyRetry ?? DEFAULT_DEPENDENCY_RETRY;
    const waveConcurrency = args.waveConcurrency ?? 4;
    const groupSize = args.groupSize ?? REPLAY_GROUP_SIZE;
    this.stateMachine = new aws.sfn.StateMachine(
      `${name}-state-machine`,
      {
        type: "EXPRESS",
        roleArn: smRole.arn,
        definition: pulumi.jsonStringify(
          pulumi
            .all([this.replay.arn, this.deadLetterQueue.url])
            .apply(([replayFunctionArn, deadLetterQueueUrl]) =>
              replayStateMachineDefinition({
                replayFunctionArn,
                deadLetterQueueUrl,
                throttleRetry,
                dependencyRetry,
                waveConcurrency,
                groupSize,
                taskTimeoutSeconds: 70,
              }),
            ),
        ),
        loggingConfiguration: {
          level: "ERROR",
          includeExecutionData: true,
          logDestination: pulumi.interpolate`${smLogs.arn}:*`,
        },
      },
      { parent: this, dependsOn: [smPolicy] },
    );
    this.stateMachineArn = this.stateMachine.arn;

    const launcher = callbackFunction<DynamoDBStreamEvent, DynamoDBBatchResponse>(
      `${name}-launcher`,
      {
        description: `registry replay launcher in ${args.region}: ops-table stream batch -> replay state machine`,
        runtime,
        // StartSyncExecution waits for each Express execution (at most 5 minutes); a batch split by
        // payload size (launcher.ts splitLaunches) runs several in turn, as many as fit in 15 minutes.
        timeoutSeconds: LAUNCHER_TIMEOUT_SECONDS,
        memoryMb: LAUNCHER_MEMORY_MB,
        architecture: REPLICATION_ARCHITECTURE,
        systemLogLevel: REPLICATION_SYSTEM_LOG_LEVEL,
        logRetentionDays,
        environment: {
          STATE_MACHINE_ARN: this.stateMachine.arn,
          OPS_TABLE: pulumi.output(args.tableName),
          REPLICATION_LOG_LEVEL: logLevel,
        },
        statements: [
          // Writes back a record that an older replicated version replaced (launcher.ts regressionOf),
          // conditionally; it never reads, deletes or scans.
          {
            Sid: "OpsTableRestoreRecord",
            Effect: "Allow",
            Action: ["dynamodb:PutItem"],
            Resource: args.tableArn,
          },
          {
            Sid: "StartReplay",
            Effect: "Allow",
            Action: ["states:StartSyncExecution"],
            Resource: this.stateMachine.arn,
          },
          {
            Sid: "ReadStream",
            Effect: "Allow",
            Action: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            Resource: args.streamArn,
          },
          // ListStreams has no resource ARN.
          { Sid: "ListStreams", Effect: "Allow", Action: ["dynamodb:ListStreams"], Resource: "*" },
          opsTableKeyStatement(args.tableKeyArn, { sid: "StreamKey" }),
          // The mapping's on-failure destination is sent with the function's role.
          {
            Sid: "StreamFailures",
            Effect: "Allow",
            Action: ["sqs:SendMessage"],
            Resource: this.streamFailureQueue.arn,
          },
        ],
        callbackFactory: () => {
          return launcherFromEnv(process.env, {
            sfn: require("@aws-sdk/client-sfn"),
            dynamodb: require("@aws-sdk/client-dynamodb"),
            libDynamodb: require("@aws-sdk/lib-dynamodb"),
            logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), LAUNCHER_SERVICE),
          });
        },
      },
      this,
    );
    this.launcher = launcher.fn;

    this.mapping = new aws.lambda.EventSourceMapping(
      `${name}-stream-mapping`,
      {
        eventSourceArn: args.streamArn,
        functionName: this.launcher.arn,
        // From the oldest record the stream keeps (24 h): nothing written before the mapping existed is skipped.
        startingPosition: "TRIM_HORIZON",
        batchSize,
        maximumBatchingWindowInSeconds: args.batchWindowSeconds ?? 1,
        functionResponseTypes: ["ReportBatchItemFailures"],
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: maxRetries,
        maximumRecordAgeInSeconds: maxRecordAgeSeconds,
        // One poller per shard keeps a resource's changes in stream order.
        parallelizationFactor: 1,
        destinationConfig: { onFailure: { destinationArn: this.streamFailureQueue.arn } },
        filterCriteria: { filters: [{ pattern: JSON.stringify(replayFilterPattern(args.region)) }] },
      },
      { parent: this, dependsOn: [launcher.policy] },
    );

    const alarm = alarmFamily(
      name,
      { region: args.region, alarmTopicArn: args.alarmTopicArn, defaults: ANY_IN_A_MINUTE },
      parent,
    );
    const lagAlarmSeconds = args.lagAlarmSeconds ?? 60;
    const queueAlarms: [string, aws.sqs.Queue, string][] = [
      ["dlq-alarm", this.deadLetterQueue, "records dead-lettered by the replay state machine"],
      ["stream-failures-alarm", this.streamFailureQueue, "stream batches given up by the replay mapping"],
    ];
    this.alarms = [
      alarm("lag-alarm", `p99 replication lag above ${lagAlarmSeconds} s`, {
        namespace: METRICS_NAMESPACE,
        metricName: REPLICATION_LAG_METRIC,
        dimensions: { service: REPLAY_SERVICE },
        extendedStatistic: "p99",
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        threshold: lagAlarmSeconds * 1000,
      }),
      alarm("stream-age-alarm", `ops-table stream consumer more than ${lagAlarmSeconds} s behind`, {
        namespace: LAUNCHER_ITERATOR_AGE.namespace,
        metricName: LAUNCHER_ITERATOR_AGE.metricName,
        dimensions: { [LAUNCHER_ITERATOR_AGE.dimension]: this.launcher.name },
        statistic: "Maximum",
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        threshold: lagAlarmSeconds * 1000,
      }),
      ...queueAlarms.map(([suffix, q, description]) =>
        alarm(suffix, description, {
          namespace: "AWS/SQS",
          metricName: "ApproximateNumberOfMessagesVisible",
          dimensions: { QueueName: q.name },
          statistic: "Maximum",
        }),
      ),
      // The launcher reports failures instead of throwing: any error is a defect or a timeout.
      alarm("launcher-errors-alarm", "launcher function errors", {
        namespace: "AWS/Lambda",
        metricName: "Errors",
        dimensions: { FunctionName: this.launcher.name },
        statistic: "Sum",
      }),
      // Replay throws Throttled and DependencyNotReady by design (retried); only errors in five straight minutes alarm.
      alarm("replay-errors-alarm", "replay function failing for five minutes", {
        namespace: "AWS/Lambda",
        metricName: "Errors",
        dimensions: { FunctionName: this.replay.name },
        statistic: "Sum",
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
      }),
      alarm("executions-failed-alarm", "replay executions failed (the whole batch went back to the stream)", {
        namespace: "AWS/States",
        metricName: "ExecutionsFailed",
        dimensions: { StateMachineArn: this.stateMachine.arn },
        statistic: "Sum",
      }),
    ];

    this.deadLetterQueueUrl = this.deadLetterQueue.url;
    this.streamFailureQueueUrl = this.streamFailureQueue.url;
    this.registerOutputs({
      stateMachineArn: this.stateMachineArn,
      deadLetterQueueUrl: this.deadLetterQueueUrl,
      streamFailureQueueUrl: this.streamFailureQueueUrl,
    });
  }
}
