/**
 * What the drill measures, and how, in one place:
 * - telemetry is counted where it lands, at the brokers: a QoS 1 message counts as received when
 *   either region's broker got it (device, sequence number); lost = sent by the fleet, never received;
 * - "publishing in a region" = a device's first message that region's broker got after a moment
 *   (the fault, or the fail-back gate); RTO ends when 99 % of the fleet did so;
 * - replication lag is the replay core's own ReplicationLagMs (record captured → applied);
 * - the timeline has one point per second for the report's chart.
 */
import type { MqttClient } from "mqtt";
import { connectClient } from "../peers/mqtt.js";
import type { DrillBroker } from "./peers.js";

/** Nearest-rank percentile of a list of numbers; 0 for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be 0-100, got ${p}`);
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** How many devices make "99 % of the fleet" (at least one). */
export const quorum = (devices: number, fraction = 0.99) => Math.max(1, Math.ceil(devices * fraction));

const round3 = (n: number) => Math.round(n * 1000) / 1000;
export const seconds = (ms: number) => round3(ms / 1000);

/** Broker-side accounting of the fleet's telemetry, across both regions and broker restarts. */
export class TelemetryLedger {
  /** clientId → sequence numbers received by any broker. */
  private readonly received = new Map<string, Set<number>>();
  /** region → clientId → time of the first message received since `mark`. */
  private readonly firstSince = new Map<string, Map<string, number>>();
  private markAt = Number.POSITIVE_INFINITY;
  /** Messages received per region per second since `epoch`, for the timeline. */
  readonly perSecond = new Map<string, Map<number, number>>();

  constructor(
    private readonly topicPrefix: string,
    private readonly epoch: number,
  ) {}

  /**
   * Counts every fleet message the broker receives from now on: through aedes's own events, or
   * through an observer subscribed to the telemetry topics (mosquitto). Returns a stop function.
   */
  async observe(region: string, broker: DrillBroker): Promise<() => Promise<void>> {
    const onPayload = (topic: string, payload: Buffer) => {
      if (!topic.startsWith(`${this.topicPrefix}/`)) return;
      let body: { d?: unknown; seq?: unknown };
      try {
        body = JSON.parse(payload.toString()) as typeof body;
      } catch {
        return;
      }
      if (typeof body.d !== "string" || typeof body.seq !== "number") return;
      this.record(region, body.d, body.seq, Date.now());
    };
    if (broker.aedes) {
      broker.aedes.on("publish", (packet, client) => {
        if (client) onPayload(packet.topic, packet.payload as Buffer);
      });
      return async () => undefined;
    }
    const observer: MqttClient = await connectClient(broker, {
      clientId: `iot-dr-drill-observer-${region}`,
      clean: true,
    });
    observer.on("error", () => undefined);
    observer.on("message", onPayload);
    await observer.subscribeAsync(`${this.topicPrefix}/#`, { qos: 1 });
    return async () => {
      observer.end(true);
    };
  }

  record(region: string, device: string, seq: number, at: number): void {
    let set = this.received.get(device);
    if (!set) this.received.set(device, (set = new Set()));
    set.add(seq);
    if (at >= this.markAt) {
      let first = this.firstSince.get(region);
      if (!first) this.firstSince.set(region, (first = new Map()));
      if (!first.has(device)) first.set(device, at);
    }
    const second = Math.floor((at - this.epoch) / 1000);
    let bucket = this.perSecond.get(region);
    if (!bucket) this.perSecond.set(region, (bucket = new Map()));
    bucket.set(second, (bucket.get(second) ?? 0) + 1);
  }

  /** Starts a new "publishing since" window (at a fault or at the fail-back gate). */
  mark(at: number): void {
    this.markAt = at;
    this.firstSince.clear();
  }

  /** Devices that published in `region` since the mark. */
  publishingIn(region: string): number {
    return this.firstSince.get(region)?.size ?? 0;
  }

  /** When the `count`-th device first published in `region` since the mark, or undefined. */
  timeToCount(region: string, count: number): number | undefined {
    const times = [...(this.firstSince.get(region)?.values() ?? [])].sort((a, b) => a - b);
    return times.length >= count ? times[count - 1] : undefined;
  }

  /** Distinct messages received. */
  receivedCount(): number {
    let n = 0;
    for (const set of this.received.values()) n += set.size;
    return n;
  }
}

/** One second of the drill, as the report draws it. */
export interface TimelinePoint {
  /** Seconds since the drill's fleet started. */
  t: number;
  /** Fleet devices connected per region. */
  connected: Record<string, number>;
  /** Largest replication lag of records applied in this second, ms (null: none applied). */
  lagMs: number | null;
  /** Per region, per factor: the last probe result (true = ok). */
  health: Record<string, Record<string, boolean>>;
  /** The region the device endpoint answered with. */
  active: string;
}

/** A moment worth a mark on the chart. */
export interface DrillEvent {
  t: number;
  label: string;
}
