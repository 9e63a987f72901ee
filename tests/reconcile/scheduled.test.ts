/**
 * The scheduled reconciler: the ops table decides which region is behind; the peer region being
 * down is reported, not a failure; and the serialized Lambda callback does the same against moto.
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import {
  runScheduledReconcile,
  type ContinuationEvent,
  type ScheduledReconcileDeps,
} from "../../functions/reconcile/scheduled.js";
import { listPortFromSdk } from "../../functions/reconcile/listPort.js";
import { iotPortFromSdk } from "../../functions/registry/iotPort.js";
import { toItem, type RegistryRecord, type ThingState } from "../../functions/registry/records.js";
import { memoryOpsTable } from "../../functions/registry/table.js";
import { noMetrics, silentLogger } from "../../functions/replication/observability.js";
import { systemClock } from "../../functions/replication/pacing.js";
import { Reconciler } from "../../infra/reconciler.js";
import { freePort } from "../support/ports.js";
import { startMoto, type MotoServer } from "../support/moto.js";
import { invokeSerialized, serializedCallback, type SerializedCallback } from "../support/serialized.js";
import { ACCOUNT, one, provider, underMocks } from "../replication/infra/mocks.js";
import { fastPacer, region, type Region } from "./support.js";

const PEER = "us-east-1";
const OWN = "eu-west-1";

const thingRecord = (state: ThingState | null, name: string, origin = PEER): RegistryRecord => ({
  key: `thing#${name}`,
  kind: "thing",
  state,
  version: { timestamp: Date.now() - 60_000, eventId: `e-${name}`, region: origin },
  origin,
  capturedAt: Date.now() - 60_000,
});

/** Four differences: own behind (repairable), peer behind, undecided (no record), extra with a tombstone. */
async function arbitrationScenario(peer: Region, own: Region): Promise<RegistryRecord[]> {
  await peer.iot.createThing({ name: "behind", attributes: { v: "2" } });
  await own.iot.createThing({ name: "behind", attributes: { v: "1" } });
  await peer.iot.createThing({ name: "ahead", attributes: { v: "1" } });
  await own.iot.createThing({ name: "ahead", attributes: { v: "2" } });
  await peer.iot.createThing({ name: "unknown", attributes: {} });
  await own.iot.createThing({ name: "gone", attributes: {} });
  return [
    thingRecord({ name: "behind", attributes: { v: "2" } }, "behind"),
    thingRecord({ name: "ahead", attributes: { v: "2" } }, "ahead", OWN),
    thingRecord(null, "gone"),
  ];
}

describe("scheduled reconciler", () => {
  let moto: MotoServer;
  let peer: Region;
  let own: Region;
  let code: SerializedCallback;

  beforeAll(async () => {
    const run = await underMocks(() => {
      new Reconciler(
        "rec",
        {
          region: OWN,
          peerRegion: PEER,
          tableName: "ops-table",
          tableArn: `arn:aws:dynamodb:${OWN}:${ACCOUNT}:table/ops-table`,
          tableKeyArn: "arn:aws:kms:k",
          scheduleMinutes: 15,
          repair: true,
        },
        { provider: provider("iot-own", OWN) },
      );
    });
    code = await serializedCallback(
      one(run.resources, "aws:lambda/function:Function", "rec-reconcile-fn").inputs,
    );
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    peer = region(moto, PEER);
    own = region(moto, OWN);
  });

  const deps = (
    table: ReturnType<typeof memoryOpsTable>,
    repair: boolean,
    lines: string[],
  ): ScheduledReconcileDeps => ({
    region: OWN,
    peerRegion: PEER,
    own,
    peer,
    table,
    repair,
    apply: {
      region: OWN,
      iot: own.iot,
      pacer: own.pacer,
      table,
      clock: systemClock,
      logger: silentLogger,
      metrics: noMetrics,
    },
    clock: systemClock,
    logger: silentLogger,
    emit: (line) => lines.push(line),
  });

  it("repairs only where the ops table agrees with the peer, leaves the peer's drift to the peer, and publishes what remains", async () => {
    const table = memoryOpsTable();
    for (const r of await arbitrationScenario(peer, own)) await table.put(toItem(r) as never);
    const lines: string[] = [];
    const outcome = await runScheduledReconcile(deps(table, true, lines));
    expect(outcome).toMatchObject({
      status: "drift",
      found: 4,
      repaired: 2,
      leftToPeer: 1,
      undecided: 1,
      remaining: 1,
    });
    expect(await own.iot.describeThing("behind")).toMatchObject({ attributes: { v: "2" } });
    expect(await own.iot.describeThing("gone")).toBeNull();
    expect(await own.iot.describeThing("ahead")).toMatchObject({ attributes: { v: "2" } });
    expect(await own.iot.describeThing("unknown")).toBeNull();
    // The peer is only read.
    expect(await peer.iot.describeThing("ahead")).toMatchObject({ attributes: { v: "1" } });
    const emf = JSON.parse(lines.at(-1)!);
    expect(emf).toMatchObject({
      DriftCount: 1,
      DriftRepaired: 2,
      ReconcilePeerUnreachable: 0,
      service: "iot-dr-reconciler",
    });
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: "iot-dr",
      Dimensions: [["service"], []],
    });
  });

  it("without repair changes nothing and reports this region's drift", async () => {
    const table = memoryOpsTable();
    for (const r of await arbitrationScenario(peer, own)) await table.put(toItem(r) as never);
    const lines: string[] = [];
    const outcome = await runScheduledReconcile(deps(table, false, lines));
    expect(outcome).toMatchObject({ found: 4, repaired: 0, remaining: 3 });
    expect(await own.iot.describeThing("behind")).toMatchObject({ attributes: { v: "1" } });
    expect(await own.iot.describeThing("gone")).not.toBeNull();
    expect(JSON.parse(lines.at(-1)!).DriftCount).toBe(3);
  });

  it("reports equal regions with DriftCount 0", async () => {
    for (const r of [peer, own]) await r.iot.createThing({ name: "same", attributes: { a: "1" } });
    const lines: string[] = [];
    const outcome = await runScheduledReconcile(deps(memoryOpsTable(), true, lines));
    expect(outcome).toMatchObject({ status: "equal", found: 0, remaining: 0 });
    expect(JSON.parse(lines[0]).DriftCount).toBe(0);
  });

  it("a peer region that cannot be reached is reported, not a failure, and nothing is repaired", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const client = new iotSdk.IoTClient({ ...moto.clientConfig(PEER), endpoint: dead });
    await own.iot.createThing({ name: "t", attributes: {} });
    peer = {
      ...peer,
      list: listPortFromSdk(iotSdk, client),
      iot: iotPortFromSdk(iotSdk, client),
      pacer: fastPacer(),
    };
    const lines: string[] = [];
    const outcome = await runScheduledReconcile(deps(memoryOpsTable(), true, lines));
    expect(outcome.status).toBe("peer-unreachable");
    expect(JSON.parse(lines[0])).toMatchObject({ ReconcilePeerUnreachable: 1 });
    expect(lines.some((l) => l.includes("DriftCount"))).toBe(false);
    expect(await own.iot.describeThing("t")).not.toBeNull();
  });

  it("a failure in its own region fails the run (the errors alarm sees it)", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const client = new iotSdk.IoTClient({ ...moto.clientConfig(OWN), endpoint: dead });
    own = {
      ...own,
      list: listPortFromSdk(iotSdk, client),
      iot: iotPortFromSdk(iotSdk, client),
      pacer: fastPacer(),
    };
    await expect(runScheduledReconcile(deps(memoryOpsTable(), true, []))).rejects.toThrow();
  });

  it("the serialized function reads the peer, repairs its own region through the ops table, continues its pass by invoking itself and prints the EMF document once", async () => {
    const ddb = new DynamoDBClient(moto.clientConfig(OWN));
    await ddb.send(
      new CreateTableCommand({
        TableName: "ops-table",
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    const doc = DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
    for (const r of await arbitrationScenario(peer, own))
      await doc.send(
        new PutCommand({ TableName: "ops-table", Item: toItem(r) as unknown as Record<string, unknown> }),
      );
    // Lambda's Invoke API on loopback: records the continuations the function sends itself.
    const invokes: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
    const lambdaApi = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        invokes.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => lambdaApi.listen(0, "127.0.0.1", resolve));
    try {
      const env = {
        ...moto.env(OWN),
        AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${(lambdaApi.address() as AddressInfo).port}`,
        OPS_TABLE: "ops-table",
        PEER_REGION: PEER,
        RECONCILE_REPAIR: "true",
        IOT_API_RATES: "{}",
        // The test runner's context always has 60 s left: a budget of 10 ms, so every principal
        // shard needs an invocation of its own.
        RECONCILE_RESERVE_MS: "59990",
      };
      const results = [await invokeSerialized(code, {}, env)];
      while (results.length < 10 && invokes.length === results.length)
        results.push(await invokeSerialized(code, JSON.parse(invokes.at(-1)!.body), env));
      for (const r of results) expect(r.error).toBeUndefined();
      // 3 things per region: one shard each, after the first invocation's cheap kinds.
      expect(results.map((r) => (r.result as { status: string }).status)).toEqual([
        "continued",
        "continued",
        "continued",
        "drift",
      ]);
      expect(invokes).toHaveLength(3);
      for (const i of invokes) {
        expect(i.method).toBe("POST");
        // Its own unqualified ARN (the runner's invokedFunctionArn), asynchronously, signed.
        expect(decodeURIComponent(i.url!)).toBe(
          `/2015-03-31/functions/arn:aws:lambda:${OWN}:123456789012:function:test-function/invocations`,
        );
        expect(i.headers["x-amz-invocation-type"]).toBe("Event");
        expect(String(i.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 .*\/lambda\/aws4_request/);
      }
      const passes = invokes.map((i) => (JSON.parse(i.body) as ContinuationEvent).reconcilePass);
      expect(passes.map((p) => [p.nextShard, p.shardCount])).toEqual([
        [0, 3],
        [1, 3],
        [2, 3],
      ]);
      expect(new Set(passes.map((p) => p.passId)).size).toBe(1);
      // The thing drift is found (and repaired) before the shards; the totals travel with the pass.
      for (const p of passes) expect(p.totals).toMatchObject({ found: 4, repaired: 2 });
      expect(results.at(-1)!.result).toMatchObject({ found: 4, repaired: 2, remaining: 1 });
      expect(await own.iot.describeThing("behind")).toMatchObject({ attributes: { v: "2" } });
      const emf = results.flatMap((r) =>
        r.logLines
          .map((l) => l.trim())
          .filter((l) => l.startsWith("{") && l.includes("_aws"))
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
      // Published once, by the invocation that completes the pass.
      expect(emf.filter((d) => "DriftCount" in d)).toEqual([expect.objectContaining({ DriftCount: 1 })]);
    } finally {
      await new Promise((resolve) => lambdaApi.close(resolve));
    }
  });
});
