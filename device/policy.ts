/**
 * The FailoverClient's decisions as pure functions: when to re-resolve, whether an answer means
 * "move", what a fail-over notice asks for, which address to try, what the offline queue keeps.
 *
 * The client (client.ts) calls them on its clock; the fleet simulator (simulate/) calls the same
 * functions per device event on a virtual clock, so that what it predicts is what devices do.
 * No I/O, no timers, no state: every draw comes from the `random` passed in.
 */
import type { FailoverNotice } from "./notice.js";

/** One re-resolution period while connected: uniform over [½, 1] of the configured interval, ms. */
export function reresolvePeriodMs(intervalMs: number, random: () => number): number {
  return Math.round(intervalMs * (0.5 + 0.5 * random()));
}

/**
 * Whether a connection to `current` must move once the host it should be on resolves to
 * `addresses`. Same address, same broker: a device that reached it through another name (the
 * fail-over name, a notice's region endpoint, a retained notice after it already moved) stays put.
 */
export function answerMovesAway(current: { address: string }, addresses: readonly string[]): boolean {
  return !addresses.includes(current.address);
}

/** The address to connect to: a random one, avoiding the one that just failed when there is a choice. */
export function pickAddress(
  addresses: readonly string[],
  lastFailedAddress: string | undefined,
  random: () => number,
): string {
  const candidates = addresses.length > 1 ? addresses.filter((a) => a !== lastFailedAddress) : addresses;
  return candidates[Math.floor(random() * candidates.length)] ?? addresses[0];
}

export interface NoticeSettings {
  /** The fail-over endpoint (DNS name) the client was configured with. */
  endpoint: string;
  regionEndpoints?: Record<string, string>;
  noticeSpreadMs: number;
  maxNoticeSpreadMs: number;
}

export type NoticeDecision =
  | { action: "none"; detail: string }
  | { action: "ignored"; detail: string }
  | {
      action: "move";
      /** Host to check after the delay; `pinned` when it differs from the configured endpoint. */
      host: string;
      pinned: boolean;
      /** Wait before checking the target, drawn uniformly over the (capped) spread, ms. */
      delayMs: number;
      detail: string;
    };

/** What a device remembers of the notices it acted on (duplicates and older notices move nothing). */
export interface NoticeMemory {
  /** Ids of the last notices acted on, newest last (at most NOTICE_MEMORY). */
  ids: readonly string[];
  /** Time of the newest notice acted on, ms since the epoch. */
  lastAt?: number;
}

/** How many notice ids a device remembers: SNS retries, both regions and the retained copy repeat a few. */
export const NOTICE_MEMORY = 16;

export const NO_NOTICES: NoticeMemory = { ids: [] };

/**
 * What a device does with a parsed notice, given what it acted on before. "none": a duplicate or
 * an older notice (memory unchanged); "ignored" and "move": the notice counts (remember it with
 * `rememberNotice`). Draws one random number only when it moves.
 */
export function decideNotice(
  notice: FailoverNotice,
  memory: NoticeMemory,
  settings: NoticeSettings,
  random: () => number,
): NoticeDecision {
  if (notice.id !== undefined && memory.ids.includes(notice.id)) {
    return { action: "none", detail: `notice ${notice.id} already handled` };
  }
  const at = notice.at === undefined ? undefined : Date.parse(notice.at);
  if (at !== undefined && memory.lastAt !== undefined && at < memory.lastAt) {
    return {
      action: "none",
      detail: `notice ${notice.id ?? ""} of ${notice.at} is older than the last one acted on`,
    };
  }
  const endpoints = settings.regionEndpoints;
  let host = settings.endpoint;
  const region = notice.targetRegion;
  if (region !== undefined && endpoints && Object.keys(endpoints).length > 0) {
    const mapped = endpoints[region];
    if (mapped === undefined) {
      return {
        action: "ignored",
        detail: `region ${region} is not in regionEndpoints (${Object.keys(endpoints).join(", ")})`,
      };
    }
    host = mapped;
  }
  const spread = Math.min(notice.spreadMs ?? settings.noticeSpreadMs, settings.maxNoticeSpreadMs);
  const delayMs = Math.floor(random() * spread);
  return {
    action: "move",
    host,
    pinned: host !== settings.endpoint,
    delayMs,
    detail: `checking ${host} in ${delayMs} ms`,
  };
}

/** The memory after acting on `notice` (a decision other than "none"). */
export function rememberNotice(memory: NoticeMemory, notice: FailoverNotice): NoticeMemory {
  const at = notice.at === undefined ? undefined : Date.parse(notice.at);
  return {
    ids: notice.id === undefined ? memory.ids : [...memory.ids, notice.id].slice(-NOTICE_MEMORY),
    lastAt: at === undefined || Number.isNaN(at) ? memory.lastAt : Math.max(at, memory.lastAt ?? at),
  };
}

export interface QueueAdmission {
  /** Queue length after the arrivals. */
  length: number;
  /** Arrivals that were kept. */
  kept: number;
  /** Messages given up ("queue-full"): the oldest queued ones or the newest arrivals, per policy. */
  dropped: number;
}

/**
 * `arriving` QoS 1 messages meet an offline queue of `length` bounded by `maxQueued`: with
 * "oldest", each arrival past the bound pushes the oldest message out; with "newest", arrivals
 * past the bound are refused. The client asks for one arrival at a time; the simulator for a
 * whole outage's worth.
 */
export function admitToQueue(
  length: number,
  arriving: number,
  maxQueued: number,
  dropPolicy: "oldest" | "newest",
): QueueAdmission {
  if (maxQueued === 0) return { length: 0, kept: 0, dropped: arriving };
  const room = Math.max(0, maxQueued - length);
  const overflow = Math.max(0, arriving - room);
  if (dropPolicy === "newest")
    return { length: length + arriving - overflow, kept: arriving - overflow, dropped: overflow };
  // "oldest": every arrival is kept; the overflow pushes out as many older messages (first queued ones,
  // then, past maxQueued arrivals, earlier arrivals of the same batch).
  const kept = Math.min(arriving, maxQueued);
  return { length: Math.min(maxQueued, length + arriving), kept, dropped: overflow };
}
