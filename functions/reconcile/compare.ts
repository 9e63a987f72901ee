/**
 * Compare: the differences between two regions' registries, both ways, over every kind. Kinds are
 * compared one at a time in dependency order; for the kind at hand the target is held as a small
 * digest per key (a hash per field, not the state), then the source is streamed page by page
 * against it. Peak memory is therefore the digest of the largest kind plus one page, and a
 * difference is reported with the source state in hand, so repair needs no second read.
 */
import {
  canonicalJson,
  stateHash,
  type DesiredState,
  type PolicyState,
  type ResourceKind,
} from "../registry/records.js";
import { SNAPSHOT_KINDS, snapshotRegion, type SnapshotDeps } from "./snapshot.js";

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
  const snapOptions = { certificatePem: false, pageSize: options.pageSize };
  for (const kind of SNAPSHOT_KINDS.filter((k) => kinds.includes(k))) {
    // A matched key stays with `null`, so that a key a list repeats across pages is not reported again.
    const held = new Map<string, string[] | null>();
    let seenTarget = 0;
    for await (const page of snapshotRegion(target, { ...snapOptions, kinds: [kind] })) {
      for (const e of page.entries) held.set(e.key, digest(kind, e.state));
      seenTarget += page.entries.length;
      options.onProgress?.({ kind, side: "target", seen: seenTarget });
    }
    const targetCount = held.size;
    let sourceCount = 0;
    const report = async (d: Drift, state: DesiredState | null, targetDigest?: string[]) => {
      drift.push(d);
      await options.onDrift?.(d, state, targetDigest);
    };
    for await (const page of snapshotRegion(source, { ...snapOptions, kinds: [kind] })) {
      for (const e of page.entries) {
        const t = held.get(e.key);
        if (t === null) continue;
        sourceCount++;
        if (t === undefined) {
          held.set(e.key, null);
          await report({ key: e.key, kind: "missing", fields: [] }, e.state);
          continue;
        }
        held.set(e.key, null);
        const s = digest(kind, e.state);
        const fields = COMPARED_FIELDS[kind].filter((_, i) => s[i] !== t[i]);
        if (fields.length > 0) await report({ key: e.key, kind: "different", fields }, e.state, t);
      }
      options.onProgress?.({ kind, side: "source", seen: sourceCount });
    }
    const extras = [...held].filter((e): e is [string, string[]] => e[1] !== null);
    held.clear();
    extras.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, d] of extras) await report({ key, kind: "extra", fields: [] }, null, d);
    compared += sourceCount + extras.length;
    counts[kind] = { source: sourceCount, target: targetCount };
    await options.onKindDone?.(kind);
  }
  return { compared, drift, counts };
}
