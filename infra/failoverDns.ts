/* eslint-disable @typescript-eslint/no-require-imports -- callbacks require npm modules inside their body (DESIGN.md §8) */
/**
 * Route 53 fail-over for the device endpoint and the C&C API (global stack, shared-services
 * account): PRIMARY and SECONDARY records with one health check per region (HTTPS to the
 * region's health-check function on its secret path, or following its CloudWatch alarm),
 * alarms on the health checks' status notifying SNS, and a notifier that tells connected
 * devices in both regions to move when a region's health check turns unhealthy.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./provider.js";
import { notifierFromEnv } from "../functions/health/runtime.js";
import { NotificationTopic } from "./notificationTopic.js";
import { callbackFunction } from "./callbackFunction.js";
import { powertoolsLogger } from "../functions/shared/observability.js";
import { alarmFamily } from "./alarms.js";
// The label under a record whose TXT answer is the region serving it (functions/cc/client.ts reads it).
import { SERVING_REGION_LABEL } from "../functions/cc/client.js";

export type RegionSlot = "primary" | "secondary";
const SLOTS: readonly RegionSlot[] = ["primary", "secondary"];

/** Where a record points: a CNAME target, or an alias (e.g. an API Gateway regional domain). */
export type RecordTarget =
  { cname: pulumi.Input<string> } | { alias: { name: pulumi.Input<string>; zoneId: pulumi.Input<string> } };

export interface FailoverRecordArgs {
  /** The record's name inside the zone, e.g. `devices` or `cc`. */
  name: string;
  primary: RecordTarget;
  secondary: RecordTarget;
  /**
   * Also publish the serving region as a TXT failover pair `_region.<name>` on the same health
   * checks, for SigV4 callers (a signature is scoped to one region; functions/cc/client.ts); default false.
   */
  servingRegionTxt?: boolean;
}

/** How Route 53 judges one region. */
export type RegionHealthArgs =
  | { mode: "endpoint"; region: string; host: pulumi.Input<string>; resourcePath: pulumi.Input<string> }
  | { mode: "alarm"; region: string; alarmName: pulumi.Input<string> };

export interface NoticeTargetArgs {
  region: string;
  /** The IoT ATS data endpoint of the region's IoT services account. */
  dataEndpoint: pulumi.Input<string>;
  /** The role there that may publish notices (DeviceEndpoint.noticePublisherRoleArn). */
  roleArn: pulumi.Input<string>;
}

export interface FailoverDnsArgs {
  /** The hosted zone: an existing zone (its id and name), or just a name for a new public zone. Required. */
  zone: { zoneName: string; zoneId?: pulumi.Input<string> };
  /** The fail-over record pairs (device endpoint, C&C API). Required, at least one. */
  records: FailoverRecordArgs[];
  /** The health of each region. Required. */
  health: Record<RegionSlot, RegionHealthArgs>;
  /** Route 53 check interval, 10 or 30 seconds; default 10. */
  intervalSeconds?: 10 | 30;
  /** Consecutive failed checks before Route 53 calls a region unhealthy, 1-10; default 3. */
  failureThreshold?: number;
  /** TTL of the fail-over CNAME records in seconds; default 60. */
  ttlSeconds?: number;
  /** Provider of the shared-services account in us-east-1, where Route 53 publishes health-check metrics. Required. */
  alarmProvider: pulumi.ProviderResource;
  /** More alarm and OK actions (e.g. the operators' topic), SNS topics in us-east-1 like the alarms; default none. */
  extraAlarmActions?: pulumi.Input<string>[];
  /**
   * The fail-over notice: topic, one target per region, and the window devices spread their
   * moves over (ms; fleet size / connect quota; default: each device's own); default no notifier.
   */
  notice?: {
    topic: string;
    targets: NoticeTargetArgs[];
    externalId: pulumi.Input<string>;
    spreadMs?: number;
  };
  /** Lambda runtime of the notifier; default nodejs22.x. */
  runtime?: string;
  /** Log retention in days; default 30. */
  logRetentionDays?: number;
}

export class FailoverDns extends pulumi.ComponentResource {
  readonly zoneId: pulumi.Output<string>;
  readonly healthCheckIds: Record<RegionSlot, pulumi.Output<string>>;
  /** The CloudWatch alarm on each region's health-check status (us-east-1). */
  readonly alarmNames: Record<RegionSlot, pulumi.Output<string>>;
  readonly alarmTopicArn: pulumi.Output<string>;
  /** Fully qualified names of the fail-over records. */
  readonly recordNames: string[];

  constructor(name: string, args: FailoverDnsArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:health:FailoverDns", name, {}, opts);
    requireProvider(opts.provider, "FailoverDns", "shared-services");
    requireProvider(args.alarmProvider, "FailoverDns (alarmProvider, us-east-1)", "shared-services");
    const interval = args.intervalSeconds ?? 10;
    const threshold = args.failureThreshold ?? 3;
    const ttl = args.ttlSeconds ?? 60;
    if (interval !== 10 && interval !== 30)
      throw new Error(`FailoverDns '${name}': intervalSeconds must be 10 or 30 (Route 53), got ${interval}`);
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > 10) {
      throw new Error(
        `FailoverDns '${name}': failureThreshold must be a whole number 1-10 (Route 53), got ${threshold}`,
      );
    }
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 86400)
      throw new Error(`FailoverDns '${name}': ttlSeconds must be 0-86400, got ${ttl}`);
    if (args.records.length === 0)
      throw new Error(`FailoverDns '${name}': give at least one fail-over record (device endpoint, C&C API)`);
    const names = args.records.map((r) => r.name);
    if (new Set(names).size !== names.length)
      throw new Error(`FailoverDns '${name}': record names repeat: ${names.join(", ")}`);

    const zoneName = args.zone.zoneName.replace(/\.$/, "");
    if (args.zone.zoneId !== undefined) {
      this.zoneId = pulumi.output(args.zone.zoneId);
    } else {
      const zone = new aws.route53.Zone(
        `${name}-zone`,
        { name: zoneName, comment: "iot-dr fail-over records" },
        { parent: this },
      );
      this.zoneId = zone.zoneId;
    }

    const healthChecks = {} as Record<RegionSlot, aws.route53.HealthCheck>;
    for (const slot of SLOTS) {
      const h = args.health[slot];
      healthChecks[slot] = new aws.route53.HealthCheck(
        `${name}-${slot}-health`,
        h.mode === "endpoint"
          ? {
              type: "HTTPS",
              fqdn: h.host,
              port: 443,
              resourcePath: h.resourcePath,
              enableSni: true,
              requestInterval: interval,
              failureThreshold: threshold,
              tags: { Name: `iot-dr ${slot} ${h.region}` },
            }
          : {
              type: "CLOUDWATCH_METRIC",
              cloudwatchAlarmName: h.alarmName,
              cloudwatchAlarmRegion: h.region,
              // The alarm treats missing data as breaching; without data the region is not trusted.
              insufficientDataHealthStatus: "Unhealthy",
              tags: { Name: `iot-dr ${slot} ${h.region}` },
            },
        { parent: this },
      );
    }
    this.healthCheckIds = { primary: healthChecks.primary.id, secondary: healthChecks.secondary.id };

    this.recordNames = [];
    for (const record of args.records) {
      this.recordNames.push(`${record.name}.${zoneName}`);
      for (const slot of SLOTS) {
        const target = record[slot];
        new aws.route53.Record(
          `${name}-${record.name}-${slot}`,
          {
            zoneId: this.zoneId,
            name: `${record.name}.${zoneName}`,
            setIdentifier: `${record.name}-${slot}`,
            failoverRoutingPolicies: [{ type: slot === "primary" ? "PRIMARY" : "SECONDARY" }],
            healthCheckId: healthChecks[slot].id,
            ...("cname" in target
              ? { type: "CNAME", ttl, records: [target.cname] }
              : {
                  type: "A",
                  aliases: [
                    { name: target.alias.name, zoneId: target.alias.zoneId, evaluateTargetHealth: false },
                  ],
                }),
          },
          { parent: this },
        );
        if (record.servingRegionTxt) {
          new aws.route53.Record(
            `${name}-${record.name}-region-${slot}`,
            {
              zoneId: this.zoneId,
              name: `${SERVING_REGION_LABEL}.${record.name}.${zoneName}`,
              setIdentifier: `${record.name}-region-${slot}`,
              failoverRoutingPolicies: [{ type: slot === "primary" ? "PRIMARY" : "SECONDARY" }],
              healthCheckId: healthChecks[slot].id,
              type: "TXT",
              ttl,
              records: [args.health[slot].region],
            },
            { parent: this },
          );
        }
      }
    }

    // Route 53 publishes HealthCheckStatus in us-east-1 only: alarms, topic and notifier live there.
    const alarmOpts = { parent: this, provider: args.alarmProvider };
    // Its own KMS key: CloudWatch cannot publish to a topic under the AWS managed alias/aws/sns.
    const topic = new NotificationTopic(
      `${name}-health-alarms`,
      { purpose: "health-check alarms" },
      alarmOpts,
    );
    const actions = [topic.arn, ...(args.extraAlarmActions ?? [])];
    const alarm = alarmFamily(name, { actions }, alarmOpts);
    const alarms = {} as Record<RegionSlot, aws.cloudwatch.MetricAlarm>;
    for (const slot of SLOTS) {
      alarms[slot] = alarm(
        `${slot}-health-alarm`,
        `the ${slot} region (${args.health[slot].region}) is unhealthy; Route 53 answers the other region`,
        {
          namespace: "AWS/Route53",
          metricName: "HealthCheckStatus",
          dimensions: { HealthCheckId: healthChecks[slot].id },
          statistic: "Minimum",
          period: 60,
          threshold: 1,
          comparisonOperator: "LessThanThreshold",
          treatMissingData: "breaching",
        },
      );
    }
    this.alarmNames = { primary: alarms.primary.name, secondary: alarms.secondary.name };
    this.alarmTopicArn = topic.arn;

    if (args.notice) {
      new FailoverNotifier(
        `${name}-notifier`,
        {
          topic: args.notice.topic,
          targets: args.notice.targets,
          externalId: args.notice.externalId,
          ...(args.notice.spreadMs !== undefined ? { spreadMs: args.notice.spreadMs } : {}),
          alarms: SLOTS.map((slot) => ({ alarmName: alarms[slot].name, region: args.health[slot].region })),
          alarmTopicArn: topic.arn,
          runtime: args.runtime ?? "nodejs22.x",
          logRetentionDays: args.logRetentionDays ?? 30,
        },
        alarmOpts,
      );
    }
    this.registerOutputs({
      zoneId: this.zoneId,
      healthCheckIds: this.healthCheckIds,
      alarmNames: this.alarmNames,
      alarmTopicArn: this.alarmTopicArn,
      recordNames: this.recordNames,
    });
  }
}

interface FailoverNotifierArgs {
  topic: string;
  targets: NoticeTargetArgs[];
  externalId: pulumi.Input<string>;
  spreadMs?: number;
  alarms: Array<{ alarmName: pulumi.Input<string>; region: string }>;
  alarmTopicArn: pulumi.Input<string>;
  runtime: string;
  logRetentionDays: number;
}

/** The notifier function subscribed to the health-check alarm topic; lives in the topic's region. */
class FailoverNotifier extends pulumi.ComponentResource {
  constructor(name: string, args: FailoverNotifierArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:health:FailoverNotifier", name, {}, opts);
    if (args.targets.length === 0)
      throw new Error(`FailoverNotifier '${name}': give a notice target per region`);
    const fn = callbackFunction(
      name,
      {
        description: "fail-over notices to devices on health-check alarms",
        runtime: args.runtime,
        timeoutSeconds: 30,
        memoryMb: 256,
        logRetentionDays: args.logRetentionDays,
        environment: {
          NOTICE_TOPIC: args.topic,
          NOTICE_TARGETS: pulumi.jsonStringify(args.targets),
          NOTICE_ALARMS: pulumi.jsonStringify(args.alarms),
          NOTICE_EXTERNAL_ID: args.externalId,
          ...(args.spreadMs !== undefined ? { NOTICE_SPREAD_MS: String(args.spreadMs) } : {}),
        },
        statements: [
          {
            Sid: "AssumePublisherRoles",
            Effect: "Allow",
            Action: ["sts:AssumeRole"],
            Resource: args.targets.map((t) => t.roleArn),
          },
        ],
        callbackFactory: () => {
          const handler = notifierFromEnv(process.env, {
            sts: require("@aws-sdk/client-sts"),
            iotData: require("@aws-sdk/client-iot-data-plane"),
            NodeHttpHandler: (
              require("@smithy/node-http-handler") as typeof import("@smithy/node-http-handler")
            ).NodeHttpHandler,
            logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), "iot-dr-failover-notifier"),
          });
          return (event: unknown) => handler(event);
        },
      },
      this,
    );
    new aws.lambda.Permission(
      `${name}-from-sns`,
      {
        function: fn.fn.name,
        action: "lambda:InvokeFunction",
        principal: "sns.amazonaws.com",
        sourceArn: args.alarmTopicArn,
      },
      { parent: this },
    );
    new aws.sns.TopicSubscription(
      `${name}-subscription`,
      { topic: args.alarmTopicArn, protocol: "lambda", endpoint: fn.fn.arn },
      { parent: this },
    );
    this.registerOutputs({ functionArn: fn.fn.arn });
  }
}
