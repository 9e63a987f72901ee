/**
 * What the fleet simulation runs: the fleet, the account's connect quota, the fail-over triggers,
 * Route 53's health checking, the resolvers between devices and Route 53, and the device settings
 * (the FailoverClient's options). Checked once here; a bad value is refused with a message that
 * names the option and a valid example.
 */
import { BACKOFF_DEFAULTS } from "../device/backoff.js";

/** Which mechanisms move devices that are still connected to the failed region. */
export type TriggerMode = "notice" | "dns" | "disconnect" | "mixed";
export const TRIGGER_MODES: readonly TriggerMode[] = ["notice", "dns", "disconnect", "mixed"];

/**
 * What failed: "services" — the region's application services fail its health check while its
 * broker still accepts connections, so only the triggers move devices (the common fail-over);
 * "broker" — the region's broker dies: every connection drops and connects there fail.
 */
export type FailureMode = "services" | "broker";

/**
 * One kind of recursive resolver between devices and Route 53:
 * "direct" — no cache (devices ask the authoritative servers, as in `bench devices`);
 * "honour" — caches for exactly the record's TTL; "clamp" — raises short TTLs to `seconds`
 * (e.g. Unbound's cache-min-ttl); "past" — keeps answers `seconds` beyond their TTL.
 */
export interface ResolverClass {
  kind: "direct" | "honour" | "clamp" | "past";
  seconds: number;
  share: number;
}

/** Assumed mix (no public census of resolver behaviour exists): most honour TTLs, some clamp, few keep answers long. */
export const DEFAULT_RESOLVER_MIX = "honour=0.9,clamp300=0.08,past3600=0.02";

export interface SimParams {
  devices: number;
  /** Connects per second per account and region (IoT Core default 500); Infinity: no quota (local brokers). */
  connectQuota: number;
  trigger: TriggerMode;
  failure: FailureMode;
  resolverMix: ResolverClass[];
  recordTtlSeconds: number;
  checkIntervalSeconds: number;
  failureThreshold: number;
  probeDeadlineMs: number;
  failuresBeforeUnhealthy: number;
  /** Route 53 health checkers probing the endpoint, each on its own phase. */
  checkers: number;
  /** From the DNS flip to the notice's publication (CloudWatch alarm on the health check, 60 s period); null: drawn from [0, 60 s). */
  noticeDelayMs: number | null;
  /** spreadMs the notice carries; null: devices / connectQuota seconds (the notifier's rule in device/notice.ts). */
  noticeSpreadMs: number | null;
  /** The client's cap on a notice's spread (FailoverClient maxNoticeSpreadMs). */
  maxNoticeSpreadMs: number;
  backoff: { minDelayMs: number; maxDelayMs: number; resetAfterMs: number };
  /** The client's reresolveIntervalMs while the dns trigger is on. */
  reresolveIntervalMs: number;
  /** The device resolver's cache bounds (CachingResolver minTtlSeconds / maxTtlSeconds). */
  deviceMinTtlSeconds: number;
  deviceMaxTtlSeconds: number;
  maxQueued: number;
  dropPolicy: "oldest" | "newest";
  /** QoS 1 telemetry period per device, ms; 0: none. */
  publishIntervalMs: number;
  /** From sending CONNECT to CONNACK (or to the refusal), ms. */
  connectLatencyMs: number;
  /** Broker failure: devices notice the dead connection within this many ms (keep-alive × 1.5). */
  lossDetectMs: number;
  /** When Route 53 starts answering B, ms from the failure; null: from the checkers (detectionTimeMs). */
  dnsFlipMs: number | null;
  /** Seeds every random draw: the same seed gives the same run. */
  seed: number;
  /** Stop simulating after this much virtual time, s. */
  maxSimSeconds: number;
}

/** The deployed defaults (stacks/config.ts) and the FailoverClient's defaults (device/client.ts). */
export function defaultParams(devices: number): SimParams {
  return {
    devices,
    connectQuota: 500,
    trigger: "mixed",
    failure: "services",
    resolverMix: parseResolverMix(DEFAULT_RESOLVER_MIX),
    recordTtlSeconds: 60,
    checkIntervalSeconds: 10,
    failureThreshold: 3,
    probeDeadlineMs: 1_500,
    failuresBeforeUnhealthy: 2,
    checkers: 16,
    noticeDelayMs: null,
    noticeSpreadMs: null,
    maxNoticeSpreadMs: 600_000,
    backoff: { ...BACKOFF_DEFAULTS },
    reresolveIntervalMs: 30_000,
    deviceMinTtlSeconds: 0,
    deviceMaxTtlSeconds: 3_600,
    maxQueued: 1_000,
    dropPolicy: "oldest",
    publishIntervalMs: 60_000,
    connectLatencyMs: 300,
    lossDetectMs: 45_000,
    dnsFlipMs: null,
    seed: 1,
    maxSimSeconds: 100_000,
  };
}

/**
 * `bench devices`' scenario (bench/devices.ts): local mosquitto brokers (no connect
 * quota), the broker of A killed while DNS flips at the same instant, devices asking the DNS server
 * directly (TTL 5 s), first reconnect window 10 s, re-resolution every 5 s, telemetry every 5 s.
 */
export function benchDevicesParams(devices: number): SimParams {
  return {
    ...defaultParams(devices),
    connectQuota: Infinity,
    trigger: "dns",
    failure: "broker",
    resolverMix: [{ kind: "direct", seconds: 0, share: 1 }],
    recordTtlSeconds: 5,
    backoff: { minDelayMs: 10_000, maxDelayMs: 60_000, resetAfterMs: 2_000 },
    reresolveIntervalMs: 5_000,
    publishIntervalMs: 5_000,
    connectLatencyMs: 5,
    lossDetectMs: 0,
    dnsFlipMs: 0,
  };
}

/** The longest any single timer may run, ms: the event wheel's horizon (simulate/engine.ts). */
export const MAX_TIMER_MS = 10_000_000;

export class SimInputError extends Error {
  override name = "SimInputError";
}

/** "honour=0.9,clamp300=0.08,past3600=0.02" -> resolver classes; shares must add up to 1. */
export function parseResolverMix(text: string): ResolverClass[] {
  const classes: ResolverClass[] = [];
  for (const part of text.split(",").map((p) => p.trim())) {
    const m = /^(direct|honour|clamp(\d+)|past(\d+))=(\d*\.?\d+)$/.exec(part);
    if (!m) {
      throw new SimInputError(
        `--resolver-ttl-mix: '${part}' is not KIND=SHARE with KIND one of direct, honour, clampSECONDS, pastSECONDS (e.g. ${DEFAULT_RESOLVER_MIX})`,
      );
    }
    const kind = m[1].startsWith("clamp")
      ? "clamp"
      : m[1].startsWith("past")
        ? "past"
        : (m[1] as "direct" | "honour");
    const seconds = Number(m[2] ?? m[3] ?? 0);
    if (seconds * 1000 >= MAX_TIMER_MS) {
      throw new SimInputError(
        `--resolver-ttl-mix: ${m[1]} keeps answers ${seconds} s; at most ${MAX_TIMER_MS / 1000 - 1} s`,
      );
    }
    classes.push({ kind, seconds, share: Number(m[4]) });
  }
  const total = classes.reduce((s, c) => s + c.share, 0);
  if (Math.abs(total - 1) > 1e-6) {
    throw new SimInputError(
      `--resolver-ttl-mix: shares add up to ${total}, they must add up to 1 (e.g. ${DEFAULT_RESOLVER_MIX})`,
    );
  }
  return classes;
}

function whole(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SimInputError(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
}

/** Refuses a parameter set the simulation cannot run, naming the option. */
export function checkParams(p: SimParams): void {
  whole("--devices", p.devices, 1, 50_000_000);
  if (!(p.connectQuota === Infinity || (Number.isFinite(p.connectQuota) && p.connectQuota >= 1))) {
    throw new SimInputError(
      `--connect-quota must be at least 1 connect per second (IoT Core's default is 500), got ${p.connectQuota}`,
    );
  }
  if (!TRIGGER_MODES.includes(p.trigger)) {
    throw new SimInputError(
      `--trigger must be one of ${TRIGGER_MODES.join(", ")}, got '${String(p.trigger)}'`,
    );
  }
  if (p.failure !== "services" && p.failure !== "broker") {
    throw new SimInputError(`--failure must be services or broker, got '${String(p.failure)}'`);
  }
  whole("--record-ttl", p.recordTtlSeconds, 0, 86_400);
  if (p.checkIntervalSeconds !== 10 && p.checkIntervalSeconds !== 30) {
    throw new SimInputError(
      `--check-interval must be 10 or 30 (Route 53's intervals), got ${p.checkIntervalSeconds}`,
    );
  }
  whole("--failure-threshold", p.failureThreshold, 1, 10);
  whole("checkers", p.checkers, 1, 64);
  whole("--backoff-min-ms", p.backoff.minDelayMs, 1, MAX_TIMER_MS - 1);
  whole("--backoff-max-ms", p.backoff.maxDelayMs, p.backoff.minDelayMs, MAX_TIMER_MS - 1);
  whole("--reresolve-ms", p.reresolveIntervalMs, 0, MAX_TIMER_MS - 1);
  whole("--max-notice-spread-ms", p.maxNoticeSpreadMs, 0, MAX_TIMER_MS - 1);
  if (p.noticeSpreadMs !== null) whole("--notice-spread-ms", p.noticeSpreadMs, 0, 86_400_000);
  if (p.noticeDelayMs !== null) whole("--notice-delay-ms", p.noticeDelayMs, 0, 86_400_000);
  whole("--max-queued", p.maxQueued, 0, 1_000_000_000);
  whole("--publish-interval-ms", p.publishIntervalMs, 0, 86_400_000);
  whole("--connect-latency-ms", p.connectLatencyMs, 0, 60_000);
  whole("lossDetectMs", p.lossDetectMs, 0, MAX_TIMER_MS - 1);
  if (p.dnsFlipMs !== null) whole("dnsFlipMs", p.dnsFlipMs, 0, 86_400_000);
  whole("--seed", p.seed, 0, 2 ** 31 - 1);
  whole("--max-sim-seconds", p.maxSimSeconds, 1, 10_000_000);
}
