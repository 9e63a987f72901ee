/* eslint-disable @typescript-eslint/no-require-imports -- callbacks require npm modules inside their body (DESIGN.md §8) */
/**
 * The health-check function of one region, in the shared-services account: it judges its own
 * region only (it fails with it) by calling every account's health API there, applies the policy
 * and either answers Route 53 on a public function URL guarded by a secret path segment
 * (`endpoint` mode) or runs on a schedule and feeds a CloudWatch alarm (`alarm` mode).
 * Hysteresis state sits in a small DynamoDB table, the operator's override in an SSM parameter.
 */
import { createHash } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./provider.js";
import { HEALTH_NAMESPACE, ROUTE53_ALARM_PERIOD_SECONDS } from "../functions/health/metrics.js";
import { checkPolicyConfig, type PolicyConfig } from "../functions/health/policy.js";
import { aggregatorFromEnv, powertoolsMetricsWriter } from "../functions/health/runtime.js";
import { callbackFunction, functionUrl, type PolicyStatement } from "./callbackFunction.js";
import { powertoolsLogger } from "../functions/shared/observability.js";
import { alarmFamily } from "./alarms.js";
import { onDemandTable } from "./tables.js";

export interface HealthFactorArgs {
  /** Factor name (`iotBroker`, `applicationServices`, `commandControl`, `analytics`). */
  name: string;
  /** URL of the factor on its account's health API, e.g. `${healthApi.url}iotBroker`. */
  url: pulumi.Input<string>;
  /** ARN of the health API's function, for the caller's side of the cross-account grant. */
  functionArn: pulumi.Input<string>;
}

export interface HealthCheckArgs {
  /** The region this function judges (its own). Required. */
  region: string;
  /** The health APIs to call. Required, at least one. */
  factors: HealthFactorArgs[];
  /** Critical factors, hysteresis and readiness gate. Required. */
  policy: PolicyConfig;
  /** `endpoint` (Route 53 calls the function) or `alarm` (Route 53 follows a CloudWatch alarm); default endpoint. */
  routingMode?: "endpoint" | "alarm";
  /** Secret path segment Route 53 must request (a secret config value, >= 24 characters). Required in endpoint mode. */
  pathSecret?: pulumi.Input<string>;
  /** The answer deadline in ms; default 1500 (Route 53 waits 2 s after connecting). */
  deadlineMs?: number;
  /** Alarm mode: one evaluation per this many seconds (10 or 30) within each one-minute alarm period; default 10. */
  alarmIntervalSeconds?: 10 | 30;
  /** Alarm mode: consecutive unhealthy minutes (alarm periods) before the alarm fires; default 3. */
  alarmEvaluationPeriods?: number;
  /** Dimensions of `ReplicationLagMs`; default `REPLICATION_LAG.dimensions` (functions/replication/observability.ts: what replay publishes). */
  lagDimensions?: Record<string, string>;
  /** Dimensions of `DriftCount`; default none (the reconciler also publishes it without dimensions). */
  driftDimensions?: Record<string, string>;
  /**
   * Dimensions of the replication launcher's `AWS/Lambda IteratorAge` (`{ FunctionName }`): the
   * backlog towards this region, read by the fail-back gate; default not read.
   */
  backlogDimensions?: Record<string, pulumi.Input<string>>;
  /** A role in the IoT services account that may read its replication metrics (HealthApi.readinessRoleArn); default: read this account's. */
  readinessRoleArn?: pulumi.Input<string>;
  /** External id the readiness role demands; required with readinessRoleArn. */
  readinessExternalId?: pulumi.Input<string>;
  /** Name of the override parameter; default `/iot-dr/health/override/<region>`. */
  overrideParameterName?: string;
  /** Lambda runtime; default nodejs22.x. */
  runtime?: string;
  /** Function memory in MB (more memory is more CPU: faster TLS handshakes); default 512. */
  memoryMb?: number;
  /** Log retention in days; default 30. */
  logRetentionDays?: number;
}

export class HealthCheck extends pulumi.ComponentResource {
  readonly functionArn: pulumi.Output<string>;
  /** Endpoint mode: host name of the function URL, for the Route 53 health check. */
  readonly host?: pulumi.Output<string>;
  /** Endpoint mode: the path Route 53 requests (`/<secret>`), a secret output. */
  readonly resourcePath?: pulumi.Output<string>;
  /** Alarm mode: the alarm Route 53 follows, and its region. */
  readonly alarmName?: pulumi.Output<string>;
  readonly alarmRegion?: string;
  readonly overrideParameterName: pulumi.Output<string>;
  readonly stateTableName: pulumi.Output<string>;

  constructor(name: string, args: HealthCheckArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:health:HealthCheck", name, {}, opts);
    requireProvider(opts.provider, "HealthCheck", "shared-services");
    const mode = args.routingMode ?? "endpoint";
    if (args.factors.length === 0)
      throw new Error(`HealthCheck '${name}': give at least one factor (an account's health API)`);
    checkPolicyConfig(
      args.policy,
      args.factors.map((f) => f.name),
    );
    const deadlineMs = args.deadlineMs ?? 1500;
    if (!(deadlineMs >= 300 && deadlineMs <= 2000)) {
      throw new Error(
        `HealthCheck '${name}': deadlineMs must be 300-2000 (Route 53 waits 2 s after connecting), got ${deadlineMs}`,
      );
    }
    if (mode === "endpoint" && args.pathSecret === undefined) {
      throw new Error(
        `HealthCheck '${name}': endpoint mode needs pathSecret; set it with: pulumi config set --secret iot-dr:healthCheckPathSecret <24+ random characters>`,
      );
    }
    const interval = args.alarmIntervalSeconds ?? 10;
    const periods = args.alarmEvaluationPeriods ?? 3;
    if (interval !== 10 && interval !== 30)
      throw new Error(`HealthCheck '${name}': alarmIntervalSeconds must be 10 or 30, got ${interval}`);
    if (!Number.isInteger(periods) || periods < 1 || periods > 10) {
      throw new Error(`HealthCheck '${name}': alarmEvaluationPeriods must be 1-10, got ${periods}`);
    }

    if (args.readinessRoleArn !== undefined && args.readinessExternalId === undefined) {
      throw new Error(
        `HealthCheck '${name}': readinessRoleArn needs readinessExternalId (the role demands an external id)`,
      );
    }
    const table = onDemandTable(`${name}-state`, { hashKey: ["pk", "S"] }, { parent: this });
    const parameterName = args.overrideParameterName ?? `/iot-dr/health/override/${args.region}`;
    const override = new aws.ssm.Parameter(
      `${name}-override`,
      {
        name: parameterName,
        type: "String",
        value: "automatic",
        allowedPattern: "^(automatic|force-healthy|force-unhealthy)$",
        description: "iot-dr fail-over override for this region: automatic | force-healthy | force-unhealthy",
      },
      // Operators change the value without a deployment; a later `pulumi up` must not reset it.
      { parent: this, ignoreChanges: ["value"] },
    );

    const pathSecretSha256 =
      args.pathSecret === undefined
        ? undefined
        : pulumi.secret(
            pulumi.output(args.pathSecret).apply((secret) => {
              if (typeof secret !== "string" || secret.length < 24 || !/^[A-Za-z0-9_-]+$/.test(secret)) {
                throw new Error(
                  `HealthCheck '${name}': the path secret must be at least 24 characters of A-Z, a-z, 0-9, '_' or '-'`,
                );
              }
              // Only the digest goes into the function's environment; the secret itself stays in config.
              return createHash("sha256").update(secret, "utf8").digest("hex");
            }),
          );

    const statements: PolicyStatement[] = [
      {
        Sid: "HysteresisState",
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
        Resource: table.arn,
      },
      { Sid: "ReadOverride", Effect: "Allow", Action: ["ssm:GetParameter"], Resource: override.arn },
      // GetMetricData has no resource-level permissions: resource "*" is the only form IAM accepts.
      { Sid: "ReadReplicationMetrics", Effect: "Allow", Action: ["cloudwatch:GetMetricData"], Resource: "*" },
      ...(args.readinessRoleArn
        ? [
            {
              Sid: "ReadIotAccountMetrics",
              Effect: "Allow" as const,
              Action: ["sts:AssumeRole"],
              Resource: args.readinessRoleArn,
            },
          ]
        : []),
      {
        Sid: "CallHealthApis",
        Effect: "Allow",
        Action: ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
        Resource: args.factors.map((f) => f.functionArn),
      },
    ];

    const fn = callbackFunction(
      name,
      {
        description: `health check of ${args.region} (${mode} mode)`,
        runtime: args.runtime ?? "nodejs22.x",
        // Endpoint mode answers within the deadline; alarm mode evaluates for a minute per invocation.
        timeoutSeconds: mode === "endpoint" ? 5 : 75,
        memoryMb: args.memoryMb ?? 512,
        logRetentionDays: args.logRetentionDays ?? 30,
        environment: {
          HEALTH_REGION: args.region,
          HEALTH_MODE: mode,
          HEALTH_FACTORS: pulumi.jsonStringify(args.factors.map((f) => ({ name: f.name, url: f.url }))),
          HEALTH_POLICY: JSON.stringify(args.policy),
          HEALTH_STATE_TABLE: table.name,
          HEALTH_OVERRIDE_PARAMETER: override.name,
          HEALTH_DEADLINE_MS: String(deadlineMs),
          HEALTH_ALARM_INTERVAL_SECONDS: String(interval),
          ...(args.lagDimensions ? { HEALTH_LAG_DIMENSIONS: JSON.stringify(args.lagDimensions) } : {}),
          ...(args.driftDimensions ? { HEALTH_DRIFT_DIMENSIONS: JSON.stringify(args.driftDimensions) } : {}),
          ...(args.backlogDimensions
            ? { HEALTH_BACKLOG_DIMENSIONS: pulumi.jsonStringify(args.backlogDimensions) }
            : {}),
          ...(args.readinessRoleArn ? { HEALTH_READINESS_ROLE_ARN: args.readinessRoleArn } : {}),
          ...(args.readinessExternalId ? { HEALTH_READINESS_EXTERNAL_ID: args.readinessExternalId } : {}),
          ...(pathSecretSha256 ? { HEALTH_PATH_SECRET_SHA256: pathSecretSha256 } : {}),
        },
        statements,
        callbackFactory: () => {
          const { handler } = aggregatorFromEnv(process.env, {
            crypto: require("node:crypto"),
            http: require("node:http"),
            https: require("node:https"),
            dynamodb: require("@aws-sdk/client-dynamodb"),
            cloudwatch: require("@aws-sdk/client-cloudwatch"),
            ssm: require("@aws-sdk/client-ssm"),
            NodeHttpHandler: (
              require("@smithy/node-http-handler") as typeof import("@smithy/node-http-handler")
            ).NodeHttpHandler,
            SignatureV4: (require("@smithy/signature-v4") as typeof import("@smithy/signature-v4"))
              .SignatureV4,
            sts: require("@aws-sdk/client-sts"),
            metrics: powertoolsMetricsWriter(require("@aws-lambda-powertools/metrics"), HEALTH_NAMESPACE),
            logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), "iot-dr-health-check"),
          });
          return (event: unknown) => handler(event);
        },
      },
      this,
    );
    this.functionArn = fn.fn.arn;
    this.overrideParameterName = override.name;
    this.stateTableName = table.name;

    if (mode === "endpoint") {
      // Route 53 cannot sign requests: the URL is public, and only the secret path gets an answer.
      const url = functionUrl(name, fn.fn, { authorizationType: "NONE", principal: "*" }, { parent: this });
      this.host = url.functionUrl.apply((u) => (u ? new URL(u).host : ""));
      this.resourcePath = pulumi.secret(pulumi.interpolate`/${args.pathSecret!}`);
    } else {
      const schedule = new aws.cloudwatch.EventRule(
        `${name}-schedule`,
        { description: `iot-dr health rounds for ${args.region}`, scheduleExpression: "rate(1 minute)" },
        { parent: this },
      );
      const permission = new aws.lambda.Permission(
        `${name}-schedule-invoke`,
        {
          function: fn.fn.name,
          action: "lambda:InvokeFunction",
          principal: "events.amazonaws.com",
          sourceArn: schedule.arn,
        },
        { parent: this },
      );
      new aws.cloudwatch.EventTarget(
        `${name}-schedule-target`,
        { rule: schedule.name, arn: fn.fn.arn },
        { parent: this, dependsOn: [permission] },
      );
      // Only Route 53 reads it: no actions.
      const alarm = alarmFamily(name, { actions: false }, { parent: this })(
        "region-unhealthy",
        `${args.region} judged unhealthy by its health check (Route 53 follows this alarm)`,
        {
          namespace: HEALTH_NAMESPACE,
          metricName: "RegionHealthy",
          dimensions: { Region: args.region },
          statistic: "Minimum",
          // Route 53 follows standard-resolution alarms only: one-minute periods, whatever the round interval.
          period: ROUTE53_ALARM_PERIOD_SECONDS,
          evaluationPeriods: periods,
          datapointsToAlarm: periods,
          threshold: 1,
          comparisonOperator: "LessThanThreshold",
          // No datapoint means the health check itself is down with its region.
          treatMissingData: "breaching",
        },
      );
      this.alarmName = alarm.name;
      this.alarmRegion = args.region;
    }
    this.registerOutputs({
      functionArn: this.functionArn,
      host: this.host,
      resourcePath: this.resourcePath,
      alarmName: this.alarmName,
      overrideParameterName: this.overrideParameterName,
    });
  }
}
