/**
 * Keeps replay under the IoT control-plane quotas (DESIGN.md §7): one rate limiter per API, and
 * full-jitter exponential backoff when the service still throttles. A throttled call is retried,
 * never dropped; after `maxAttempts` it surfaces as `Throttled` so the state machine retries the record.
 * The pacer owns every retry: paced clients make one SDK attempt (functions/deadlines.ts
 * `replayIot`, `captureIot`), so a retry takes a new start and is never sent outside the schedule.
 */
import { Throttled, isThrottlingError, isTransientError } from "./errors.js";
import type { SlotStore } from "./sharedPacing.js";
import { systemClock, type Clock } from "../shared/clock.js";

/**
 * Default transactions per second per account and region. The registry APIs (things, thing types,
 * thing groups and their reads) are the AWS defaults listed by Service Quotas (service `iotcore`,
 * e.g. L-0EF0F5EE DescribeThing 350, L-FC3EF4D9 ListThingPrincipals 10); certificate and policy APIs
 * follow DESIGN.md §7 and the IoT Core quota table, the rest is assumed at the rate of the write
 * it accompanies. Override any of them with the account's quotas (some regions are lower).
 */
export const DEFAULT_IOT_QUOTAS = {
  CreateThing: 100,
  UpdateThing: 100,
  DeleteThing: 100,
  DescribeThing: 350,
  AttachThingPrincipal: 100,
  DetachThingPrincipal: 100,
  ListThingPrincipals: 10,
  AddThingToThingGroup: 100,
  RemoveThingFromThingGroup: 100,
  ListThingGroupsForThing: 100,
  CreateThingGroup: 25,
  UpdateThingGroup: 15,
  DeleteThingGroup: 15,
  DescribeThingGroup: 100,
  CreateThingType: 15,
  DeprecateThingType: 15,
  DeleteThingType: 15,
  DescribeThingType: 100,
  AttachPolicy: 15,
  DetachPolicy: 15,
  ListAttachedPolicies: 15,
  ListThingGroups: 10,
  ListTargetsForPolicy: 15,
  RegisterCertificateWithoutCA: 10,
  DescribeCertificate: 10,
  UpdateCertificate: 10,
  DeleteCertificate: 10,
  CreatePolicy: 10,
  GetPolicy: 15,
  CreatePolicyVersion: 10,
  SetDefaultPolicyVersion: 10,
  ListPolicyVersions: 10,
  DeletePolicyVersion: 10,
  DeletePolicy: 10,
  ListThings: 10,
} as const satisfies Record<string, number>;

// The clock lives in functions/shared/clock.ts; re-exported for the pacer's callers.
export { systemClock, type Clock };

export interface PacerOptions {
  /** Rates per API in TPS; default DEFAULT_IOT_QUOTAS. An API missing from both gets `defaultRate`. */
  rates?: Partial<Record<string, number>>;
  /** Rate for an API that has no entry; default 10 TPS (the lowest default quota). */
  defaultRate?: number;
  /** Fraction of each quota to use, leaving room for other callers in the account; default 1. */
  utilisation?: number;
  clock?: Clock;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
  /** Attempts per call including the first; default 8. */
  maxAttempts?: number;
  /**
   * Attempts of a call that times out or fails transiently (errors.ts isTransientError), each at a
   * new start; default 1 (the error is thrown at once). Deployed: the deadline table's `pacedAttempts`.
   */
  transientAttempts?: number;
  /** First backoff ceiling; default 100 ms. */
  baseDelayMs?: number;
  /** Largest backoff ceiling; default 5 000 ms. */
  maxDelayMs?: number;
  /**
   * Where starts are reserved: default this process's own schedule; a shared store
   * (sharedPacing.ts dynamoSlotStore) spaces the calls of every worker in the region together.
   */
  slots?: SlotStore;
  /**
   * With `slots`: a reserved start this far in the past when the store answers is given up; default
   * 25 ms. Set explicitly, it also holds for this process's own schedule: a call whose timer fired
   * this much after its start (a busy event loop) takes a new start instead of going out next to
   * its successor (capture, whose containers each hold a fixed share of the quota).
   */
  maxLateMs?: number;
}

export interface ApiStats {
  calls: number;
  throttles: number;
  retries: number;
  /** Milliseconds spent waiting for tokens and in backoff. */
  waitedMs: number;
  /** Shared starts given up because the store answered after them (see `maxLateMs`). */
  lateStarts: number;
}

export interface Pacer {
  /** Runs `call` when `api` has a token; retries throttling with backoff; throws `Throttled` after maxAttempts. */
  run<T>(api: string, call: () => Promise<T>): Promise<T>;
  /** Rate in TPS the pacer applies to an API. */
  rateOf(api: string): number;
  stats(): Record<string, ApiStats>;
}

/**
 * Evenly spaced starts: one call every 1 / rate seconds, no burst. Any one-second window then sees
 * at most ceil(rate) starts, and a service that counts calls per sliding second sees the quota as
 * long as a call reaches it less than (1 / utilisation - 1) seconds late (50 ms at 0.95).
 */
interface Schedule {
  intervalMs: number;
  /** Start reserved for the latest call; -Infinity before the first. */
  last: number;
}

export function createPacer(options: PacerOptions = {}): Pacer {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const maxAttempts = options.maxAttempts ?? 8;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 5_000;
  const utilisation = options.utilisation ?? 1;
  const maxLateMs = options.maxLateMs ?? 25;
  const rates: Record<string, number | undefined> = { ...DEFAULT_IOT_QUOTAS, ...options.rates };
  for (const [api, rate] of Object.entries(rates)) {
    if (rate !== undefined && !(rate > 0))
      throw new Error(`pacing rate for ${api} must be a positive number of requests per second, got ${rate}`);
  }
  if (!(utilisation > 0 && utilisation <= 1))
    throw new Error(`pacing utilisation must be in (0, 1], got ${utilisation}`);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new Error(`pacing maxAttempts must be a positive integer, got ${maxAttempts}`);
  const transientAttempts = options.transientAttempts ?? 1;
  if (!Number.isInteger(transientAttempts) || transientAttempts < 1)
    throw new Error(`pacing transientAttempts must be a positive integer, got ${transientAttempts}`);
  const schedules = new Map<string, Schedule>();
  const stats = new Map<string, ApiStats>();

  const rateOf = (api: string) => (rates[api] ?? options.defaultRate ?? 10) * utilisation;
  const statOf = (api: string) => {
    let s = stats.get(api);
    if (!s) stats.set(api, (s = { calls: 0, throttles: 0, retries: 0, waitedMs: 0, lateStarts: 0 }));
    return s;
  };

  /** Reserves the earliest start allowed for one call and returns how long to wait for it. */
  const reserve = async (api: string): Promise<number> => {
    let w = schedules.get(api);
    if (!w) schedules.set(api, (w = { intervalMs: 1000 / rateOf(api), last: -Infinity }));
    if (options.slots) {
      // A start already past by more than `maxLateMs` when the store answers is given up (a gap
      // in the schedule is safe; a late call could be counted in the next second with its
      // successor's) and a new one reserved.
      for (let attempt = 1; ; attempt++) {
        const start = await options.slots.reserve(api, w.intervalMs, clock.now());
        const wait = start - clock.now();
        if (wait >= -maxLateMs || attempt >= 3) return Math.max(0, Math.ceil(wait));
        statOf(api).lateStarts++;
      }
    }
    const now = clock.now();
    w.last = Math.max(now, w.last + w.intervalMs);
    return Math.ceil(w.last - now);
  };
  const giveUpLate = options.slots === undefined && options.maxLateMs !== undefined;

  return {
    rateOf,
    stats: () => Object.fromEntries([...stats].map(([k, v]) => [k, { ...v }])),
    run: runPaced,
  };

  async function runPaced<T>(api: string, call: () => Promise<T>): Promise<T> {
    const s = statOf(api);
    let throttled = 0;
    let failed = 0;
    for (let attempt = 1; ; attempt++) {
      let wait = await reserve(api);
      for (let late = 0; ; late++) {
        const due = clock.now() + wait;
        if (wait > 0) {
          s.waitedMs += wait;
          await clock.sleep(wait);
        }
        if (!giveUpLate || late >= 2 || clock.now() - due <= maxLateMs) break;
        s.lateStarts++;
        wait = await reserve(api);
      }
      s.calls++;
      try {
        return await call();
      } catch (err) {
        if (isThrottlingError(err)) {
          s.throttles++;
          if (++throttled >= maxAttempts) {
            throw new Throttled(
              `${api} still throttled after ${throttled} attempts; retry the record later`,
              api,
            );
          }
        } else if (!isTransientError(err) || ++failed >= transientAttempts) throw err;
        s.retries++;
        // Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        const delay = Math.floor(random() * ceiling);
        s.waitedMs += delay;
        await clock.sleep(delay);
      }
    }
  }
}
