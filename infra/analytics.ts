/* eslint-disable @typescript-eslint/no-require-imports -- callbacks require npm modules inside their body (DESIGN.md §8) */
/**
 * Data analytics across regions. Per region (`AnalyticsRegion`, analytics account): an event bus
 * with the same name in both regions, a Kinesis Data Stream behind it, dead-letter queues on the
 * target, the forwarder and the IoT rule; the rule itself lives in the IoT services account and
 * invokes the forwarder (IoT rules have no EventBridge action), which puts events through the
 * global endpoint. Globally (`AnalyticsGlobalEndpoint`, global stack): the EventBridge global
 * endpoint over both buses with event replication on and its Route 53 health check, so that data
 * left in a failed region is still processed in the other one.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./provider.js";
import {
  DEVICE_DATA_DETAIL_TYPE,
  DEVICE_DATA_SOURCE,
  deviceDataRuleSql,
} from "../functions/analytics/forwarder.js";
import { FORWARDER_SERVICE, forwarderFromEnv } from "../functions/analytics/runtime.js";
import { powertoolsLogger } from "../functions/shared/observability.js";
import { callbackFunction } from "./callbackFunction.js";
import { alarmFamily } from "./alarms.js";
import { serviceRole } from "./serviceRole.js";
import { eventRuleQueuePolicy } from "./queuePolicy.js";

const BUS_NAME = /^[A-Za-z0-9._-]{1,256}$/;

export interface AnalyticsRegionArgs {
  /** The region (names, outputs). Required. */
  region: string;
  /** Bus name, identical in both regions (global endpoints require it); default `iot-dr-device-data`. */
  eventBusName?: string;
  /** Provider of the IoT services account in this region, for the topic rule. Required. */
  iotProvider: pulumi.ProviderResource;
  /** Name of the device-data topic rule (letters, digits, '_'; include the environment); default `iot_dr_device_data_<region>`. */
  topicRuleName?: string;
  /** MQTT topic filter of device data; default `dt/+/telemetry`. */
  topicFilter?: string;
  /** Id of the global endpoint (e.g. `abcde.veo`, output of the global stack); default none: forward to this region's bus. */
  globalEndpointId?: pulumi.Input<string>;
  /** Kinesis retention in hours; default 24. */
  streamRetentionHours?: number;
  /** How long EventBridge retries a target before dead-lettering, in seconds; default 86400. */
  targetMaxEventAgeSeconds?: number;
  /** Days dead letters are kept; default 14 (the SQS maximum). */
  deadLetterRetentionDays?: number;
  /** Lambda runtime; default nodejs22.x. */
  runtime?: string;
  /** Log retention in days; default 30. */
  logRetentionDays?: number;
}

export class AnalyticsRegion extends pulumi.ComponentResource {
  readonly eventBusName: pulumi.Output<string>;
  readonly eventBusArn: pulumi.Output<string>;
  readonly streamName: pulumi.Output<string>;
  readonly streamArn: pulumi.Output<string>;
  /** Dead-letter queues by purpose: `rule` (IoT account), `target`, `forwarder`. */
  readonly deadLetterQueueUrls: pulumi.Output<{ rule: string; target: string; forwarder: string }>;
  readonly deadLetterQueueArns: pulumi.Output<{ rule: string; target: string; forwarder: string }>;
  readonly forwarderArn: pulumi.Output<string>;
  readonly topicRuleName: pulumi.Output<string>;

  constructor(name: string, args: AnalyticsRegionArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:analytics:AnalyticsRegion", name, {}, opts);
    requireProvider(opts.provider, "AnalyticsRegion", "data analytics");
    requireProvider(args.iotProvider, "AnalyticsRegion iotProvider", "IoT services");
    if (!args.region) throw new Error(`AnalyticsRegion '${name}' needs the region it runs in`);
    const busName = args.eventBusName ?? "iot-dr-device-data";
    if (!BUS_NAME.test(busName))
      throw new Error(`AnalyticsRegion '${name}': '${busName}' is not an event bus name`);
    const sql = deviceDataRuleSql(args.topicFilter ?? "dt/+/telemetry");
    const retentionSeconds = (args.deadLetterRetentionDays ?? 14) * 86400;
    if (retentionSeconds < 60 || retentionSeconds > 14 * 86400) {
      throw new Error(`AnalyticsRegion '${name}': deadLetterRetentionDays must be from 1 to 14`);
    }
    const mine = { parent: this };
    const iotOpts = { parent: this, provider: args.iotProvider };
    const partition = aws.getPartitionOutput({}, mine);
    const identity = aws.getCallerIdentityOutput({}, mine);
    const iotIdentity = aws.getCallerIdentityOutput({}, iotOpts);

    const bus = new aws.cloudwatch.EventBus(
      `${name}-bus`,
      { name: busName, description: "iot-dr device data" },
      mine,
    );
    const stream = new aws.kinesis.Stream(
      `${name}-stream`,
      {
        streamModeDetails: { streamMode: "ON_DEMAND" },
        retentionPeriod: args.streamRetentionHours ?? 24,
        encryptionType: "KMS",
        kmsKeyId: "alias/aws/kinesis",
      },
      mine,
    );
    const deadLetters = (purpose: string, o: pulumi.CustomResourceOptions) =>
      new aws.sqs.Queue(
        `${name}-${purpose}-dlq`,
        { messageRetentionSeconds: retentionSeconds, sqsManagedSseEnabled: true },
        o,
      );

    // Bus → stream, with retries and a dead-letter queue.
    const rule = new aws.cloudwatch.EventRule(
      `${name}-to-stream`,
      {
        eventBusName: bus.name,
        description: "device data to the analytics stream",
        eventPattern: JSON.stringify({
          source: [DEVICE_DATA_SOURCE],
          "detail-type": [DEVICE_DATA_DETAIL_TYPE],
        }),
      },
      mine,
    );
    const targetDlq = deadLetters("target", mine);
    eventRuleQueuePolicy(`${name}-target-dlq-policy`, { queue: targetDlq, ruleArn: rule.arn }, mine);
    const { role: targetRole } = serviceRole(
      { role: `${name}-target-role`, policy: `${name}-target-policy` },
      {
        service: "events.amazonaws.com",
        description: "iot-dr: EventBridge writes device data to the analytics stream",
        trustCondition: { StringEquals: { "aws:SourceAccount": identity.accountId } },
        statements: [
          { Effect: "Allow", Action: ["kinesis:PutRecord", "kinesis:PutRecords"], Resource: stream.arn },
        ],
      },
      mine,
    );
    new aws.cloudwatch.EventTarget(
      `${name}-stream-target`,
      {
        rule: rule.name,
        eventBusName: bus.name,
        arn: stream.arn,
        roleArn: targetRole.arn,
        kinesisTarget: { partitionKeyPath: "$.detail.deviceId" },
        deadLetterConfig: { arn: targetDlq.arn },
        retryPolicy: {
          maximumEventAgeInSeconds: args.targetMaxEventAgeSeconds ?? 86400,
          maximumRetryAttempts: 185,
        },
      },
      mine,
    );

    // The forwarder (analytics account), invoked by the IoT rule; its failures are dead-lettered.
    const forwarderDlq = deadLetters("forwarder", mine);
    const busArns = [
      pulumi.interpolate`arn:${partition.partition}:events:*:${identity.accountId}:event-bus/${busName}`,
    ];
    const fn = callbackFunction<unknown, unknown>(
      `${name}-forwarder`,
      {
        description: `device data forwarder to the analytics bus (${args.region})`,
        runtime: args.runtime ?? "nodejs22.x",
        timeoutSeconds: 30,
        memoryMb: 256,
        logRetentionDays: args.logRetentionDays ?? 30,
        environment: {
          EVENT_BUS_NAME: bus.name,
          ...(args.globalEndpointId !== undefined ? { GLOBAL_ENDPOINT_ID: args.globalEndpointId } : {}),
        },
        statements: [
          // Through the global endpoint the event may land on the bus of either region.
          { Sid: "PutDeviceData", Effect: "Allow", Action: ["events:PutEvents"], Resource: busArns },
          { Sid: "DeadLetters", Effect: "Allow", Action: ["sqs:SendMessage"], Resource: forwarderDlq.arn },
        ],
        callbackFactory: () => {
          const handler = forwarderFromEnv(process.env, {
            eventbridge: require("@aws-sdk/client-eventbridge"),
            loadSigV4a: () => require("@aws-sdk/signature-v4a"),
            logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), FORWARDER_SERVICE),
          });
          return (event: unknown) => handler(event);
        },
      },
      this,
    );
    new aws.lambda.FunctionEventInvokeConfig(
      `${name}-forwarder-async`,
      {
        functionName: fn.fn.name,
        maximumRetryAttempts: 2,
        maximumEventAgeInSeconds: 3600,
        destinationConfig: { onFailure: { destination: forwarderDlq.arn } },
      },
      { parent: this, dependsOn: [fn.policy] },
    );

    // The topic rule in the IoT services account, with its own dead-letter queue (errorAction).
    const ruleDlq = deadLetters("rule", iotOpts);
    const { role: ruleRole } = serviceRole(
      { role: `${name}-rule-role`, policy: `${name}-rule-policy` },
      {
        service: "iot.amazonaws.com",
        description: "iot-dr: the device data rule dead-letters what it cannot deliver",
        trustCondition: { StringEquals: { "aws:SourceAccount": iotIdentity.accountId } },
        statements: [{ Effect: "Allow", Action: ["sqs:SendMessage"], Resource: ruleDlq.arn }],
      },
      iotOpts,
    );
    const topicRule = new aws.iot.TopicRule(
      `${name}-device-data`,
      {
        // Rule names allow only letters, digits and '_'.
        name: (args.topicRuleName ?? `iot_dr_device_data_${args.region}`).replace(/[^A-Za-z0-9_]/g, "_"),
        description: "iot-dr: device data to the analytics global endpoint",
        enabled: true,
        sql,
        sqlVersion: "2016-03-23",
        lambdas: [{ functionArn: fn.fn.arn }],
        errorAction: { sqs: { queueUrl: ruleDlq.url, roleArn: ruleRole.arn, useBase64: false } },
      },
      iotOpts,
    );
    new aws.lambda.Permission(
      `${name}-forwarder-from-iot`,
      {
        function: fn.fn.name,
        action: "lambda:InvokeFunction",
        principal: "iot.amazonaws.com",
        sourceArn: topicRule.arn,
        sourceAccount: iotIdentity.accountId,
      },
      mine,
    );

    this.eventBusName = bus.name;
    this.eventBusArn = bus.arn;
    this.streamName = stream.name;
    this.streamArn = stream.arn;
    this.forwarderArn = fn.fn.arn;
    this.topicRuleName = topicRule.name;
    this.deadLetterQueueUrls = pulumi.output({
      rule: ruleDlq.url,
      target: targetDlq.url,
      forwarder: forwarderDlq.url,
    });
    this.deadLetterQueueArns = pulumi.output({
      rule: ruleDlq.arn,
      target: targetDlq.arn,
      forwarder: forwarderDlq.arn,
    });
    this.registerOutputs({
      eventBusName: this.eventBusName,
      eventBusArn: this.eventBusArn,
      streamArn: this.streamArn,
      deadLetterQueueUrls: this.deadLetterQueueUrls,
      forwarderArn: this.forwarderArn,
      topicRuleName: this.topicRuleName,
    });
  }
}

export interface AnalyticsGlobalEndpointArgs {
  /** Primary and secondary region names. Required. */
  primaryRegion: string;
  secondaryRegion: string;
  /** ARNs of the two buses (same name in both regions), from the regional stacks. Required. */
  primaryBusArn: pulumi.Input<string>;
  secondaryBusArn: pulumi.Input<string>;
  /** Name of the buses (for the replication role's policy); default `iot-dr-device-data`. */
  eventBusName?: string;
  /** An existing Route 53 health check that judges the primary region; default: one on an ingestion-latency alarm. */
  healthCheckId?: pulumi.Input<string>;
  /** Ingestion-to-invocation latency (ms) above which the primary counts as unhealthy; default 30000. */
  latencyThresholdMs?: number;
  /** Minutes above the threshold before fail-over; default 5. */
  evaluationMinutes?: number;
  /** Name of the global endpoint; default `iot-dr-device-data`. */
  endpointName?: string;
}

/**
 * The EventBridge global endpoint over both analytics buses, with event replication enabled, and
 * the Route 53 health check that moves ingestion to the secondary. Created with the analytics
 * account's provider in the primary region (the endpoint's home), by the global stack.
 */
export class AnalyticsGlobalEndpoint extends pulumi.ComponentResource {
  readonly endpoint: aws.cloudwatch.EventEndpoint;
  /** e.g. `abcde.veo`: the `GLOBAL_ENDPOINT_ID` the forwarders pass to PutEvents. */
  readonly endpointId: pulumi.Output<string>;
  readonly endpointUrl: pulumi.Output<string>;
  /** Known before deployment (the endpoint id is not): `aws events describe-endpoint --name <name>` gives the id. */
  readonly endpointName: pulumi.Output<string>;
  readonly endpointArn: pulumi.Output<string>;
  readonly healthCheckId: pulumi.Output<string>;

  constructor(name: string, args: AnalyticsGlobalEndpointArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:analytics:AnalyticsGlobalEndpoint", name, {}, opts);
    requireProvider(opts.provider, "AnalyticsGlobalEndpoint", "data analytics (primary region)");
    if (!args.primaryRegion || !args.secondaryRegion || args.primaryRegion === args.secondaryRegion) {
      throw new Error(`AnalyticsGlobalEndpoint '${name}' needs two different regions`);
    }
    const mine = { parent: this };
    const busName = args.eventBusName ?? "iot-dr-device-data";
    const partition = aws.getPartitionOutput({}, mine);
    const identity = aws.getCallerIdentityOutput({}, mine);

    let healthCheckId: pulumi.Output<string>;
    if (args.healthCheckId !== undefined) {
      healthCheckId = pulumi.output(args.healthCheckId);
    } else {
      // AWS's recommended signal: events waiting long for their targets in the primary region.
      // Only Route 53 reads it: no actions.
      const alarm = alarmFamily(name, { actions: false }, mine)(
        "primary-latency",
        `EventBridge ingestion latency in ${args.primaryRegion}; fails the global endpoint over`,
        {
          namespace: "AWS/Events",
          metricName: "IngestionToInvocationStartLatency",
          statistic: "Average",
          period: 60,
          evaluationPeriods: args.evaluationMinutes ?? 5,
          threshold: args.latencyThresholdMs ?? 30_000,
          comparisonOperator: "GreaterThanThreshold",
          // A primary region that is gone publishes nothing: no data must fail over (AWS's own template).
          treatMissingData: "breaching",
        },
      );
      const check = new aws.route53.HealthCheck(
        `${name}-health`,
        {
          type: "CLOUDWATCH_METRIC",
          cloudwatchAlarmName: alarm.name,
          cloudwatchAlarmRegion: args.primaryRegion,
          // Route 53 cannot read the alarm while the primary region's CloudWatch is down: fail over.
          insufficientDataHealthStatus: "Unhealthy",
          tags: { Name: `iot-dr analytics ${args.primaryRegion}` },
        },
        mine,
      );
      healthCheckId = check.id;
    }

    const { role: role } = serviceRole(
      { role: `${name}-replication`, policy: `${name}-replication-policy` },
      {
        service: "events.amazonaws.com",
        description: "iot-dr: EventBridge replicates device data between the analytics buses",
        trustCondition: { StringEquals: { "aws:SourceAccount": identity.accountId } },
        statements: [
          {
            Effect: "Allow",
            Action: ["events:PutEvents"],
            Resource: [args.primaryRegion, args.secondaryRegion].map(
              (r) =>
                pulumi.interpolate`arn:${partition.partition}:events:${r}:${identity.accountId}:event-bus/${busName}`,
            ),
          },
        ],
      },
      mine,
    );
    this.endpoint = new aws.cloudwatch.EventEndpoint(
      `${name}-endpoint`,
      {
        name: args.endpointName ?? "iot-dr-device-data",
        description: "iot-dr device data: primary with fail-over and replication",
        eventBuses: [{ eventBusArn: args.primaryBusArn }, { eventBusArn: args.secondaryBusArn }],
        replicationConfig: { state: "ENABLED" },
        roleArn: role.arn,
        routingConfig: {
          failoverConfig: {
            primary: {
              healthCheck: pulumi.interpolate`arn:${partition.partition}:route53:::healthcheck/${healthCheckId}`,
            },
            secondary: { route: args.secondaryRegion },
          },
        },
      },
      mine,
    );
    this.endpointUrl = this.endpoint.endpointUrl;
    this.endpointName = this.endpoint.name;
    this.endpointArn = this.endpoint.arn;
    this.endpointId = this.endpoint.endpointUrl.apply((url) =>
      url ? new URL(url).hostname.replace(/\.endpoint\.events\..*$/, "") : "",
    );
    this.healthCheckId = healthCheckId;
    this.registerOutputs({
      endpointId: this.endpointId,
      endpointUrl: this.endpointUrl,
      healthCheckId: this.healthCheckId,
    });
  }
}
