import * as crypto from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import { CloudWatchClient, GetMetricDataCommand, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { IoTDataPlaneClient, PublishCommand } from "@aws-sdk/client-iot-data-plane";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredRound } from "../../functions/health/aggregator.js";
import {
  cachedGetter,
  cloudWatchReadinessGetter,
  createSigV4Signer,
  dynamoStateStore,
  iotDataPublish,
  type DataPlanePublish,
  ssmOverrideGetter,
} from "../../functions/health/aws.js";
import { silentLogger } from "../../functions/health/http.js";
import { aggregatorFromEnv, type MetricsWriter } from "../../functions/health/runtime.js";
import { useMoto } from "../support/useMoto.js";
import { factorHandler, policy, startServer, type LoopbackServer } from "./support.js";
import { createPkTable } from "../support/tables.js";

const REGION = "eu-west-1";
const credentials = async () => ({
  accessKeyId: "testing",
  secretAccessKey: "testing",
  sessionToken: "token-1",
});
const signerFor = (service: string) =>
  createSigV4Signer({ SignatureV4, crypto, credentials, region: REGION, service });

const moto = useMoto({ resetBeforeEach: false });
let dynamo: DynamoDBClient;
let ssm: SSMClient;
const servers: LoopbackServer[] = [];

beforeAll(async () => {
  dynamo = new DynamoDBClient(moto.clientConfig(REGION));
  ssm = new SSMClient(moto.clientConfig(REGION));
  await createPkTable(dynamo, "health-state");
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function setOverride(name: string, value: string): Promise<void> {
  await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: "String", Overwrite: true }));
}

const round = (n: number, healthy = true): StoredRound => ({
  state: { healthy, failures: 0, successes: 0, round: n },
  healthy,
  body: `{"round":${n}}`,
});

describe("the hysteresis state lives in one DynamoDB item written with compare-and-set", () => {
  const store = () =>
    dynamoStateStore({
      tableName: "health-state",
      key: "region#eu-west-1",
      api: {
        getItem: (input, signal) => dynamo.send(new GetItemCommand(input), { abortSignal: signal }),
        putItem: async (input, signal) => {
          await dynamo.send(new PutItemCommand(input as never), { abortSignal: signal });
        },
      },
    });
  const signal = new AbortController().signal;

  it("creates the item once, then only the checker holding the current round may advance it", async () => {
    const s = store();
    expect(await s.get(signal)).toBeUndefined();
    expect(await s.put(round(1), undefined, signal)).toBe(true);
    expect(await s.put(round(1), undefined, signal)).toBe(false);
    expect(await s.put(round(2), 1, signal)).toBe(true);
    // a checker that read round 1 lost the race: its write is refused
    expect(await s.put(round(3, false), 1, signal)).toBe(false);
    expect(await s.get(signal)).toEqual(round(2));
  });
});

describe("the operator's override is an SSM parameter, read without redeploying", () => {
  const getter = (name: string) =>
    ssmOverrideGetter({
      getParameter: (input, signal) => ssm.send(new GetParameterCommand(input), { abortSignal: signal }),
      parameterName: name,
    });
  const signal = new AbortController().signal;

  it("means automatic while the parameter does not exist", async () => {
    expect(await getter("/iot-dr/health/override/none")(signal)).toBe("automatic");
  });

  it("follows the parameter as the operator changes it", async () => {
    const name = "/iot-dr/health/override/eu-west-1";
    await setOverride(name, "force-unhealthy");
    expect(await getter(name)(signal)).toBe("force-unhealthy");
    await setOverride(name, "automatic");
    expect(await getter(name)(signal)).toBe("automatic");
  });

  it("rejects a value it does not know, naming the allowed ones", async () => {
    const name = "/iot-dr/health/override/typo";
    await setOverride(name, "failover");
    await expect(getter(name)(signal)).rejects.toThrow(
      /use one of automatic, force-healthy, force-unhealthy/,
    );
  });
});

describe("readiness comes from the iot-dr CloudWatch metrics", () => {
  it("reads the maximum recent ReplicationLagMs and the latest DriftCount", async () => {
    const cloudwatch = new CloudWatchClient(moto.clientConfig(REGION));
    const now = new Date();
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: "iot-dr",
        MetricData: [
          {
            MetricName: "ReplicationLagMs",
            Value: 900,
            Timestamp: now,
            Dimensions: [{ Name: "Region", Value: REGION }],
          },
          {
            MetricName: "ReplicationLagMs",
            Value: 9000,
            Timestamp: now,
            Dimensions: [{ Name: "Region", Value: REGION }],
          },
          {
            MetricName: "DriftCount",
            Value: 4,
            Timestamp: now,
            Dimensions: [{ Name: "Region", Value: REGION }],
          },
        ],
      }),
    );
    const getter = cloudWatchReadinessGetter({
      clock: () => Date.now() + 60_000,
      lagDimensions: { Region: REGION },
      driftDimensions: { Region: REGION },
      getMetricData: (input, signal) =>
        cloudwatch.send(new GetMetricDataCommand(input), { abortSignal: signal }),
    });
    expect(await getter(new AbortController().signal)).toEqual({
      lagMs: 9000,
      drift: 4,
      // When the reconciler pass that published it ran: the fail-back gate wants one after a recovery.
      driftAt: expect.any(Number),
    });
    const elsewhere = cloudWatchReadinessGetter({
      clock: () => Date.now() + 60_000,
      lagDimensions: { Region: "us-west-2" },
      driftDimensions: { Region: "us-west-2" },
      getMetricData: (input, signal) =>
        cloudwatch.send(new GetMetricDataCommand(input), { abortSignal: signal }),
    });
    expect(await elsewhere(new AbortController().signal)).toEqual({});
  });
});

/** The notifier's data-plane client (runtime.ts) pointed at a loopback server. */
const publisherAt = (endpoint: string) => {
  const client = new IoTDataPlaneClient({
    region: REGION,
    endpoint,
    credentials,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 2000, requestTimeout: 3000 }),
  });
  const publish: DataPlanePublish = (input, signal) =>
    client.send(new PublishCommand(input), signal ? { abortSignal: signal } : {});
  return publish;
};

describe("cross-account calls are SigV4-signed", () => {
  it("signs for the service and region with the session token of the role", async () => {
    const signed = await signerFor("lambda")({
      method: "GET",
      url: "https://abc.lambda-url.eu-west-1.on.aws/iotBroker",
    });
    expect(signed.headers?.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=testing\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=.*host.*, Signature=[0-9a-f]{64}$/,
    );
    expect(signed.headers?.["x-amz-security-token"]).toBe("token-1");
  });

  it("publishes a notice through the IoT data plane with the topic in the path", async () => {
    const seen: Array<{ url?: string; auth?: string; body: string }> = [];
    const server = await startServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen.push({ url: req.url, auth: req.headers.authorization as string, body });
        res.writeHead(200).end("{}");
      });
    });
    servers.push(server);
    await iotDataPublish({
      publish: publisherAt(server.url),
      topic: "dr/failover/notice",
      payload: '{"type":"failover"}',
    });
    expect(seen).toEqual([
      {
        url: "/topics/dr%2Ffailover%2Fnotice?qos=1",
        auth: expect.stringContaining("/iotdata/aws4_request"),
        body: '{"type":"failover"}',
      },
    ]);
  });

  /** Publishes "{}" to the notice topic through a data plane that answers with `handler`. */
  async function publishThrough(handler: http.RequestListener, options: { signal?: AbortSignal } = {}) {
    const server = await startServer(handler);
    servers.push(server);
    return iotDataPublish({
      publish: publisherAt(server.url),
      topic: "dr/failover/notice",
      payload: "{}",
      ...options,
    });
  }

  it("reports a refused publish with the topic and status", async () => {
    await expect(publishThrough((_req, res) => res.writeHead(403).end())).rejects.toThrow(
      "IoT Publish to 'dr/failover/notice' answered HTTP 403",
    );
  });

  it("gives up on a data plane that does not answer, within the publish's deadline", async () => {
    await expect(publishThrough(() => undefined, { signal: AbortSignal.timeout(300) })).rejects.toThrow(
      /abort/i,
    );
  });
});

describe("cached getters", () => {
  it("call the source once per time-to-live", async () => {
    let now = 0;
    let calls = 0;
    const get = cachedGetter(
      async () => ++calls,
      1000,
      () => now,
    );
    const signal = new AbortController().signal;
    expect([await get(signal), await get(signal)]).toEqual([1, 1]);
    now = 1000;
    expect(await get(signal)).toBe(2);
  });
});

describe("the deployed health-check handler, wired from its environment against moto", () => {
  const SECRET = "route53-only-path-secret";
  async function handlerWith(extraEnv: Record<string, string> = {}) {
    const factors = [];
    for (const name of ["iotBroker", "applicationServices", "commandControl", "analytics"]) {
      const server = await startServer(factorHandler("healthy"));
      servers.push(server);
      factors.push({ name, url: `${server.url}/${name}` });
    }
    const written: Array<{ name: string; value: number }> = [];
    const metrics: MetricsWriter = {
      write: (points) => written.push(...points.map((p) => ({ name: p.name, value: p.value }))),
    };
    const { handler } = aggregatorFromEnv(
      {
        ...moto.env(REGION),
        AWS_SESSION_TOKEN: "token",
        HEALTH_REGION: REGION,
        HEALTH_FACTORS: JSON.stringify(factors),
        HEALTH_POLICY: JSON.stringify(policy()),
        HEALTH_PATH_SECRET_SHA256: crypto.createHash("sha256").update(SECRET).digest("hex"),
        HEALTH_STATE_TABLE: "health-state",
        HEALTH_OVERRIDE_PARAMETER: "/iot-dr/health/override/e2e",
        HEALTH_ROUND_MS: "1",
        ...extraEnv,
      },
      {
        crypto,
        http,
        https,
        dynamodb: { DynamoDBClient, GetItemCommand, PutItemCommand },
        cloudwatch: { CloudWatchClient, GetMetricDataCommand },
        ssm: { SSMClient, GetParameterCommand },
        NodeHttpHandler,
        SignatureV4,
        metrics,
        logger: silentLogger,
      },
    );
    return { handler, written };
  }
  const urlEvent = (path: string, method = "GET") => ({
    rawPath: path,
    requestContext: { http: { method } },
  });

  it("answers 200 on the secret path, 404 elsewhere, and writes factor metrics", async () => {
    const { handler, written } = await handlerWith();
    expect(await handler(urlEvent(`/${SECRET}`))).toMatchObject({ statusCode: 200 });
    expect(await handler(urlEvent("/wrong"))).toEqual({
      statusCode: 404,
      headers: { "cache-control": "no-store" },
      body: "",
    });
    expect(written.filter((p) => p.name === "FactorHealthy")).toHaveLength(4);
  });

  it("answers 503 once the operator forces the region unhealthy", async () => {
    await setOverride("/iot-dr/health/override/e2e", "force-unhealthy");
    const { handler } = await handlerWith();
    const answer = (await handler(urlEvent(`/${SECRET}`))) as { statusCode: number; body: string };
    expect(answer.statusCode).toBe(503);
    expect(JSON.parse(answer.body).reason).toContain("override force-unhealthy");
    await setOverride("/iot-dr/health/override/e2e", "automatic");
  });

  it("names a missing environment variable", async () => {
    await expect(handlerWith({ HEALTH_STATE_TABLE: "" })).rejects.toThrow(/HEALTH_STATE_TABLE is not set/);
    await expect(handlerWith({ HEALTH_MODE: "dns" })).rejects.toThrow(
      /HEALTH_MODE must be endpoint or alarm/,
    );
  });
});
