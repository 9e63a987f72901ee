/**
 * The simulation's answer: the JSON `iot-dr simulate --json` prints, with the expected RTO band
 * from the same calculator as `iot-dr rto` (functions/rto.ts) for the same settings.
 */
import type { Trigger } from "../device/client.js";
import { estimateRto, type Bounds } from "../functions/rto.js";
import type { SimOutcome, SimSecond } from "./engine.js";
import type { ResolverClass, SimParams } from "./params.js";

export interface SimSummary {
  devices: number;
  /** Connects per second per account and region; null: no quota (local brokers). */
  connectQuota: number | null;
  trigger: SimParams["trigger"];
  failure: SimParams["failure"];
  resolverMix: ResolverClass[];
  /** From the failure until 50/90/99/100 % of devices are connected in the healthy region, s; null: not reached. */
  connectedSeconds: { p50: number | null; p90: number | null; p99: number | null; p100: number | null };
  /** Most connects admitted in one whole second by the healthy region's quota. */
  peakConnectsPerSecond: number;
  /** Most CONNACKs from the healthy region in any sliding 1 s window (as `bench devices` counts). */
  peakConnectsSliding1s: number;
  /** Connects refused by the quota (each retried by its device after a backoff delay). */
  refusedConnects: number;
  /** Connects that failed because the failed region's broker was gone (broker failure). */
  failedConnects: number;
  /** Reconnects that landed in the failed region again (resolvers still answering it). */
  connectsToFailedRegion: number;
  /** DeleteConnection calls of the disconnect sweep. */
  disconnectsSent: number;
  /** QoS 1 telemetry kept in the devices' offline queues, and given up under their bound (maxQueued). */
  queuedMessages: number;
  droppedMessages: number;
  /** Devices by the trigger of the connect that brought them to the healthy region. */
  byTrigger: Record<Trigger, number>;
  /** When Route 53 answered the healthy region, the notice went out (and the sweep began), s. */
  dnsFlipSeconds: number;
  noticeSeconds: number;
  noticeSpreadSeconds: number;
  /** The RTO band of functions/rto.ts (what `iot-dr rto` prints) for these settings. */
  expectedRtoSeconds: Bounds;
  /** The same model's band for 99 % of the fleet (its paced reconnects scaled to 0.99 of the devices). */
  expectedP99Seconds: Bounds;
  /** Whether the simulated 99 % time lies in that band. */
  p99WithinExpected: boolean | null;
  /** Events taken from the simulation's queue. */
  events: number;
  /** Events of the exact run (one per timer and socket answer) answered without the queue (simulate/quota.ts). */
  eventsAnswered: number;
  virtualSeconds: number;
  wallSeconds: number;
  /** Peak resident set size of this process, MB. */
  rssMb: number;
  seed: number;
}

const s = (ms: number | null) => (ms === null ? null : Math.round(ms) / 1000);

/**
 * `iot-dr rto`'s band for the simulated settings (health-check function defaults where the
 * simulation has none); `share` 0.99 gives the band for 99 % of the fleet.
 */
export function expectedRto(p: SimParams, share = 1): Bounds {
  return estimateRto({
    checkIntervalSeconds: p.checkIntervalSeconds,
    failureThreshold: p.failureThreshold,
    probeDeadlineMs: p.probeDeadlineMs,
    failuresBeforeUnhealthy: p.failuresBeforeUnhealthy,
    routingMode: "endpoint",
    failoverRecordTtlSeconds: p.recordTtlSeconds,
    deviceReresolveSeconds: p.reresolveIntervalMs / 1000,
    devices: p.devices,
    deviceConnectRatePerSecond: p.connectQuota === Infinity ? Number.MAX_SAFE_INTEGER : p.connectQuota,
    readinessMaxLagSeconds: 120,
    share,
  }).rtoSeconds;
}

export function summarize(o: SimOutcome, wallSeconds: number, rssBytes: number): SimSummary {
  const p = o.params;
  const band = expectedRto(p);
  const band99 = expectedRto(p, 0.99);
  const p99 = s(o.connectedMs.p99);
  return {
    devices: p.devices,
    connectQuota: p.connectQuota === Infinity ? null : p.connectQuota,
    trigger: p.trigger,
    failure: p.failure,
    resolverMix: p.resolverMix,
    connectedSeconds: {
      p50: s(o.connectedMs.p50),
      p90: s(o.connectedMs.p90),
      p99,
      p100: s(o.connectedMs.p100),
    },
    peakConnectsPerSecond: o.peakConnectsPerSecond,
    peakConnectsSliding1s: o.peakConnectsSliding1s,
    refusedConnects: o.refusedConnects,
    failedConnects: o.failedConnects,
    connectsToFailedRegion: o.connectsToA,
    disconnectsSent: o.disconnectsSent,
    queuedMessages: o.queuedMessages,
    droppedMessages: o.droppedMessages,
    byTrigger: o.byTrigger,
    dnsFlipSeconds: s(o.detectionMs)!,
    noticeSeconds: s(o.noticeAtMs)!,
    noticeSpreadSeconds: s(o.noticeSpreadMs)!,
    expectedRtoSeconds: band,
    expectedP99Seconds: band99,
    p99WithinExpected: p99 === null ? null : p99 >= band99[0] && p99 <= band99[1],
    events: o.events,
    eventsAnswered: o.eventsAnswered,
    virtualSeconds: o.virtualSeconds,
    wallSeconds: Math.round(wallSeconds * 100) / 100,
    rssMb: Math.round(rssBytes / 1e6),
    seed: p.seed,
  };
}

/** The per-second curve the report plots. */
export type SimCurve = SimSecond[];
