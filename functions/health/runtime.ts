/**
 * The deployed handlers of the health path, built from environment variables and the modules the
 * callback adapter `require()`s inside its body (nothing is imported here at run time). Each
 * builder validates its environment and names the variable that is wrong.
 */
import { CALL_DEADLINES, sdkClientOptions } from "../deadlines.js";
import type * as NodeCrypto from "node:crypto";
import type * as NodeHttp from "node:http";
import type * as NodeHttps from "node:https";
import type * as Mqtt from "mqtt";
import type * as DynamoDb from "@aws-sdk/client-dynamodb";
import type * as CloudWatch from "@aws-sdk/client-cloudwatch";
import type * as SecretsManager from "@aws-sdk/client-secrets-manager";
import type * as EventBridge from "@aws-sdk/client-eventbridge";
import type * as Sts from "@aws-sdk/client-sts";
import type * as Ssm from "@aws-sdk/client-ssm";
import type * as IotDataPlane from "@aws-sdk/client-iot-data-plane";
import type { NodeHttpHandler } from "@smithy/node-http-handler";
import type { SignatureV4 } from "@smithy/signature-v4";
import {
  createHealthCheck,
  createSecretMatcher,
  runRounds,
  type Factor,
  type HealthCheck,
} from "./aggregator.js";
import {
  assumedRole,
  assumeRole,
  cachedGetter,
  cloudWatchReadinessGetter,
  createSigV4Signer,
  dynamoStateStore,
  environmentCredentials,
  iotDataPublish,
  ssmOverrideGetter,
  type AwsCredentials,
} from "./aws.js";
import { bareStatus, createHealthApi, type ApiResponse } from "./checkpoints.js";
import { createNodeTransport, type Logger } from "./http.js";
import { roundMetricPoints, type MetricPoint } from "./metrics.js";
import { handleAlarmEvent, type AlarmRegion } from "./notifier.js";
import type { PolicyConfig } from "./policy.js";
import { endpointOverride, integer, json, required, type Env } from "../shared/env.js";
import type { Now } from "../shared/clock.js";
import { buildCheckpoints, parseCheckpointSpecs, type Probe } from "./probes.js";

/** A Lambda function-URL request (payload format 2.0), as much of it as we read. */
export interface FunctionUrlEvent {
  rawPath?: string;
  requestContext?: { http?: { method?: string } };
}

export interface MetricsWriter {
  /**
   * Writes the points as CloudWatch embedded metric format (Powertools Metrics in AWS), at
   * standard resolution: Route 53 alarm-based health checks take standard-resolution metrics only.
   */
  write(points: MetricPoint[]): void;
}

/** EMF through Powertools Metrics: one single-metric document per point, so each keeps its dimensions. */
export function powertoolsMetricsWriter(
  powertools: typeof import("@aws-lambda-powertools/metrics"),
  namespace: string,
): MetricsWriter {
  const metrics = new powertools.Metrics({ namespace, serviceName: "iot-dr-health" });
  return {
    write(points) {
      for (const point of points) {
        const single = metrics.singleMetric();
        single.addDimensions(point.dimensions);
        single.addMetric(
          point.name,
          point.unit === "Milliseconds" ? powertools.MetricUnit.Milliseconds : powertools.MetricUnit.Count,
          point.value,
          powertools.MetricResolution.Standard,
        );
      }
    },
  };
}

export interface AggregatorModules {
  crypto: typeof NodeCrypto;
  http: typeof NodeHttp;
  https: typeof NodeHttps;
  dynamodb: Pick<typeof DynamoDb, "DynamoDBClient" | "GetItemCommand" | "PutItemCommand">;
  cloudwatch: Pick<typeof CloudWatch, "CloudWatchClient" | "GetMetricDataCommand">;
  ssm: Pick<typeof Ssm, "SSMClient" | "GetParameterCommand">;
  /** HTTP/1.1 handler carrying the connect and answer timeouts of the SDK calls. */
  NodeHttpHandler: typeof NodeHttpHandler;
  SignatureV4: typeof SignatureV4;
  /** Needed when HEALTH_READINESS_ROLE_ARN is set. */
  sts?: Pick<typeof Sts, "STSClient" | "AssumeRoleCommand">;
  metrics: MetricsWriter;
  logger: Logger;
}

/** Credentials of `roleArn`, assumed once and renewed five minutes before they expire. */
function assumedRoleCredentials(
  sts: Pick<typeof Sts, "STSClient" | "AssumeRoleCommand">,
  region: string,
  roleArn: string,
  externalId: string | undefined,
  clock: Now,
): () => Promise<AwsCredentials & { expiration?: Date }> {
  const client = new sts.STSClient({ region, ...sdkClientOptions("healthProbe") });
  let cached: (AwsCredentials & { expiration?: Date }) | undefined;
  return async () => {
    if (cached?.expiration && cached.expiration.getTime() - clock() > 300_000) return cached;
    const { credentials, expiration } = await assumeRole(sts, client, {
      roleArn,
      sessionName: "iot-dr-health-readiness",
      durationSeconds: 3600,
      externalId,
    });
    cached = { ...credentials, ...(expiration ? { expiration } : {}) };
    return cached;
  };
}

/**
 * The health-check function (shared-services account, one per region). Environment:
 * HEALTH_REGION, HEALTH_FACTORS (JSON [{name,url}]), HEALTH_POLICY (JSON PolicyConfig),
 * HEALTH_PATH_SECRET_SHA256, HEALTH_STATE_TABLE, HEALTH_OVERRIDE_PARAMETER, HEALTH_DEADLINE_MS,
 * HEALTH_ROUND_MS, HEALTH_MODE (endpoint|alarm), HEALTH_ALARM_INTERVAL_SECONDS,
 * HEALTH_LAG_DIMENSIONS / HEALTH_DRIFT_DIMENSIONS (JSON), HEALTH_READINESS_ROLE_ARN (a role in the
 * IoT services account that may read its metrics), HEALTH_READINESS_CACHE_MS, HEALTH_BACKLOG_DIMENSIONS
 * (JSON: the replication launcher's `{FunctionName}`, whose IteratorAge the fail-back gate reads).
 */
export function aggregatorFromEnv(
  env: Env,
  modules: AggregatorModules,
): { check: HealthCheck; handler: (event: unknown) => Promise<ApiResponse | { rounds: number }> } {
  const region = env.HEALTH_REGION ?? required(env, "AWS_REGION", "the region this health check judges");
  const factors = json<Factor[]>(
    env,
    "HEALTH_FACTORS",
    'a JSON list like [{"name":"iotBroker","url":"https://..."}]',
  );
  const policy = json<PolicyConfig>(env, "HEALTH_POLICY", "the JSON policy the HealthCheck component writes");
  const mode = env.HEALTH_MODE ?? "endpoint";
  if (mode !== "endpoint" && mode !== "alarm")
    throw new Error(`environment variable HEALTH_MODE must be endpoint or alarm, got '${mode}'`);
  const clock = () => Date.now();
  const transport = createNodeTransport({ http: modules.http, https: modules.https });
  const credentials = environmentCredentials(env);
  const lambdaSigner = createSigV4Signer({
    SignatureV4: modules.SignatureV4,
    crypto: modules.crypto,
    credentials,
    region,
    service: "lambda",
  });
  const ssmEndpoint = endpointOverride(env, "ssm");
  const ssm = new modules.ssm.SSMClient({
    region,
    credentials,
    ...(ssmEndpoint ? { endpoint: ssmEndpoint } : {}),
    maxAttempts: CALL_DEADLINES.healthProbe.maxAttempts,
    // Backstops inside the round's deadline; the round's abort signal ends the call first.
    requestHandler: new modules.NodeHttpHandler(sdkClientOptions("healthProbe").requestHandler),
  });
  const dynamo = new modules.dynamodb.DynamoDBClient({ region, ...sdkClientOptions("healthProbe") });
  // Replay and the reconciler publish their metrics in the IoT services account: read them through
  // a role there when one is configured (CloudWatch metrics do not cross accounts by themselves).
  const readinessRole = env.HEALTH_READINESS_ROLE_ARN;
  if (readinessRole && !modules.sts)
    throw new Error("HEALTH_READINESS_ROLE_ARN is set but no STS module was passed in");
  const cloudwatch = new modules.cloudwatch.CloudWatchClient({
    region,
    ...sdkClientOptions("healthProbe"),
    ...(readinessRole && modules.sts
      ? {
          credentials: assumedRoleCredentials(
            modules.sts,
            region,
            readinessRole,
            env.HEALTH_READINESS_EXTERNAL_ID,
            clock,
          ),
        }
      : {}),
  });
  const check = createHealthCheck({
    region,
    factors,
    policy,
    transport,
    sign: lambdaSigner,
    clock,
    logger: modules.logger,
    store: dynamoStateStore({
      tableName: required(env, "HEALTH_STATE_TABLE", "the DynamoDB table of the hysteresis state"),
      key: `region#${region}`,
      api: {
        getItem: async (input, signal) =>
          dynamo.send(new modules.dynamodb.GetItemCommand(input), { abortSignal: signal }),
        putItem: async (input, signal) => {
          await dynamo.send(new modules.dynamodb.PutItemCommand(input as never), { abortSignal: signal });
        },
      },
    }),
    getOverride: cachedGetter(
      ssmOverrideGetter({
        getParameter: (input, signal) =>
          ssm.send(new modules.ssm.GetParameterCommand(input), { abortSignal: signal }),
        parameterName: required(
          env,
          "HEALTH_OVERRIDE_PARAMETER",
          "the SSM parameter operators set to force or forbid fail-over",
        ),
      }),
      2_000,
      clock,
    ),
    getReadiness: cachedGetter(
      cloudWatchReadinessGetter({
        clock,
        ...(env.HEALTH_LAG_DIMENSIONS
          ? {
              lagDimensions: json<Record<string, string>>(
                env,
                "HEALTH_LAG_DIMENSIONS",
                "a JSON object of dimensions",
              ),
            }
          : {}),
        ...(env.HEALTH_DRIFT_DIMENSIONS
          ? {
              driftDimensions: json<Record<string, string>>(
                env,
                "HEALTH_DRIFT_DIMENSIONS",
                "a JSON object of dimensions",
              ),
            }
          : {}),
        ...(env.HEALTH_BACKLOG_DIMENSIONS
          ? {
              backlogDimensions: json<Record<string, string>>(
                env,
                "HEALTH_BACKLOG_DIMENSIONS",
                'a JSON object of the launcher\'s dimensions, e.g. {"FunctionName":"iot-dr-launcher"}',
              ),
            }
          : {}),
        getMetricData: (input, signal) =>
          cloudwatch.send(new modules.cloudwatch.GetMetricDataCommand(input), { abortSignal: signal }),
      }),
      integer(env, "HEALTH_READINESS_CACHE_MS", 15_000),
      clock,
    ),
    emit: (round) => modules.metrics.write(roundMetricPoints(round)),
    secretMatches:
      mode === "endpoint"
        ? createSecretMatcher(
            modules.crypto,
            required(env, "HEALTH_PATH_SECRET_SHA256", "the SHA-256 of the Route 53 path secret"),
          )
        : () => false,
    deadlineMs: integer(env, "HEALTH_DEADLINE_MS", 1500),
    roundMs: integer(env, "HEALTH_ROUND_MS", 1000),
  });
  const intervalMs = integer(env, "HEALTH_ALARM_INTERVAL_SECONDS", 10) * 1000;
  return {
    check,
    handler: async (event) => {
      const request = event as FunctionUrlEvent;
      if (request?.requestContext?.http) {
        return check.handle({
          method: request.requestContext.http.method ?? "",
          path: request.rawPath ?? "",
        });
      }
      if (mode !== "alarm") return bareStatus(400);
      // A scheduled invocation a minute: one round per alarm period until the next one starts.
      const decisions = await runRounds(check, {
        durationMs: 60_000 - intervalMs / 2,
        intervalMs,
        clock,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      });
      return { rounds: decisions.length };
    },
  };
}

export interface HealthApiModules {
  http: typeof NodeHttp;
  https: typeof NodeHttps;
  mqtt?: typeof Mqtt;
  dynamodb?: Pick<typeof DynamoDb, "DynamoDBClient" | "DescribeTableCommand">;
  eventbridge?: Pick<typeof EventBridge, "EventBridgeClient" | "DescribeEventBusCommand">;
  secretsManager?: Pick<typeof SecretsManager, "SecretsManagerClient" | "GetSecretValueCommand">;
  /** Named probes the deployment plugs in (application, C&C and analytics dependencies). */
  probes?: Record<string, Probe>;
  logger: Logger;
}

/**
 * One account's health API. Environment: HEALTH_CHECKPOINTS (JSON list of checkpoint specs),
 * HEALTH_API_FACTORS (JSON list of the factors it answers for).
 */
export function healthApiFromEnv(
  env: Env,
  modules: HealthApiModules,
): (event: unknown) => Promise<ApiResponse> {
  const specs = parseCheckpointSpecs(
    json<unknown>(env, "HEALTH_CHECKPOINTS", "the JSON list of checkpoint specs"),
  );
  const region = env.AWS_REGION;
  const dynamo = modules.dynamodb
    ? new modules.dynamodb.DynamoDBClient({ region, ...sdkClientOptions("healthProbe") })
    : undefined;
  const events = modules.eventbridge
    ? new modules.eventbridge.EventBridgeClient({ region, ...sdkClientOptions("healthProbe") })
    : undefined;
  const secrets = modules.secretsManager
    ? new modules.secretsManager.SecretsManagerClient({ region, ...sdkClientOptions("healthProbe") })
    : undefined;
  const secretCache = new Map<string, { value: string | undefined; at: number }>();
  const checkpoints = buildCheckpoints(specs, {
    transport: createNodeTransport({ http: modules.http, https: modules.https }),
    ...(modules.mqtt ? { mqtt: modules.mqtt } : {}),
    ...(modules.probes ? { probes: modules.probes } : {}),
    ...(dynamo && modules.dynamodb
      ? {
          describeTable: async (TableName: string, signal: AbortSignal) =>
            (
              await dynamo.send(new modules.dynamodb!.DescribeTableCommand({ TableName }), {
                abortSignal: signal,
              })
            ).Table?.TableStatus,
        }
      : {}),
    ...(events && modules.eventbridge
      ? {
          describeEventBus: async (Name: string, signal: AbortSignal) => {
            await events.send(new modules.eventbridge!.DescribeEventBusCommand({ Name }), {
              abortSignal: signal,
            });
          },
        }
      : {}),
    ...(secrets && modules.secretsManager
      ? {
          // The identity changes rarely; re-read every 5 minutes so that a rotation takes effect.
          getSecret: async (SecretId: string, signal: AbortSignal) => {
            const hit = secretCache.get(SecretId);
            if (hit && Date.now() - hit.at < 300_000) return hit.value;
            const out = await secrets.send(new modules.secretsManager!.GetSecretValueCommand({ SecretId }), {
              abortSignal: signal,
            });
            secretCache.set(SecretId, { value: out.SecretString, at: Date.now() });
            return out.SecretString;
          },
        }
      : {}),
  });
  const factors = env.HEALTH_API_FACTORS
    ? json<string[]>(env, "HEALTH_API_FACTORS", "a JSON list of factor names")
    : [];
  const api = createHealthApi({ checkpoints, factors, clock: () => Date.now(), logger: modules.logger });
  return async (event) => {
    const request = event as FunctionUrlEvent;
    return api({ method: request?.requestContext?.http?.method ?? "", path: request?.rawPath ?? "" });
  };
}

export interface NotifierModules {
  sts: Pick<typeof Sts, "STSClient" | "AssumeRoleCommand">;
  iotData: Pick<typeof IotDataPlane, "IoTDataPlaneClient" | "PublishCommand">;
  /** HTTP/1.1 handler carrying the connect and answer timeouts of the publish. */
  NodeHttpHandler: typeof NodeHttpHandler;
  logger: Logger;
}

/** Per region: the IoT data endpoint and the role in the IoT account allowed to publish the notice. */
export interface NoticeTarget {
  region: string;
  dataEndpoint: string;
  roleArn?: string;
}

/** The stacks export the IoT data endpoint as a bare host (`<prefix>-ats.iot.<region>.amazonaws.com`). */
export function dataPlaneUrl(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint : `https://${endpoint}`;
}

/**
 * The fail-over notifier. Environment: NOTICE_TOPIC, NOTICE_TARGETS (JSON [{region,
 * dataEndpoint, roleArn}]), NOTICE_ALARMS (JSON [{alarmName, region}]), NOTICE_EXTERNAL_ID,
 * NOTICE_SPREAD_MS (optional: the window devices spread their moves over).
 */
export function notifierFromEnv(env: Env, modules: NotifierModules): (event: unknown) => Promise<unknown> {
  const topic = required(env, "NOTICE_TOPIC", "the MQTT topic devices listen on for fail-over notices");
  const targets = json<NoticeTarget[]>(
    env,
    "NOTICE_TARGETS",
    "a JSON list of {region, dataEndpoint, roleArn}",
  );
  const alarms = json<AlarmRegion[]>(env, "NOTICE_ALARMS", "a JSON list of {alarmName, region}");
  const spreadMs = env.NOTICE_SPREAD_MS === undefined ? undefined : Number(env.NOTICE_SPREAD_MS);
  if (spreadMs !== undefined && !(Number.isInteger(spreadMs) && spreadMs >= 0))
    throw new Error(`NOTICE_SPREAD_MS must be a whole number of ms >= 0, got '${env.NOTICE_SPREAD_MS}'`);
  const sts = new modules.sts.STSClient(sdkClientOptions("notice"));
  const clients: Record<string, InstanceType<NotifierModules["iotData"]["IoTDataPlaneClient"]>> = {};
  const credentialsFor = async (target: NoticeTarget): Promise<AwsCredentials> => {
    if (!target.roleArn) return environmentCredentials(env)();
    return assumedRole(modules.sts, sts, target.roleArn, "iot-dr-failover-notice", env.NOTICE_EXTERNAL_ID)();
  };
  return (event) =>
    handleAlarmEvent(event as Parameters<typeof handleAlarmEvent>[0], {
      regions: targets.map((t) => t.region),
      alarms,
      topic,
      ...(spreadMs !== undefined ? { spreadMs } : {}),
      logger: modules.logger,
      publish: async (region, noticeTopic, payload) => {
        const target = targets.find((t) => t.region === region)!;
        const client = (clients[region] ??= new modules.iotData.IoTDataPlaneClient({
          region,
          endpoint: dataPlaneUrl(target.dataEndpoint),
          credentials: () => credentialsFor(target),
          maxAttempts: CALL_DEADLINES.notice.maxAttempts,
          requestHandler: new modules.NodeHttpHandler(sdkClientOptions("notice").requestHandler),
        }));
        await iotDataPublish({
          publish: (input, signal) =>
            client.send(new modules.iotData.PublishCommand(input), signal ? { abortSignal: signal } : {}),
          topic: noticeTopic,
          payload,
          retain: true,
          signal: AbortSignal.timeout(5_000),
        });
      },
    });
}
