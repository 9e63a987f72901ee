/**
 * Repair: makes the target region (the standby) equal to the source (the ACTIVE region, whose
 * live registry is the truth; the CLI checks which region that is) through the replay code. Each
 * difference becomes a record built from the source's state (a tombstone for an `extra`) and goes
 * through `applyBatch`, which does only the difference, in dependency order, with the echo
 * markers; the ops table (when given) then takes the same record, so it agrees with the source.
 *
 * An `extra` is deleted once a fresh read confirms it is still absent in the source (it may have
 * been created there since the compare). iot-dr's own resources (registry/ownResources.ts) are
 * neither drift nor repaired.
 */
import {
  kindOfKey,
  type CertificateState,
  type DesiredState,
  type RegistryRecord,
} from "../registry/records.js";
import { wrapPort, type IotRegistryPort } from "../registry/iotPort.js";
import { isOwnInEither } from "../registry/ownResources.js";
import { getRecord, putRecordIfNewer } from "../registry/table.js";
import { applyBatch, type ApplyDeps } from "../replication/apply.js";
import { readState } from "../replication/capture.js";
import type { Logger } from "../shared/observability.js";
import type { Pacer } from "../replication/pacing.js";
import type { Clock } from "../shared/clock.js";
import { newEventId } from "../shared/ids.js";
import { compareRegions, type CompareProgress, type Drift } from "./compare.js";
import { isAttachmentKind, type SnapshotDeps } from "./snapshot.js";

export interface PendingRepair {
  drift: Drift;
  /** The source's state; null for an `extra`. */
  state: DesiredState | null;
}

export interface RepairDeps {
  sourceRegion: string;
  /** Source reads: a missing certificate's PEM, and whether an `extra` is still absent. */
  sourceIot: IotRegistryPort;
  sourcePacer: Pacer;
  /** Replay into the target; its `table` (when given) is also where tombstones are looked up. */
  apply: ApplyDeps;
  clock: Clock;
  /** Uniform in [0, 1) for event ids; default Math.random. */
  random?: () => number;
}

export interface RepairOutcome {
  /** Keys whose record was applied (something changed in the target). */
  repaired: string[];
  /** Keys left alone on purpose, with why. */
  skipped: { key: string; reason: string }[];
  failed: { key: string; error: { name: string; message: string } }[];
}

/** Why an `extra` must not be deleted, or undefined when deleting it is right. */
async function keepExtra(
  key: string,
  deps: RepairDeps,
  sourceIot: IotRegistryPort,
): Promise<string | undefined> {
  if ((await readState(key, sourceIot)) !== null) return `it exists in ${deps.sourceRegion} now`;
  return undefined;
}

/** Applies records built from the source's state for the given differences. */
export async function repairDrift(items: readonly PendingRepair[], deps: RepairDeps): Promise<RepairOutcome> {
  const random = deps.random ?? Math.random;
  const sourceIot = wrapPort(deps.sourceIot, (api, call) => deps.sourcePacer.run(api, call));
  const outcome: RepairOutcome = { repaired: [], skipped: [], failed: [] };
  const records: RegistryRecord[] = [];
  for (const { drift, state } of items) {
    let desired = state;
    if (drift.kind === "extra") {
      const why = await keepExtra(drift.key, deps, sourceIot);
      if (why) {
        outcome.skipped.push({ key: drift.key, reason: why });
        continue;
      }
      desired = null;
    } else if (desired && kindOfKey(drift.key) === "certificate" && !(desired as CertificateState).pem) {
      // Compare does not read PEMs; registering the certificate in the target needs it.
      desired = await sourceIot.describeCertificate((desired as CertificateState).certificateId);
      if (!desired) {
        outcome.skipped.push({ key: drift.key, reason: `it no longer exists in ${deps.sourceRegion}` });
        continue;
      }
    }
    const now = deps.clock.now();
    records.push({
      key: drift.key,
      kind: kindOfKey(drift.key),
      state: desired,
      version: { timestamp: now, eventId: newEventId(random, "reconcile-", 3), region: deps.sourceRegion },
      origin: deps.sourceRegion,
      capturedAt: now,
    });
  }
  if (records.length === 0) return outcome;
  // The active region's live registry is the truth: whatever the target holds gives way.
  const { outcomes, failures } = await applyBatch(records, { ...deps.apply, overwriteUnrecorded: true });
  for (const o of outcomes) if (o.outcome === "applied") outcome.repaired.push(o.key);
  outcome.failed.push(...failures);
  // The ops table takes the source's (active region's) state too; its origin keeps the source's replay from applying it back.
  const table = deps.apply.table;
  if (table)
    for (const r of records)
      if (!failures.some((f) => f.key === r.key))
        await putRecordIfNewer(table, r, await getRecord(table, r.key));
  return outcome;
}

export interface ReconcileDeps {
  source: SnapshotDeps & { region: string };
  target: SnapshotDeps & { region: string };
  /** Present to repair; absent to compare only. */
  repair?: Omit<RepairDeps, "sourceRegion" | "sourceIot" | "sourcePacer">;
  logger: Logger;
  onProgress?: (p: CompareProgress) => void;
  /** Compare-and-repair rounds before the final compare; default 2 (a repair can uncover more, e.g. a recreated group's members). */
  maxRounds?: number;
}

export interface ReconcileResult {
  /** Keys compared by the last compare. */
  compared: number;
  /** Differences that remain at the end. */
  drift: Drift[];
  /** Differences the first compare found. */
  found: Drift[];
  /** Records applied to the target. */
  repaired: number;
  skipped: RepairOutcome["skipped"];
  failed: RepairOutcome["failed"];
}

/**
 * Compares (and with `repair`, repairs) the target against the source. Upserts of a kind are
 * repaired as soon as the kind is compared, so that dependants compared next find them; deletes
 * of extras run last, in reverse dependency order (applyBatch orders tombstones).
 */
export async function reconcileRegions(deps: ReconcileDeps): Promise<ReconcileResult> {
  const rounds = deps.repair ? (deps.maxRounds ?? 2) : 0;
  // iot-dr's own resources: found by compare, never drift (registry/ownResources.ts).
  const own = new Set<string>();
  let found: Drift[] | undefined;
  let repaired = 0;
  let skipped: RepairOutcome["skipped"] = [];
  const failed: RepairOutcome["failed"] = [];
  for (let round = 1; round <= rounds; round++) {
    const repairDeps: RepairDeps = {
      ...deps.repair!,
      sourceRegion: deps.source.region,
      sourceIot: deps.source.iot,
      sourcePacer: deps.source.pacer,
    };
    let pending: PendingRepair[] = [];
    const extras: PendingRepair[] = [];
    const collect = (r: RepairOutcome) => {
      repaired += r.repaired.length;
      skipped.push(...r.skipped);
      failed.push(...r.failed);
    };
    skipped = [];
    failed.length = 0;
    const result = await compareRegions(deps.source, deps.target, {
      onProgress: deps.onProgress,
      onDrift: async (drift, state) => {
        if (await isOwnInEither(drift.key, deps.source.iot, deps.target.iot)) {
          own.add(drift.key);
          return;
        }
        deps.logger.info(`drift ${drift.kind}`, { key: drift.key, fields: drift.fields, round });
        (drift.kind === "extra" ? extras : pending).push({ drift, state });
      },
      onKindDone: async (kind) => {
        if (pending.length === 0) return;
        const batch = pending;
        pending = [];
        deps.logger.info("repairing", {
          kind,
          count: batch.length,
          attachments: isAttachmentKind(kind),
          round,
        });
        collect(await repairDrift(batch, repairDeps));
      },
    });
    const drift = result.drift.filter((d) => !own.has(d.key));
    found ??= drift;
    if (extras.length > 0) collect(await repairDrift(extras, repairDeps));
    if (drift.length === 0) return { compared: result.compared, drift: [], found, repaired, skipped, failed };
  }
  const last = await compareRegions(deps.source, deps.target, {
    onProgress: deps.onProgress,
    onDrift: async (d) => {
      if (await isOwnInEither(d.key, deps.source.iot, deps.target.iot)) own.add(d.key);
    },
  });
  const drift = last.drift.filter((d) => !own.has(d.key));
  return {
    compared: last.compared,
    drift,
    found: found ?? drift,
    repaired,
    skipped,
    failed,
  };
}
