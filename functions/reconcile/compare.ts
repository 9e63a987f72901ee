/**
 * Compare: the differences between two regions' registries, both ways, over every kind. Kinds are
 * compared one at a time in dependency order; for the kind at hand both regions are read at once,
 * page by page, each under its own quotas, and a key is held only until the other side shows it:
 * as a small per-field digest (a hash per field) from the target, with its state from the source
 * (repair needs it). Regions listing in a similar order hold little; the worst case (one side
 * empty) holds that kind of the other side. A difference is reported with the source state in
 * hand, so repair needs no second read.
 */
import {
  canonicalJson,
  stateHash,
  type DesiredState,
  type PolicyState,
  type ResourceKind,
} from "../registry/records.js";
import { SNAPSHOT_KINDS, snapshotRegion, type SnapshotDeps, type SnapshotEntry } from "./snapshot.js";

/** One side's view of a key the other side has not shown yet. */
type Pending =
  { side: "source"; digest: string[]; state: DesiredState } | { side: "target"; digest: string[] };

export type DriftKind = "missing" | "extra" | "different";

/** One difference, as the CLI reports it: `missing` in the target, `extra` in the target, or `different`. */
export interface Drift {
  key: string;
  kind: DriftKind;
  /** The fields that differ (empty for missing and extra). */
  fields: string[];
}

/** The fields compared per kind. A certificate's PEM is not: its id is the hash of the certificate. */
export const COMPARED_FIELDS: Record<ResourceKind, readonly string[]> = {
  thingType: ["description", "searchableAttributes", "deprecated"],
  thingGroup: ["parentGroupName", "description", "attributes"],
  policy: ["document"],
  certificate: ["status"],
  thing: ["thingTypeName", "attributes"],
  membership: [],
  principal: [],
  policyTarget: [],
};

function fieldValue(kind: ResourceKind, state: DesiredState, field: string): unknown {
  const v = (state as unknown as Record<string, unknown>)[field];
  if (kind === "policy" && field === "document") {
    // Policy documents compare as JSON (whitespace and key order do not matter), like replay does.
    try {
      return canonicalJson(JSON.parse((state as PolicyState).document));
    } catch {
      return v;
    }
  }
  if (field === "searchableAttributes" && Array.isArray(v)) return [...(v as string[])].sort();
  if (field === "description" || field === "parentGroupName" || field === "thingTypeName") return v ?? "";
  return v;
}

/** A per-field digest of a state: small enough to hold for every resource of a kind. */
export function digest(kind: ResourceKind, state: DesiredState): string[] {
  return COMPARED_FIELDS[kind].map((f) => stateHash(fieldValue(kind, state, f) as DesiredState));
}

/** The compared fields in which two states of one kind differ. */
export function differingFields(kind: ResourceKind, a: DesiredState, b: DesiredState): string[] {
  const da = digest(kind, a);
  const db = digest(kind, b);
  return COMPARED_FIELDS[kind].filter((_, i) => da[i] !== db[i]);
}

export interface CompareProgress {
  kind: ResourceKind;
  side: "source" | "target";
  /** Resources seen so far on that side for that kind. */
  seen: number;
}

export interface CompareOptions {
  kinds?: readonly ResourceKind[];
  /**
   * Called for each difference with the source state (null for `extra`); awaited, so a caller can
   * repair a kind before the next one is compared.
   */
  onDrift?: (
    drift: Drift,
    sourceState: DesiredState | null,
    /** The target's per-field digest (see `digest`); absent for `missing`. */
    targetDigest?: string[],
  ) => Promise<void> | void;
  /** Called after each kind is compared (e.g. to repair what was found before dependants are compared). */
  onKindDone?: (kind: ResourceKind) => Promise<void> | void;
  onProgress?: (p: CompareProgress) => void;
  /** Attachment page size; default 250. */
  pageSize?: number;
  /** Compare only this shard of the `principal` kind, in both regions (see SnapshotOptions). */
  principalShard?: { index: number; count: number };
}

export interface CompareResult {
  /** Distinct resource keys compared (present in the source, the target or both). */
  compared: number;
  drift: Drift[];
  /** Per kind: resources in the source and in the target. */
  counts: Record<string, { source: number; target: number }>;
}

/**
 * Compares `target` against `source` both ways. Certificates are compared by status without
 * reading PEMs; repair reads the PEM of a missing certificate itself.
 */
export async function compareRegions(
  source: SnapshotDeps,
  target: SnapshotDeps,
  options: CompareOptions = {},
): Promise<CompareResult> {
  const kinds = options.kinds ?? SNAPSHOT_KINDS;
  const drift: Drift[] = [];
  const counts: CompareResult["counts"] = {};
  let compared = 0;
  const snapOptions = {
    certificatePem: false,
    pageSize: options.pageSize,
    principalShard: options.principalShard,
  };
  for (const kind of SNAPSHOT_KINDS.filter((k) => kinds.includes(k))) {
    // Per key: what one side has shown and the other not yet; `null` once matched, so that a key
    // a list repeats across pages is not counted twice.
    const pending = new Map<string, Pending | null>();
    const counted = { source: 0, target: 0 };
    const report = async (d: Drift, state: DesiredState | null, targetDigest?: string[]) => {
      drift.push(d);
      await options.onDrift?.(d, state, targetDigest);
    };
    const different = async (key: string, state: DesiredState, s: string[], t: string[]) => {
      const fields = COMPARED_FIELDS[kind].filter((_, i) => s[i] !== t[i]);
      if (fields.length > 0) await report({ key, kind: "different", fields }, state, t);
    };
    // The first side to show a key leaves it pending; the other side's entry settles it.
    const onEntry = (side: "source" | "target") => async (e: SnapshotEntry) => {
      const p = pending.get(e.key);
      if (p === null || p?.side === side) return;
      counted[side]++;
      const d = digest(kind, e.state);
      if (!p) {
        pending.set(e.key, side === "source" ? { side, digest: d, state: e.state } : { side, digest: d });
        return;
      }
      pending.set(e.key, null);
      if (p.side === "source") await different(e.key, p.state, p.digest, d);
      else await different(e.key, e.state, d, p.digest);
    };
    // Both regions are read at once (each under its own quotas); one failing stops the other.
    let failed = false;
    const read = async (
      side: "source" | "target",
      deps: SnapshotDeps,
      on: (e: SnapshotEntry) => Promise<void>,
    ) => {
      let seen = 0;
      try {
        for await (const page of snapshotRegion(deps, { ...snapOptions, kinds: [kind] })) {
          if (failed) return;
          for (const e of page.entries) await on(e);
          seen += page.entries.length;
          options.onProgress?.({ kind, side, seen });
        }
      } catch (err) {
        failed = true;
        throw err;
      }
    };
    await Promise.all([read("source", source, onEntry("source")), read("target", target, onEntry("target"))]);
    const left = [...pending].filter((e): e is [string, Pending] => e[1] !== null);
    pending.clear();
    left.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, p] of left)
      if (p.side === "source") await report({ key, kind: "missing", fields: [] }, p.state);
    for (const [key, p] of left)
      if (p.side === "target") await report({ key, kind: "extra", fields: [] }, null, p.digest);
    compared += counted.source + left.filter(([, p]) => p.side === "target").length;
    counts[kind] = { ...counted };
    await options.onKindDone?.(kind);
  }
  return { compared, drift, counts };
}
