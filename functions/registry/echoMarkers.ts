/**
 * Echo markers, the one owner of echo freedom's bookkeeping: before replay changes a resource it
 * records the hash of every state the resource will pass through (`applied#<region>#<key>`, in this
 * region's marker table); capture in that region finds a state it reads among them, younger than
 * the echo window, and knows the registry event was its own replay's echo (capture.ts, apply.ts).
 *
 * The same item keeps `seen`, the states this region's registry may hold as far as replication
 * knows: the one capture last read, or those replay's last apply passed through (its steps may
 * stop anywhere on the way). The state replay found before acting (`found`) is known for the echo
 * window only: a failed apply is retried within it, while an operator's later return to that state
 * (a rollback after a fail-over) must not pass for known. It is never an echo: a thing replay
 * created and C&C deletes a minute later returns to the state replay found. Replay overwrites only a state replication knows: any
 * other is a local change whose capture is still on its way, and overwriting it first would lose it
 * (capture would read replay's state back and record nothing). `seen` does not expire with the echo
 * window: the race it guards comes after a fail-over, on resources idle for any length of time.
 */
import { stateHash } from "./records.js";
import type { MarkerTablePort, TableItem } from "./table.js";

/** How long an applied state counts as this replay's echo: 5 minutes, an Express workflow's limit. */
export const DEFAULT_ECHO_WINDOW_MS = 5 * 60_000;

/**
 * What replay in a region recently applied to a resource (`applied#<region>#<key>`), so that
 * capture in that region recognises the registry events its own replay raised (see capture.ts).
 */
export interface AppliedMarker {
  pk: string;
  /** Hash of every state the resource passed through while being applied, with when. */
  entries: { hash: string; at: number }[];
  /** Hashes of the states this region's registry may hold as far as replication knows (see above). */
  seen?: string[];
  /** The state replay's last apply found before acting, with when (see above). */
  found?: { hash: string; at: number };
  /** Epoch seconds, set only once the resource is deleted here (DynamoDB TTL removes the item then). */
  expiresAt?: number;
}

/** How long the marker of a resource deleted in this region is kept: as long as tombstones, 30 days. */
export const DELETED_MARKER_RETENTION_SECONDS = 30 * 24 * 3600;
const DELETED = stateHash(null);

function markerItem(
  pk: string,
  entries: AppliedMarker["entries"],
  seen: string[] | undefined,
  now: number,
  found?: AppliedMarker["found"],
): TableItem {
  const marker: AppliedMarker = {
    pk,
    entries,
    ...(seen !== undefined ? { seen } : {}),
    ...(found ? { found } : {}),
  };
  // A live resource's marker stays (it holds `seen`); a deleted one's goes with its tombstone.
  if (seen?.at(-1) === DELETED) marker.expiresAt = Math.floor(now / 1000) + DELETED_MARKER_RETENTION_SECONDS;
  return marker as unknown as TableItem;
}

export const appliedMarkerKey = (region: string, key: string) => `applied#${region}#${key}`;

export async function getAppliedMarker(
  table: MarkerTablePort,
  region: string,
  key: string,
): Promise<AppliedMarker | null> {
  const item = await table.get(appliedMarkerKey(region, key));
  if (!item || !Array.isArray(item.entries)) return null;
  return item as unknown as AppliedMarker;
}

/** What replay is about to apply to one resource in one region (recordApplied). */
export interface AppliedStates {
  region: string;
  key: string;
  /** Hashes of every state the resource will pass through; they become its echo entries and `seen`. */
  hashes: string[];
  now: number;
  /** How long an entry counts as an echo; older entries are dropped. */
  windowMs: number;
  /** The marker as just read, to spare a read; undefined: read it here. */
  existing?: AppliedMarker | null;
  /** Hash of the state replay found before acting (`found`); undefined keeps the one recorded. */
  liveHash?: string;
}

/**
 * Adds state hashes to a resource's marker, keeping only entries younger than `windowMs`, and makes
 * them `seen`.
 */
export async function recordApplied(table: MarkerTablePort, applied: AppliedStates): Promise<void> {
  const { region, key, hashes, now, windowMs, existing, liveHash } = applied;
  const before = existing === undefined ? await getAppliedMarker(table, region, key) : existing;
  const kept = (before?.entries ?? []).filter((e) => now - e.at <= windowMs && !hashes.includes(e.hash));
  const entries = [...kept, ...hashes.map((hash) => ({ hash, at: now }))].slice(-16);
  const found = liveHash !== undefined ? { hash: liveHash, at: now } : before?.found;
  await table.put(markerItem(appliedMarkerKey(region, key), entries, [...new Set(hashes)], now, found));
}

/**
 * What capture tells the marker after reading `hash` from the registry: replication has now seen
 * that state. After a genuine local change (`forgetBefore`, the change's time), the entries of
 * states replay applied at or before it stop counting as echoes: a later change back to one of
 * them is the operator's (suspend then resume, say). Writes only when something changes.
 */
export async function recordSeen(
  table: MarkerTablePort,
  region: string,
  key: string,
  hash: string,
  now: number,
  options: { existing?: AppliedMarker | null; forgetBefore?: number } = {},
): Promise<void> {
  const before =
    options.existing === undefined ? await getAppliedMarker(table, region, key) : options.existing;
  // Only where replay has acted: elsewhere replay would find no marker and decide without one, and
  // in the active region (most changes, most resources never replayed into it) this costs nothing.
  if (!before) return;
  const { forgetBefore } = options;
  const entries = before.entries.filter((e) => forgetBefore === undefined || e.at > forgetBefore);
  if (before.seen?.length === 1 && before.seen[0] === hash && entries.length === before.entries.length)
    return;
  await table.put(markerItem(appliedMarkerKey(region, key), entries, [hash], now));
}

/**
 * Whether replication knows `hash` as a state of this resource here: the last one it saw, or one
 * replay passed through within `windowMs` of `now`. Without a marker nothing is known either way
 * (a resource replication never touched here), and the caller decides.
 */
export function isKnownState(marker: AppliedMarker, hash: string, now: number, windowMs: number): boolean {
  const found = marker.found;
  return (
    (marker.seen ?? []).includes(hash) ||
    isEcho(marker, hash, now, windowMs) ||
    (found !== undefined && found.hash === hash && Math.abs(now - found.at) <= windowMs)
  );
}

/** True when `hash`, read at `timestamp`, is a state replay applied within `windowMs` of it. */
export function isEcho(marker: AppliedMarker, hash: string, timestamp: number, windowMs: number): boolean {
  return marker.entries.some((e) => e.hash === hash && Math.abs(timestamp - e.at) <= windowMs);
}
