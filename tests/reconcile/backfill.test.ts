import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { memoryCheckpoint, runBackfill, type BackfillDeps } from "../../functions/reconcile/backfill.js";
import { fromItem, toItem, type RegistryRecord } from "../../functions/registry/records.js";
import { getRecord, memoryOpsTable, putRecordIfNewer } from "../../functions/registry/table.js";
import { silentLogger } from "../../functions/shared/observability.js";
import { fileCheckpoint } from "../../cli/commands/backfill.js";
import { fastPacer } from "./support.js";
import { record } from "../replication/infra/fixtures.js";
import { expectedKeys, stubPorts, stubRegistry, type StubOptions } from "./stubRegistry.js";

const REGION = "eu-west-1";
const START = Date.UTC(2026, 10, 27, 2, 0, 0);

/** A table that counts writes per key. */
function countingTable() {
  const table = memoryOpsTable();
  const perKey = new Map<string, number>();
  const put = table.put.bind(table);
  table.put = async (item, condition) => {
    const ok = await put(item, condition);
    if (ok) perKey.set(String(item.pk), (perKey.get(String(item.pk)) ?? 0) + 1);
    return ok;
  };
  return Object.assign(table, { perKey });
}

function deps(
  reg: ReturnType<typeof stubRegistry>,
  stub: StubOptions,
  extra: Partial<BackfillDeps> & Pick<BackfillDeps, "table" | "checkpoint">,
): BackfillDeps {
  let t = START;
  return {
    region: REGION,
    snapshot: { ...stubPorts(reg, stub), pacer: fastPacer() },
    clock: { now: () => (t += 10), sleep: async () => {} },
    logger: silentLogger,
    random: () => 0.25,
    ...extra,
  };
}

describe("backfill", () => {
  it("interrupted half-way and resumed from its checkpoint, writes every record exactly once", async () => {
    const reg = stubRegistry(12);
    const table = countingTable();
    const checkpoint = memoryCheckpoint();
    await expect(
      runBackfill(deps(reg, { pageSize: 3, failFromCall: 40 }, { table, checkpoint })),
    ).rejects.toThrow(/injected failure on call 40/);
    const saved = await checkpoint.load();
    expect(saved?.complete).toBe(false);
    expect(saved?.cursor).toBeDefined();
    const writtenBefore = table.perKey.size;
    expect(writtenBefore).toBeGreaterThan(0);
    expect(writtenBefore).toBeLessThan(expectedKeys(reg).length);

    const result = await runBackfill(deps(reg, { pageSize: 3 }, { table, checkpoint }));
    expect(result.resumed).toBe(true);
    expect([...table.perKey.keys()].sort()).toEqual(expectedKeys(reg));
    expect([...table.perKey.values()].every((n) => n === 1)).toBe(true);
    expect(result.written).toBe(expectedKeys(reg).length);
    expect(Object.values(result.scanned).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(
      expectedKeys(reg).length,
    );
    // Both runs wrote one version: the first run's start time minus the skew margin.
    const versions = new Set([...table.items.values()].map((i) => fromItem(i).version.timestamp));
    expect(versions).toEqual(new Set([saved!.versionTimestamp]));
    expect(saved!.versionTimestamp).toBe(START + 10 - 5 * 60_000);
  });

  it("a change captured during the backfill is not overwritten, and a tombstone is not resurrected", async () => {
    const reg = stubRegistry(6);
    const table = memoryOpsTable();
    const captured: RegistryRecord = record(
      "thing",
      "thing#thing-5",
      { name: "thing-5", thingTypeName: "type-5", attributes: { n: "changed" } },
      { origin: REGION, timestamp: START + 1_000 },
    );
    const deleted: RegistryRecord = {
      ...captured,
      key: "thing#thing-4",
      state: null,
      version: { ...captured.version, eventId: `${captured.version.eventId}-delete` },
    };
    let injected = false;
    const result = await runBackfill(
      deps(
        reg,
        { pageSize: 2 },
        {
          table,
          checkpoint: memoryCheckpoint(),
          onPage: (p) => {
            // Capture runs while the backfill is still on thing types.
            if (!injected && p.kind === "thingType") {
              injected = true;
              void putRecordIfNewer(table, captured);
              void putRecordIfNewer(table, deleted);
            }
          },
        },
      ),
    );
    expect(injected).toBe(true);
    expect(await getRecord(table, "thing#thing-5")).toEqual(captured);
    expect((await getRecord(table, "thing#thing-4"))?.state).toBeNull();
    expect(result.skipped).toBe(2);
    expect(result.written).toBe(expectedKeys(reg).length - 2);
  });

  it("a newer backfill updates what an older backfill wrote, and leaves equal states alone", async () => {
    const reg = stubRegistry(3);
    const table = memoryOpsTable();
    await runBackfill(deps(reg, { pageSize: 250 }, { table, checkpoint: memoryCheckpoint() }));
    reg.certs[1] = { ...reg.certs[1], status: "REVOKED" };
    const second = await runBackfill({
      ...deps(reg, { pageSize: 250 }, { table, checkpoint: memoryCheckpoint() }),
      clock: { now: () => START + 3_600_000, sleep: async () => {} },
    });
    expect(second.written).toBe(1);
    expect((await getRecord(table, `certificate#${reg.certs[1].certificateId}`))?.state).toMatchObject({
      status: "REVOKED",
    });
  });

  it("a dry run reads the table, counts what it would write and writes nothing", async () => {
    const reg = stubRegistry(3);
    const table = memoryOpsTable();
    const existing = record("thingType", "thingType#type-0", reg.types[0]!, {
      origin: REGION,
      timestamp: START + 999_999,
    });
    await table.put(toItem(existing) as never);
    const checkpoint = memoryCheckpoint();
    const result = await runBackfill(deps(reg, { pageSize: 250 }, { table, checkpoint, dryRun: true }));
    expect(result.written).toBe(expectedKeys(reg).length - 1);
    expect(result.skipped).toBe(1);
    expect(table.writes).toBe(1);
    expect(checkpoint.saved).toEqual([]);
  });

  it("a checkpoint file survives the process: an interrupted run resumes from the file with the same run id", async () => {
    const reg = stubRegistry(8);
    const table = countingTable();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-cp-")), "backfill.json");
    await expect(
      runBackfill(
        deps(reg, { pageSize: 2, failFromCall: 30 }, { table, checkpoint: fileCheckpoint(file, REGION) }),
      ),
    ).rejects.toThrow(/injected failure/);
    const onDisk = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(onDisk).toMatchObject({ format: "iot-dr-backfill/1", region: REGION, complete: false });
    const result = await runBackfill(
      deps(reg, { pageSize: 2 }, { table, checkpoint: fileCheckpoint(file, REGION) }),
    );
    expect(result.runId).toBe(onDisk.runId);
    expect([...table.perKey.values()].every((n) => n === 1)).toBe(true);
    expect(table.perKey.size).toBe(expectedKeys(reg).length);
    expect(JSON.parse(fs.readFileSync(file, "utf8")).complete).toBe(true);
    // A complete checkpoint starts a fresh run.
    const fresh = await runBackfill(
      deps(reg, { pageSize: 2 }, { table, checkpoint: fileCheckpoint(file, REGION) }),
    );
    expect(fresh.resumed).toBe(false);
  });

  it("refuses a checkpoint of another region or format and changes nothing", async () => {
    const reg = stubRegistry(2);
    const table = memoryOpsTable();
    const bad = [
      [
        {
          format: "iot-dr-backfill/1",
          region: "us-east-1",
          runId: "r",
          versionTimestamp: 1,
          scanned: {},
          written: 0,
          skipped: 0,
          complete: false,
        },
        /belongs to a backfill of us-east-1/,
      ],
      [{ format: "other", region: REGION }, /format is 'other'/],
      [
        {
          format: "iot-dr-backfill/1",
          region: REGION,
          runId: "r",
          versionTimestamp: 1,
          cursor: { kind: "gadget" },
          scanned: {},
          written: 0,
          skipped: 0,
          complete: false,
        },
        /cursor names no known resource kind/,
      ],
      [[1, 2], /not a JSON object/],
    ] as const;
    for (const [cp, message] of bad) {
      const store = { load: async () => structuredClone(cp) as never, save: async () => {} };
      await expect(runBackfill(deps(reg, { pageSize: 2 }, { table, checkpoint: store }))).rejects.toThrow(
        message,
      );
    }
    expect(table.writes).toBe(0);
  });
});
