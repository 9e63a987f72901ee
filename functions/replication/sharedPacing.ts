/**
 * One quota, many workers. IoT's control-plane quotas are per account and region, but replay runs
 * as many functions at once (wave concurrency x stream shards) and capture scales with the events:
 * a pacer per process, each at the whole quota, would meet the others through throttling. This
 * module keeps one schedule per API for the whole region in a DynamoDB item (the region's marker
 * table, `pace#<api>`): every call reserves the next free start with one conditional UpdateItem
 * (GCRA, the generic cell rate algorithm), so the starts of all workers together are spaced
 * 1 / rate apart, whatever the number of workers and however uneven their load.
 *
 * Cost: one write (1 WRU, $0.625 per million on demand) per reservation, plus one more when an API
 * was idle (the first condition fails). `blockSlots` makes a reservation a block of consecutive
 * starts for the calls one worker has waiting together, so a replay group's records that reach an
 * API together write once, not once per call.
 * Limit: one item takes up to 1,000 writes per second, well above any registry quota (the
 * highest, DescribeThing, is 350 TPS).
 */
import type * as LibDynamo from "@aws-sdk/lib-dynamodb";
import { systemClock, type Clock } from "../shared/clock.js";
import { Throttled, describeError } from "./errors.js";

/** Where a pacer reserves the start of one call. */
export interface SlotStore {
  /**
   * Reserves the next `count` (default 1) consecutive starts of `api`, `intervalMs` apart, the
   * first `intervalMs` after the start reserved before them and not before `now`; returns the
   * first (ms since the epoch).
   */
  reserve(api: string, intervalMs: number, now: number, count?: number): Promise<number>;
}

/** One GCRA step: the first of `count` starts and the schedule's next free start after them. */
export function nextSlot(
  nextFree: number | undefined,
  now: number,
  intervalMs: number,
  count = 1,
): { start: number; nextFree: number } {
  const start = nextFree === undefined ? now : Math.max(now, nextFree);
  return { start, nextFree: start + count * intervalMs };
}

/** A slot store in one process's memory (tests, simulations, a single worker). */
export function memorySlotStore(): SlotStore & { nextFree: Map<string, number> } {
  const nextFree = new Map<string, number>();
  return {
    nextFree,
    async reserve(api, intervalMs, now, count = 1) {
      const step = nextSlot(nextFree.get(api), now, intervalMs, count);
      nextFree.set(api, step.nextFree);
      return step.start;
    },
  };
}

/** Prefix of the schedule items in the marker table (IAM scopes UpdateItem to it). */
export const PACE_KEY_PREFIX = "pace#";

/** Key of an API's schedule in the marker table. */
export const paceKey = (api: string) => `${PACE_KEY_PREFIX}${api}`;

export interface DynamoSlotStoreOptions {
  /** Seconds an idle schedule item stays before TTL removes it; default 86,400. */
  ttlSeconds?: number;
  /** TTL attribute of the table; default `expiresAt` (the marker table's). */
  ttlAttribute?: string;
}

type Lib = Pick<typeof LibDynamo, "UpdateCommand">;
type Doc = Pick<LibDynamo.DynamoDBDocumentClient, "send">;

const isConditionFailed = (err: unknown) =>
  (err as { name?: string } | null)?.name === "ConditionalCheckFailedException";

/**
 * The region-wide schedule in DynamoDB. Two conditional updates, never a read: while the schedule is
 * ahead of `now` (the API is busy) its next free start moves on by one interval; when it is behind
 * (idle), it restarts at `now`. A failed condition means the other case holds, so the caller tries
 * that one; it remembers which case held last per API, so a busy API costs one write per call.
 * A store that cannot answer surfaces as `Throttled`: the state machine retries the record and
 * never dead-letters it for that.
 */
export function dynamoSlotStore(
  lib: Lib,
  doc: Doc,
  tableName: string,
  options: DynamoSlotStoreOptions = {},
): SlotStore {
  if (!tableName) throw new Error("dynamoSlotStore needs the marker table's name");
  const ttlSeconds = options.ttlSeconds ?? 86_400;
  const ttlAttribute = options.ttlAttribute ?? "expiresAt";
  const busy = new Map<string, boolean>();
  const advance = async (api: string, spanMs: number, now: number): Promise<number> => {
    const out = await doc.send(
      new lib.UpdateCommand({
        TableName: tableName,
        Key: { pk: paceKey(api) },
        UpdateExpression: "SET nextFree = nextFree + :interval, #ttl = :expires",
        ConditionExpression: "nextFree >= :now",
        ExpressionAttributeNames: { "#ttl": ttlAttribute },
        ExpressionAttributeValues: {
          ":interval": spanMs,
          ":now": now,
          ":expires": Math.floor(now / 1000) + ttlSeconds,
        },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    return Number(out.Attributes?.nextFree) - spanMs;
  };
  // The round trip of an update (moving average): an idle API restarts one round trip after `now`,
  // when the reply arrives, so that its call is not already late for the next worker's slot.
  let roundTripMs = 0;
  const restart = async (api: string, spanMs: number, now: number): Promise<number> => {
    const start = now + Math.ceil(roundTripMs);
    await doc.send(
      new lib.UpdateCommand({
        TableName: tableName,
        Key: { pk: paceKey(api) },
        UpdateExpression: "SET nextFree = :next, #ttl = :expires",
        ConditionExpression: "attribute_not_exists(nextFree) OR nextFree < :now",
        ExpressionAttributeNames: { "#ttl": ttlAttribute },
        ExpressionAttributeValues: {
          ":next": start + spanMs,
          ":now": now,
          ":expires": Math.floor(now / 1000) + ttlSeconds,
        },
      }),
    );
    return start;
  };
  return {
    async reserve(api, intervalMs, now, count = 1) {
      let ahead = busy.get(api) ?? false;
      for (let attempt = 0; attempt < 6; attempt++) {
        try {
          const sent = Date.now();
          const start = await (ahead ? advance : restart)(api, count * intervalMs, now);
          roundTripMs = 0.8 * roundTripMs + 0.2 * (Date.now() - sent);
          busy.set(api, ahead);
          return start;
        } catch (err) {
          if (!isConditionFailed(err)) {
            const e = describeError(err);
            throw new Throttled(`pacing schedule for ${api} unavailable (${e.name}: ${e.message})`, api);
          }
          ahead = !ahead;
        }
      }
      throw new Throttled(`pacing schedule for ${api} contended; retry the record later`, api);
    },
  };
}

export interface BlockOptions {
  /** Longest stretch of an API's schedule one block holds, ms; default 1,000 (1 s of the API's rate). */
  maxBlockMs?: number;
  /** A held start this far in the past is given up (a gap in the schedule); default 25 ms, the pacer's `maxLateMs`. */
  staleMs?: number;
  /**
   * Gathering: while this worker's last block of an API still holds the schedule further ahead
   * than a reservation's round trip, a new call waits (at most this long) before it reserves, so
   * that the calls that come meanwhile share its block; default `maxBlockMs`, 0 turns it off.
   */
  maxGatherMs?: number;
  /** Time for gathering (virtual in simulations); default the system clock. */
  clock?: Clock;
}

export interface BlockStats {
  /** Reservations sent to the shared store (one write each, more when an API was idle). */
  blocks: number;
  /** Starts handed to calls. */
  spent: number;
  /** Held starts given up because no call came before they passed. */
  expired: number;
  /** Starts held now, not yet spent (unspent when this worker's calls have ended). */
  held: number;
  /** Reservations that waited for calls to gather before they were sent. */
  gathered: number;
}

/**
 * One worker's blocks over a shared store: the calls of an API that wait for a start in this
 * worker together (a replay group's records reach an API together) take one block of consecutive
 * starts in one write, and each spends its own start at its time (never earlier, at most `staleMs`
 * later), so the schedule's spacing, and with it the quota, holds for all workers together. A call
 * that comes while a block is being reserved waits for it and takes the next one with the calls
 * that came with it.
 *
 * Gathering: the calls of a group reach an API one by one (each after its own previous call), so
 * without more, a block holds only the calls that came during the round trip of the one before.
 * But while this worker's last block still holds the schedule further ahead than a round trip (the
 * API is busy), any start reserved now comes after that block's end: a reservation sent one round
 * trip (twice the average, plus `staleMs`) before that end gets a start just as soon for all the
 * calls that came until then, and the schedule is never left idle for it. So a call waits until
 * then (at most `maxGatherMs`) and reserves for every call waiting by that time.
 *
 * A block never holds a start for a call that is not waiting. An earlier version also reserved
 * ahead for calls it expected (one more start after each block spent whole): a busy loop spent
 * them, but a replay group's record makes its call of an API once, so the starts held for its
 * last records' successors passed unspent at every group's end while other workers waited behind
 * them (BENCHMARKS.md, "Blocks for waiting calls only"). A block is at most `maxBlockMs` of the
 * API's rate, which bounds how long another worker waits behind it. A start left unspent (its call
 * ran late) is a gap in the schedule: quota unused, never exceeded.
 */
export function blockSlots(
  inner: SlotStore,
  options: BlockOptions = {},
): SlotStore & { stats(): BlockStats } {
  const maxBlockMs = options.maxBlockMs ?? 1_000;
  const staleMs = options.staleMs ?? 25;
  const maxGatherMs = options.maxGatherMs ?? maxBlockMs;
  const clock = options.clock ?? systemClock;
  if (!(maxBlockMs >= 0)) throw new Error(`blockSlots maxBlockMs must be >= 0, got ${maxBlockMs}`);
  if (!(maxGatherMs >= 0)) throw new Error(`blockSlots maxGatherMs must be >= 0, got ${maxGatherMs}`);
  const stats = { blocks: 0, spent: 0, expired: 0, gathered: 0 };
  interface Held {
    starts: number[];
    pending?: Promise<void>;
    /** The schedule's next free start after this worker's last block (nothing earlier is free). */
    end: number;
  }
  // The store's round trip (moving average), in the clock's time.
  let roundTripMs = 0;
  const held = new Map<string, Held>();
  /** Calls of each API inside `reserve` now: each of them spends a start of the next block. */
  const waiting = new Map<string, number>();
  const reserveFor = async (api: string, intervalMs: number, now: number, taken: () => void) => {
    let h = held.get(api);
    if (!h) held.set(api, (h = { starts: [], end: Number.NEGATIVE_INFINITY }));
    for (;;) {
      while (h.starts.length > 0 && h.starts[0] < now - staleMs) {
        h.starts.shift();
        stats.expired++;
      }
      const start = h.starts.shift();
      if (start !== undefined) {
        taken();
        stats.spent++;
        return start;
      }
      if (!h.pending) break;
      // Another call of this process is reserving a block: take what it leaves, or the next one.
      await h.pending;
    }
    const state = h;
    let start = 0;
    const reserving = (async () => {
      const arrived = clock.now();
      const gather = Math.min(maxGatherMs, state.end - (now + 2 * roundTripMs + staleMs));
      if (gather > 0) {
        stats.gathered++;
        await clock.sleep(gather);
      } else await undefined; // the calls made in this same turn (a group's records started together) join it
      // This call and the others waiting now (a call stops waiting the moment it takes a start).
      const k = Math.max(1, Math.min(waiting.get(api) ?? 1, Math.floor(maxBlockMs / intervalMs)));
      const sent = clock.now();
      start = await inner.reserve(api, intervalMs, now + (sent - arrived), k);
      roundTripMs = 0.8 * roundTripMs + 0.2 * (clock.now() - sent);
      taken();
      state.starts = Array.from({ length: k - 1 }, (_, i) => start + (i + 1) * intervalMs);
      state.end = start + k * intervalMs;
    })();
    h.pending = reserving.catch(() => {});
    try {
      await reserving;
    } finally {
      h.pending = undefined;
    }
    stats.blocks++;
    stats.spent++;
    return start;
  };
  return {
    stats: () => ({ ...stats, held: [...held.values()].reduce((a, h) => a + h.starts.length, 0) }),
    async reserve(api, intervalMs, now) {
      waiting.set(api, (waiting.get(api) ?? 0) + 1);
      let counted = true;
      const taken = () => {
        if (counted) waiting.set(api, waiting.get(api)! - 1);
        counted = false;
      };
      try {
        return await reserveFor(api, intervalMs, now, taken);
      } finally {
        taken();
      }
    },
  };
}
