/**
 * The scheduled reconciler of one region: compares its own registry (target) against the peer
 * region's (source), publishes the drift as the `DriftCount` metric, and, when configured, repairs
 * its own region.
 *
 * Reading the peer is acceptable here and only here: the reconciler is not on the replay path
 * (replay reads only the table and its own region). A peer that cannot be read (region down) is
 * reported (log line and `ReconcilePeerUnreachable` metric), not a failure of the function.
 *
 * Who is right is decided by the ops table, never by which region is asked: a difference is
 * repaired only when the table's record agrees with the peer (this region is behind the state
 * both regions agreed on, e.g. a replay that was lost), by applying that very record. A
 * difference where the table agrees with this region is the peer's to repair (its own reconciler
 * does it); one the table cannot decide (no record, or a record matching neither region) stays in
 * the metric and the log for an operator (`iot-dr reconcile --source <active> --target <standby> --repair`).
 * Repairs write only into this region, so the reconciler never changes the peer.
 */
import { kindOfKey, type DesiredState, type RegistryRecord } from "../registry/records.js";
import { getRecord, type OpsTablePort } from "../registry/table.js";
import { applyBatch, type ApplyDeps } from "../replication/apply.js";
import { isThrottlingError } from "../replication/errors.js";
import { METRICS_NAMESPACE, type Logger } from "../replication/observability.js";
import type { Clock } from "../replication/pacing.js";
import { compareRegions, differingFields, digest, type Drift } from "./compare.js";
import type { IotRegistryPort } from "../registry/iotPort.js";
import type { IotListPort } from "./listPort.js";
import type { SnapshotDeps } from "./snapshot.js";

export const RECONCILER_SERVICE = "iot-dr-reconciler";
export const DRIFT_METRIC = "DriftCount";
export const PEER_UNREACHABLE_METRIC = "ReconcilePeerUnreachable";
export const DRIFT_REPAIRED_METRIC = "DriftRepaired";

/**
 * The peer region could not be read; carries the SDK error as `cause`. A named plain Error:
 * Pulumi's closure serializer does not keep `class X extends Error` intact (functions/replication/errors.ts).
 */
export const peerUnreachable = (message: string, cause: unknown): Error =>
  Object.assign(new Error(message, { cause }), { name: "PeerUnreachable" });

/** Wraps every method of a port so that a failure other than throttling (which the pacer retries) is PeerUnreachable. */
function tagFailures<T extends object>(port: T, region: string): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(port) as (keyof T)[]) {
    const fn = port[key];
    if (typeof fn !== "function") continue;
    out[key as string] = async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>).apply(port, args);
      } catch (err) {
        if (isThrottlingError(err)) throw err;
        throw peerUnreachable(
          `cannot read the peer region ${region}: ${(err as Error)?.message ?? String(err)}`,
          err,
        );
      }
    };
  }
  return out as T;
}

export interface ScheduledReconcileDeps {
  /** This region (the target of comparisons and repairs). */
  region: string;
  peerRegion: string;
  own: SnapshotDeps;
  peer: SnapshotDeps;
  table: OpsTablePort;
  /** Repair this region where the ops table says it is behind (config `reconcile.repair`). */
  repair: boolean;
  /** Replay into this region (with the table, for echo markers). */
  apply: ApplyDeps;
  clock: Clock;
  logger: Logger;
  /** Writes one CloudWatch embedded-metric-format line (stdout in Lambda). */
  emit: (line: string) => void;
}

export interface ScheduledOutcome {
  status: "equal" | "drift" | "peer-unreachable";
  compared: number;
  /** Differences found. */
  found: number;
  /** Repaired by applying the table's record. */
  repaired: number;
  /** This region's drift left after the run (found, minus what the peer must repair, minus repaired): the published DriftCount. */
  remaining: number;
  /** Differences the table could not decide. */
  undecided: number;
  /** Differences where the peer is behind the table (its reconciler repairs them). */
  leftToPeer: number;
}

/** One EMF document; the metric goes out with the `service` dimension and without any, so readers need no dimensions. */
export function emfDocument(now: number, metrics: Record<string, number>): string {
  return JSON.stringify({
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [["service"], []],
          Metrics: Object.keys(metrics).map((Name) => ({ Name, Unit: "Count" })),
        },
      ],
    },
    service: RECONCILER_SERVICE,
    ...metrics,
  });
}

type Verdict = { record: RegistryRecord } | { peerToRepair: true } | { undecided: string };

/** Which region the ops table's record agrees with, for one difference. */
async function decide(
  drift: Drift,
  peerState: DesiredState | null,
  ownDigest: string[] | undefined,
  table: OpsTablePort,
): Promise<Verdict> {
  const record = await getRecord(table, drift.key);
  if (!record) return { undecided: "the ops table holds no record of it" };
  const kind = kindOfKey(drift.key);
  const sameAsPeer =
    record.state === null || peerState === null
      ? record.state === peerState
      : differingFields(kind, record.state, peerState).length === 0;
  if (sameAsPeer) return { record };
  const sameAsOwn =
    record.state === null || ownDigest === undefined
      ? record.state === null && ownDigest === undefined
      : digest(kind, record.state).join() === ownDigest.join();
  if (sameAsOwn) return { peerToRepair: true };
  return { undecided: `the ops table's record (from ${record.origin}) matches neither region's state` };
}

export async function runScheduledReconcile(deps: ScheduledReconcileDeps): Promise<ScheduledOutcome> {
  const peer: SnapshotDeps = {
    list: tagFailures<IotListPort>(deps.peer.list, deps.peerRegion),
    iot: tagFailures<IotRegistryPort>(deps.peer.iot, deps.peerRegion),
    pacer: deps.peer.pacer,
  };
  const log = { region: deps.region, peerRegion: deps.peerRegion };
  let found = 0;
  let undecided = 0;
  let leftToPeer = 0;
  let repaired = 0;
  let pending: RegistryRecord[] = [];
  const tombstones: RegistryRecord[] = [];
  const applyPending = async (records: RegistryRecord[]) => {
    if (records.length === 0) return;
    const { outcomes, failures } = await applyBatch(records, deps.apply);
    repaired += outcomes.length; // "unchanged" too: the difference is gone either way
    for (const f of failures) deps.logger.warn("drift repair failed", log, { key: f.key, error: f.error });
  };
  let result;
  try {
    result = await compareRegions(peer, deps.own, {
      onDrift: async (drift, peerState, ownDigest) => {
        found++;
        const verdict = await decide(drift, peerState, ownDigest, deps.table);
        if ("record" in verdict) {
          deps.logger.info(`drift ${drift.kind}: this region is behind the ops table`, log, { ...drift });
          if (deps.repair) (verdict.record.state === null ? tombstones : pending).push(verdict.record);
        } else if ("peerToRepair" in verdict) {
          leftToPeer++;
          deps.logger.info(
            `drift ${drift.kind}: the peer is behind the ops table; its reconciler repairs it`,
            log,
            {
              ...drift,
            },
          );
        } else {
          undecided++;
          deps.logger.warn(`drift ${drift.kind}: ${verdict.undecided}`, log, {
            ...drift,
            hint: `iot-dr reconcile --source <active region> --target <standby region> --repair`,
          });
        }
      },
      onKindDone: async () => {
        const batch = pending;
        pending = [];
        await applyPending(batch);
      },
    });
    await applyPending(tombstones);
  } catch (err) {
    if ((err as Error)?.name !== "PeerUnreachable") throw err;
    deps.logger.error("peer region unreachable; drift not measured", log, { error: (err as Error).message });
    deps.emit(emfDocument(deps.clock.now(), { [PEER_UNREACHABLE_METRIC]: 1 }));
    return { status: "peer-unreachable", compared: 0, found, repaired, remaining: 0, undecided, leftToPeer };
  }
  // Differences the peer's own reconciler repairs are the peer's drift, not this region's.
  const remaining = Math.max(0, found - leftToPeer - repaired);
  deps.emit(
    emfDocument(deps.clock.now(), {
      [DRIFT_METRIC]: remaining,
      [DRIFT_REPAIRED_METRIC]: repaired,
      [PEER_UNREACHABLE_METRIC]: 0,
    }),
  );
  deps.logger.info("reconcile done", log, {
    compared: result.compared,
    found,
    repaired,
    remaining,
    undecided,
    leftToPeer,
  });
  return {
    status: found === 0 ? "equal" : "drift",
    compared: result.compared,
    found,
    repaired,
    remaining,
    undecided,
    leftToPeer,
  };
}
