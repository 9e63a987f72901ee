/**
 * Echo markers, the one owner of echo freedom's bookkeeping: before replay changes a resource it
 * records the hash of every state the resource will pass through (`applied#<region>#<key>`, in this
 * region's marker table); capture in that region finds a state it reads among them, younger than
 * the echo window, and knows the registry event was its own replay's echo (capture.ts, apply.ts).
 */
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
  /** Epoch seconds; markers only matter for minutes, so DynamoDB TTL removes them. */
  expiresAt: number;
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

/** Adds state hashes to a resource's marker, keeping only entries younger than `windowMs`. */
export async function recordApplied(
  table: MarkerTablePort,
  region: string,
  key: string,
  hashes: string[],
  now: number,
  windowMs: number,
): Promise<void> {
  const existing = await getAppliedMarker(table, region, key);
  const kept = (existing?.entries ?? []).filter((e) => now - e.at <= windowMs && !hashes.includes(e.hash));
  const marker: AppliedMarker = {
    pk: appliedMarkerKey(region, key),
    entries: [...kept, ...hashes.map((hash) => ({ hash, at: now }))].slice(-16),
    expiresAt: Math.floor((now + windowMs) / 1000) + 3600,
  };
  await table.put(marker as unknown as TableItem);
}

/** Drops the marker entries of states replay applied at or before `timestamp` (a local change came after them). */
export async function forgetAppliedBefore(
  table: MarkerTablePort,
  region: string,
  key: string,
  timestamp: number,
): Promise<void> {
  const existing = await getAppliedMarker(table, region, key);
  if (!existing) return;
  const entries = existing.entries.filter((e) => e.at > timestamp);
  if (entries.length === existing.entries.length) return;
  await table.put({ ...existing, entries } as unknown as TableItem);
}

/** True when `hash`, read at `timestamp`, is a state replay applied within `windowMs` of it. */
export function isEcho(marker: AppliedMarker, hash: string, timestamp: number, windowMs: number): boolean {
  return marker.entries.some((e) => e.hash === hash && Math.abs(timestamp - e.at) <= windowMs);
}
