/**
 * Backfill: writes one region's existing registry into the ops table as records, so that DR covers
 * what existed before it was enabled (and what registry events never announce: certificates and
 * policies).
 *
 * Versions: every record of a run carries the run's start time minus a clock-skew margin. A change
 * captured during the run happened after the start, so it carries a later version and the
 * conditional write (`putRecordIfNewer`) keeps it; the backfilled state, read after the start,
 * still wins over records captured before the run, which hold older states.
 *
 * Resumable: after each page the position (snapshot cursor) and the counts go to a checkpoint;
 * a resumed run continues after the last finished page with the same version, so a page redone
 * after a crash writes nothing twice (same state and version: `unchanged`).
 */
import { RESOURCE_KINDS, type RegistryRecord, type ResourceKind } from "../registry/records.js";
import { putRecordIfNewer, type OpsTablePort, type PutResult, type TableItem } from "../registry/table.js";
import type { Logger } from "../shared/observability.js";
import type { Clock } from "../shared/clock.js";
import { randomHex } from "../shared/ids.js";
import { SNAPSHOT_KINDS, snapshotRegion, type SnapshotCursor, type SnapshotDeps } from "./snapshot.js";

export const CHECKPOINT_FORMAT = "iot-dr-backfill/1";

export interface BackfillCheckpoint {
  format: typeof CHECKPOINT_FORMAT;
  region: string;
  runId: string;
  /** Version timestamp of every record of the run (ms since the epoch). */
  versionTimestamp: number;
  /** Position after the last finished page; absent before the first. */
  cursor?: SnapshotCursor;
  scanned: Partial<Record<ResourceKind, number>>;
  written: number;
  skipped: number;
  complete: boolean;
}

export interface CheckpointStore {
  load(): Promise<BackfillCheckpoint | undefined>;
  save(checkpoint: BackfillCheckpoint): Promise<void>;
}

/** A checkpoint that lives only as long as the process (no `--checkpoint`). */
export function memoryCheckpoint(): CheckpointStore & { saved: BackfillCheckpoint[] } {
  let current: BackfillCheckpoint | undefined;
  const saved: BackfillCheckpoint[] = [];
  return {
    saved,
    async load() {
      return current && structuredClone(current);
    },
    async save(cp) {
      current = structuredClone(cp);
      saved.push(current);
    },
  };
}

/** Checks a checkpoint read from a file; throws an Error naming the problem. */
export function validateCheckpoint(value: unknown, region: string): BackfillCheckpoint {
  const bad = (why: string) =>
    new Error(`the checkpoint is not usable: ${why}; delete it to start the backfill over`);
  if (!value || typeof value !== "object" || Array.isArray(value)) throw bad("it is not a JSON object");
  const cp = value as Record<string, unknown>;
  if (cp.format !== CHECKPOINT_FORMAT)
    throw bad(`its format is '${String(cp.format)}', expected '${CHECKPOINT_FORMAT}'`);
  if (cp.region !== region) throw bad(`it belongs to a backfill of ${String(cp.region)}, not ${region}`);
  if (typeof cp.runId !== "string" || cp.runId === "") throw bad("it has no runId");
  if (
    typeof cp.versionTimestamp !== "number" ||
    !Number.isSafeInteger(cp.versionTimestamp) ||
    cp.versionTimestamp < 0
  )
    throw bad("its versionTimestamp is not a time in milliseconds");
  if (cp.cursor !== undefined) {
    const c = cp.cursor as Record<string, unknown> | null;
    if (!c || typeof c !== "object" || !SNAPSHOT_KINDS.includes(c.kind as ResourceKind))
      throw bad("its cursor names no known resource kind");
  }
  if (!cp.scanned || typeof cp.scanned !== "object") throw bad("it has no 'scanned' counts");
  for (const [k, n] of Object.entries(cp.scanned as Record<string, unknown>))
    if (!RESOURCE_KINDS.includes(k as ResourceKind) || typeof n !== "number")
      throw bad(`its scanned count '${k}' is not a count of a resource kind`);
  if (typeof cp.written !== "number" || typeof cp.skipped !== "number")
    throw bad("it has no written/skipped counts");
  if (typeof cp.complete !== "boolean") throw bad("it has no 'complete' flag");
  return value as BackfillCheckpoint;
}

export interface BackfillProgress {
  kind: ResourceKind;
  scanned: Partial<Record<ResourceKind, number>>;
  written: number;
  skipped: number;
}

export interface BackfillDeps {
  region: string;
  snapshot: SnapshotDeps;
  table: OpsTablePort;
  clock: Clock;
  logger: Logger;
  checkpoint: CheckpointStore;
  /** Count what would be written; the table is only read. */
  dryRun?: boolean;
  /** Subtracted from the start time for the records' version; default 5 minutes. */
  skewMarginMs?: number;
  /** Concurrent table writes within a page; default 8. */
  writeConcurrency?: number;
  /** Uniform in [0, 1) for the run id; default Math.random. */
  random?: () => number;
  onPage?: (progress: BackfillProgress) => void;
}

export interface BackfillResult {
  scanned: Record<string, number>;
  written: number;
  skipped: number;
  /** True when the run continued an interrupted one. */
  resumed: boolean;
  runId: string;
}

/** A view of the table that answers reads and pretends to write: `putRecordIfNewer` then says what it would do. */
function readOnly(table: OpsTablePort): OpsTablePort {
  return {
    get: (pk, options) => table.get(pk, options),
    scan: (next, limit) => table.scan(next, limit),
    put: async (_item: TableItem) => true,
  };
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let i = 0;
  const worker = async () => {
    while (i < items.length) await fn(items[i++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function runBackfill(deps: BackfillDeps): Promise<BackfillResult> {
  const random = deps.random ?? Math.random;
  const previous = await deps.checkpoint.load();
  if (previous) validateCheckpoint(previous, deps.region);
  const resumed = previous !== undefined && !previous.complete && !deps.dryRun;
  const cp: BackfillCheckpoint = resumed
    ? previous!
    : {
        format: CHECKPOINT_FORMAT,
        region: deps.region,
        runId: randomHex(random, 1),
        versionTimestamp: Math.max(0, deps.clock.now() - (deps.skewMarginMs ?? 5 * 60_000)),
        scanned: {},
        written: 0,
        skipped: 0,
        complete: false,
      };
  const table = deps.dryRun ? readOnly(deps.table) : deps.table;
  deps.logger.info(resumed ? "backfill resumed" : "backfill started", {
    region: deps.region,
    runId: cp.runId,
    versionTimestamp: cp.versionTimestamp,
    ...(resumed ? { cursor: cp.cursor } : {}),
    dryRun: deps.dryRun === true,
  });
  for await (const page of snapshotRegion(deps.snapshot, cp.cursor ? { resumeFrom: cp.cursor } : {})) {
    const now = deps.clock.now();
    const results: PutResult[] = [];
    await inParallel(page.entries, deps.writeConcurrency ?? 8, async (e) => {
      const record: RegistryRecord = {
        key: e.key,
        kind: e.kind,
        state: e.state,
        version: { timestamp: cp.versionTimestamp, eventId: `backfill-${cp.runId}`, region: deps.region },
        origin: deps.region,
        capturedAt: now,
      };
      results.push(await putRecordIfNewer(table, record));
    });
    cp.scanned[page.kind] = (cp.scanned[page.kind] ?? 0) + page.entries.length;
    cp.written += results.filter((r) => r === "written").length;
    cp.skipped += results.filter((r) => r !== "written").length;
    cp.cursor = page.cursor;
    if (!deps.dryRun) await deps.checkpoint.save(cp);
    deps.onPage?.({ kind: page.kind, scanned: cp.scanned, written: cp.written, skipped: cp.skipped });
  }
  cp.complete = true;
  if (!deps.dryRun) await deps.checkpoint.save(cp);
  deps.logger.info("backfill complete", {
    region: deps.region,
    runId: cp.runId,
    written: cp.written,
    skipped: cp.skipped,
  });
  const scanned = Object.fromEntries(SNAPSHOT_KINDS.map((k) => [k, cp.scanned[k] ?? 0]));
  return { scanned, written: cp.written, skipped: cp.skipped, resumed, runId: cp.runId };
}
