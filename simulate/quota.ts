/**
 * What is already known about a future second's connect quota in one region: the connects that are
 * certain to be attempted in it (retry timers of waiting devices, which nothing cancels), counted per
 * millisecond. Once `quota` of them fall before millisecond m of that second, every other connect
 * from m on is refused, whatever else happens first (the quota admits the first `quota` attempts of
 * a second; an attempt that is refused finds it full). The engine answers such connects in closed
 * form, without queueing them: a device refused at 500/s by a ten-million-device fleet retries about
 * 170 times before it gets in, and almost every one of those retries lands in a second that is
 * already known to be full.
 *
 * Counts are kept for a window of RING_SECONDS from the current second; anything further ahead is
 * not counted, which only makes the answer "not known" more often (never wrong).
 */

export const RING_SECONDS = 8_192;

export class QuotaLedger {
  /** Attempts certain per (second in the ring, millisecond). */
  private readonly perMs = new Uint32Array(RING_SECONDS * 1000);
  /** Attempts certain in the second, up to the point the second is full. */
  private readonly total = new Uint32Array(RING_SECONDS);
  /** For a full second: the first millisecond by whose end `quota` attempts are certain, else -1. */
  private readonly fullAt = new Int16Array(RING_SECONDS).fill(-1);
  /** For a full second: the certain attempts up to and including fullAt. */
  private readonly upToFull = new Uint32Array(RING_SECONDS);
  /** The ring holds seconds from `first` to first + RING_SECONDS - 1. */
  private first = 0;
  private readonly need: number;

  constructor(quota: number) {
    this.need = Math.ceil(quota);
  }

  /** Moves the window's start to `second` (virtual time never goes back). */
  advance(second: number): void {
    if (second <= this.first) return;
    const from = Math.max(this.first, second - RING_SECONDS);
    for (let s = from; s < second; s++) {
      const r = s % RING_SECONDS;
      this.perMs.fill(0, r * 1000, r * 1000 + 1000);
      this.total[r] = 0;
      this.fullAt[r] = -1;
      this.upToFull[r] = 0;
    }
    this.first = second;
  }

  /** Records a connect attempt that will certainly be made at `t` (ms). */
  add(t: number): void {
    const s = Math.floor(t / 1000);
    if (s < this.first || s >= this.first + RING_SECONDS) return;
    const r = s % RING_SECONDS;
    const ms = Math.floor(t) - s * 1000;
    const base = r * 1000;
    this.perMs[base + ms]++;
    const f = this.fullAt[r];
    if (f < 0) {
      if (++this.total[r] < this.need) return;
      // full now: find the millisecond by which `need` attempts are certain
      let sum = 0;
      let m = 0;
      for (; m < 1000; m++) if ((sum += this.perMs[base + m]) >= this.need) break;
      this.fullAt[r] = m;
      this.upToFull[r] = sum;
      return;
    }
    if (ms > f) return;
    // an earlier attempt: the second may now be full sooner
    let sum = this.upToFull[r] + 1;
    let m = f;
    while (m > 0 && sum - this.perMs[base + m] >= this.need) sum -= this.perMs[base + m--];
    this.fullAt[r] = m;
    this.upToFull[r] = sum;
  }

  /** Whether a connect at `t` (ms) is certain to find the quota of its second used up. */
  full(t: number): boolean {
    const s = Math.floor(t / 1000);
    if (s < this.first || s >= this.first + RING_SECONDS) return false;
    const f = this.fullAt[s % RING_SECONDS];
    return f >= 0 && Math.floor(t) - s * 1000 > f;
  }
}
