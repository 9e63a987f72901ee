/**
 * The scheduled reconciler of one region: compares its own registry (target) against the peer
 * region's (source), publishes the drift as the `DriftCount` metric, and, when configured, repairs
 * its own region.
 *
 * Reading the peer is acceptable here and only here: the reconciler is not on the replay path
 * (replay reads only the table and its own region). A peer that cannot be read (region down) is
 * reported (log line and `ReconcilePeerUnreachable` metric), not a failure of the function.
 *
 * Who is right is the ACTIVE region's live registry (the region Route 53 serves,
 * functions/reconcile/activeRegion.ts), never the ops table and never the region that asks:
 * - this region is the standby: every difference is repaired here (when configured) from the
 *   active peer's state, and the ops table is refreshed with that state (origin the active region,
 *   so the active region's replay never applies it back);
 * - this region is active: nothing is repaired here; the differences are the standby's, whose own
 *   reconciler repairs them, so they do not count in this region's DriftCount;
 * - the active region cannot be told (DNS unreachable, no endpoint configured): nothing is
 *   repaired; every difference counts as undecided drift and is logged with its key.
 * iot-dr's own resources (registry/ownResources.ts) are neither drift nor repaired. Repairs write
 * only into this region, so the reconciler never changes the peer, and never the active region.
 *
 * A pass spans several invocations when the registry is large (BENCHMARKS.md "Reconcile"): the
 * first compares every kind but `principal` (list calls, cheap), then `principal` (one
 * ListThingPrincipals per thing per region, 10 TPS by default) is compared in shards of things
 * (a stable hash of the thing name mod N, both regions filtered alike, so each shard's comparison
 * is complete in itself). Shards run while the time budget allows one more; then the pass state
 * (id, next shard, running totals) goes into an asynchronous invocation of this same function.
 * DriftCount is published once, when the pass completes.
 */
import {
  kindOfKey,
  type CertificateState,
  type DesiredState,
  type RegistryRecord,
  type ResourceKind,
} from "../registry/records.js";
import { isOwnInEither } from "../registry/ownResources.js";
import { getRecord, putRecordIfNewer, type OpsTablePort } from "../registry/table.js";
import { applyBatch, type ApplyDeps } from "../replication/apply.js";
import { isThrottlingError } from "../replication/errors.js";
import type { Logger } from "../shared/observability.js";
import { DRIFT_METRIC, RECONCILER_SERVICE } from "./driftMetric.js";
import type { ReconcilerMetrics } from "./metrics.js";
import type { Clock } from "../shared/clock.js";
import { compareRegions, type Drift } from "./compare.js";
import type { ActiveRegion } from "./activeRegion.js";
import type { IotRegistryPort } from "../registry/iotPort.js";
import type { IotListPort } from "./listPort.js";
import { SNAPSHOT_KINDS, type SnapshotDeps } from "./snapshot.js";
import type { PassLockPort } from "./lock.js";

export { DRIFT_METRIC, RECONCILER_SERVICE };
export const PEER_UNREACHABLE_METRIC = "ReconcilePeerUnreachable";
export const DRIFT_REPAIRED_METRIC = "DriftRepaired";
/** Differences the reconciler could not decide (active region unknown); part of DriftCount. */
export const UNDECIDED_DRIFT_METRIC = "UndecidedDrift";

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
  /** Repair this region when it is the standby (config `reconcile.repair`). */
  repair: boolean;
  /** Which region Route 53 serves (activeRegion.ts); asked once per invocation. */
  activeRegion: () => Promise<ActiveRegion>;
  /** Replay into this region (with the table, for echo markers). */
  apply: ApplyDeps;
  clock: Clock;
  logger: Logger;
  /** Publishes the pass's counts (Powertools Metrics' EMF on stdout in Lambda: metrics.ts). */
  metrics: ReconcilerMetrics;
  /**
   * Split the pass over several invocations (the Lambda); absent: the whole pass in this call
   * (one principal shard), as the tools and tests run it.
   */
  pass?: PassControl;
  /**
   * One pass at a time in this region (functions/reconcile/lock.ts): each invocation takes or
   * renews the lease for `leaseMs`; absent: no lock (the tools run one pass themselves).
   */
  lock?: { port: PassLockPort; leaseMs: number };
}

export interface PassControl {
  /** Milliseconds this invocation may still spend, the safety margin already taken off. */
  remainingMs(): number;
  /** Starts the next invocation of this function with `event` (asynchronously; does not wait for it). */
  continueWith(event: ContinuationEvent): Promise<void>;
  /** Minutes between scheduled starts; a pass that takes longer is logged as a warning. */
  scheduleMinutes?: number;
}

/** Running totals of a pass; carried from invocation to invocation. */
export interface PassTotals {
  compared: number;
  found: number;
  repaired: number;
  undecided: number;
  leftToPeer: number;
  /** Differences about iot-dr's own resources, not counted as drift. */
  own?: number;
}

/** The state of a pass that continues in another invocation. */
export interface PassState {
  passId: string;
  startedAt: number;
  /** Invocations of this pass so far (1 for the first). */
  invocation: number;
  /** The principal shard to compare next. */
  nextShard: number;
  shardCount: number;
  /** Estimated milliseconds of one shard (rates and thing count), or the longest seen so far. */
  shardMs: number;
  totals: PassTotals;
}

/** The event of a continuation invocation. */
export interface ContinuationEvent {
  reconcilePass: PassState;
}

export interface ScheduledOutcome {
  /** `continued`: the pass goes on in another invocation; `skipped`: a late scheduled start (a pass was running). */
  status: "equal" | "drift" | "peer-unreachable" | "continued" | "skipped";
  passId?: string;
  compared: number;
  /** Differences found. */
  found: number;
  /** Repaired from the active peer's state (this region is the standby). */
  repaired: number;
  /** This region's drift left after the pass (found, minus what the standby peer must repair, minus repaired): the published DriftCount. */
  remaining: number;
  /** Differences that could not be decided (the active region is unknown). */
  undecided: number;
  /** Differences while this region is active: the standby peer's to repair. */
  leftToPeer: number;
  /** Differences about iot-dr's own resources, not counted. */
  own?: number;
  /** Set when the pass continues: where it goes on. */
  next?: PassState;
}

/** ListThings returns up to 250 things a page on AWS: what each principal shard lists again. */
export const THINGS_PER_LIST_PAGE = 250;
/** Shards sized so that about this many fit one invocation's budget: small enough to pack well, few enough that re-listing the things stays cheap. */
export const SHARDS_PER_INVOCATION = 3;
/** Hashing does not split things evenly: a shard is planned for this much more than its share. */
export const SHARD_SKEW = 1.1;
/** A pass has at most this many principal shards (each re-lists every thing). */
export const MAX_SHARDS = 1000;
/**
 * A scheduled start delivered this late was held back by Lambda because the reserved concurrency
 * of 1 was busy, i.e. a pass was running: it is dropped rather than interleaved with that pass.
 */
export const STALE_START_MS = 5 * 60_000;

/**
 * Principal shards for `things` things per region: each shard's estimated time (its ListThingPrincipals
 * plus the ListThings pages every shard repeats, at the slower region's paced rate) is at most
 * 1/SHARDS_PER_INVOCATION of an invocation's usable budget.
 */
export function principalShardPlan(
  things: number,
  usableMs: number,
  rates: { listThingPrincipals: number; listThings: number },
): { shardCount: number; shardMs: number } {
  const perThingMs = 1000 / rates.listThingPrincipals;
  const listMs = Math.max(1, Math.ceil(things / THINGS_PER_LIST_PAGE)) * (1000 / rates.listThings);
  const estimate = (n: number) => listMs + Math.ceil((things / n) * SHARD_SKEW) * perThingMs;
  const cap = Math.max(1, Math.min(things, MAX_SHARDS));
  const room = usableMs / SHARDS_PER_INVOCATION - listMs;
  const wanted = room > perThingMs ? Math.ceil((things * SHARD_SKEW * perThingMs) / room) : cap;
  const shardCount = Math.min(cap, Math.max(1, wanted));
  return { shardCount, shardMs: estimate(shardCount) };
}

/** Which event started this invocation. */
function continuationOf(event: unknown): PassState | undefined {
  const p = (event as Partial<ContinuationEvent> | null)?.reconcilePass;
  if (!p) return undefined;
  if (
    typeof p.passId !== "string" ||
    !Number.isInteger(p.nextShard) ||
    !Number.isInteger(p.shardCount) ||
    p.shardCount < 1 ||
    p.nextShard < 0 ||
    p.nextShard > p.shardCount ||
    typeof p.totals !== "object"
  )
    throw new Error(`malformed reconcile continuation event: ${JSON.stringify(p)}`);
  return p;
}

/** Milliseconds a scheduled EventBridge event was delivered after its time; undefined for other events. */
function lateness(event: unknown, now: number): number | undefined {
  const e = event as { source?: string; "detail-type"?: string; time?: string } | null;
  if (e?.source !== "aws.events" || e["detail-type"] !== "Scheduled Event" || !e.time) return undefined;
  const at = Date.parse(e.time);
  return Number.isFinite(at) ? now - at : undefined;
}

export async function runScheduledReconcile(
  deps: ScheduledReconcileDeps,
  event: unknown = {},
): Promise<ScheduledOutcome> {
  const peer: SnapshotDeps = {
    list: tagFailures<IotListPort>(deps.peer.list, deps.peerRegion),
    iot: tagFailures<IotRegistryPort>(deps.peer.iot, deps.peerRegion),
    pacer: deps.peer.pacer,
  };
  const continued = continuationOf(event);
  const now = deps.clock.now();
  const late = continued ? undefined : lateness(event, now);
  const zero: PassTotals = { compared: 0, found: 0, repaired: 0, undecided: 0, leftToPeer: 0 };
  if (deps.pass && late !== undefined && late > STALE_START_MS) {
    deps.logger.warn("scheduled start delivered late: a pass was running; this start is dropped", {
      region: deps.region,
      lateMs: late,
    });
    return { status: "skipped", remaining: 0, ...zero };
  }
  const state: PassState = continued
    ? { ...continued, invocation: continued.invocation + 1, totals: { ...zero, ...continued.totals } }
    : {
        passId: `${deps.region}-${new Date(now).toISOString()}`,
        startedAt: now,
        invocation: 1,
        nextShard: 0,
        shardCount: 1,
        shardMs: 0,
        totals: { ...zero },
      };
  const totals = state.totals;
  const log = { region: deps.region, peerRegion: deps.peerRegion, passId: state.passId };
  if (deps.lock && !(await deps.lock.port.acquire(state.passId, now, now + deps.lock.leaseMs))) {
    deps.logger.warn("another reconcile pass holds this region's lock; this invocation is dropped", log, {
      continuation: continued !== undefined,
    });
    return { status: "skipped", remaining: 0, ...zero };
  }

  // Decided once per invocation; a continuation asks again (a fail-over may have happened meanwhile).
  const active = await deps.activeRegion();
  const role =
    active.region === deps.region ? "active" : active.region === deps.peerRegion ? "standby" : "unknown";
  deps.logger.info(`this region is ${role}`, log, { activeRegion: active.region, how: active.how });
  let eventSeq = 0;
  const fromActive = (drift: Drift, state: DesiredState | null): RegistryRecord => {
    const now = deps.clock.now();
    return {
      key: drift.key,
      kind: kindOfKey(drift.key),
      state,
      version: {
        timestamp: now,
        eventId: `reconcile-${state === null ? "x" : "r"}-${now}-${eventSeq++}`,
        region: deps.peerRegion,
      },
      origin: deps.peerRegion,
      capturedAt: now,
    };
  };

  /** Compares some kinds (or one principal shard) and, as the standby, repairs from the active peer; adds to the totals. */
  const part = async (kinds: readonly ResourceKind[], shard?: { index: number; count: number }) => {
    let pending: RegistryRecord[] = [];
    const tombstones: RegistryRecord[] = [];
    const applyPending = async (records: RegistryRecord[]) => {
      if (records.length === 0) return;
      // The active region's live registry is the truth: whatever this standby holds gives way.
      const { outcomes, failures } = await applyBatch(records, { ...deps.apply, overwriteUnrecorded: true });
      totals.repaired += outcomes.length; // "unchanged" too: the difference is gone either way
      const failedKeys = failures.map((f) => f.key);
      for (const f of failures) deps.logger.warn("drift repair failed", log, { key: f.key, error: f.error });
      // The ops table takes the active region's state too, so replay and capture agree with it.
      for (const r of records)
        if (!failedKeys.includes(r.key))
          await putRecordIfNewer(deps.table, r, await getRecord(deps.table, r.key));
    };
    const result = await compareRegions(peer, deps.own, {
      kinds,
      ...(shard && shard.count > 1 ? { principalShard: shard } : {}),
      onDrift: async (drift, peerState) => {
        if (await isOwnInEither(drift.key, peer.iot, deps.own.iot)) {
          totals.own = (totals.own ?? 0) + 1;
          return;
        }
        totals.found++;
        if (role === "active") {
          totals.leftToPeer++;
          deps.logger.info(
            `drift ${drift.kind}: this region is active; the standby's reconciler repairs it`,
            log,
            {
              ...drift,
            },
          );
        } else if (role === "unknown") {
          totals.undecided++;
          deps.logger.warn(
            `drift ${drift.kind}: undecided, the active region is unknown (${active.how})`,
            log,
            {
              ...drift,
              hint: `iot-dr reconcile --source <active region> --target <standby region> --active <active region> --repair`,
            },
          );
        } else {
          deps.logger.info(`drift ${drift.kind}: this standby differs from the active region`, log, {
            ...drift,
          });
          if (!deps.repair) return;
          let state = peerState;
          // Compare reads no PEMs; registering the certificate here and the table's record need it.
          if (state && kindOfKey(drift.key) === "certificate" && !(state as CertificateState).pem)
            state = await peer.iot.describeCertificate((state as CertificateState).certificateId);
          if (drift.kind !== "extra" && state === null) return; // gone from the active region meanwhile; next pass
          (state === null ? tombstones : pending).push(fromActive(drift, state));
        }
      },
      onKindDone: async () => {
        const batch = pending;
        pending = [];
        await applyPending(batch);
      },
    });
    await applyPending(tombstones);
    totals.compared += result.compared;
    return result;
  };

  try {
    if (!continued) {
      // Every kind but `principal`: list calls and a few per-group and per-policy reads.
      const first = await part(SNAPSHOT_KINDS.filter((k) => k !== "principal"));
      if (deps.pass) {
        const seen = first.counts.thing ?? { source: 0, target: 0 };
        const plan = principalShardPlan(Math.max(seen.source, seen.target), deps.pass.remainingMs(), {
          listThingPrincipals: Math.min(
            deps.own.pacer.rateOf("ListThingPrincipals"),
            deps.peer.pacer.rateOf("ListThingPrincipals"),
          ),
          listThings: Math.min(deps.own.pacer.rateOf("ListThings"), deps.peer.pacer.rateOf("ListThings")),
        });
        state.shardCount = plan.shardCount;
        state.shardMs = plan.shardMs;
        deps.logger.info("reconcile pass planned", log, { things: seen, ...plan });
      }
    }
    let shardsHere = 0;
    while (state.nextShard < state.shardCount) {
      // A continuation always does one shard, so a pass always progresses; otherwise only what fits.
      const fits = !deps.pass || (continued && shardsHere === 0) || deps.pass.remainingMs() >= state.shardMs;
      if (!fits) break;
      const began = deps.clock.now();
      await part(["principal"], { index: state.nextShard, count: state.shardCount });
      state.shardMs = Math.max(state.shardMs, deps.clock.now() - began);
      state.nextShard++;
      shardsHere++;
    }
  } catch (err) {
    if ((err as Error)?.name !== "PeerUnreachable") throw err;
    deps.logger.error("peer region unreachable; drift not measured, the pass ends here", log, {
      error: (err as Error).message,
      shard: state.nextShard,
      shardCount: state.shardCount,
      ...totals,
    });
    deps.metrics.publish(deps.clock.now(), { [PEER_UNREACHABLE_METRIC]: 1 });
    await deps.lock?.port.release(state.passId);
    return { status: "peer-unreachable", passId: state.passId, ...totals, compared: 0, remaining: 0 };
  }

  if (state.nextShard < state.shardCount) {
    // Only reachable with deps.pass: the budget is spent.
    deps.logger.info("reconcile pass continues in another invocation", log, {
      invocation: state.invocation,
      nextShard: state.nextShard,
      shardCount: state.shardCount,
      ...totals,
    });
    await deps.pass!.continueWith({ reconcilePass: state });
    return { status: "continued", passId: state.passId, ...totals, remaining: 0, next: state };
  }

  await deps.lock?.port.release(state.passId);
  // Differences the standby peer's own reconciler repairs are the peer's drift, not this region's.
  const remaining = Math.max(0, totals.found - totals.leftToPeer - totals.repaired);
  deps.metrics.publish(deps.clock.now(), {
    [DRIFT_METRIC]: remaining,
    [DRIFT_REPAIRED_METRIC]: totals.repaired,
    [UNDECIDED_DRIFT_METRIC]: totals.undecided,
    [PEER_UNREACHABLE_METRIC]: 0,
  });
  const tookMs = deps.clock.now() - state.startedAt;
  deps.logger.info("reconcile done", log, {
    ...totals,
    remaining,
    invocations: state.invocation,
    shardCount: state.shardCount,
    tookMs,
  });
  const schedule = deps.pass?.scheduleMinutes;
  if (schedule !== undefined && tookMs > schedule * 60_000)
    deps.logger.warn(
      "the pass took longer than the schedule: later starts are dropped; raise reconcile.scheduleMinutes",
      log,
      { tookMs, scheduleMinutes: schedule },
    );
  return {
    status: totals.found === 0 ? "equal" : "drift",
    passId: state.passId,
    ...totals,
    remaining,
  };
}
