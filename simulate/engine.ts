/**
 * The fleet fail-over simulation: a discrete-event run on a virtual clock (ms from the failure)
 * of every device of a fleet, with the world around them — Route 53's checkers, the DNS flip,
 * recursive resolvers, the fail-over notice, the server-side disconnect sweep and IoT Core's
 * connect quota per region.
 *
 * The devices are the FailoverClient's state machine (device/client.ts) with its decisions taken
 * by the functions the client itself calls (device/policy.ts, device/backoff.ts,
 * device/resolver.ts), each device drawing from its own random stream (simulate/random.ts). State
 * lives in one 64-byte record per device, so ten million devices fit in memory. Events run in the
 * order (time, device, kind) (simulate/queue.ts says why), which lets a refused connect cost one
 * event instead of two, and lets retries that are certain to be refused (simulate/quota.ts) be
 * answered without the queue: the devices take the same decisions as in a run with every event
 * queued (`exact`), at a small fraction of the events.
 */
import { backoffDelayMs, lastedLongEnough } from "../device/backoff.js";
import type { FailoverNotice } from "../device/notice.js";
import { NOTICE_VERSION } from "../device/notice.js";
import * as policy from "../device/policy.js";
import { cacheLifeSeconds } from "../device/resolver.js";
import type { Trigger } from "../device/client.js";
import { unitHash, WORLD_SEED_SALT } from "./random.js";
import { checkParams, MAX_TIMER_MS, type SimParams } from "./params.js";
import { EventQueue, SLOT_MS } from "./queue.js";
import { QuotaLedger, RING_SECONDS } from "./quota.js";

// device states (the client's states; "moving" lasts no virtual time here)
const CONNECTED_A = 0;
const WAITING = 1;
const CONNECTING = 2;
const ON_B = 3;
const LOST_A = 4; // broker failure: connected as far as the device knows, the socket is dead
const REFUSED = 5; // a connect in flight that the broker will refuse (only in the exact run)

// event kinds, one pending event of each per device at most (the client's three timers + the socket)
const K_RETRY = 0; // retryLater's timer -> connectNow
const K_SOCKET = 1; // CONNACK / refusal of a connect in flight, or a dead connection noticed
const K_RERESOLVE = 2;
const K_NOTICE = 3;

// a device's record: REC_BYTES bytes, seen as bytes (U8 per device), int32s (I32) and float64s (F64)
const REC_BYTES = 64;
const U8 = REC_BYTES;
const I32 = REC_BYTES / 4;
const F64 = REC_BYTES / 8;
// bytes
const STATE = 0;
const ATTEMPT = 1; // the Backoff's attempt counter (capped: the window is capped long before)
const TRIG = 2; // pendingTrigger, index into TRIGGERS
const PINNED = 3; // pinnedHost = region B's endpoint
const HANDLED = 4; // acted on the notice
const LAST_FAILED = 5;
const TARGET = 6; // region of the connect in flight
const RCLASS = 7; // resolver class
const CACHE_REG = 8; // device resolver cache of the fail-over record: the region
// int32s
const DRAWS = 3; // draws taken from the device's random stream
const PENDING = 4; // 4..7: the wheel node of the pending event of each kind, -1: none
// float64s
const CACHE_EXP = 4; // device resolver cache of the fail-over record: when it expires
const CONNECTED_AT = 5;
const DISCONNECTED_AT = 6;

const REGION_A = 0;
const REGION_B = 1;
const NONE = 255;
/** The fail-over record, and the regions' own endpoints a notice can pin (regionEndpoints). */
export const HOST_ENDPOINT = "iot.example.com";
export const REGION_ENDPOINTS = { a: "iot.region-a.example.com", b: "iot.region-b.example.com" } as const;
/** The notice the notifier publishes (device/notice.ts schema). */
export const NOTICE_ID = "fo-sim";
const ADDRESSES: readonly (readonly string[])[] = [["a"], ["b"]];

export const TRIGGERS: readonly Trigger[] = ["start", "connection-lost", "notice", "reresolve"];

/** One decision a traced device took (tests compare these with a real FailoverClient's). */
export type TraceEntry =
  | { t: number; kind: "retry-wait"; delayMs: number; trigger: Trigger }
  | { t: number; kind: "connect"; region: "a" | "b"; trigger: Trigger }
  | { t: number; kind: "refused"; region: "a" | "b" }
  | { t: number; kind: "connected"; region: "a" | "b"; trigger: Trigger }
  | { t: number; kind: "reresolve-in"; delayMs: number }
  /** At the failure: what is left of the re-resolution period running then. */
  | { t: number; kind: "reresolve-left"; delayMs: number }
  | { t: number; kind: "notice"; action: string; delayMs?: number }
  | { t: number; kind: "disconnected"; reason: Trigger };

export interface SimSecond {
  /** Whole seconds since the failure. */
  t: number;
  connectsA: number;
  connectsB: number;
  refused: number;
  /** Devices connected to B at the end of the second. */
  onB: number;
}

export interface SimOutcome {
  params: SimParams;
  detectionMs: number;
  noticeAtMs: number;
  noticeSpreadMs: number;
  sweepStartMs: number;
  /** Times (ms from the failure) until the given share of devices was on B; null: not reached. */
  connectedMs: { p50: number | null; p90: number | null; p99: number | null; p100: number | null };
  devicesOnB: number;
  peakConnectsPerSecond: number;
  peakConnectsSliding1s: number;
  refusedConnects: number;
  failedConnects: number;
  connectsToA: number;
  disconnectsSent: number;
  queuedMessages: number;
  droppedMessages: number;
  byTrigger: Record<Trigger, number>;
  seconds: SimSecond[];
  /** Events taken from the queue. */
  events: number;
  /**
   * Events of the exact run answered without the queue: refusals answered when the connect was sent,
   * and retries certain to be refused (each is two events: the retry timer, the refusal).
   */
  eventsAnswered: number;
  virtualSeconds: number;
}

export interface SimHooks {
  /** Devices whose decisions are recorded. */
  trace?: ReadonlySet<number>;
  onTrace?: (device: number, entry: TraceEntry) => void;
  /**
   * Queue every event the devices' clients would see (each refused connect's answer, every retry
   * timer): the reference the fast run must equal (tests/simulate/exactness.test.ts). Default false.
   */
  exact?: boolean;
}

/** Route 53: each checker fails after `threshold` consecutive failed probes; the record flips once fewer than 18 % report healthy. */
export function detectionTimeMs(p: SimParams, world: (k: number) => number): number {
  const interval = p.checkIntervalSeconds * 1000;
  // Our health function answers unhealthy after its hysteresis rounds of ~1 s.
  const unhealthyFrom = (p.failuresBeforeUnhealthy - 1 + world(0)) * 1000;
  const declared: number[] = [];
  for (let c = 0; c < p.checkers; c++) {
    const phase = world(1 + c) * interval;
    const firstFailed = phase + Math.ceil((unhealthyFrom - phase) / interval) * interval;
    declared.push(firstFailed + (p.failureThreshold - 1) * interval + world(100 + c) * p.probeDeadlineMs);
  }
  declared.sort((x, y) => x - y);
  const healthyNeeded = Math.floor(0.18 * p.checkers) + 1; // "healthy" needs more than 18 %
  return declared[Math.max(0, p.checkers - healthyNeeded)];
}

/** The world's random draws (resolver phases, publish phases, checkers), apart from the devices' streams. */
export function worldDraws(seed: number): (stream: number, k: number) => number {
  const worldSeed = (seed ^ WORLD_SEED_SALT) >>> 0;
  return (stream, k) => unitHash(worldSeed, stream, k);
}

/** How long each resolver class keeps an answer, ms (0: no cache). */
export function resolverLivesMs(p: SimParams): number[] {
  return p.resolverMix.map((c) =>
    c.kind === "direct"
      ? 0
      : c.kind === "honour"
        ? p.recordTtlSeconds * 1000
        : c.kind === "clamp"
          ? Math.max(p.recordTtlSeconds, c.seconds) * 1000
          : (p.recordTtlSeconds + c.seconds) * 1000,
  );
}

/** Which resolver class device d sits behind. */
export function resolverClassOf(
  shares: readonly number[],
  world: (stream: number, k: number) => number,
  d: number,
): number {
  let u = world(d, 0);
  let c = 0;
  while (c < shares.length - 1 && u >= shares[c]) u -= shares[c++];
  return c;
}

/**
 * What a recursive resolver answers for the fail-over record at `now`: it refreshes the (popular)
 * name as it expires, every `lifeMs` on its own phase, so it answers what Route 53 answered at its
 * last refresh, with the rest of its life as TTL. lifeMs 0: Route 53 itself.
 */
export function upstreamAnswer(
  now: number,
  flipAt: number,
  lifeMs: number,
  phaseMs: number,
  recordTtlSeconds: number,
): { region: 0 | 1; ttlSeconds: number } {
  if (lifeMs === 0) return { region: now >= flipAt ? 1 : 0, ttlSeconds: recordTtlSeconds };
  const last = phaseMs + Math.floor((now - phaseMs) / lifeMs) * lifeMs;
  return { region: last >= flipAt ? 1 : 0, ttlSeconds: (last + lifeMs - now) / 1000 };
}

class Counts {
  a = new Uint32Array(1024);
  get(i: number): number {
    return i < this.a.length ? this.a[i] : 0;
  }
  add(i: number, n = 1): void {
    if (i >= this.a.length) {
      const b = new Uint32Array(Math.max(i + 1, this.a.length * 2));
      b.set(this.a);
      this.a = b;
    }
    this.a[i] += n;
  }
}

/** Runs the simulation to the point every device is on B (or maxSimSeconds). */
export function simulate(params: SimParams, hooks: SimHooks = {}): SimOutcome {
  checkParams(params);
  const p = params;
  const N = p.devices;
  const seed = p.seed;
  const world = worldDraws(seed);
  const dnsOn = p.trigger === "dns" || p.trigger === "mixed";
  const noticeOn = p.trigger === "notice" || p.trigger === "mixed";
  const sweepOn = (p.trigger === "disconnect" || p.trigger === "mixed") && p.failure === "services";
  const reresolveMs = dnsOn ? p.reresolveIntervalMs : 0;
  const quota = p.connectQuota;
  const { minDelayMs, maxDelayMs, resetAfterMs } = p.backoff;
  const trace = hooks.trace ?? new Set<number>();
  const tracing = trace.size > 0 && hooks.onTrace !== undefined;
  const emit = (d: number, entry: TraceEntry) => hooks.onTrace!(d, entry);

  // -- the world
  const flipAt = p.dnsFlipMs ?? detectionTimeMs(p, (k) => world(N + 1, k));
  const noticeAt = flipAt + (p.noticeDelayMs ?? Math.floor(world(N + 2, 0) * 60_000));
  const spread = p.noticeSpreadMs ?? (quota === Infinity ? 0 : Math.ceil((N / quota) * 1000));
  const notice: FailoverNotice = {
    version: NOTICE_VERSION,
    id: NOTICE_ID,
    targetRegion: "b",
    spreadMs: spread,
  };
  // A device that acted on the notice remembers its id (the retained copy arrives again).
  const handledMemory = policy.rememberNotice(policy.NO_NOTICES, notice);
  const noticeSettings = {
    endpoint: HOST_ENDPOINT,
    regionEndpoints: { ...REGION_ENDPOINTS },
    noticeSpreadMs: 1_000,
    maxNoticeSpreadMs: p.maxNoticeSpreadMs,
  };
  let noticePublished = false;
  const lifeMs = resolverLivesMs(p);
  for (const l of lifeMs)
    if (l >= MAX_TIMER_MS) throw new RangeError(`a resolver keeps answers ${l} ms; at most ${MAX_TIMER_MS}`);

  // -- devices: one 64-byte record each (one cache line), so an event touches one line of device state
  const rec = new ArrayBuffer(N * REC_BYTES);
  const u8 = new Uint8Array(rec);
  const i32 = new Int32Array(rec);
  const f64 = new Float64Array(rec);
  const wheel = new EventQueue(Math.min(2 * N + 1024, 1 << 26));
  const exact = hooks.exact === true;
  const endMs = p.maxSimSeconds * 1000;
  /** Events from here on are never run (the loop's last slot is the one holding endMs). */
  const endBefore = (Math.floor(endMs / SLOT_MS) + 1) * SLOT_MS;
  // quota-seeking attempts known ahead, per region (none to count without a quota)
  const ledgers = quota === Infinity ? null : [new QuotaLedger(quota), new QuotaLedger(quota)];
  let cur = 0;
  const rnd = () => unitHash(seed, cur, i32[cur * I32 + DRAWS]++);

  const shares = p.resolverMix.map((c) => c.share);
  for (let d = 0; d < N; d++) {
    u8[d * U8 + RCLASS] = resolverClassOf(shares, world, d);
    u8[d * U8 + LAST_FAILED] = NONE;
    f64[d * F64 + CONNECTED_AT] = -Infinity;
    for (let k = 0; k < 4; k++) i32[d * I32 + PENDING + k] = -1;
  }

  // -- counters
  const bins = new Counts(); // connects to B per 10 ms
  const perSecA = new Counts();
  const perSecB = new Counts();
  const perSecRefused = new Counts();
  let refused = 0;
  let failed = 0;
  let connectsToA = 0;
  let onB = 0;
  let queued = 0;
  let dropped = 0;
  let events = 0;
  let answered = 0;
  let disconnectsSent = 0;
  const byTrigger: Record<Trigger, number> = { start: 0, "connection-lost": 0, notice: 0, reresolve: 0 };
  let quotaSecond = -1;
  const quotaUsed = [0, 0];

  const schedule = (d: number, kind: number, t: number) => {
    const at = d * I32 + PENDING + kind;
    if (i32[at] >= 0) {
      // a waiting device's retry is never replaced: the ledger counted it as certain
      if (kind === K_RETRY) throw new Error(`simulate: device ${d}'s retry timer was replaced`);
      wheel.cancel(i32[at]);
    }
    i32[at] = wheel.push(t, d * 4 + kind);
  };
  const cancel = (d: number, kind: number) => {
    const at = d * I32 + PENDING + kind;
    if (i32[at] >= 0) {
      wheel.cancel(i32[at]);
      i32[at] = -1;
    }
  };

  /** The device's resolver: its cache (TTL honoured), then its recursive resolver, then Route 53. */
  const resolve = (d: number, now: number, refresh: boolean): number => {
    if (u8[d * U8 + PINNED]) return REGION_B; // region B's own endpoint answers B
    if (!refresh && now < f64[d * F64 + CACHE_EXP]) return u8[d * U8 + CACHE_REG];
    const L = lifeMs[u8[d * U8 + RCLASS]];
    const answer = upstreamAnswer(now, flipAt, L, L === 0 ? 0 : world(d, 1) * L, p.recordTtlSeconds);
    const region = answer.region;
    const ttlSeconds = answer.ttlSeconds;
    f64[d * F64 + CACHE_EXP] =
      now + cacheLifeSeconds(ttlSeconds, p.deviceMinTtlSeconds, p.deviceMaxTtlSeconds) * 1000;
    u8[d * U8 + CACHE_REG] = region;
    return region;
  };

  /** Whether a connect to `region` at t is certain to fail: a dead broker, or a quota known to be used up. */
  const certainToFail = (region: number, t: number): boolean => {
    if (region === REGION_A && p.failure === "broker") return true;
    if (ledgers === null) return false;
    if (Math.floor(t / 1000) === quotaSecond && quotaUsed[region] >= quota) return true;
    return ledgers[region].full(t);
  };

  const messagesBetween = (d: number, from: number, to: number): number => {
    const P = p.publishIntervalMs;
    if (P === 0 || to <= from) return 0;
    const phase = world(d, 2) * P;
    return Math.max(0, Math.ceil((to - phase) / P) - Math.ceil((from - phase) / P));
  };

  /**
   * retryLater: a backoff delay, then connectNow with a fresh lookup. Outside the exact run, a retry
   * that is certain to fail is answered here (sendConnect and refusedAt at its time) and the next
   * delay drawn, until a retry whose outcome is not yet known: only that one is queued.
   */
  const retryLater = (d: number, now: number, trigger: number) => {
    let at = now + backoffDelay(d, now, trigger);
    if (!exact) {
      // once an upstream answer is B, every later one is (a resolver's last refresh only moves forward)
      let onlyB = u8[d * U8 + PINNED] === 1;
      const L = lifeMs[u8[d * U8 + RCLASS]];
      const phase = onlyB || L === 0 ? 0 : world(d, 1) * L;
      // never an answer past the run's end (the exact run stops there), nor far ahead (the queue's horizon)
      const until = Math.min(endBefore, now + RING_SECONDS * 1000);
      for (;;) {
        if (at + p.connectLatencyMs >= until) break;
        // what resolve(d, at, true) answers (its cache writes are left out: the queued retry that
        // ends this loop resolves afresh before anything reads the cache)
        const region = onlyB ? REGION_B : upstreamAnswer(at, flipAt, L, phase, p.recordTtlSeconds).region;
        if (region === REGION_B) onlyB = true;
        if (!certainToFail(region, at)) {
          if (ledgers !== null && !(region === REGION_A && p.failure === "broker")) ledgers[region].add(at);
          break;
        }
        // connectNow at `at`, refused: its draw and decisions, then onClosed and retryLater
        pickTarget(d, region, at, trigger);
        countFailure(region, at);
        refusedAt(d, at + p.connectLatencyMs);
        answered += 2;
        at += p.connectLatencyMs + backoffDelay(d, at + p.connectLatencyMs, trigger);
      }
    }
    schedule(d, K_RETRY, at);
  };

  /** The Backoff's next delay (one draw); the device waits. */
  const backoffDelay = (d: number, now: number, trigger: number): number => {
    u8[d * U8 + STATE] = WAITING;
    u8[d * U8 + TRIG] = trigger;
    cur = d;
    const delay = backoffDelayMs(u8[d * U8 + ATTEMPT], minDelayMs, maxDelayMs, rnd());
    if (u8[d * U8 + ATTEMPT] < 255) u8[d * U8 + ATTEMPT]++;
    if (tracing && trace.has(d))
      emit(d, { t: now, kind: "retry-wait", delayMs: delay, trigger: TRIGGERS[trigger] });
    return delay;
  };

  /** onClosed before CONNACK: connectFailures, then (the caller) retryLater with the pending trigger. */
  const refusedAt = (d: number, t: number) => {
    u8[d * U8 + LAST_FAILED] = u8[d * U8 + TARGET];
    if (tracing && trace.has(d))
      emit(d, { t, kind: "refused", region: u8[d * U8 + TARGET] === REGION_A ? "a" : "b" });
  };

  const countFailure = (region: number, t: number) => {
    if (region === REGION_A && p.failure === "broker") failed++;
    else {
      refused++;
      perSecRefused.add(Math.floor(t / 1000));
    }
  };

  /** connectNow up to sending CONNECT: resolve (pinned host or the record), pick an address; returns the region. */
  const sendConnect = (d: number, now: number, trigger: number, refresh: boolean): number => {
    u8[d * U8 + STATE] = CONNECTING;
    u8[d * U8 + TRIG] = trigger;
    const region = resolve(d, now, refresh);
    pickTarget(d, region, now, trigger);
    return region;
  };

  /** connectNow's address pick (one draw, away from the last failed address) and its trace line. */
  const pickTarget = (d: number, region: number, t: number, trigger: number) => {
    cur = d;
    policy.pickAddress(
      ADDRESSES[region],
      u8[d * U8 + LAST_FAILED] === NONE ? undefined : ADDRESSES[u8[d * U8 + LAST_FAILED]][0],
      rnd,
    );
    u8[d * U8 + TARGET] = region;
    if (tracing && trace.has(d))
      emit(d, {
        t,
        kind: "connect",
        region: region === REGION_A ? "a" : "b",
        trigger: TRIGGERS[trigger],
      });
  };

  /** connectNow: CONNECT goes out; the broker admits it (CONNACK after the latency) or refuses it. */
  const connectNow = (d: number, now: number, trigger: number, refresh: boolean) => {
    const region = sendConnect(d, now, trigger, refresh);
    let ok = !(region === REGION_A && p.failure === "broker");
    if (ok) {
      const second = Math.floor(now / 1000);
      if (second !== quotaSecond) {
        quotaSecond = second;
        quotaUsed[0] = quotaUsed[1] = 0;
      }
      ok = quotaUsed[region] < quota;
      if (ok) {
        quotaUsed[region]++;
        (region === REGION_B ? perSecB : perSecA).add(second);
      }
    }
    if (ok || exact || now + p.connectLatencyMs >= endBefore) {
      // The answer (CONNACK or the refusal) arrives after the connect latency.
      schedule(d, K_SOCKET, now + p.connectLatencyMs);
      if (!ok) {
        countFailure(region, now);
        u8[d * U8 + STATE] = REFUSED;
      }
      return;
    }
    // Nothing but this device sees its refusal (no other event reads a device that is not connected),
    // so the refusal is answered now, at its own time, and the retry queued at the time it is due.
    countFailure(region, now);
    refusedAt(d, now + p.connectLatencyMs);
    answered++;
    retryLater(d, now + p.connectLatencyMs, trigger);
  };

  const disconnect = (d: number, now: number, reason: number) => {
    cancel(d, K_RERESOLVE);
    if (lastedLongEnough(now - f64[d * F64 + CONNECTED_AT], resetAfterMs)) u8[d * U8 + ATTEMPT] = 0;
    f64[d * F64 + DISCONNECTED_AT] = now;
    if (tracing && trace.has(d)) emit(d, { t: now, kind: "disconnected", reason: TRIGGERS[reason] });
  };

  const scheduleReresolve = (d: number, now: number) => {
    if (reresolveMs === 0) return;
    cur = d;
    const period = policy.reresolvePeriodMs(reresolveMs, rnd);
    if (tracing && trace.has(d)) emit(d, { t: now, kind: "reresolve-in", delayMs: period });
    schedule(d, K_RERESOLVE, now + period);
  };

  const receiveNotice = (d: number, now: number) => {
    cur = d;
    const decision = policy.decideNotice(
      notice,
      u8[d * U8 + HANDLED] ? handledMemory : policy.NO_NOTICES,
      noticeSettings,
      rnd,
    );
    if (tracing && trace.has(d))
      emit(d, {
        t: now,
        kind: "notice",
        action: decision.action,
        ...(decision.action === "move" ? { delayMs: decision.delayMs } : {}),
      });
    if (decision.action === "none") return;
    u8[d * U8 + HANDLED] = 1;
    if (decision.action !== "move") return;
    u8[d * U8 + PINNED] = decision.pinned ? 1 : 0;
    schedule(d, K_NOTICE, now + decision.delayMs);
  };

  /** checkTarget: while connected to A, resolve the host the client should be on and move when it is elsewhere. */
  const checkTarget = (d: number, now: number, trigger: number, refresh: boolean) => {
    if (u8[d * U8 + STATE] !== CONNECTED_A) return false;
    const region = resolve(d, now, refresh);
    if (!policy.answerMovesAway({ address: "a" }, ADDRESSES[region])) return false;
    // move(): leave A and connect again at once (the graceful end is not on the virtual clock)
    disconnect(d, now, trigger);
    connectNow(d, now, trigger, false);
    return true;
  };

  const onConnack = (d: number, now: number) => {
    const region = u8[d * U8 + TARGET];
    u8[d * U8 + LAST_FAILED] = NONE;
    const outage = messagesBetween(d, f64[d * F64 + DISCONNECTED_AT], now);
    if (outage > 0) {
      const admitted = policy.admitToQueue(0, outage, p.maxQueued, p.dropPolicy);
      queued += admitted.kept;
      dropped += admitted.dropped;
    }
    if (tracing && trace.has(d))
      emit(d, {
        t: now,
        kind: "connected",
        region: region === REGION_A ? "a" : "b",
        trigger: TRIGGERS[u8[d * U8 + TRIG]],
      });
    if (region === REGION_B) {
      u8[d * U8 + STATE] = ON_B;
      onB++;
      byTrigger[TRIGGERS[u8[d * U8 + TRIG]]]++;
      bins.add(Math.floor(now / SLOT_MS));
      // On B for good: the answers it can get never point elsewhere again, so it leaves the simulation.
      cancel(d, K_NOTICE);
      return;
    }
    u8[d * U8 + STATE] = CONNECTED_A;
    f64[d * F64 + CONNECTED_AT] = now;
    connectsToA++;
    scheduleReresolve(d, now);
    if (noticeOn && noticePublished) receiveNotice(d, now); // retained on the topic
    if (sweepOn && sweepStarted) sweepEnqueue(d);
  };

  // -- the disconnect sweep: DeleteConnection per client id, paced at the connect quota
  const sweepQueue = sweepOn ? new Int32Array(N) : new Int32Array(0);
  const inSweep = sweepOn ? new Uint8Array(N) : new Uint8Array(0);
  let sweepHead = 0;
  let sweepLen = 0;
  let sweepStarted = false;
  let sweepCredit = 0;
  const sweepRate = quota === Infinity ? 1e6 : quota;
  function sweepEnqueue(d: number) {
    if (inSweep[d]) return;
    inSweep[d] = 1;
    sweepQueue[(sweepHead + sweepLen) % N] = d;
    sweepLen++;
  }

  // -- world events, in time order
  type WorldEvent = { t: number; run: (now: number) => void };
  const worldEvents: WorldEvent[] = [];
  if (p.failure === "broker") {
    worldEvents.push({
      t: 0,
      run: () => {
        for (let d = 0; d < N; d++) {
          u8[d * U8 + STATE] = LOST_A;
          cancel(d, K_RERESOLVE);
          schedule(d, K_SOCKET, Math.floor(world(d, 3) * p.lossDetectMs));
        }
      },
    });
  }
  if (noticeOn) {
    worldEvents.push({
      t: noticeAt,
      run: (now) => {
        noticePublished = true;
        for (let d = 0; d < N; d++) if (u8[d * U8 + STATE] === CONNECTED_A) receiveNotice(d, now);
      },
    });
  }
  const sweepTick = (now: number) => {
    sweepCredit = Math.min(sweepCredit + sweepRate / 10, sweepRate);
    while (sweepCredit >= 1 && sweepLen > 0) {
      const d = sweepQueue[sweepHead];
      sweepHead = (sweepHead + 1) % N;
      sweepLen--;
      inSweep[d] = 0;
      sweepCredit--;
      disconnectsSent++;
      if (u8[d * U8 + STATE] !== CONNECTED_A) continue;
      // the server closes the connection: onClosed while connected
      disconnect(d, now, 1);
      u8[d * U8 + LAST_FAILED] = REGION_A;
      retryLater(d, now, 1);
    }
    if (onB < N) worldEvents.push({ t: now + 100, run: sweepTick });
  };
  if (sweepOn) {
    worldEvents.push({
      t: noticeAt,
      run: (now) => {
        sweepStarted = true;
        for (let d = 0; d < N; d++) if (u8[d * U8 + STATE] === CONNECTED_A) sweepEnqueue(d);
        sweepTick(now);
      },
    });
  }

  // -- the fleet before the failure: connected to A for a long time, mid-way through their re-resolution periods
  for (let d = 0; d < N; d++) {
    f64[d * F64 + CACHE_EXP] = -Infinity;
    // as at the client's start: policy.pickAddress for the first connect
    cur = d;
    policy.pickAddress(ADDRESSES[REGION_A], undefined, rnd);
    if (p.failure === "broker") continue;
    if (reresolveMs > 0) {
      // The period running at the failure started before it: its remaining part is what the device waits.
      cur = d;
      const period = policy.reresolvePeriodMs(reresolveMs, rnd);
      const left = Math.floor(world(d, 4) * period);
      if (tracing && trace.has(d)) emit(d, { t: 0, kind: "reresolve-left", delayMs: left });
      schedule(d, K_RERESOLVE, left);
    }
  }

  // -- the loop
  const handle = (d: number, kind: number, t: number) => {
    const st = u8[d * U8 + STATE];
    if (kind === K_RETRY) {
      if (st === WAITING) connectNow(d, t, u8[d * U8 + TRIG], true);
    } else if (kind === K_SOCKET) {
      if (st === LOST_A) {
        disconnect(d, t, 1);
        u8[d * U8 + LAST_FAILED] = REGION_A;
        retryLater(d, t, 1);
      } else if (st === REFUSED) {
        refusedAt(d, t);
        retryLater(d, t, u8[d * U8 + TRIG]);
      } else if (st === CONNECTING) onConnack(d, t);
    } else if (kind === K_RERESOLVE) {
      if (st === CONNECTED_A && !checkTarget(d, t, 3, false)) scheduleReresolve(d, t);
    } else if (st === CONNECTED_A) checkTarget(d, t, 2, true);
  };
  let slot = 0;
  while (onB < N && slot * SLOT_MS <= endMs) {
    const slotEnd = (slot + 1) * SLOT_MS;
    if (ledgers !== null) {
      const second = Math.floor((slot * SLOT_MS) / 1000);
      ledgers[0].advance(second);
      ledgers[1].advance(second);
    }
    wheel.open(slot);
    // world events first at equal times (the notice, a sweep round), then devices by (time, device, kind)
    for (;;) {
      const t = wheel.peekTime();
      if (worldEvents.length > 0) {
        if (worldEvents.length > 1) worldEvents.sort((x, y) => x.t - y.t);
        if (worldEvents[0].t < slotEnd && worldEvents[0].t <= t) {
          const e = worldEvents.shift()!;
          e.run(e.t);
          continue;
        }
      }
      if (t === Infinity) break;
      const key = wheel.take();
      if (key < 0) continue;
      const d = key >> 2;
      const kind = key & 3;
      i32[d * I32 + PENDING + kind] = -1;
      events++;
      handle(d, kind, wheel.takenTime);
    }
    if (wheel.size === 0 && worldEvents.length === 0) break; // nothing left that could move anyone
    slot++;
  }

  // -- results
  const quantileMs = (q: number): number | null => {
    const need = Math.ceil(q * N);
    if (onB < need) return null;
    let sum = 0;
    for (let i = 0; i < bins.a.length; i++) {
      sum += bins.a[i];
      if (sum >= need) return (i + 1) * SLOT_MS;
    }
    return null;
  };
  let peakSliding = 0;
  for (let i = 0, window = 0; i < bins.a.length; i++) {
    window += bins.a[i];
    if (i >= 100) window -= bins.a[i - 100];
    if (window > peakSliding) peakSliding = window;
  }
  const lastSecond = Math.max(perSecA.a.length, perSecB.a.length);
  const seconds: SimSecond[] = [];
  let cumulative = 0;
  let peak = 0;
  const lastUsed = Math.ceil((slot * SLOT_MS) / 1000);
  for (let s = 0; s <= Math.min(lastSecond, lastUsed); s++) {
    cumulative += perSecB.get(s);
    peak = Math.max(peak, perSecB.get(s));
    seconds.push({
      t: s,
      connectsA: perSecA.get(s),
      connectsB: perSecB.get(s),
      refused: perSecRefused.get(s),
      onB: cumulative,
    });
  }
  return {
    params: p,
    detectionMs: flipAt,
    noticeAtMs: noticeAt,
    noticeSpreadMs: Math.min(spread, p.maxNoticeSpreadMs),
    sweepStartMs: noticeAt,
    connectedMs: { p50: quantileMs(0.5), p90: quantileMs(0.9), p99: quantileMs(0.99), p100: quantileMs(1) },
    devicesOnB: onB,
    peakConnectsPerSecond: peak,
    peakConnectsSliding1s: peakSliding,
    refusedConnects: refused,
    failedConnects: failed,
    connectsToA,
    disconnectsSent,
    queuedMessages: queued,
    droppedMessages: dropped,
    byTrigger,
    seconds,
    events,
    eventsAnswered: answered,
    virtualSeconds: (slot * SLOT_MS) / 1000,
  };
}
