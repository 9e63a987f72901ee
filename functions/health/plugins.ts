/**
 * The probes the deployment plugs into the health APIs (DESIGN.md §4, §5): the application
 * services' (IoT services account), the C&C API's and the analytics account's, each built from a
 * JSON config in the environment and the modules the callback `require()`s inside its body. Every
 * AWS call goes through an SDK v3 client with one attempt, connect and answer timeouts inside the
 * health API's deadline, and the probe's abort signal.
 */
import { CALL_DEADLINES } from "../deadlines.js";
import type * as DynamoDb from "@aws-sdk/client-dynamodb";
import type * as EventBridge from "@aws-sdk/client-eventbridge";
import type * as Kinesis from "@aws-sdk/client-kinesis";
import type * as Lambda from "@aws-sdk/client-lambda";
import type * as S3 from "@aws-sdk/client-s3";
import type * as Sqs from "@aws-sdk/client-sqs";
import type { NodeHttpHandler } from "@smithy/node-http-handler";
import {
  analyticsPortsFromSdk,
  analyticsProbes,
  type AnalyticsCheckpointConfig,
} from "../analytics/checkpoints.js";
import { appProbes, appTablePortsFromSdk, type AppCheckpointConfig } from "../app/checkpoints.js";
import { endpointOverride, json, required, type Env } from "../shared/env.js";
import type { Probe } from "./probes.js";

/** Lambda sets AWS_REGION. */
const regionOf = (env: Env) => required(env, "AWS_REGION", "the function's region (Lambda sets it)");

/**
 * Backstops of every probe's SDK call (each also gets the probe's abort signal): a probe answers
 * well inside the health-check function's deadline, which answers inside Route 53's budget
 * (connect 4 s, respond 2 s).
 */
export const PROBE_HTTP_TIMEOUTS = {
  connectionTimeout: CALL_DEADLINES.healthProbe.connectionTimeoutMs,
  requestTimeout: CALL_DEADLINES.healthProbe.requestTimeoutMs,
  // Without it the SDK only logs a warning when requestTimeout passes and keeps waiting.
  throwOnRequestTimeout: true,
} as const;

/** The SDK clients the C&C and application probes use besides DynamoDB. */
export interface SdkProbeModules {
  lambda: Pick<typeof Lambda, "LambdaClient" | "GetFunctionConfigurationCommand">;
  s3: Pick<typeof S3, "S3Client" | "HeadBucketCommand">;
  kinesis: Pick<typeof Kinesis, "KinesisClient" | "DescribeStreamSummaryCommand">;
  /** HTTP/1.1 handler: Kinesis' default HTTP/2 handler is not needed for a describe call. */
  NodeHttpHandler: typeof NodeHttpHandler;
}

/**
 * Names the call in a refused SDK request: a HEAD answer has no body, so S3's own error reads
 * only `NotFound: UnknownError`. Aborts and timeouts pass through unchanged.
 */
async function naming<T>(call: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === undefined) throw err;
    throw new Error(`${call} answered HTTP ${status} (${(err as Error).name})`, { cause: err });
  }
}

/** Lambda GetFunctionConfiguration, S3 HeadBucket and Kinesis DescribeStreamSummary through SDK v3 clients. */
export function sdkAwsPorts(
  env: Env,
  modules: Partial<SdkProbeModules> & Pick<SdkProbeModules, "NodeHttpHandler">,
): {
  functionState(functionName: string, signal: AbortSignal): Promise<string>;
  headBucket(bucketName: string, signal: AbortSignal): Promise<void>;
  streamStatus(streamName: string, signal: AbortSignal): Promise<string>;
} {
  const region = regionOf(env);
  const common = () => ({
    region,
    maxAttempts: CALL_DEADLINES.healthProbe.maxAttempts,
    requestHandler: new modules.NodeHttpHandler(PROBE_HTTP_TIMEOUTS),
  });
  const given = <K extends "lambda" | "s3" | "kinesis">(key: K): SdkProbeModules[K] => {
    const m = modules[key] as SdkProbeModules[K] | undefined;
    if (!m) throw new Error(`the probe needs @aws-sdk/client-${key}: require it in the callback's modules`);
    return m;
  };
  // Each client is made on its probe's first call, so a probe set without S3 needs no S3 module.
  const once = <T>(make: () => T): (() => T) => {
    let made: T | undefined;
    return () => (made ??= make());
  };
  const lambda = once(() => new (given("lambda").LambdaClient)(common()));
  // Path style against an endpoint override (emulators); virtual-hosted style on AWS.
  const s3 = once(
    () =>
      new (given("s3").S3Client)({ ...common(), forcePathStyle: endpointOverride(env, "s3") !== undefined }),
  );
  const kinesis = once(() => new (given("kinesis").KinesisClient)(common()));
  return {
    async functionState(functionName, signal) {
      const sdk = given("lambda");
      const out = await naming(`Lambda GetFunctionConfiguration ${functionName}`, () =>
        lambda().send(new sdk.GetFunctionConfigurationCommand({ FunctionName: functionName }), {
          abortSignal: signal,
        }),
      );
      // Functions created before Lambda reported states have none: they are active.
      return out.State ?? "Active";
    },
    async headBucket(bucketName, signal) {
      const sdk = given("s3");
      await naming(`S3 HeadBucket ${bucketName}`, () =>
        s3().send(new sdk.HeadBucketCommand({ Bucket: bucketName }), { abortSignal: signal }),
      );
    },
    async streamStatus(streamName, signal) {
      const sdk = given("kinesis");
      const out = await naming(`Kinesis DescribeStreamSummary ${streamName}`, () =>
        kinesis().send(new sdk.DescribeStreamSummaryCommand({ StreamName: streamName }), {
          abortSignal: signal,
        }),
      );
      return out.StreamDescriptionSummary?.StreamStatus ?? "UNKNOWN";
    },
  };
}

export interface AppProbeModules extends Pick<SdkProbeModules, "lambda" | "s3" | "NodeHttpHandler"> {
  dynamodb: Pick<typeof DynamoDb, "DynamoDBClient" | "DescribeTableCommand" | "GetItemCommand">;
}

/** Probes of the application services from APP_PROBE_CONFIG (JSON AppCheckpointConfig). */
export function appProbesFromEnv(env: Env, modules: AppProbeModules): Record<string, Probe> {
  const config = json<AppCheckpointConfig>(
    env,
    "APP_PROBE_CONFIG",
    "the JSON { tableName, bucketName, functionNames, peerRegion } the stack writes",
  );
  const region = regionOf(env);
  const client = new modules.dynamodb.DynamoDBClient({
    region,
    maxAttempts: CALL_DEADLINES.healthProbe.maxAttempts,
    requestHandler: new modules.NodeHttpHandler(PROBE_HTTP_TIMEOUTS),
  });
  return appProbes(config, {
    ...appTablePortsFromSdk(modules.dynamodb, client),
    ...sdkAwsPorts(env, modules),
  });
}

/** The C&C account's probes from CC_PROBE_CONFIG (JSON { functionName }): `cc-function` is Active. */
export function commandControlProbesFromEnv(
  env: Env,
  modules: Pick<SdkProbeModules, "lambda" | "NodeHttpHandler">,
): Record<string, Probe> {
  const config = json<{ functionName: string }>(
    env,
    "CC_PROBE_CONFIG",
    "the JSON { functionName } the stack writes",
  );
  const ports = sdkAwsPorts(env, modules);
  return {
    "cc-function": async (signal) => {
      const state = await ports.functionState(config.functionName, signal);
      if (state !== "Active") throw new Error(`the command function is ${state}`);
    },
  };
}

export interface AnalyticsProbeModules extends Pick<SdkProbeModules, "kinesis" | "NodeHttpHandler"> {
  eventbridge: Pick<typeof EventBridge, "EventBridgeClient" | "DescribeEventBusCommand" | "PutEventsCommand">;
  sqs: Pick<typeof Sqs, "SQSClient" | "GetQueueAttributesCommand">;
}

/** The analytics account's probes from ANALYTICS_PROBE_CONFIG (JSON AnalyticsCheckpointConfig). */
export function analyticsProbesFromEnv(env: Env, modules: AnalyticsProbeModules): Record<string, Probe> {
  const config = json<AnalyticsCheckpointConfig>(
    env,
    "ANALYTICS_PROBE_CONFIG",
    "the JSON { eventBusName, streamName, deadLetterQueueUrls } the stack writes",
  );
  const region = regionOf(env);
  return analyticsProbes(
    config,
    analyticsPortsFromSdk({
      eventbridge: modules.eventbridge,
      sqs: modules.sqs,
      clients: {
        eventbridge: new modules.eventbridge.EventBridgeClient({
          region,
          maxAttempts: CALL_DEADLINES.healthProbe.maxAttempts,
          requestHandler: new modules.NodeHttpHandler(PROBE_HTTP_TIMEOUTS),
        }),
        sqs: new modules.sqs.SQSClient({
          region,
          maxAttempts: CALL_DEADLINES.healthProbe.maxAttempts,
          requestHandler: new modules.NodeHttpHandler(PROBE_HTTP_TIMEOUTS),
        }),
      },
      streamStatus: sdkAwsPorts(env, modules).streamStatus,
    }),
  );
}
