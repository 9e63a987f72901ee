/**
 * What replay may overwrite (echoMarkers.ts): the states replication knows a region's registry may
 * hold. Kept in the applied marker, next to the echo entries, and never confused with them.
 */
import { describe, expect, it } from "vitest";
import {
  DELETED_MARKER_RETENTION_SECONDS,
  getAppliedMarker,
  isEcho,
  isKnownState,
  recordApplied,
  recordSeen,
} from "../../../functions/registry/echoMarkers.js";
import { stateHash } from "../../../functions/registry/records.js";
import { memoryOpsTable } from "../../../functions/registry/table.js";

const REGION = "eu-west-1";
const KEY = "thing#t";
const WINDOW = 60_000;
const v = (firmware: string) => stateHash({ name: "t", attributes: { firmware } });
const applied = (hashes: string[], now: number, liveHash?: string) => ({
  region: REGION,
  key: KEY,
  hashes,
  now,
  windowMs: WINDOW,
  liveHash,
});
const marker = async (table: ReturnType<typeof memoryOpsTable>) =>
  (await getAppliedMarker(table, REGION, KEY))!;

describe("the states replay may overwrite", () => {
  it("are what replay's last apply passed through, and what it found before acting for the echo window only", async () => {
    const table = memoryOpsTable();
    await recordApplied(table, applied([v("inactive"), v("v2")], 1_000, v("v1")));
    const m = await marker(table);
    expect(m.seen).toEqual([v("inactive"), v("v2")]);
    expect(isKnownState(m, v("v2"), 1_000 + 10 * WINDOW, WINDOW)).toBe(true);
    expect(isKnownState(m, v("v1"), 1_000 + WINDOW, WINDOW)).toBe(true);
    expect(isKnownState(m, v("v1"), 2_000 + WINDOW, WINDOW)).toBe(false);
    expect(isKnownState(m, v("v9"), 1_000, WINDOW)).toBe(false);
    // The state found is never an echo: a thing replay created and C&C deletes is a genuine delete.
    expect(isEcho(m, v("v1"), 1_000, WINDOW)).toBe(false);
    expect(isEcho(m, v("v2"), 1_000, WINDOW)).toBe(true);
  });

  it("become the one capture read, which also ends the echo entries before a local change", async () => {
    const table = memoryOpsTable();
    await recordApplied(table, applied([v("v2")], 1_000, v("v1")));
    await recordSeen(table, REGION, KEY, v("v3"), 2_000, { forgetBefore: 1_500 });
    const m = await marker(table);
    expect(m.seen).toEqual([v("v3")]);
    expect(m.entries).toEqual([]);
    expect(isKnownState(m, v("v2"), 2_000, WINDOW)).toBe(false);
    // Nothing new to say: no write.
    const writes = table.writes;
    await recordSeen(table, REGION, KEY, v("v3"), 3_000);
    expect(table.writes).toBe(writes);
  });

  it("are not written where replay never acted, so the active region's own changes cost no marker write", async () => {
    const table = memoryOpsTable();
    await recordSeen(table, REGION, KEY, v("v1"), 1_000);
    expect(table.writes).toBe(0);
    expect(await getAppliedMarker(table, REGION, KEY)).toBeNull();
  });

  it("outlive the echo window while the resource exists, and go with it 30 days after it is deleted", async () => {
    const table = memoryOpsTable();
    await recordApplied(table, applied([v("v1")], 1_000_000));
    expect((await marker(table)).expiresAt).toBeUndefined();
    await recordApplied(table, applied([stateHash(null)], 2_000_000));
    expect((await marker(table)).expiresAt).toBe(2_000 + DELETED_MARKER_RETENTION_SECONDS);
  });
});
