/**
 * One reconcile pass at a time without reserved concurrency (issue #17, item 5): the lease item
 * against DynamoDB (moto), and a scheduled start that meets another pass's lease changes nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as lib from "@aws-sdk/lib-dynamodb";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { passLockFromSdk, reconcileLockKey } from "../../functions/reconcile/lock.js";
import { runScheduledReconcile } from "../../functions/reconcile/scheduled.js";
import { memoryOpsTable } from "../../functions/registry/table.js";
import { useMoto } from "../support/useMoto.js";
import { region as regionOf, scheduledDeps } from "./support.js";
import { createPkTable } from "../support/tables.js";

const REGION = "eu-west-1";
const moto = useMoto({ resetBeforeEach: false });
let doc: lib.DynamoDBDocumentClient;

beforeAll(async () => {
  const ddb = new DynamoDBClient(moto.clientConfig(REGION));
  await createPkTable(ddb, "lock");
  doc = lib.DynamoDBDocumentClient.from(ddb);
});

const lockItem = async () =>
  (await doc.send(new lib.GetCommand({ TableName: "lock", Key: { pk: reconcileLockKey(REGION) } }))).Item;

describe("the reconcile pass lock on DynamoDB", () => {
  it("admits one pass: a second is refused while the lease runs, the holder renews, an expired lease is taken over", async () => {
    const lock = passLockFromSdk(lib, doc, "lock", REGION);
    expect(await lock.acquire("pass-a", 1_000, 10_000)).toBe(true);
    expect(await lock.acquire("pass-b", 2_000, 11_000)).toBe(false);
    expect(await lock.acquire("pass-a", 5_000, 20_000)).toBe(true); // a continuation renews
    expect(await lock.acquire("pass-b", 15_000, 30_000)).toBe(false);
    expect(await lock.acquire("pass-b", 20_001, 30_000)).toBe(true); // pass-a died; its lease ran out
    // The late holder's release does not free the new holder's lock.
    await lock.release("pass-a");
    expect(await lockItem()).toMatchObject({ passId: "pass-b", leaseUntil: 30_000 });
    await lock.release("pass-b");
    expect(await lockItem()).toBeUndefined();
  });

  it("a scheduled start that meets another pass's lease is skipped and reads nothing", async () => {
    const lock = passLockFromSdk(lib, doc, "lock", REGION);
    const now = Date.now();
    expect(await lock.acquire("running-pass", now, now + 600_000)).toBe(true);
    const own = regionOf(moto, REGION);
    const peer = regionOf(moto, "us-east-1");
    const calls: string[] = [];
    // Every registry list call of either region is counted when it is made.
    const counting = (side: typeof own) => ({
      ...side,
      list: Object.fromEntries(
        Object.entries(side.list).map(([k, f]) => [
          k,
          typeof f === "function"
            ? (...a: unknown[]) => {
                calls.push(k);
                return (f as (...x: unknown[]) => unknown).apply(side.list, a);
              }
            : f,
        ]),
      ) as typeof side.list,
    });
    const table = memoryOpsTable();
    const lines: string[] = [];
    const outcome = await runScheduledReconcile(
      scheduledDeps(own, peer, table, {
        own: counting(own),
        peer: counting(peer),
        repair: true,
        clock: { now: () => Date.now(), sleep: async () => {} },
        lines,
        lock: { port: lock, leaseMs: 600_000 },
      }),
    );
    expect(outcome.status).toBe("skipped");
    expect(calls).toEqual([]);
    expect(lines).toEqual([]);
    expect(await lockItem()).toMatchObject({ passId: "running-pass" });
    await lock.release("running-pass");
  });

  it("a pass that completes releases its lease", async () => {
    const lock = passLockFromSdk(lib, doc, "lock", REGION);
    const own = regionOf(moto, REGION);
    const peer = regionOf(moto, "us-east-1");
    const table = memoryOpsTable();
    const outcome = await runScheduledReconcile(
      scheduledDeps(own, peer, table, {
        clock: { now: () => Date.now(), sleep: async () => {} },
        lock: { port: lock, leaseMs: 600_000 },
      }),
    );
    expect(outcome.status).toBe("equal");
    expect(await lockItem()).toBeUndefined();
  });
});
