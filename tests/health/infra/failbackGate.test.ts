/**
 * The fail-back gate as deployed: the health-check function's serialized code, in a fresh Node
 * process, against moto (state table, CloudWatch metrics) and loopback health APIs. A recovered
 * region reads unhealthy to Route 53 until the reverse catch-up is proven from the metrics the
 * stacks point it at (the reconciler's DriftCount, the replication launcher's IteratorAge).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import * as crypto from "node:crypto";
import type * as http from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import { createSigV4Signer } from "../../../functions/health/aws.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheck } from "../../../infra/healthCheck.js";
import { serializedCallback, startSerialized, type WarmFunction } from "../../support/serialized.js";
import { useMoto } from "../../support/useMoto.js";
import { named, provider, SHARED_ACCOUNT, underMocks } from "../mocks.js";
import { policy, startServer, transport, type LoopbackServer } from "../support.js";
import { emfLines, extractEmf } from "../../support/emf.js";
import { DRIFT_METRIC } from "../../../functions/reconcile/scheduled.js";
import { createPkTable } from "../../support/tables.js";

const SECRET = "a-route53-path-secret-of-32-chars";
const REGION = "eu-west-1";
const LAUNCHER = "iot-dr-primary-replay-launcher";
const NAMES = ["iotBroker", "applicationServices", "commandControl", "analytics"];

describe("the deployed fail-back gate", async () => {
  const run = await underMocks(() => {
    const shared = provider("shared-primary", REGION, SHARED_ACCOUNT);
    return new HealthCheck(
      "health-check",
      {
        region: REGION,
        factors: NAMES.map((name, i) => ({
          name,
          url: `https://api${i}.lambda-url.${REGION}.on.aws/${name}`,
          functionArn: `arn:aws:lambda:${REGION}:11111111111${i}:function:health-${i}`,
        })),
        // What stacks/regional.ts deploys for the primary: no standby gate, the fail-back gate on.
        policy: policy({ failbackGate: true, maxLagMs: 60_000, maxDrift: 0 }),
        pathSecret: SECRET,
        backlogDimensions: { FunctionName: LAUNCHER },
      },
      { provider: shared },
    );
  });
  const fn = named(run.resources, "aws:lambda/function:Function", "health-check-fn");
  const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;

  const moto = useMoto({ resetBeforeEach: false });
  let cloudwatch: CloudWatchClient;
  const servers: LoopbackServer[] = [];
  let factorsHealthy = true;
  let warm: WarmFunction;
  const localFactors: Array<{ name: string; url: string }> = [];

  beforeAll(async () => {
    cloudwatch = new CloudWatchClient(moto.clientConfig(REGION));
    await createPkTable(new DynamoDBClient(moto.clientConfig(REGION)), "state");
    const handler: http.RequestListener = (_req, res) => {
      res.writeHead(factorsHealthy ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ healthy: factorsHealthy, checkpoints: [] }));
    };
    for (const name of NAMES) {
      const server = await startServer(handler);
      servers.push(server);
      localFactors.push({ name, url: `${server.url}/${name}` });
    }
    // One warm container, as Route 53's checks reach Lambda: module state survives between checks.
    warm = await startSerialized(await serializedCallback(fn.inputs), {
      ...moto.env(REGION),
      ...env,
      HEALTH_FACTORS: JSON.stringify(localFactors),
      HEALTH_STATE_TABLE: "state",
      HEALTH_OVERRIDE_PARAMETER: `/iot-dr/health/override/${REGION}`,
      // moto on a machine shared by many test runs answers in hundreds of ms, AWS in tens: a longer
      // deadline gives the reads their share; the gate's logic does not depend on it.
      HEALTH_DEADLINE_MS: "2000",
      // Each check reads the metrics this test has just written (the deployed default caches 15 s).
      HEALTH_READINESS_CACHE_MS: "1",
    });
  });
  afterAll(async () => {
    await warm?.stop();
    await Promise.all(servers.map((s) => s.close()));
  });

  let lastRound = -1;
  /** One Route 53 check, in a round of its own (hysteresis counts each round once). */
  async function check(): Promise<{ statusCode: number; reason: string; readsFailed: boolean }> {
    while (Math.floor(Date.now() / 1000) <= lastRound) await new Promise((r) => setTimeout(r, 50));
    const result = await warm.invoke({ rawPath: `/${SECRET}`, requestContext: { http: { method: "GET" } } });
    expect(result.error).toBeUndefined();
    const answer = result.result as { statusCode: number; body: string };
    const body = JSON.parse(answer.body) as { reason: string; round: number };
    lastRound = body.round;
    // Powertools writes warnings to stderr.
    const readsFailed = / read failed/.test(result.stderr);
    return { statusCode: answer.statusCode, reason: body.reason, readsFailed };
  }

  const put = (Namespace: string, MetricName: string, Value: number, at: Date, FunctionName?: string) =>
    cloudwatch.send(
      new PutMetricDataCommand({
        Namespace,
        MetricData: [
          {
            MetricName,
            Value,
            Timestamp: at,
            ...(FunctionName ? { Dimensions: [{ Name: "FunctionName", Value: FunctionName }] } : {}),
          },
        ],
      }),
    );

  /** A reconciler pass's DriftCount: its EMF document as the reconciler prints it, extracted as CloudWatch does. */
  const putDrift = async (value: number, at: Date) => {
    const lines: string[] = [];
    emfLines(lines).publish(at.getTime(), { [DRIFT_METRIC]: value });
    for (const m of lines.flatMap(extractEmf))
      await cloudwatch.send(new PutMetricDataCommand({ Namespace: m.namespace, MetricData: [m.datum] }));
  };

  /** What `iot-dr` (or an operator in the console) writes to the override parameter. */
  async function setOverride(value: string): Promise<void> {
    const sign = createSigV4Signer({
      SignatureV4,
      crypto,
      credentials: async () => ({ accessKeyId: "testing", secretAccessKey: "testing" }),
      region: REGION,
      service: "ssm",
    });
    const request = await sign({
      method: "POST",
      url: `${moto.endpoint}/`,
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "AmazonSSM.PutParameter" },
      body: JSON.stringify({
        Name: `/iot-dr/health/override/${REGION}`,
        Value: value,
        Type: "String",
        Overwrite: true,
      }),
    });
    expect((await transport(request)).status).toBe(200);
    // The function caches the override for 2 s (runtime.ts): let that pass.
    const setAt = Date.now();
    while (Date.now() < setAt + 2_100) await new Promise((r) => setTimeout(r, 50));
  }

  it("holds a recovered region unhealthy while the reverse backlog is pending, and releases it after", async () => {
    expect(JSON.parse(env.HEALTH_BACKLOG_DIMENSIONS!)).toEqual({ FunctionName: LAUNCHER });
    // A cold start whose state read missed its budget holds: it cannot tell a recovery from a
    // steady state. (On this shared machine the SDK's first calls take seconds: warm up first.)
    let first = await check();
    for (let i = 0; i < 60 && first.readsFailed; i++) {
      if (first.statusCode !== 200) expect(first.reason).toMatch(/hysteresis state unreadable|not ready/);
      first = await check();
    }
    // Once its state is read, a fresh deployment is healthy: it is not a recovery.
    expect(first).toMatchObject({ statusCode: 200, readsFailed: false });

    // The region fails; Route 53 moves traffic away.
    factorsHealthy = false;
    expect(await check()).toMatchObject({ statusCode: 503 });

    // Its probes pass again, but nothing proves the changes made meanwhile in the other region reached it.
    factorsHealthy = true;
    const recovered = await check();
    expect(recovered.statusCode).toBe(503);
    expect(recovered.reason).toMatch(
      /reverse catch-up unproven: no reconciler pass since the region recovered/,
    );

    const recoveredAt = Date.now();

    // A reconciler pass since then finds no drift, but the launcher read records 10 min old a
    // minute or two ago. (Datapoints are written a second back: moto leaves out the current second.)
    while (Date.now() < recoveredAt + 1_500) await new Promise((r) => setTimeout(r, 50));
    await putDrift(0, new Date(Date.now() - 1_000));
    await put("AWS/Lambda", "IteratorAge", 600_000, new Date(Date.now() - 125_000), LAUNCHER);
    const draining = await check();
    expect(draining.statusCode).toBe(503);
    expect(draining.reason).toMatch(/replication backlog 600000 ms old, above 60000 ms/);

    // The backlog drains: the newest read (a later period) found records a second old.
    await put("AWS/Lambda", "IteratorAge", 1_000, new Date(Date.now() - 62_000), LAUNCHER);
    expect(await check()).toMatchObject({ statusCode: 200, reason: "all critical factors healthy" });
    // Caught up once is enough: the next check does not wait for another pass.
    expect(await check()).toMatchObject({ statusCode: 200 });
  }, 60_000);

  it("holds it while the reconciler still finds drift, and the operator can force either way", async () => {
    factorsHealthy = false;
    expect(await check()).toMatchObject({ statusCode: 503 });
    factorsHealthy = true;
    expect(await check()).toMatchObject({ statusCode: 503 });
    const recoveredAt = Date.now();
    while (Date.now() < recoveredAt + 1_500) await new Promise((r) => setTimeout(r, 50));
    // Same period as the pass that found none, or a newer one: either way the newest maximum is 3.
    await putDrift(3, new Date(Date.now() - 1_000));
    const drifting = await check();
    expect(drifting).toMatchObject({ statusCode: 503 });
    expect(drifting.reason).toMatch(/reverse catch-up: drift 3 above 0/);

    // The operator forces fail-back anyway, then forces the region out.
    await setOverride("force-healthy");
    expect(await check()).toMatchObject({ statusCode: 200 });
    await setOverride("force-unhealthy");
    const forcedOut = await check();
    expect(forcedOut.statusCode).toBe(503);
    expect(forcedOut.reason).toMatch(/override force-unhealthy/);
    await setOverride("automatic");
  }, 60_000);
});
