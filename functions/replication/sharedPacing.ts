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
 * starts that one worker spends itself, so a busy worker writes once per block, not once per call.
 * Limit: one item takes up to 1,000 writes per second, well above any registry quota (the
 * highest, DescribeThing, is 350 TPS).
 */
import type * as LibDynamo from "@aws-sdk/lib-dynamodb";
import { Throttled, describeError } from "./errors.js";

/** Where a pacer reserves the start of one call. */
export interface SlotStore {
  /**
   * Reserves the next `count` (default 1) consecutive starts of `api`, `intervalMs` apart, the
   * first `intervalMs` after the start reserved before them and not before `now`; returns the
   * first (ms since the epoch). `inFlight`: the caller's calls of `api` under way, this one
   * included (a hint for `blockSlots`; stores that reserve what they are asked ignore it).
   */
  reserve(api: string, intervalMs: number, now: number, count?: number, inFlight?: number): Promise<number>;
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
}

/**
 * One worker's blocks over a shared store: a reservation takes k consecutive starts in one write
 * and this process spends them on its own calls, each at its start (never earlier, at most
 * `staleMs` later), so the schedule's spacing, and with it the quota, holds for all workers
 * together. k adapts per API to the worker's demand: one more after a block was spent whole with
 * every call waiting for its start, half of what was spent when a start passed unspent or was
 * spent late, so a worker slower than the API's interval writes about once per call, and a busy
 * one once per block. A block is at most many starts as the worker has calls of the API under
 * way and at most `maxBlockMs` of the API's rate, which bounds both what a worker leaves unspent
 * when its calls end and how long another worker waits behind it (fairness). A start left unspent
 * is a gap in the schedule: quota unused, never exceeded. Calls already waiting for a start of the
 * API in this worker (a replay group's records reach the same API together) are not a guess: the
 * next block holds one start for each of them, within the same bounds, in one write.
 */
export function blockSlots(
  inner: SlotStore,
  options: BlockOptions = {},
): SlotStore & { stats(): BlockStats } {
  const maxBlockMs = options.maxBlockMs ?? 1_000;
  const staleMs = options.staleMs ?? 25;
  if (!(maxBlockMs >= 0)) throw new Error(`blockSlots maxBlockMs must be >= 0, got ${maxBlockMs}`);
  const stats = { blocks: 0, spent: 0, expired: 0 };
  interface Held {
    starts: number[];
    size: number;
    spent: number;
    /** Starts of the block handed out after they had passed (the worker was slower than the block). */
    late: number;
    /** Clean blocks in a row, and how many must pass before the next larger one (doubles after each miss). */
    cleanRun: number;
    probeAfter: number;
    pending?: Promise<void>;
  }
  const held = new Map<string, Held>();
  /** Calls of each API inside `reserve` now: each of them spends a start of the next block. */
  const waiting = new Map<string, number>();
  const reserveFor = async (api: string, intervalMs: number, now: number, inFlight: number) => {
    let h = held.get(api);
    if (!h) held.set(api, (h = { starts: [], size: 1, spent: 0, late: 0, cleanRun: 0, probeAfter: 0 }));
    for (;;) {
      while (h.starts.length > 0 && h.starts[0] < now - staleMs) {
        h.starts.shift();
        stats.expired++;
      }
      const start = h.starts.shift();
      if (start !== undefined) {
        h.spent++;
        if (start < now) h.late++;
        stats.spent++;
        return start;
      }
      if (!h.pending) break;
      // Another call of this process is reserving a block: share it rather than write again.
      await h.pending;
    }
    const fitting = Math.floor(maxBlockMs / intervalMs);
    // One more after enough blocks spent whole and on time; after a start passed unspent or was
    // spent late (the worker is slower than its block), half of what was spent, and twice as
    // many clean blocks before trying a larger one again (each try can leave one start unspent).
    let wanted = h.size;
    if (h.spent >= h.size && h.late === 0) {
      if (++h.cleanRun > h.probeAfter) wanted = h.size + 1;
    } else {
      wanted = Math.max(1, Math.floor(h.spent / 2));
      h.probeAfter = Math.min(64, Math.max(1, 2 * h.probeAfter));
      h.cleanRun = 0;
    }
    // Never more than this worker's calls under way could spend: the rest of a block left when
    // its calls end is quota unused. The calls waiting here now will each spend one for certain
    // (a group's records reach the same API together): the block takes them all in one write,
    // while `size` keeps growing only by the clean-block rule.
    const speculative = Math.max(1, Math.min(wanted, fitting, inFlight));
    const k = Math.max(speculative, Math.min(waiting.get(api) ?? 1, fitting));
    const state = h;
    let start = 0;
    const reserving = (async () => {
      start = await inner.reserve(api, intervalMs, now, k);
    })();
    h.pending = reserving.catch(() => {});
    try {
      await reserving;
    } finally {
      h.pending = undefined;
    }
    stats.blocks++;
    stats.spent++;
    if (speculative > state.size) state.cleanRun = 0;
    state.size = speculative;
    state.spent = 1;
    state.late = 0;
    state.starts = Array.from({ length: k - 1 }, (_, i) => start + (i + 1) * intervalMs);
    return start;
  };
  return {
    stats: () => ({ ...stats, held: [...held.values()].reduce((a, h) => a + h.starts.length, 0) }),
    async reserve(api, intervalMs, now, _count, inFlight = 1) {
      waiting.set(api, (waiting.get(api) ?? 0) + 1);
      try {
        return await reserveFor(api, intervalMs, now, inFlight);
      } finally {
        waiting.set(api, waiting.get(api)! - 1);
      }
    },
  };
}
