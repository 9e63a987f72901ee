/**
 * The probes the deployment plugs into the health APIs (DESIGN.md §4, §5): the application
 * services' (IoT services account), the C&C API's and the analytics account's, each built from a
 * JSON config in the environment and the modules the callback `require()`s inside its body. S3
 * HeadBucket, Lambda GetFunctionConfiguration and Kinesis DescribeStreamSummary go over the health
 * path's signed HTTP transport (as SSM does), so the health API needs no S3, Lambda or Kinesis
 * client in its package.
 */
import type * as NodeCrypto from "node:crypto";
import type * as NodeHttp from "node:http";
import type * as NodeHttps from "node:https";
import type * as DynamoDb from "@aws-sdk/client-dynamodb";
import type * as EventBridge from "@aws-sdk/client-eventbridge";
import type * as Sqs from "@aws-sdk/client-sqs";
import type { SignatureV4 } from "@smithy/signature-v4";
import {
  analyticsPortsFromSdk,
  analyticsProbes,
  type AnalyticsCheckpointConfig,
} from "../analytics/checkpoints.js";
import { appProbes, appTablePortsFromSdk, type AppCheckpointConfig } from "../app/checkpoints.js";
import type { RequestSigner } from "./aggregator.js";
import { createSigV4Signer, environmentCredentials } from "./aws.js";
import { createNodeTransport, type HttpTransport } from "./http.js";
import { endpointOverride, json, required, serviceEndpoint, type Env } from "./env.js";
import type { Probe } from "./probes.js";

/** Lambda sets AWS_REGION. */
const regionOf = (env: Env) => required(env, "AWS_REGION", "the function's region (Lambda sets it)");

export interface SignedHttpModules {
  crypto: typeof NodeCrypto;
  http: typeof NodeHttp;
  https: typeof NodeHttps;
  SignatureV4: typeof SignatureV4;
}

/** Lambda GetFunctionConfiguration and S3 HeadBucket over signed HTTP. */
export function signedAwsPorts(
  env: Env,
  modules: SignedHttpModules,
  transport: HttpTransport = createNodeTransport({ http: modules.http, https: modules.https }),
): {
  functionState(functionName: string, signal: AbortSignal): Promise<string>;
  headBucket(bucketName: string, signal: AbortSignal): Promise<void>;
  streamStatus(streamName: string, signal: AbortSignal): Promise<string>;
} {
  const region = regionOf(env);
  const credentials = environmentCredentials(env);
  const signer = (service: string): RequestSigner =>
    createSigV4Signer({
      SignatureV4: modules.SignatureV4,
      crypto: modules.crypto,
      credentials,
      region,
      service,
    });
  const lambda = signer("lambda");
  const s3 = signer("s3");
  const kinesis = signer("kinesis");
  const kinesisEndpoint = serviceEndpoint(env, "kinesis", region);
  const lambdaEndpoint = serviceEndpoint(env, "lambda", region);
  const s3Endpoint = endpointOverride(env, "s3");
  return {
    async functionState(functionName, signal) {
      const request = await lambda({
        method: "GET",
        url: `${lambdaEndpoint.replace(/\/$/, "")}/2015-03-31/functions/${encodeURIComponent(functionName)}/configuration`,
      });
      const response = await transport({ ...request, signal });
      if (response.status !== 200)
        throw new Error(`Lambda GetFunctionConfiguration ${functionName} answered HTTP ${response.status}`);
      const body = JSON.parse(response.body) as { State?: string };
      // Functions created before Lambda reported states have none: they are active.
      return body.State ?? "Active";
    },
    async headBucket(bucketName, signal) {
      // Virtual-hosted style on AWS; path style against an endpoint override (emulators).
      const url = s3Endpoint
        ? `${s3Endpoint.replace(/\/$/, "")}/${encodeURIComponent(bucketName)}`
        : `https://${bucketName}.s3.${region}.amazonaws.com/`;
      const request = await s3({ method: "HEAD", url });
      const response = await transport({ ...request, signal });
      if (response.status !== 200)
        throw new Error(`S3 HeadBucket ${bucketName} answered HTTP ${response.status}`);
    },
    async streamStatus(streamName, signal) {
      const request = await kinesis({
        method: "POST",
        url: `${kinesisEndpoint.replace(/\/$/, "")}/`,
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": "Kinesis_20131202.DescribeStreamSummary",
        },
        body: JSON.stringify({ StreamName: streamName }),
      });
      const response = await transport({ ...request, signal });
      if (response.status !== 200)
        throw new Error(`Kinesis DescribeStreamSummary ${streamName} answered HTTP ${response.status}`);
      const body = JSON.parse(response.body) as { StreamDescriptionSummary?: { StreamStatus?: string } };
      return body.StreamDescriptionSummary?.StreamStatus ?? "UNKNOWN";
    },
  };
}

export interface AppProbeModules extends SignedHttpModules {
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
  const client = new modules.dynamodb.DynamoDBClient({ region, maxAttempts: 1 });
  return appProbes(config, {
    ...appTablePortsFromSdk(modules.dynamodb, client),
    ...signedAwsPorts(env, modules),
  });
}

/** The C&C account's probes from CC_PROBE_CONFIG (JSON { functionName }): `cc-function` is Active. */
export function commandControlProbesFromEnv(env: Env, modules: SignedHttpModules): Record<string, Probe> {
  const config = json<{ functionName: string }>(
    env,
    "CC_PROBE_CONFIG",
    "the JSON { functionName } the stack writes",
  );
  const ports = signedAwsPorts(env, modules);
  return {
    "cc-function": async (signal) => {
      const state = await ports.functionState(config.functionName, signal);
      if (state !== "Active") throw new Error(`the command function is ${state}`);
    },
  };
}

export interface AnalyticsProbeModules extends SignedHttpModules {
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
        eventbridge: new modules.eventbridge.EventBridgeClient({ region, maxAttempts: 1 }),
        sqs: new modules.sqs.SQSClient({ region, maxAttempts: 1 }),
      },
      // Over signed HTTP/1.1: no Kinesis client (and its HTTP/2 handler) in the health API's package.
      streamStatus: signedAwsPorts(env, modules).streamStatus,
    }),
  );
}
