/**
 * The region-wide schedule (sharedPacing.ts dynamoSlotStore) against moto's DynamoDB: several
 * stores, as separate Lambda containers hold them, reserve from one item of the marker table.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as lib from "@aws-sdk/lib-dynamodb";
import { createPacer, type Clock } from "../../../functions/replication/pacing.js";
import { blockSlots, dynamoSlotStore, paceKey } from "../../../functions/replication/sharedPacing.js";
import { useMoto } from "../../support/useMoto.js";
import { createPkTable } from "../../support/tables.js";

const TABLE = "markers";

describe("shared pacing schedule in DynamoDB", () => {
  // Serial: AWS applies each conditional write atomically; threaded moto does not (peers/serialMoto.ts).
  const moto = useMoto({ serial: true, resetBeforeEach: false });
  let doc: lib.DynamoDBDocumentClient;

  beforeAll(async () => {
    const ddb = new DynamoDBClient(moto.clientConfig("eu-west-1"));
    await createPkTable(ddb, TABLE);
    doc = lib.DynamoDBDocumentClient.from(ddb);
  });

  it("gives the calls of many workers distinct starts one interval apart, restarting at now after idling", async () => {
    const stores = Array.from({ length: 6 }, () => dynamoSlotStore(lib, doc, TABLE));
    const now = 1_800_000_000_000;
    const starts = await Promise.all(
      Array.from({ length: 60 }, (_, i) => stores[i % stores.length].reserve("CreatePolicy", 100, now)),
    );
    const sorted = [...starts].sort((a, b) => a - b);
    // The first start is `now` plus the round trip of the store (0 before any was measured).
    expect(sorted[0]).toBeGreaterThanOrEqual(now);
    expect(sorted[0]).toBeLessThan(now + 30_000);
    expect(sorted).toEqual(Array.from({ length: 60 }, (_, i) => sorted[0] + i * 100));
    const item = await doc.send(
      new lib.GetCommand({ TableName: TABLE, Key: { pk: paceKey("CreatePolicy") } }),
    );
    expect(item.Item).toMatchObject({
      nextFree: sorted[0] + 6000,
      expiresAt: Math.floor(now / 1000) + 86_400,
    });
    // Much later (the schedule is behind now): the next call starts one round trip after now (the
    // store's moving average, long here: 60 requests queued at a serial moto), for any store.
    const later = now + 60_000;
    const restarted = await stores[3].reserve("CreatePolicy", 100, later);
    expect(restarted).toBeGreaterThanOrEqual(later);
    expect(restarted).toBeLessThan(later + 30_000);
    expect(await stores[0].reserve("CreatePolicy", 100, later)).toBe(restarted + 100);
    // Another API has its own schedule.
    const other = await stores[0].reserve("AttachPolicy", 50, now);
    expect(other).toBeGreaterThanOrEqual(now);
    expect(other).toBeLessThan(now + 30_000);
  });

  it("paces two pacers over one store at the rate of one, not two", async () => {
    const clock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };
    const rates = { DescribeCertificate: 20 };
    const starts: number[] = [];
    const pacers = [0, 1].map(() => createPacer({ clock, rates, slots: dynamoSlotStore(lib, doc, TABLE) }));
    await Promise.all(
      pacers.map(async (p) => {
        for (let i = 0; i < 10; i++) await p.run("DescribeCertificate", async () => starts.push(Date.now()));
      }),
    );
    // 20 calls at 20/s from two workers span 19 intervals of 50 ms (950 ms); two pacers that did not
    // share the schedule would span 9 (450 ms). A first start that a loaded machine runs late
    // shortens the measured span by its lateness, so the bound leaves 100 ms for that.
    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(19 * 50 - 100);
  });

  it("reserves a block of consecutive starts in one conditional write, and blocks of many workers never overlap", async () => {
    const stores = [0, 1, 2].map(() => dynamoSlotStore(lib, doc, TABLE));
    const now = 1_900_000_000_000;
    const firsts = await Promise.all(stores.map((st) => st.reserve("UpdateCertificate", 100, now, 5)));
    const starts = firsts
      .flatMap((f) => Array.from({ length: 5 }, (_, i) => f + i * 100))
      .sort((a, b) => a - b);
    expect(starts).toEqual(Array.from({ length: 15 }, (_, i) => starts[0] + i * 100));
    const item = await doc.send(
      new lib.GetCommand({ TableName: TABLE, Key: { pk: paceKey("UpdateCertificate") } }),
    );
    expect(item.Item?.nextFree).toBe(starts[0] + 1500);
  });

  /** Blocks over the DynamoDB store, through a client that counts its writes. */
  function countedBlocks() {
    const clock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };
    let writes = 0;
    const counted = lib.DynamoDBDocumentClient.from(new DynamoDBClient(moto.clientConfig("eu-west-1")));
    counted.middlewareStack.add(
      (next) => async (args) => {
        writes++;
        return next(args);
      },
      { step: "initialize", name: "countWrites" },
    );
    return { clock, blocks: blockSlots(dynamoSlotStore(lib, counted, TABLE)), writes: () => writes };
  }

  it("a worker applying groups one after another writes about twice per group and holds no start when they end", async () => {
    const { clock, blocks, writes } = countedBlocks();
    const pacer = createPacer({ clock, rates: { ListPolicyVersions: 40 }, slots: blocks });
    const starts: number[] = [];
    // Six groups of eight records, one after another, each group's records reaching the API at once.
    for (let g = 0; g < 6; g++)
      await Promise.all(
        Array.from({ length: 8 }, () =>
          pacer.run("ListPolicyVersions", async () => void starts.push(Date.now())),
        ),
      );
    expect(starts).toHaveLength(48);
    // A start already late when the store answers is given up and another reserved (pacing.ts
    // maxLateMs): on a loaded machine a few are, each one more start spent and at most two more
    // writes (its reservation, and the restart of an idle schedule).
    const late = pacer.stats().ListPolicyVersions!.lateStarts;
    expect(blocks.stats().spent).toBe(48 + late);
    // Per group: one block, the eight calls made in the same turn sharing it; one write, or two
    // when the schedule was idle.
    expect(blocks.stats().blocks).toBeLessThanOrEqual(6 + late);
    expect(writes()).toBeLessThanOrEqual(6 * 2 + 2 * late);
    // Nothing reserved for calls that never came: every block's starts went to waiting calls.
    expect(blocks.stats().held).toBe(0);
    // 48 starts 25 ms apart span 47 intervals; a start runs at most 25 ms late.
    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(47 * 25 - 50);
  });

  it("gives a group's calls that wait together one block", async () => {
    const { clock, blocks, writes } = countedBlocks();
    const pacer = createPacer({ clock, rates: { DescribeThingGroup: 20 }, slots: blocks });
    const starts: number[] = [];
    // Ten records of a group reach the API at once.
    await Promise.all(
      Array.from({ length: 10 }, () =>
        pacer.run("DescribeThingGroup", async () => void starts.push(Date.now())),
      ),
    );
    const late = pacer.stats().DescribeThingGroup!.lateStarts;
    expect(starts).toHaveLength(10);
    // One block for the ten calls made in the same turn (two writes: the schedule was idle), and a
    // few more for starts given up late.
    expect(blocks.stats().blocks).toBeLessThanOrEqual(1 + late);
    expect(writes()).toBeLessThanOrEqual(2 + 2 * late);
    // Still one interval (50 ms) apart: ten starts span nine intervals, each at most 25 ms late.
    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(9 * 50 - 50);
  });

  it("reports a schedule it cannot reach as Throttled (retried by the state machine, never dead-lettered)", async () => {
    const store = dynamoSlotStore(lib, doc, "no-such-table");
    await expect(store.reserve("CreateThing", 10, Date.now())).rejects.toMatchObject({
      name: "Throttled",
      api: "CreateThing",
      message: expect.stringContaining("ResourceNotFoundException"),
    });
  });

  it("refuses to build without a table name", () => {
    expect(() => dynamoSlotStore(lib, doc, "")).toThrow("needs the marker table's name");
  });
});
