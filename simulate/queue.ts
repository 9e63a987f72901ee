/**
 * The simulation's event queue: a timing wheel of 10 ms slots for the far future, and a binary heap
 * for the slot being run.
 *
 * The order of events is defined, not an accident of the data structure: by time, then by the
 * event's key (device × 4 + kind), never by when an event was pushed. Why (issue #21): events at the
 * same virtual instant compete for the same thing — a second's connect quota — so their order decides
 * who gets in. While the order depended on push order (the wheel used to run a slot last pushed
 * first), an event could not be scheduled earlier or later than the code path that pushed it, so a
 * refused connect had to cost two events (its answer, then its retry timer) and nothing provably
 * idle could be left out. With the order a function of (time, key) alone, scheduling a refused
 * connect's retry at the moment of refusal, or a retry computed ahead of time, puts it exactly where
 * the two-event run would have run it (tests/simulate/exactness.test.ts shows the runs are equal).
 * Ties (the same instant, which whole-millisecond delays make common) go to the lower device:
 * deterministic, and a preference that never reaches past one instant. What the change from
 * last-pushed-first moved is in BENCHMARKS.md, "Event order and refusals answered in closed form".
 */

const SLOT_MS = 10;
const WHEEL_BITS = 21; // 2^21 slots of 10 ms: a 20,971 s horizon (the furthest push is below 18,300 s)
const WHEEL = 1 << WHEEL_BITS;
const WHEEL_MASK = WHEEL - 1;
/** The key's bits; the bit above marks a cancelled event (keys stay below 2^28: 50 M devices × 4). */
const KEY_MASK = (1 << 30) - 1;
const CANCELLED = 1 << 30;

/** The farthest ahead of the slot being run an event may be pushed, ms. */
export const QUEUE_HORIZON_MS = (WHEEL - 1) * SLOT_MS;

export class EventQueue {
  /** Node n: time at f64[2n], key at i32[4n + 2] (| CANCELLED), next node of its slot at i32[4n + 3]. */
  private f64: Float64Array;
  private i32: Int32Array;
  private free: Int32Array;
  private freeTop = 0;
  private used = 0;
  private readonly head = new Int32Array(WHEEL).fill(-1);
  /** The slot being run: its events in a binary heap of nodes, least (time, key) first. */
  private heap = new Int32Array(1024);
  private heapSize = 0;
  private current = -1;
  /** Live and cancelled events not yet taken. */
  size = 0;

  constructor(capacity: number) {
    const buf = new ArrayBuffer(capacity * 16);
    this.f64 = new Float64Array(buf);
    this.i32 = new Int32Array(buf);
    this.free = new Int32Array(capacity);
  }

  /** Queues an event; returns its node (for cancel). */
  push(t: number, key: number): number {
    let n: number;
    if (this.freeTop > 0) n = this.free[--this.freeTop];
    else {
      if (this.used === this.free.length) this.grow();
      n = this.used++;
    }
    this.f64[2 * n] = t;
    this.i32[4 * n + 2] = key;
    const slot = Math.floor(t / SLOT_MS);
    if (slot - this.current >= WHEEL) throw new RangeError(`event at ${t} ms is past the queue's horizon`);
    if (slot === this.current) this.heapPush(n);
    else {
      const w = slot & WHEEL_MASK;
      this.i32[4 * n + 3] = this.head[w];
      this.head[w] = n;
    }
    this.size++;
    return n;
  }

  /** The event stays queued and is dropped when its turn comes. */
  cancel(n: number): void {
    this.i32[4 * n + 2] |= CANCELLED;
  }

  /** Starts running slot `slot` (absolute, 10 ms each): its events move into the heap. */
  open(slot: number): void {
    this.current = slot;
    const w = slot & WHEEL_MASK;
    for (let n = this.head[w]; n >= 0;) {
      const next = this.i32[4 * n + 3];
      this.heapPush(n);
      n = next;
    }
    this.head[w] = -1;
  }

  /** Time of the slot's next event (cancelled ones included), or Infinity. */
  peekTime(): number {
    return this.heapSize > 0 ? this.f64[2 * this.heap[0]] : Infinity;
  }

  /** Takes the slot's next event: its key, or -1 for a cancelled one; its time is `takenTime`. */
  take(): number {
    const n = this.heap[0];
    const last = this.heap[--this.heapSize];
    if (this.heapSize > 0) this.siftDown(last);
    this.takenTime = this.f64[2 * n];
    const key = this.i32[4 * n + 2];
    this.free[this.freeTop++] = n;
    this.size--;
    return key & CANCELLED ? -1 : key;
  }
  takenTime = 0;

  private less(a: number, b: number): boolean {
    const ta = this.f64[2 * a];
    const tb = this.f64[2 * b];
    return ta < tb || (ta === tb && (this.i32[4 * a + 2] & KEY_MASK) < (this.i32[4 * b + 2] & KEY_MASK));
  }

  private heapPush(n: number): void {
    if (this.heapSize === this.heap.length) {
      const h = new Int32Array(this.heap.length * 2);
      h.set(this.heap);
      this.heap = h;
    }
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = this.heap[parent];
      if (!this.less(n, p)) break;
      this.heap[i] = p;
      i = parent;
    }
    this.heap[i] = n;
  }

  /** Places n at the root and lets it sink (the heap is one shorter than before the take). */
  private siftDown(n: number): void {
    const h = this.heap;
    const size = this.heapSize;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && this.less(h[c + 1], h[c])) c++;
      if (!this.less(h[c], n)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = n;
  }

  private grow(): void {
    const cap = this.free.length * 2;
    const buf = new ArrayBuffer(cap * 16);
    new Int32Array(buf).set(this.i32);
    this.f64 = new Float64Array(buf);
    this.i32 = new Int32Array(buf);
    const free = new Int32Array(cap);
    free.set(this.free);
    this.free = free;
  }
}

export { SLOT_MS };
