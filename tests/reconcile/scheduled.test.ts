/**
 * The scheduled reconciler: the active region's live registry is the truth, only the standby is
 * repaired; the peer region being down is reported, not a failure; and the serialized Lambda
 * callback, which learns the active region from the device endpoint's CNAME, does the same against moto.
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import {
  runScheduledReconcile,
  type ContinuationEvent,
  type ScheduledReconcileDeps,
} from "../../functions/reconcile/scheduled.js";
import { listPortFromSdk } from "../../functions/reconcile/listPort.js";
import { iotPortFromSdk } from "../../functions/registry/iotPort.js";
import { toItem, type RegistryRecord, type ThingState } from "../../functions/registry/records.js";
import { memoryOpsTable } from "../../functions/registry/table.js";
import { jsonLogger } from "../../functions/shared/observability.js";
import { activeRegionFromDns, type ActiveRegion } from "../../functions/reconcile/activeRegion.js";
import { getRecord } from "../../functions/registry/table.js";
import { Resolver } from "node:dns/promises";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";
import { Reconciler } from "../../infra/reconciler.js";
import { freePort } from "../../peers/ports.js";
import { useMoto } from "../support/useMoto.js";
import { invokeSerialized, serializedCallback, type SerializedCallback } from "../support/serialized.js";
import { ACCOUNT, one, provider, underMocks } from "../replication/infra/mocks.js";
import { fastPacer, region, scheduledDeps, type Region } from "./support.js";
import { createPkTable } from "../support/tables.js";

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

/**
 * Four differences, with ops-table records that agree with either side or none (the table no longer
 * decides anything): different twice, missing in this region, extra in this region.
 */
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
  const moto = useMoto();
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
          deviceEndpointName: "devices.example.test",
        },
        { provider: provider("iot-own", OWN) },
      );
    });
    code = await serializedCallback(
      one(run.resources, "aws:lambda/function:Function", "rec-reconcile-fn").inputs,
    );
  });
  beforeEach(async () => {
    peer = region(moto, PEER);
    own = region(moto, OWN);
  });

  const activeIs =
    (region: string | undefined): (() => Promise<ActiveRegion>) =>
    async () => ({ ...(region ? { region } : {}), how: "test" });
  const deps = (
    table: ReturnType<typeof memoryOpsTable>,
    repair: boolean,
    lines: string[],
    active: () => Promise<ActiveRegion> = activeIs(PEER),
    logs?: string[],
  ): ScheduledReconcileDeps =>
    scheduledDeps(own, peer, table, {
      repair,
      activeRegion: active,
      ...(logs ? { logger: jsonLogger((l) => logs.push(l), "info") } : {}),
      lines,
    });

  it("as the standby, repairs every difference from the active region's live registry and refreshes the ops table from it, never writing to the active region", async () => {
    const table = memoryOpsTable();
    for (const r of await arbitrationScenario(peer, own)) await table.put(toItem(r) as never);
    const lines: string[] = [];
    const outcome = await runScheduledReconcile(deps(table, true, lines));
    expect(outcome).toMatchObject({
      status: "drift",
      found: 4,
      repaired: 4,
      leftToPeer: 0,
      undecided: 0,
      remaining: 0,
    });
    expect(await own.iot.describeThing("behind")).toMatchObject({ attributes: { v: "2" } });
    expect(await own.iot.describeThing("ahead")).toMatchObject({ attributes: { v: "1" } });
    expect(await own.iot.describeThing("unknown")).not.toBeNull();
    expect(await own.iot.describeThing("gone")).toBeNull();
    // The active region is only read.
    expect(await peer.iot.describeThing("ahead")).toMatchObject({ attributes: { v: "1" } });
    expect(await peer.iot.describeThing("gone")).toBeNull();
    // The table now holds the active region's state, as the active region's record.
    for (const [name, state] of [
      ["ahead", { name: "ahead", attributes: { v: "1" } }],
      ["unknown", { name: "unknown", attributes: {} }],
      ["gone", null],
    ] as const) {
      const record = await getRecord(table, `thing#${name}`);
      expect(record).toMatchObject({ state, origin: PEER });
    }
    const emf = JSON.parse(lines.at(-1)!);
    expect(emf).toMatchObject({
      DriftCount: 0,
      DriftRepaired: 4,
      UndecidedDrift: 0,
      ReconcilePeerUnreachable: 0,
      service: "iot-dr-reconciler",
    });
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: "iot-dr",
      Dimensions: [["service"], []],
    });
  });

  it("as the active region, repairs nothing: the differences are the standby's, so its DriftCount is 0", async () => {
    const table = memoryOpsTable();
    for (const r of await arbitrationScenario(peer, own)) await table.put(toItem(r) as never);
    const before = JSON.stringify([...table.items]);
    const lines: string[] = [];
    const outcome = await runScheduledReconcile(deps(table, true, lines, activeIs(OWN)));
    expect(outcome).toMatchObject({ found: 4, repaired: 0, leftToPeer: 4, remaining: 0 });
    expect(await own.iot.describeThing("ahead")).toMatchObject({ attributes: { v: "2" } });
    expect(await own.iot.describeThing("gone")).not.toBeNull();
    expect(JSON.stringify([...table.items])).toBe(before);
    expect(JSON.parse(lines.at(-1)!).DriftCount).toBe(0);
  });

  it("with the active region unknown, repairs nothing and reports every difference as undecided drift with its key", async () => {
    const table = memoryOpsTable();
    for (const r of await arbitrationScenario(peer, own)) await table.put(toItem(r) as never);
    const lines: string[] = [];
    const logs: string[] = [];
    const outcome = await runScheduledReconcile(deps(table, true, lines, activeIs(undefined), logs));
    expect(outcome).toMatchObject({ found: 4, repaired: 0, undecided: 4, remaining: 4 });
    expect(await own.iot.describeThing("ahead")).toMatchObject({ attributes: { v: "2" } });
    const undecided = logs
      .map((l) => JSON.parse(l) as { message: string; key?: string })
      .filter((l) => /undecided/.test(l.message));
    expect(undecided.map((l) => l.key).sort()).toEqual([
      "thing#ahead",
      "thing#behind",
      "thing#gone",
      "thing#unknown",
    ]);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ DriftCount: 4, UndecidedDrift: 4 });
  });

  it("without repair, as the standby, changes nothing and reports its drift", async () => {
    const table = memoryOpsTable();
    for (const r of await arbitrationScenario(peer, own)) await table.put(toItem(r) as never);
    const lines: string[] = [];
    const outcome = await runScheduledReconcile(deps(table, false, lines));
    expect(outcome).toMatchObject({ found: 4, repaired: 0, remaining: 4 });
    expect(await own.iot.describeThing("behind")).toMatchObject({ attributes: { v: "1" } });
    expect(await own.iot.describeThing("gone")).not.toBeNull();
    expect(JSON.parse(lines.at(-1)!).DriftCount).toBe(4);
  });

  it("learns the active region from the device endpoint's CNAME through a real resolver, and 'unknown' when the name does not resolve", async () => {
    const dns: TestDnsServer = await startDnsServer();
    try {
      const resolver = new Resolver({ timeout: 500, tries: 1 });
      resolver.setServers([dns.server]);
      const resolve = (name: string) => resolver.resolveCname(name);
      dns.setCname("devices.example.test", "a1b2c3-ats.iot.us-east-1.amazonaws.com");
      expect(await activeRegionFromDns("devices.example.test", resolve)).toMatchObject({
        region: "us-east-1",
      });
      dns.setCname("devices.example.test", "a1b2c3-ats.iot.eu-west-1.amazonaws.com");
      expect(await activeRegionFromDns("devices.example.test", resolve)).toMatchObject({
        region: "eu-west-1",
      });
      dns.setCname("devices.example.test", "elsewhere.example.test");
      expect((await activeRegionFromDns("devices.example.test", resolve)).region).toBeUndefined();
      dns.removeRecord("devices.example.test");
      const gone = await activeRegionFromDns("devices.example.test", resolve);
      expect(gone.region).toBeUndefined();
      expect(gone.how).toContain("cannot resolve devices.example.test");
      expect((await activeRegionFromDns(undefined, resolve)).how).toContain("no device endpoint name");
    } finally {
      await dns.stop();
    }
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

  it("the serialized function learns from DNS that the peer is active, repairs its own region from it, continues its pass by invoking itself and prints the EMF document once", async () => {
    const ddb = new DynamoDBClient(moto.clientConfig(OWN));
    await createPkTable(ddb, "ops-table");
    await createPkTable(ddb, "reconcile-lock");
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
    // Route 53 serves the peer: the device endpoint's CNAME names the peer's IoT data endpoint.
    const dns = await startDnsServer();
    dns.setCname("devices.example.test", `a1b2c3-ats.iot.${PEER}.amazonaws.com`);
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
        DNS_SERVERS: dns.server,
        DEVICE_ENDPOINT_NAME: "devices.example.test",
        RECONCILE_LOCK_TABLE: "reconcile-lock",
        RECONCILE_LEASE_MS: "600000",
      };
      const results = [await invokeSerialized(code, {}, env)];
      // A second scheduled start while the pass holds the lock is skipped and sends nothing.
      const second = await invokeSerialized(code, {}, env);
      expect(second.result).toMatchObject({ status: "skipped" });
      expect(invokes).toHaveLength(1);
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
      expect(results[0].logLines.join("\n")).toContain("this region is standby");
      for (const p of passes) expect(p.totals).toMatchObject({ found: 4, repaired: 4 });
      expect(results.at(-1)!.result).toMatchObject({ found: 4, repaired: 4, remaining: 0 });
      expect(await own.iot.describeThing("behind")).toMatchObject({ attributes: { v: "2" } });
      const emf = results.flatMap((r) =>
        r.logLines
          .map((l) => l.trim())
          .filter((l) => l.startsWith("{") && l.includes("_aws"))
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
      // Published once, by the invocation that completes the pass.
      expect(emf.filter((d) => "DriftCount" in d)).toEqual([expect.objectContaining({ DriftCount: 0 })]);
      expect(await peer.iot.describeThing("ahead")).toMatchObject({ attributes: { v: "1" } });
      // The completed pass gave the lock up: the next start runs.
      const lock = await doc.send(
        new GetCommand({ TableName: "reconcile-lock", Key: { pk: `lock#reconcile#${OWN}` } }),
      );
      expect(lock.Item).toBeUndefined();
    } finally {
      await dns.stop();
      await new Promise((resolve) => lambdaApi.close(resolve));
    }
  });
});
