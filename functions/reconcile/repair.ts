/**
 * Repair: makes the target region equal to the source through the replay code. Each difference
 * becomes a record built from the source's state (a tombstone for an `extra`) and goes through
 * `applyBatch`, which does only the difference, in dependency order, with the echo markers.
 *
 * An `extra` is deleted only when the ops table holds its tombstone, or when the table has no
 * record of it and a fresh read confirms it is absent in the source. A live record means someone
 * created it (e.g. in the target while it was active) and replay will bring it to the source:
 * deleting it would lose that change, so it stays and is reported.
 */
import {
  kindOfKey,
  type CertificateState,
  type DesiredState,
  type RegistryRecord,
} from "../registry/records.js";
import { wrapPort, type IotRegistryPort } from "../registry/iotPort.js";
import { getRecord, type OpsTablePort } from "../registry/table.js";
import { applyBatch, type ApplyDeps } from "../replication/apply.js";
import { readState } from "../replication/capture.js";
import type { Logger } from "../replication/observability.js";
import type { Clock, Pacer } from "../replication/pacing.js";
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

const eventId = (random: () => number) =>
  "reconcile-" +
  Array.from({ length: 3 }, () =>
    Math.floor(random() * 0x100000000)
      .toString(16)
      .padStart(8, "0"),
  ).join("");

/** Why an `extra` must not be deleted, or undefined when deleting it is right. */
async function keepExtra(
  key: string,
  deps: RepairDeps,
  sourceIot: IotRegistryPort,
): Promise<string | undefined> {
  const table: OpsTablePort | undefined = deps.apply.table;
  if (table) {
    const record = await getRecord(table, key);
    if (record && record.state !== null)
      return `the ops table holds a live record from ${record.origin}; replay will create it in ${deps.sourceRegion}`;
    if (record) return undefined; // tombstone: it was deleted at its origin
  }
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
      version: { timestamp: now, eventId: eventId(random), region: deps.sourceRegion },
      origin: deps.sourceRegion,
      capturedAt: now,
    });
  }
  if (records.length === 0) return outcome;
  const { outcomes, failures } = await applyBatch(records, deps.apply);
  for (const o of outcomes) if (o.outcome === "applied") outcome.repaired.push(o.key);
  outcome.failed.push(...failures);
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
      onDrift: (drift, state) => {
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
    found ??= result.drift;
    if (extras.length > 0) collect(await repairDrift(extras, repairDeps));
    if (result.drift.length === 0)
      return { compared: result.compared, drift: [], found, repaired, skipped, failed };
  }
  const last = await compareRegions(deps.source, deps.target, { onProgress: deps.onProgress });
  return {
    compared: last.compared,
    drift: last.drift,
    found: found ?? last.drift,
    repaired,
    skipped,
    failed,
  };
}
