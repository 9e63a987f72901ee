import { describe, expect, it } from "vitest";
import type { RegistryRecord, ThingState } from "../../../functions/registry/records.js";
import {
  getRecord,
  markerTableFromSdk,
  memoryOpsTable,
  opsTableFromSdk,
  putRecordIfNewer,
  scanRecords,
} from "../../../functions/registry/table.js";
import { getAppliedMarker, recordApplied } from "../../../functions/registry/echoMarkers.js";

const thing = (
  attrs: Record<string, string>,
  timestamp: number,
  eventId = "e",
  region = "us-east-1",
): RegistryRecord<"thing"> => ({
  key: "thing#t",
  kind: "thing",
  state: { name: "t", attributes: attrs } satisfies ThingState,
  version: { timestamp, eventId, region },
  origin: region,
  capturedAt: timestamp + 5,
});
const tombstone = (timestamp: number): RegistryRecord<"thing"> => ({ ...thing({}, timestamp), state: null });

/** The three lib-dynamodb commands the adapter builds, as plain classes that keep their input. */
class Cmd {
  constructor(readonly input: Record<string, unknown>) {}
}
const fakeDocLib = () => ({
  GetCommand: class GetCommand extends Cmd {},
  PutCommand: class PutCommand extends Cmd {},
  ScanCommand: class ScanCommand extends Cmd {},
});

describe("ops table conditional writes", () => {
  it("a newer version wins and an older one loses", async () => {
    const table = memoryOpsTable();
    expect(await putRecordIfNewer(table, thing({ a: "1" }, 100))).toBe("written");
    expect(await putRecordIfNewer(table, thing({ a: "2" }, 200))).toBe("written");
    expect(await putRecordIfNewer(table, thing({ a: "0" }, 150))).toBe("stale");
    expect((await getRecord(table, "thing#t"))?.state).toEqual({ name: "t", attributes: { a: "2" } });
  });

  it("an identical state writes nothing, whatever its version", async () => {
    const table = memoryOpsTable();
    await putRecordIfNewer(table, thing({ a: "1" }, 100));
    const writes = table.writes;
    expect(await putRecordIfNewer(table, thing({ a: "1" }, 300, "echo", "eu-west-1"))).toBe("unchanged");
    expect(await putRecordIfNewer(table, thing({ a: "1" }, 100))).toBe("unchanged");
    expect(table.writes).toBe(writes);
    expect((await getRecord(table, "thing#t"))?.version.timestamp).toBe(100);
  });

  it("a tombstone blocks a late create from resurrecting the resource and carries a TTL", async () => {
    const table = memoryOpsTable();
    expect(await putRecordIfNewer(table, tombstone(200))).toBe("written");
    expect(await putRecordIfNewer(table, thing({ a: "1" }, 100))).toBe("stale");
    const item = table.items.get("thing#t")!;
    expect(item.tombstone).toBe(true);
    expect(typeof item.expiresAt).toBe("number");
    await putRecordIfNewer(table, thing({ a: "1" }, 300));
    expect(table.items.get("thing#t")!.expiresAt).toBeUndefined();
  });

  it("keeps tombstones for the configured retention (config tombstoneRetentionDays), 30 days by default", async () => {
    const put: Record<string, unknown>[] = [];
    const lib = fakeDocLib();
    const doc = {
      send: async (c: Cmd) => {
        if (c instanceof lib.PutCommand) put.push(c.input.Item as Record<string, unknown>);
        return {};
      },
    };
    const captured = Math.floor(tombstone(200_000_000).capturedAt / 1000);
    await putRecordIfNewer(
      opsTableFromSdk(lib as never, doc as never, "ops", { tombstoneRetentionDays: 7 }),
      tombstone(200_000_000),
    );
    await putRecordIfNewer(opsTableFromSdk(lib as never, doc as never, "ops"), tombstone(200_000_000));
    expect(put.map((item) => (item.expiresAt as number) - captured)).toEqual([7 * 86_400, 30 * 86_400]);
    expect(() => opsTableFromSdk(lib as never, doc as never, "ops", { tombstoneRetentionDays: 0 })).toThrow(
      /whole number of days/,
    );
  });

  it("equal timestamps are ordered by region, then event id, the same way in every region", async () => {
    const table = memoryOpsTable();
    await putRecordIfNewer(table, thing({ a: "east" }, 100, "z", "us-east-1"));
    expect(await putRecordIfNewer(table, thing({ a: "west" }, 100, "a", "us-west-2"))).toBe("written");
    expect(await putRecordIfNewer(table, thing({ a: "east2" }, 100, "zz", "us-east-1"))).toBe("stale");
  });

  it("a concurrent newer write that lands between read and write still wins", async () => {
    const table = memoryOpsTable();
    await putRecordIfNewer(table, thing({ a: "1" }, 100));
    const readEarlier = await getRecord(table, "thing#t");
    await putRecordIfNewer(table, thing({ a: "3" }, 300));
    expect(await putRecordIfNewer(table, thing({ a: "2" }, 200), readEarlier)).toBe("stale");
    expect((await getRecord(table, "thing#t"))?.state).toEqual({ name: "t", attributes: { a: "3" } });
  });

  it("scanRecords pages through records and skips replay markers", async () => {
    const table = memoryOpsTable();
    for (let i = 0; i < 7; i++)
      await putRecordIfNewer(table, {
        ...thing({}, 100 + i),
        key: `thing#t${i}`,
        state: { name: `t${i}`, attributes: {} },
      });
    await recordApplied(table, {
      region: "eu-west-1",
      key: "thing#t1",
      hashes: ["h"],
      now: 1000,
      windowMs: 60_000,
    });
    const keys: string[] = [];
    for await (const r of scanRecords(table, 3)) keys.push(r.key);
    expect(keys).toHaveLength(7);
    expect(await getAppliedMarker(table, "eu-west-1", "thing#t1")).toMatchObject({
      entries: [{ hash: "h", at: 1000 }],
    });
  });

  it("the SDK adapter sends a conditional put and reports a lost condition as false", async () => {
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    const lib = fakeDocLib();
    let fail = false;
    const doc = {
      send: async (c: Cmd) => {
        sent.push({ name: c.constructor.name, input: c.input });
        if (fail) throw Object.assign(new Error("cond"), { name: "ConditionalCheckFailedException" });
        return {};
      },
    };
    const table = opsTableFromSdk(lib as never, doc as never, "ops");
    expect(await table.put({ pk: "thing#t", versionKey: "b" }, { ifVersionBelow: "b" })).toBe(true);
    expect(sent[0].input).toMatchObject({
      TableName: "ops",
      ConditionExpression: "attribute_not_exists(pk) OR versionKey < :v",
      ExpressionAttributeValues: { ":v": "b" },
    });
    fail = true;
    expect(await table.put({ pk: "thing#t", versionKey: "a" }, { ifVersionBelow: "a" })).toBe(false);
    expect(() => opsTableFromSdk(lib as never, doc as never, "")).toThrow(/ops table name/);

    // Markers go to the table they are given, unconditionally (only this region's replay writes them).
    sent.length = 0;
    fail = false;
    const markers = markerTableFromSdk(lib as never, doc as never, "markers");
    await recordApplied(markers, {
      region: "eu-west-1",
      key: "thing#t",
      hashes: ["h"],
      now: 1_000,
      windowMs: 60_000,
    });
    expect(sent.map((c) => [c.name, c.input.TableName, "ConditionExpression" in c.input])).toEqual([
      ["GetCommand", "markers", false],
      ["PutCommand", "markers", false],
    ]);
    expect(() => markerTableFromSdk(lib as never, doc as never, "")).toThrow(/marker table name/);
  });
});
