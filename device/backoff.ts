/**
 * Reconnect delays: exponential backoff with full jitter, so that a fleet whose connections all
 * dropped in the same second spreads its reconnects over the window instead of hitting the
 * broker's connect quota (IoT Core: 500 connects per second per account by default) at once.
 *
 * Attempt n (from 0) waits uniform[0, min(maxDelayMs, minDelayMs * 2^n)). A connection that stayed
 * up for resetAfterMs starts the next outage from attempt 0 again.
 */

export interface BackoffOptions {
  /** Width of the first reconnect window in ms; doubles per failed attempt. Default 1000. */
  minDelayMs?: number;
  /** Cap on the window in ms. Default 120000. */
  maxDelayMs?: number;
  /** A connection that lasted this long (ms) resets the backoff. Default 20000. */
  resetAfterMs?: number;
}

export const BACKOFF_DEFAULTS = { minDelayMs: 1_000, maxDelayMs: 120_000, resetAfterMs: 20_000 } as const;

function checkMs(name: string, value: number, allowZero: boolean): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(
      `backoff.${name} must be a ${allowZero ? "non-negative" : "positive"} number of ms, got ${value}`,
    );
  }
}

/** Upper bound (ms) of the window attempt n (from 0) draws its delay from. */
export function backoffWindowMs(attempt: number, minDelayMs: number, maxDelayMs: number): number {
  // 2^attempt overflows to Infinity long after the cap applies; min() keeps it finite.
  return Math.min(maxDelayMs, minDelayMs * 2 ** attempt);
}

/** The delay before attempt n: full jitter over its window, from one draw r in [0, 1). */
export function backoffDelayMs(attempt: number, minDelayMs: number, maxDelayMs: number, r: number): number {
  if (!(r >= 0 && r < 1))
    throw new RangeError(`random source returned ${r}; it must return a number in [0, 1)`);
  return Math.floor(r * backoffWindowMs(attempt, minDelayMs, maxDelayMs));
}

/** Whether a connection that lasted `lastedMs` resets the backoff to attempt 0. */
export function lastedLongEnough(lastedMs: number, resetAfterMs: number): boolean {
  return lastedMs >= resetAfterMs;
}

export class Backoff {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly resetAfterMs: number;
  private attempt = 0;

  /** `random` returns a number in [0, 1) (injectable for tests). */
  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.minDelayMs = options.minDelayMs ?? BACKOFF_DEFAULTS.minDelayMs;
    this.maxDelayMs = options.maxDelayMs ?? BACKOFF_DEFAULTS.maxDelayMs;
    this.resetAfterMs = options.resetAfterMs ?? BACKOFF_DEFAULTS.resetAfterMs;
    checkMs("minDelayMs", this.minDelayMs, false);
    checkMs("maxDelayMs", this.maxDelayMs, false);
    checkMs("resetAfterMs", this.resetAfterMs, true);
    if (this.minDelayMs > this.maxDelayMs) {
      throw new RangeError(
        `backoff.minDelayMs (${this.minDelayMs}) is larger than backoff.maxDelayMs (${this.maxDelayMs}); raise maxDelayMs or lower minDelayMs`,
      );
    }
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** Upper bound of the window the next delay is drawn from. */
  window(): number {
    return backoffWindowMs(this.attempt, this.minDelayMs, this.maxDelayMs);
  }

  /** The delay before the next attempt; counts the attempt. */
  next(): number {
    const delay = backoffDelayMs(this.attempt, this.minDelayMs, this.maxDelayMs, this.random());
    this.attempt++;
    return delay;
  }

  reset(): void {
    this.attempt = 0;
  }

  /** Reports how long a connection stayed up; a stable one resets the backoff. Returns whether it did. */
  connectionLasted(ms: number): boolean {
    if (!lastedLongEnough(ms, this.resetAfterMs)) return false;
    this.reset();
    return true;
  }
}
