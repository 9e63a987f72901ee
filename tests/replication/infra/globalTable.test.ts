/**
 * The whole replication path locally: capture in one region writes records to its moto table, the
 * global-table emulator replicates them and delivers the other region's stream through the deployed
 * filter to that region's launcher, which runs the deployed state machine on aws-local-stepfunctions
 * with the real replay core against that region's moto IoT.
 */
import { beforeEach, describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import fc from "fast-check";
import * as lib from "@aws-sdk/lib-dynamodb";
import { iotPortFromSdk } from "../../../functions/registry/iotPort.js";
import { keys } from "../../../functions/registry/records.js";
import { opsTableFromSdk, putRecordIfNewer } from "../../../functions/registry/table.js";
import { captureDelivery, captureKeys } from "../../../functions/replication/capture.js";
import { silentLogger } from "../../../functions/shared/observability.js";
import { systemClock } from "../../../functions/replication/pacing.js";
import { emitCloudTrailEvents } from "../../../peers/emulators/cloudTrailEvents.js";
import { GlobalTableEmulator } from "../../../peers/emulators/globalTable.js";
import { useMoto } from "../../support/useMoto.js";
import { motoLauncher, motoOpsTable } from "../../support/replayPath.js";
import { PRIMARY, SECONDARY, record } from "./fixtures.js";

const TABLE = "ops";

describe("replication through the emulated global table", () => {
  const moto = useMoto();
  let global: GlobalTableEmulator;
  const iot: Record<string, iotSdk.IoTClient> = {};
  const replayed: Record<string, string[]> = {};

  const tableOf = (region: string) => motoOpsTable(moto, region, TABLE);
  const launcherOf = (region: string) =>
    motoLauncher(moto, region, { table: TABLE, iot: iot[region], replayed: replayed[region] });

  beforeEach(async () => {
    for (const region of [PRIMARY, SECONDARY]) {
      iot[region] = new iotSdk.IoTClient(moto.clientConfig(region));
      replayed[region] = [];
    }
    global = await GlobalTableEmulator.create({
      tableName: TABLE,
      regions: [PRIMARY, SECONDARY],
      clientConfig: (region) => moto.clientConfig(region),
      consumers: { [PRIMARY]: await launcherOf(PRIMARY), [SECONDARY]: await launcherOf(SECONDARY) },
    });
  });

  it("carries a registry captured in the primary region into the secondary region's registry", async () => {
    const a = iot[PRIMARY];
    await a.send(new iotSdk.CreateThingTypeCommand({ thingTypeName: "sensor" }));
    await a.send(new iotSdk.CreateThingGroupCommand({ thingGroupName: "plant" }));
    await a.send(
      new iotSdk.CreateThingCommand({
        thingName: "sensor-1",
        thingTypeName: "sensor",
        attributePayload: { attributes: { fw: "1.0" } },
      }),
    );
    await a.send(new iotSdk.AddThingToThingGroupCommand({ thingGroupName: "plant", thingName: "sensor-1" }));
    // Captured in an order the stream must not depend on: the membership first.
    const captured = await captureKeys(
      [
        keys.membership("plant", "sensor-1"),
        keys.thing("sensor-1"),
        keys.thingGroup("plant"),
        keys.thingType("sensor"),
      ],
      {
        region: PRIMARY,
        iot: iotPortFromSdk(iotSdk, a),
        table: tableOf(PRIMARY),
        clock: systemClock,
        logger: silentLogger,
      },
    );
    expect(captured.map((o) => o.result)).toEqual(["written", "written", "written", "written"]);

    await global.settle();

    const b = iot[SECONDARY];
    expect(await b.send(new iotSdk.DescribeThingCommand({ thingName: "sensor-1" }))).toMatchObject({
      thingTypeName: "sensor",
      attributes: { fw: "1.0" },
    });
    const members = await b.send(new iotSdk.ListThingsInThingGroupCommand({ thingGroupName: "plant" }));
    expect(members.things).toEqual(["sensor-1"]);
    // The primary never replays what it captured itself: the deployed filter drops its own origin.
    expect(replayed[PRIMARY]).toEqual([]);
    expect(replayed[SECONDARY].sort()).toEqual(
      ["membership#plant#sensor-1", "thing#sensor-1", "thingGroup#plant", "thingType#sensor"].sort(),
    );
    expect(global.failed).toEqual([]);
  });

  it("a change the standby made during an outage wins in both regions over the recovering region's late capture of an older change", async () => {
    const a = iot[PRIMARY];
    const b = iot[SECONDARY];
    const now = Date.now();
    let at = now - 120_000;
    const trail = (client: iotSdk.IoTClient, region: string) =>
      emitCloudTrailEvents(client, { region, clock: () => at });
    const trailA = trail(a, PRIMARY);
    const trailB = trail(b, SECONDARY);
    const captureIn = (region: string) => ({
      region,
      iot: iotPortFromSdk(iotSdk, iot[region]),
      table: tableOf(region),
      clock: systemClock,
      logger: silentLogger,
    });
    const doc = (action: string) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: action, Resource: "*" }],
      });
    const newDefault = (action: string) =>
      new iotSdk.CreatePolicyVersionCommand({
        policyName: "fleet",
        policyDocument: doc(action),
        setAsDefault: true,
      });
    const documentIn = async (region: string) =>
      (await iot[region].send(new iotSdk.GetPolicyCommand({ policyName: "fleet" }))).policyDocument;
    // Before the fault: the fleet policy allows iot:Connect in both regions.
    await a.send(new iotSdk.CreatePolicyCommand({ policyName: "fleet", policyDocument: doc("iot:Connect") }));
    for (const e of trailA.take()) await captureDelivery(e, captureIn(PRIMARY));
    await global.settle();
    expect(await documentIn(SECONDARY)).toContain("iot:Connect");
    // Just before the fault the primary changes it; that call's capture is delivered only after the restore.
    at = now - 60_000;
    await a.send(newDefault("iot:Publish"));
    const late = trailA.take();
    // During the outage (nothing replicates) the standby changes it again and captures that at once.
    at = now - 30_000;
    await b.send(newDefault("iot:Subscribe"));
    for (const e of trailB.take()) await captureDelivery(e, captureIn(SECONDARY));
    // The restore: the primary captures its late call now, so its older write is the global table's last writer.
    const written = [];
    for (const e of late) written.push(...(await captureDelivery(e, captureIn(PRIMARY))));
    expect(written.map((o) => o.result)).toEqual(["written"]);
    await global.settle();

    for (const region of [PRIMARY, SECONDARY]) {
      expect(await documentIn(region), region).toContain("iot:Subscribe");
      const held = await tableOf(region).get(keys.policy("fleet"));
      expect(held, region).toMatchObject({
        origin: SECONDARY,
        stateJson: expect.stringContaining("iot:Subscribe"),
      });
    }
    expect(global.failed).toEqual([]);
  });

  it("replicates items with every attribute, so both tables hold the same records", async () => {
    await putRecordIfNewer(
      tableOf(SECONDARY),
      record("thing", "thing#w", { name: "w", attributes: { k: "v" } }, { origin: SECONDARY }),
    );
    await putRecordIfNewer(
      tableOf(PRIMARY),
      record("thingGroup", "thingGroup#g", { name: "g", attributes: {} }, { origin: PRIMARY }),
    );
    await global.settle();
    const items = async (region: string) =>
      (
        (await new DynamoDBClient(moto.clientConfig(region)).send(new ScanCommand({ TableName: TABLE })))
          .Items ?? []
      )
        .filter((i) => i.pk.S === "thing#w" || i.pk.S === "thingGroup#g")
        .sort((x, y) => x.pk.S!.localeCompare(y.pk.S!));
    const inPrimary = await items(PRIMARY);
    expect(inPrimary).toHaveLength(2);
    expect(await items(SECONDARY)).toEqual(inPrimary);
  });

  it("replays a record written in the secondary region in the primary region only", async () => {
    await putRecordIfNewer(
      tableOf(SECONDARY),
      record("thingGroup", "thingGroup#west", { name: "west", attributes: {} }, { origin: SECONDARY }),
    );
    await global.settle();
    expect(replayed).toEqual({ [PRIMARY]: ["thingGroup#west"], [SECONDARY]: [] });
    const group = await iot[PRIMARY].send(new iotSdk.DescribeThingGroupCommand({ thingGroupName: "west" }));
    expect(group.thingGroupName).toBe("west");
  });

  it("retries a batch that reports failures and gives up on it after the mapping's retries", async () => {
    const failing = await GlobalTableEmulator.create({
      tableName: "other",
      regions: [PRIMARY, SECONDARY],
      clientConfig: (region) => moto.clientConfig(region),
      maxRetries: 2,
      consumers: {
        [SECONDARY]: async (event) => ({
          batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.dynamodb!.SequenceNumber! })),
        }),
      },
    });
    const table = opsTableFromSdk(
      lib,
      lib.DynamoDBDocumentClient.from(new DynamoDBClient(moto.clientConfig(PRIMARY))),
      "other",
    );
    await putRecordIfNewer(table, record("thing", "thing#poison", { name: "poison", attributes: {} }));
    await failing.settle();
    expect(failing.deliveries[SECONDARY]).toHaveLength(3);
    expect(failing.failed).toMatchObject([{ region: SECONDARY, batchSize: 1 }]);
  });
});

/**
 * DynamoDB global tables (MREC) reconcile concurrent updates of one item in different regions with
 * "last writer wins": every replica agrees on the same write and they converge to identical data
 * (Developer Guide, "Global tables: How it works", consistency and conflict resolution).
 */
describe("the emulated global table under concurrent writes of one item", () => {
  const moto = useMoto();
  let global: GlobalTableEmulator;
  const ddb: Record<string, DynamoDBClient> = {};

  const put = (region: string, pk: string, value: string) =>
    ddb[region].send(new PutItemCommand({ TableName: "lww", Item: { pk: { S: pk }, value: { S: value } } }));
  const remove = (region: string, pk: string) =>
    ddb[region].send(new DeleteItemCommand({ TableName: "lww", Key: { pk: { S: pk } } }));
  const held = async (region: string, pk: string) =>
    (await ddb[region].send(new GetItemCommand({ TableName: "lww", Key: { pk: { S: pk } } }))).Item?.value
      ?.S ?? null;

  beforeEach(async () => {
    for (const region of [PRIMARY, SECONDARY]) ddb[region] = new DynamoDBClient(moto.clientConfig(region));
    global = await GlobalTableEmulator.create({
      tableName: "lww",
      regions: [PRIMARY, SECONDARY],
      clientConfig: (region) => moto.clientConfig(region),
    });
  });

  it.each([
    [PRIMARY, SECONDARY],
    [SECONDARY, PRIMARY],
  ])(
    "an item written in %s and then in %s before replication ends with the later write in both",
    async (first, second) => {
      await put(first, "k", `from ${first}`);
      await put(second, "k", `from ${second}`);
      await global.settle();
      expect(await held(PRIMARY, "k")).toBe(`from ${second}`);
      expect(await held(SECONDARY, "k")).toBe(`from ${second}`);
    },
  );

  it("a delete racing an update of the same item leaves both replicas agreeing", async () => {
    await put(PRIMARY, "k", "v1");
    await global.settle();
    await remove(SECONDARY, "k");
    await put(PRIMARY, "k", "v2");
    await global.settle();
    expect(await held(SECONDARY, "k")).toBe("v2");
    expect(await held(PRIMARY, "k")).toBe("v2");
  });

  it("an ops-table record updated and then tombstoned in one region reaches the other each time", async () => {
    const table = opsTableFromSdk(lib, lib.DynamoDBDocumentClient.from(ddb[PRIMARY]), "lww");
    const other = opsTableFromSdk(lib, lib.DynamoDBDocumentClient.from(ddb[SECONDARY]), "lww");
    const first = record("thing", "thing#t", { name: "t", attributes: { v: "1" } }, { timestamp: 1 });
    const second = record("thing", "thing#t", { name: "t", attributes: { v: "2" } }, { timestamp: 2 });
    const gone = record("thing", "thing#t", null, { timestamp: 3 });
    for (const r of [first, second, gone]) {
      expect(await putRecordIfNewer(table, r)).toBe("written");
      await global.settle();
      expect(await other.get("thing#t")).toEqual(await table.get("thing#t"));
    }
  });

  it("a region that is unreachable strands its unreplicated writes and gets the other's writes once back", async () => {
    await put(PRIMARY, "stranded", "p1");
    await put(SECONDARY, "held", "s1");
    const down = new Set([PRIMARY]);
    const during = await global.pump(down);
    expect(during).toMatchObject({ replicated: 0, held: 1 });
    // the primary's write stays in its stream; the secondary's waits for the primary
    expect(await held(SECONDARY, "stranded")).toBeNull();
    expect(await held(PRIMARY, "held")).toBeNull();
    await global.pump(down);
    expect(await held(PRIMARY, "held")).toBeNull();
    await global.settle();
    for (const region of [PRIMARY, SECONDARY]) {
      expect(await held(region, "stranded")).toBe("p1");
      expect(await held(region, "held")).toBe("s1");
    }
  });

  it("a write held for an unreachable region loses to a later write made there meanwhile", async () => {
    await put(SECONDARY, "k", "early");
    await global.pump(new Set([PRIMARY]));
    await new Promise((r) => setTimeout(r, 1_100)); // stream times have second resolution in moto
    await put(PRIMARY, "k", "late");
    await global.settle();
    expect(await held(PRIMARY, "k")).toBe("late");
    expect(await held(SECONDARY, "k")).toBe("late");
  });

  it("random interleavings of writes, deletes and replication rounds converge to identical replicas", async () => {
    const op = fc.record({
      region: fc.constantFrom(PRIMARY, SECONDARY),
      pk: fc.constantFrom("a", "b"),
      value: fc.option(fc.constantFrom("x", "y", "z"), { nil: undefined }),
      pumpAfter: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
        for (const o of ops) {
          if (o.value === undefined) await remove(o.region, o.pk);
          else await put(o.region, o.pk, o.value);
          if (o.pumpAfter) await global.pump();
        }
        await global.settle();
        for (const pk of ["a", "b"]) expect(await held(SECONDARY, pk)).toBe(await held(PRIMARY, pk));
      }),
      { numRuns: 25 },
    );
  });
});
