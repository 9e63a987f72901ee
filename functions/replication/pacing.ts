/**
 * Keeps replay under the IoT control-plane quotas (DESIGN.md §7): one rate limiter per API, and
 * full-jitter exponential backoff when the service still throttles. A throttled call is retried,
 * never dropped; after `maxAttempts` it surfaces as `Throttled` so the state machine retries the record.
 */
import { Throttled, isThrottlingError } from "./errors.js";

/**
 * Default transactions per second per account and region. The write APIs of DESIGN.md §7 are the
 * AWS defaults; the reads replay plans with (Describe*, List*, GetPolicy) and the rarer writes are
 * assumed at the rate of the write they accompany. Override any of them with the account's quotas.
 */
export const DEFAULT_IOT_QUOTAS = {
  CreateThing: 100,
  UpdateThing: 100,
  DeleteThing: 100,
  DescribeThing: 350,
  AttachThingPrincipal: 100,
  DetachThingPrincipal: 100,
  ListThingPrincipals: 100,
  AddThingToThingGroup: 100,
  RemoveThingFromThingGroup: 100,
  ListThingGroupsForThing: 100,
  CreateThingGroup: 25,
  UpdateThingGroup: 25,
  DeleteThingGroup: 25,
  DescribeThingGroup: 100,
  CreateThingType: 15,
  DeprecateThingType: 15,
  DeleteThingType: 15,
  DescribeThingType: 50,
  AttachPolicy: 15,
  DetachPolicy: 15,
  ListAttachedPolicies: 15,
  ListThingGroups: 25,
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

export type IotApi = keyof typeof DEFAULT_IOT_QUOTAS;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

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
  /** First backoff ceiling; default 100 ms. */
  baseDelayMs?: number;
  /** Largest backoff ceiling; default 5 000 ms. */
  maxDelayMs?: number;
}

export interface ApiStats {
  calls: number;
  throttles: number;
  retries: number;
  /** Milliseconds spent waiting for tokens and in backoff. */
  waitedMs: number;
}

export interface Pacer {
  /** Runs `call` when `api` has a token; retries throttling with backoff; throws `Throttled` after maxAttempts. */
  run<T>(api: string, call: () => Promise<T>): Promise<T>;
  /** Rate in TPS the pacer applies to an API. */
  rateOf(api: string): number;
  stats(): Record<string, ApiStats>;
}

/**
 * Sliding-window limiter: at most `n` starts in any window of `windowMs` (n / windowMs = the rate),
 * so no one-second window ever sees more calls than the quota, bursts included.
 */
interface Window {
  n: number;
  windowMs: number;
  /** Start times reserved so far (the last n), oldest first. */
  starts: number[];
}

export function createPacer(options: PacerOptions = {}): Pacer {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const maxAttempts = options.maxAttempts ?? 8;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 5_000;
  const utilisation = options.utilisation ?? 1;
  const rates: Record<string, number | undefined> = { ...DEFAULT_IOT_QUOTAS, ...options.rates };
  for (const [api, rate] of Object.entries(rates)) {
    if (rate !== undefined && !(rate > 0))
      throw new Error(`pacing rate for ${api} must be a positive number of requests per second, got ${rate}`);
  }
  if (!(utilisation > 0 && utilisation <= 1))
    throw new Error(`pacing utilisation must be in (0, 1], got ${utilisation}`);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new Error(`pacing maxAttempts must be a positive integer, got ${maxAttempts}`);
  const windows = new Map<string, Window>();
  const stats = new Map<string, ApiStats>();

  const rateOf = (api: string) => (rates[api] ?? options.defaultRate ?? 10) * utilisation;
  const statOf = (api: string) => {
    let s = stats.get(api);
    if (!s) stats.set(api, (s = { calls: 0, throttles: 0, retries: 0, waitedMs: 0 }));
    return s;
  };

  /** Reserves the earliest start allowed for one call and returns how long to wait for it. */
  const reserve = (api: string): number => {
    const now = clock.now();
    let w = windows.get(api);
    if (!w) {
      const rate = rateOf(api);
      const n = Math.max(1, Math.floor(rate));
      windows.set(api, (w = { n, windowMs: (n / rate) * 1000, starts: [] }));
    }
    const at = w.starts.length < w.n ? now : Math.max(now, w.starts[w.starts.length - w.n] + w.windowMs);
    w.starts.push(at);
    if (w.starts.length > w.n) w.starts.splice(0, w.starts.length - w.n);
    return Math.ceil(at - now);
  };

  return {
    rateOf,
    stats: () => Object.fromEntries([...stats].map(([k, v]) => [k, { ...v }])),
    async run<T>(api: string, call: () => Promise<T>): Promise<T> {
      const s = statOf(api);
      for (let attempt = 1; ; attempt++) {
        const wait = reserve(api);
        if (wait > 0) {
          s.waitedMs += wait;
          await clock.sleep(wait);
        }
        s.calls++;
        try {
          return await call();
        } catch (err) {
          if (!isThrottlingError(err)) throw err;
          s.throttles++;
          if (attempt >= maxAttempts) {
            throw new Throttled(
              `${api} still throttled after ${attempt} attempts; retry the record later`,
              api,
            );
          }
          s.retries++;
          // Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
          const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
          const delay = Math.floor(random() * ceiling);
          s.waitedMs += delay;
          await clock.sleep(delay);
        }
      }
    },
  };
}
