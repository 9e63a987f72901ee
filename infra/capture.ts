/* eslint-disable @typescript-eslint/no-require-imports -- callbacks require npm modules inside their body (DESIGN.md §8) */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PORT_API, type IotRegistryPort } from "../functions/registry/iotPort.js";
import type { CaptureOutcome } from "../functions/replication/capture.js";
import { captureEventPattern } from "../functions/replication/cloudTrail.js";
import { CAPTURE_TOPIC_FIELD } from "../functions/replication/deadLetter.js";
import { captureFromEnv } from "../functions/replication/captureRuntime.js";
import type { SQSBatchResponse } from "../functions/replication/captureQueue.js";
import { captureSizing, type CaptureSizing } from "../functions/replication/captureSizing.js";
import {
  ARN_LESS_ACTIONS,
  iotRegistryArns,
  callbackFunction,
  opsTableKeyStatement,
} from "./callbackFunction.js";
import { powertoolsLogger } from "../functions/shared/observability.js";
import {
  DEFAULT_REPLICATION_LOG_LEVEL,
  type ReplicationLogLevel,
} from "../functions/replication/observability.js";
import { serviceRole } from "./serviceRole.js";
import { eventRuleQueuePolicy } from "./queuePolicy.js";
import { ANY_IN_A_MINUTE, alarmFamily } from "./alarms.js";
import { requireProvider } from "./provider.js";
import { REPLICATION_ARCHITECTURE, REPLICATION_SYSTEM_LOG_LEVEL } from "./replayPipeline.js";

export const CAPTURE_SERVICE = "iot-dr-capture";
/** Capture's Lambda timeout; its IoT and table calls keep their deadlines inside it (functions/deadlines.ts). */
export const CAPTURE_TIMEOUT_SECONDS = 30;

/** The rule SQL adds the topic under this name; the capture adapter splits it from the event payload. */
export const TOPIC_FIELD = CAPTURE_TOPIC_FIELD;

/** Registry event types and the `$aws/events` topics that carry them. */
export const REGISTRY_EVENT_TOPICS = {
  THING: "$aws/events/thing/+/+",
  THING_TYPE: "$aws/events/thingType/+/+",
  THING_TYPE_ASSOCIATION: "$aws/events/thingTypeAssociation/#",
  THING_GROUP: "$aws/events/thingGroup/+/+",
  THING_GROUP_MEMBERSHIP: "$aws/events/thingGroupMembership/#",
  THING_GROUP_HIERARCHY: "$aws/events/thingGroupHierarchy/#",
} as const;
export type RegistryEventType = keyof typeof REGISTRY_EVENT_TOPICS;

/**
 * Every topic a capture rule follows: the registry event types above plus just-in-time
 * registration, which IoT publishes whenever a CA with auto-registration signs a new certificate
 * (it is not an event configuration type).
 */
export const CAPTURE_RULE_TOPICS = {
  ...REGISTRY_EVENT_TOPICS,
  CERTIFICATE_REGISTERED: "$aws/events/certificates/registered/+",
} as const;
export type CaptureRuleTopic = keyof typeof CAPTURE_RULE_TOPICS;

/** EventBridge's retry policy for the CloudTrail rule's target: its maxima, then the dead-letter queue. */
export const CLOUDTRAIL_TARGET_RETRY = { maximumRetryAttempts: 185, maximumEventAgeInSeconds: 86_400 };

/** The registry reads capture's enrichment makes (capture.ts), including ARN lookups inside the port. */
const CAPTURE_PORT_METHODS: (keyof IotRegistryPort)[] = [
  "describeThing",
  "describeThingType",
  "describeThingGroup",
  "describeCertificate",
  "getPolicy",
  "listPolicyVersions",
  "listThingGroupsForThing",
  "listThingPrincipals",
  "listAttachedPolicies",
  "listTargetsForPolicy",
];
export const CAPTURE_IOT_ACTIONS = [...new Set(CAPTURE_PORT_METHODS.map((m) => `iot:${PORT_API[m]}`))].sort();

export interface RegistryCaptureArgs {
  /** The region this capture runs in; records carry it as their origin. Required. */
  region: string;
  /** Ops table name in this region. Required. */
  tableName: pulumi.Input<string>;
  /** Ops table (or replica) ARN in this region. Required. */
  tableArn: pulumi.Input<string>;
  /** KMS key of the table in this region; it also encrypts the marker table (infra/markerTable.ts). Required. */
  tableKeyArn: pulumi.Input<string>;
  /** Name of this region's marker table, where replay here writes its applied markers. Required. */
  markerTableName: pulumi.Input<string>;
  /** ARN of this region's marker table. Required. */
  markerTableArn: pulumi.Input<string>;
  /** Lambda runtime; default nodejs22.x. */
  runtime?: string;
  /** IoT API rates in calls per second overriding AWS's default quotas; default none. */
  iotApiRates?: Record<string, number>;
  /** Days a tombstone stays in the ops table before TTL removes it (config tombstoneRetentionDays); default 30. */
  tombstoneRetentionDays?: number;
  /** SNS topic for alarm and OK notifications; default none. */
  alarmTopicArn?: pulumi.Input<string>;
  /** Retention of the function's log group, in days; default 30. */
  logRetentionDays?: number;
  /**
   * What the functions log (config replicationLogLevel): WARN keeps errors, warnings and the lag
   * metric and drops the per-record INFO lines; INFO adds them. Default DEFAULT_REPLICATION_LOG_LEVEL (WARN).
   */
  logLevel?: ReplicationLogLevel;
  /** Prefix of the topic rules' names (letters, digits, '_'; include the environment); default the component name. */
  ruleNamePrefix?: string;
  /**
   * Manage the account's IoT event configuration (a singleton per account and region) to publish
   * every registry event type; default true. Turn off only when another stack manages it.
   */
  manageEventConfigurations?: boolean;
  /** Receives of a capture queue message before SQS moves it to the dead-letter queue; default 5. */
  maxReceiveCount?: number;
  /**
   * Age (s) of the capture queue's oldest message above which its backlog alarm fires: a change
   * waiting that long is replication lag before replay has seen it (config
   * replicationLagAlarmSeconds); default 60.
   */
  backlogAlarmSeconds?: number;
  /**
   * Roles of this region's replay (its function's role): their CloudTrail calls are replay's echoes
   * and the rule leaves them out (cloudTrail.ts captureEventPattern); default none (every call).
   */
  replayRoleArns?: pulumi.Input<string>[];
}

/**
 * Captures registry changes in one region: registry events on, one IoT rule per event family and
 * the CloudTrail rule sending to the capture queue, the capture function consuming it through an
 * SQS event source mapping bounded and sized from `iotApiRates` (functions/replication/captureSizing.ts,
 * so a burst's enrichment reads stay inside the account's quotas), and a dead-letter queue for rule
 * errors and for messages that still fail after `maxReceiveCount` receives.
 * Deployed in both regions in the IoT services account (opts.provider).
 */
export class RegistryCapture extends pulumi.ComponentResource {
  readonly function: aws.lambda.Function;
  readonly rules: aws.iot.TopicRule[];
  /** The default-bus rule that delivers IoT's CloudTrail API calls (certificates, policies, attachments). */
  readonly apiCallRule: aws.cloudwatch.EventRule;
  readonly deadLetterQueue: aws.sqs.Queue;
  /** Buffers every delivery (registry events, CloudTrail calls) in front of the capture function. */
  readonly queue: aws.sqs.Queue;
  readonly queueMapping: aws.lambda.EventSourceMapping;
  /** Concurrency, batch size and per-container read rates, from `iotApiRates`. */
  readonly sizing: CaptureSizing;
  readonly eventConfigurations?: aws.iot.EventConfigurations;
  readonly alarms: aws.cloudwatch.MetricAlarm[];
  readonly deadLetterQueueUrl: pulumi.Output<string>;

  constructor(name: string, args: RegistryCaptureArgs, opts: pulumi.ComponentResourceOptions = {}) {
    requireProvider(opts.provider, "RegistryCapture", "IoT services");
    if (!args.region) throw new Error("RegistryCapture needs the region it runs in (args.region)");
    super("iot-dr:replication:RegistryCapture", name, {}, opts);
    const parent = { parent: this };

    if (args.manageEventConfigurations ?? true) {
      this.eventConfigurations = new aws.iot.EventConfigurations(
        `${name}-registry-events`,
        {
          eventConfigurations: Object.fromEntries(
            Object.keys(REGISTRY_EVENT_TOPICS).map((type) => [type, true]),
          ),
        },
        parent,
      );
    }

    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-dlq`,
      { sqsManagedSseEnabled: true, messageRetentionSeconds: 14 * 24 * 3600 },
      parent,
    );
    this.sizing = captureSizing(args.iotApiRates ?? {}, {
      timeoutSeconds: CAPTURE_TIMEOUT_SECONDS,
      maxReceiveCount: args.maxReceiveCount,
    });
    this.queue = new aws.sqs.Queue(
      `${name}-queue`,
      {
        sqsManagedSseEnabled: true,
        visibilityTimeoutSeconds: this.sizing.visibilityTimeoutSeconds,
        // Shorter than the dead-letter queue's 14 days: a redriven message keeps its first enqueue time.
        messageRetentionSeconds: 4 * 24 * 3600,
        redrivePolicy: pulumi.jsonStringify({
          deadLetterTargetArn: this.deadLetterQueue.arn,
          maxReceiveCount: this.sizing.maxReceiveCount,
        }),
      },
      parent,
    );

    const scoped = CAPTURE_IOT_ACTIONS.filter((a) => !ARN_LESS_ACTIONS.includes(a));
    const capture = callbackFunction<Record<string, unknown>, CaptureOutcome[] | SQSBatchResponse>(
      `${name}-capture`,
      {
        description: `registry capture in ${args.region}: registry event -> enriched record in the ops table`,
        runtime: args.runtime,
        timeoutSeconds: CAPTURE_TIMEOUT_SECONDS,
        memoryMb: 256,
        architecture: REPLICATION_ARCHITECTURE,
        systemLogLevel: REPLICATION_SYSTEM_LOG_LEVEL,
        logRetentionDays: args.logRetentionDays,
        environment: {
          OPS_TABLE: pulumi.output(args.tableName),
          MARKER_TABLE: pulumi.output(args.markerTableName),
          IOT_API_RATES: JSON.stringify(args.iotApiRates ?? {}),
          TOMBSTONE_RETENTION_DAYS: String(args.tombstoneRetentionDays ?? 30),
          CAPTURE_CONTAINERS: String(this.sizing.maximumConcurrency),
          REPLICATION_LOG_LEVEL: args.logLevel ?? DEFAULT_REPLICATION_LOG_LEVEL,
        },
        statements: [
          {
            Sid: "IotRegistryRead",
            Effect: "Allow",
            Action: scoped,
            Resource: iotRegistryArns(args.tableArn, args.region),
          },
          {
            Sid: "OpsTableConditionalWrite",
            Effect: "Allow",
            Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
            Resource: args.tableArn,
          },
          // Reads replay's applied markers; rewrites one when a genuine local change ends its echo window.
          {
            Sid: "MarkerTableReadForget",
            Effect: "Allow",
            Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
            Resource: args.markerTableArn,
          },
          opsTableKeyStatement(args.tableKeyArn),
          // The event source mapping polls with the function's role.
          {
            Sid: "CaptureQueueConsume",
            Effect: "Allow",
            Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            Resource: this.queue.arn,
          },
        ],
        callbackFactory: () => {
          return captureFromEnv(process.env, {
            iot: require("@aws-sdk/client-iot"),
            dynamodb: require("@aws-sdk/client-dynamodb"),
            libDynamodb: require("@aws-sdk/lib-dynamodb"),
            logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), CAPTURE_SERVICE),
          });
        },
      },
      this,
    );
    this.function = capture.fn;

    // At most maximumConcurrency containers, each a batch at a time; failed messages come back
    // (ReportBatchItemFailures) until the queue's redrive moves them to the dead-letter queue.
    this.queueMapping = new aws.lambda.EventSourceMapping(
      `${name}-queue-mapping`,
      {
        eventSourceArn: this.queue.arn,
        functionName: this.function.arn,
        batchSize: this.sizing.batchSize,
        maximumBatchingWindowInSeconds: this.sizing.batchWindowSeconds,
        scalingConfig: { maximumConcurrency: this.sizing.maximumConcurrency },
        functionResponseTypes: ["ReportBatchItemFailures"],
      },
      { parent: this, dependsOn: [capture.policy] },
    );

    const { role: errorRole, policy: errorPolicy } = serviceRole(
      { role: `${name}-rule-error-role`, policy: `${name}-rule-error-policy` },
      {
        service: "iot.amazonaws.com",
        description: `iot-dr capture rules in ${args.region}: deliveries to the capture queue, errors to the dead-letter queue`,
        statements: [
          {
            Sid: "RuleDeliveries",
            Effect: "Allow",
            Action: ["sqs:SendMessage"],
            Resource: this.queue.arn,
          },
          {
            Sid: "RuleErrors",
            Effect: "Allow",
            Action: ["sqs:SendMessage"],
            Resource: this.deadLetterQueue.arn,
          },
        ],
      },
      parent,
    );

    this.rules = (Object.entries(CAPTURE_RULE_TOPICS) as [CaptureRuleTopic, string][]).map(
      ([type, topic]) => {
        const family = type.toLowerCase().replace(/_/g, "-");
        const rule = new aws.iot.TopicRule(
          `${name}-${family}-rule`,
          {
            // IoT rule names allow only letters, digits and underscores, so the name is set, not auto-named.
            name: `${args.ruleNamePrefix ?? name}_${type}`.replace(/[^A-Za-z0-9_]/g, "_"),
            description: `iot-dr: capture ${type} registry events`,
            enabled: true,
            sql: `SELECT *, topic() AS ${TOPIC_FIELD} FROM '${topic}'`,
            sqlVersion: "2016-03-23",
            sqs: [{ queueUrl: this.queue.url, roleArn: errorRole.arn, useBase64: false }],
            errorAction: {
              sqs: { queueUrl: this.deadLetterQueue.url, roleArn: errorRole.arn, useBase64: false },
            },
          },
          { parent: this, dependsOn: [errorPolicy] },
        );
        return rule;
      },
    );

    // IoT's control-plane writes (certificates, policies, attachments) raise no registry event; CloudTrail
    // delivers them to the default bus (best effort; needs a trail logging management events).
    this.apiCallRule = new aws.cloudwatch.EventRule(
      `${name}-api-call-rule`,
      {
        description: `iot-dr: capture IoT certificate, policy and attachment API calls in ${args.region} (CloudTrail), except replay's own`,
        eventPattern: pulumi
          .all(args.replayRoleArns ?? [])
          .apply((arns) => JSON.stringify(captureEventPattern(arns))),
      },
      parent,
    );
    // EventBridge sends the calls to the capture queue (its service principal, this rule only).
    const queuePolicy = eventRuleQueuePolicy(
      `${name}-queue-policy`,
      { queue: this.queue, ruleArn: this.apiCallRule.arn, sid: "ApiCallRuleDeliveries" },
      parent,
    );
    // EventBridge puts events it could not deliver after its retries into the queue (its service principal, this rule only).
    const deadLetterPolicy = eventRuleQueuePolicy(
      `${name}-dlq-policy`,
      { queue: this.deadLetterQueue, ruleArn: this.apiCallRule.arn, sid: "ApiCallRuleDeadLetters" },
      parent,
    );
    new aws.cloudwatch.EventTarget(
      `${name}-api-call-target`,
      {
        rule: this.apiCallRule.name,
        arn: this.queue.arn,
        retryPolicy: CLOUDTRAIL_TARGET_RETRY,
        deadLetterConfig: { arn: this.deadLetterQueue.arn },
      },
      { parent: this, dependsOn: [queuePolicy, deadLetterPolicy] },
    );

    const alarm = alarmFamily(
      name,
      { region: args.region, alarmTopicArn: args.alarmTopicArn, defaults: ANY_IN_A_MINUTE },
      parent,
    );
    this.alarms = [
      alarm(
        "dlq-alarm",
        "registry events and API calls that capture could not record (rule errors, failed invocations)",
        {
          namespace: "AWS/SQS",
          metricName: "ApproximateNumberOfMessagesVisible",
          dimensions: { QueueName: this.deadLetterQueue.name },
          statistic: "Maximum",
        },
      ),
      // The capture queue is a buffer: messages in it are normal during a burst, so its alarm is on
      // the age of the oldest one, not on its depth.
      alarm(
        "backlog-alarm",
        "registry changes waiting in the capture queue longer than the replication lag allowed",
        {
          namespace: "AWS/SQS",
          metricName: "ApproximateAgeOfOldestMessage",
          dimensions: { QueueName: this.queue.name },
          statistic: "Maximum",
          threshold: args.backlogAlarmSeconds ?? 60,
        },
      ),
      alarm("capture-errors-alarm", "capture function errors", {
        namespace: "AWS/Lambda",
        metricName: "Errors",
        dimensions: { FunctionName: this.function.name },
        statistic: "Sum",
      }),
    ];

    this.deadLetterQueueUrl = this.deadLetterQueue.url;
    this.registerOutputs({ deadLetterQueueUrl: this.deadLetterQueueUrl, queueUrl: this.queue.url });
  }
}
