/**
 * One quota, many workers. IoT's control-plane quotas are per account and region, but replay runs
 * as many functions at once (wave concurrency x stream shards) and capture scales with the events:
 * a pacer per process, each at the whole quota, would meet the others through throttling. This
 * module keeps one schedule per API for the whole region in a DynamoDB item (the region's marker
 * table, `pace#<api>`): every call reserves the next free start with one conditional UpdateItem
 * (GCRA, the generic cell rate algorithm), so the starts of all workers together are spaced
 * 1 / rate apart, whatever the number of workers and however uneven their load.
 *
 * Cost: one write (1 WRU, $0.625 per million on demand) per IoT call, plus one more when an API
 * was idle (the first condition fails). Limit: one item takes up to 1,000 writes per second, well
 * above any registry quota (the highest, DescribeThing, is 350 TPS).
 */
import type * as LibDynamo from "@aws-sdk/lib-dynamodb";
import { Throttled, describeError } from "./errors.js";

/** Where a pacer reserves the start of one call. */
export interface SlotStore {
  /**
   * Reserves the next start of `api` for one call, `intervalMs` after the start reserved before
   * it and not before `now`; returns that start (ms since the epoch).
   */
  reserve(api: string, intervalMs: number, now: number): Promise<number>;
}

/** One GCRA step: the start a call gets and the schedule's next free start after it. */
export function nextSlot(
  nextFree: number | undefined,
  now: number,
  intervalMs: number,
): { start: number; nextFree: number } {
  const start = nextFree === undefined ? now : Math.max(now, nextFree);
  return { start, nextFree: start + intervalMs };
}

/** A slot store in one process's memory (tests, simulations, a single worker). */
export function memorySlotStore(): SlotStore & { nextFree: Map<string, number> } {
  const nextFree = new Map<string, number>();
  return {
    nextFree,
    async reserve(api, intervalMs, now) {
      const step = nextSlot(nextFree.get(api), now, intervalMs);
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
  const advance = async (api: string, intervalMs: number, now: number): Promise<number> => {
    const out = await doc.send(
      new lib.UpdateCommand({
        TableName: tableName,
        Key: { pk: paceKey(api) },
        UpdateExpression: "SET nextFree = nextFree + :interval, #ttl = :expires",
        ConditionExpression: "nextFree >= :now",
        ExpressionAttributeNames: { "#ttl": ttlAttribute },
        ExpressionAttributeValues: {
          ":interval": intervalMs,
          ":now": now,
          ":expires": Math.floor(now / 1000) + ttlSeconds,
        },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    return Number(out.Attributes?.nextFree) - intervalMs;
  };
  // The round trip of an update (moving average): an idle API restarts one round trip after `now`,
  // when the reply arrives, so that its call is not already late for the next worker's slot.
  let roundTripMs = 0;
  const restart = async (api: string, intervalMs: number, now: number): Promise<number> => {
    const start = now + Math.ceil(roundTripMs);
    await doc.send(
      new lib.UpdateCommand({
        TableName: tableName,
        Key: { pk: paceKey(api) },
        UpdateExpression: "SET nextFree = :next, #ttl = :expires",
        ConditionExpression: "attribute_not_exists(nextFree) OR nextFree < :now",
        ExpressionAttributeNames: { "#ttl": ttlAttribute },
        ExpressionAttributeValues: {
          ":next": start + intervalMs,
          ":now": now,
          ":expires": Math.floor(now / 1000) + ttlSeconds,
        },
      }),
    );
    return start;
  };
  return {
    async reserve(api, intervalMs, now) {
      let ahead = busy.get(api) ?? false;
      for (let attempt = 0; attempt < 6; attempt++) {
        try {
          const sent = Date.now();
          const start = await (ahead ? advance : restart)(api, intervalMs, now);
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
