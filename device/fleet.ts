/**
 * A simulated fleet of FailoverClients publishing telemetry, with the accounting a fail-over drill
 * needs: connects per second per target, messages sent / received / dropped / lost by sequence
 * number.
 *
 *   const fleet = new Fleet({ count: 1000, endpoint: "iot.example.com", dnsServers: ["127.0.0.1:5353"] });
 *   await fleet.start();                      // paced at startRatePerSecond
 *   await fleet.waitUntil((s) => s.connected === 1000, 30_000);
 *   ... fail a region ...
 *   fleet.snapshot();                         // stats now; fleet.timeline() per second
 *   const report = await fleet.stop();        // drains, then counts what never arrived as lost
 *
 * Each device publishes `{"d": clientId, "seq": n, "t": ms}` at QoS 1 on `<topicPrefix>/<clientId>`
 * and subscribes to that topic itself, so a message counts as received when the broker delivered
 * it back to its sender (wherever that sender is connected by then). Duplicates (at-least-once
 * redelivery after a move) are counted, not double-counted.
 */
import { EventEmitter } from "node:events";
import { FailoverClient, type DeviceCounters, type FailoverClientOptions } from "./client.js";
import { CachingResolver, dnsQuery, parseDnsServers } from "./resolver.js";
import type { TlsSettings } from "./transport.js";

export interface FleetOptions {
  /** Number of simulated devices (1..50000). */
  count: number;
  /** DNS name the devices connect to. */
  endpoint: string;
  /** Broker port. Default 8883 with TLS, 1883 without. */
  port?: number;
  /** DNS servers "ip[:port]"; default the system's. */
  dnsServers?: string[];
  /**
   * "shared" (default): one cache for the fleet, as for devices behind one caching resolver;
   * concurrent lookups of the name collapse into one query. "per-device": a cache per device
   * (one query socket still shared), each expiring on its own; thousands of simultaneous
   * lookups then reach the DNS server.
   */
  dnsCache?: "shared" | "per-device";
  /** TLS for every device; with `identities` it may leave out cert and key. */
  tls?: TlsSettings | Omit<TlsSettings, "cert" | "key">;
  /**
   * Each device's own certificate and key (entry i for device i), over `tls`: devices onboarded one
   * by one (C&C) each hold their own identity. Needs `tls` and exactly `count` entries.
   */
  identities?: Array<Pick<TlsSettings, "cert" | "key">>;
  /** Client ids are `<prefix>-<n>`. Default "sim-device". */
  clientIdPrefix?: string;
  /** Telemetry topic prefix. Default "dt/iot-dr/telemetry". */
  topicPrefix?: string;
  /** Telemetry period per device, ms. Default 1000; 0 publishes nothing. */
  publishIntervalMs?: number;
  /** Devices started per second (IoT Core admits 500 connects/s per account by default). Default 500; 0: all at once. */
  startRatePerSecond?: number;
  /** After this long unanswered, a message counts as overdue in snapshots, ms. Default 5000. */
  overdueAfterMs?: number;
  /** Further client options applied to every device (backoff, reresolveIntervalMs, noticeTopic ...). */
  client?: Partial<Omit<FailoverClientOptions, "endpoint" | "clientId" | "port" | "tls" | "dnsServers">>;
}

/** One second of the run. */
export interface FleetSecond {
  /** Seconds since start(), from 0. */
  second: number;
  /** CONNACKs received in this second, per target `address:port`. */
  connects: Record<string, number>;
  disconnects: number;
  /** Devices connected at the end of this second, per target. */
  connected: Record<string, number>;
  sent: number;
  received: number;
  dropped: number;
}

export interface FleetMessageStats {
  /** publish() calls (sequence numbers handed out). */
  sent: number;
  /** PUBACKs received. */
  acked: number;
  /** Distinct sequence numbers that came back. */
  received: number;
  /** Copies of sequence numbers that had already come back. */
  duplicates: number;
  /** Given up by a device (queue full, QoS 0 offline, stopped). */
  dropped: number;
  /** Neither received nor dropped yet. */
  unconfirmed: number;
  /** The part of unconfirmed older than overdueAfterMs. */
  overdue: number;
}

export interface FleetStats {
  devices: number;
  started: number;
  connected: number;
  connectedByTarget: Record<string, number>;
  elapsedMs: number;
  counters: DeviceCounters;
  messages: FleetMessageStats;
}

export interface FleetReport extends FleetStats {
  /** Sent, never received and never dropped after the drain: lost in transit. */
  lost: number;
  timeline: FleetSecond[];
}

interface DeviceState {
  client: FailoverClient;
  topic: string;
  nextSeq: number;
  nextPublishAt: number;
  /** seq -> time published, until it comes back or is dropped. */
  pending: Map<number, number>;
  received: Set<number>;
}

const targetKey = (t: { address: string; port: number }) => `${t.address}:${t.port}`;

export class Fleet extends EventEmitter<{ second: [FleetSecond] }> {
  private readonly options: FleetOptions;
  private readonly devices: DeviceState[] = [];
  private readonly seconds: FleetSecond[] = [];
  /** Index of the last second whose gauge was recorded. */
  private closed = -1;
  private readonly totals = { acked: 0, received: 0, duplicates: 0, dropped: 0, sent: 0 };
  /** Devices connected per target, kept current from client events (cheap to read often). */
  private readonly live = new Map<string, number>();
  private startedAt = 0;
  private started = 0;
  private ticker?: NodeJS.Timeout;
  private sampler?: NodeJS.Timeout;
  private publishing = false;
  private stopped = false;
  /** Set by stop once it has sampled the last second: what happens after (the devices' own
   * disconnects) is counted into that second, never into a new one with an empty gauge. */
  private finalSecond?: number;

  constructor(options: FleetOptions) {
    super();
    if (!Number.isInteger(options.count) || options.count < 1 || options.count > 50_000) {
      throw new RangeError(`count must be an integer from 1 to 50000, got ${options.count}`);
    }
    if (!options.endpoint) throw new TypeError("endpoint is required: the DNS name the devices connect to");
    const interval = options.publishIntervalMs ?? 1_000;
    if (!Number.isInteger(interval) || interval < 0) {
      throw new RangeError(`publishIntervalMs must be an integer >= 0, got ${interval}`);
    }
    const rate = options.startRatePerSecond ?? 500;
    if (!Number.isFinite(rate) || rate < 0)
      throw new RangeError(`startRatePerSecond must be >= 0, got ${rate}`);
    this.options = options;
    const query = dnsQuery({ servers: options.dnsServers ? parseDnsServers(options.dnsServers) : undefined });
    const dnsCache = options.dnsCache ?? "shared";
    if (dnsCache !== "shared" && dnsCache !== "per-device") {
      throw new RangeError(`dnsCache must be "shared" or "per-device", got ${String(dnsCache)}`);
    }
    if (options.identities !== undefined) {
      if (!options.tls)
        throw new TypeError("identities need tls: set tls (at least { ca }) for the devices to use them");
      if (options.identities.length !== options.count)
        throw new RangeError(
          `identities must hold one certificate and key per device: ${options.identities.length} for ${options.count} devices`,
        );
    }
    const shared = new CachingResolver({ query });
    const prefix = options.clientIdPrefix ?? "sim-device";
    const topicPrefix = options.topicPrefix ?? "dt/iot-dr/telemetry";
    for (let i = 0; i < options.count; i++) {
      const clientId = `${prefix}-${i}`;
      const client = new FailoverClient({
        ...options.client,
        endpoint: options.endpoint,
        clientId,
        port: options.port,
        tls: (options.tls && options.identities
          ? { ...options.tls, ...options.identities[i] }
          : options.tls) as TlsSettings | undefined,
        resolver: dnsCache === "shared" ? shared : new CachingResolver({ query }),
      });
      this.devices.push({
        client,
        topic: `${topicPrefix}/${clientId}`,
        nextSeq: 0,
        nextPublishAt: 0,
        pending: new Map(),
        received: new Set(),
      });
    }
  }

  /** The devices, for tests and drills that need one client's events. */
  get clients(): readonly FailoverClient[] {
    return this.devices.map((d) => d.client);
  }

  /** Starts every device, paced at startRatePerSecond; resolves once all have been started. */
  async start(): Promise<void> {
    if (this.startedAt !== 0) throw new Error("fleet already started");
    this.startedAt = Date.now();
    // The sampler fires just after each second boundary and records the second that just ended.
    this.sampler = setInterval(
      () => this.closeSecond(Math.max(0, Math.round((Date.now() - this.startedAt) / 1_000) - 1)),
      1_000,
    );
    const interval = this.options.publishIntervalMs ?? 1_000;
    if (interval > 0) {
      this.publishing = true;
      this.ticker = setInterval(() => this.publishDue(), Math.min(100, interval));
    }
    const rate = this.options.startRatePerSecond ?? 500;
    const batch = rate === 0 ? this.devices.length : Math.max(1, Math.round(rate / 100));
    for (let i = 0; i < this.devices.length; i += batch) {
      if (this.stopped) return;
      for (const device of this.devices.slice(i, i + batch)) this.startDevice(device, interval);
      if (rate > 0 && i + batch < this.devices.length) await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Polls the stats until `predicate` holds; rejects after timeoutMs with the last stats. */
  async waitUntil(predicate: (stats: FleetStats) => boolean, timeoutMs: number): Promise<FleetStats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stats = this.snapshot();
      if (predicate(stats)) return stats;
      if (Date.now() > deadline) {
        throw new Error(
          `fleet condition not met within ${timeoutMs} ms (connected ${stats.connected}/${stats.devices}: ${JSON.stringify(stats.connectedByTarget)})`,
        );
      }
      // A snapshot walks every device: poll gently, large fleets share the event loop with it.
      await new Promise((r) => setTimeout(r, Math.min(250, 20 + this.devices.length / 20)));
    }
  }

  snapshot(): FleetStats {
    const now = Date.now();
    const overdueBefore = now - (this.options.overdueAfterMs ?? 5_000);
    const connectedByTarget = this.connectedByTarget();
    const connected = Object.values(connectedByTarget).reduce((a, b) => a + b, 0);
    let unconfirmed = 0;
    let overdue = 0;
    const counters = { ...this.devices[0].client.counters };
    const names = Object.keys(counters) as (keyof DeviceCounters)[];
    for (const name of names) counters[name] = 0;
    for (const device of this.devices) {
      unconfirmed += device.pending.size;
      for (const at of device.pending.values()) if (at < overdueBefore) overdue++;
      const c = device.client.counters;
      for (const name of names) counters[name] += c[name];
    }
    return {
      devices: this.devices.length,
      started: this.started,
      connected,
      connectedByTarget,
      elapsedMs: this.startedAt === 0 ? 0 : now - this.startedAt,
      counters,
      messages: { ...this.totals, unconfirmed, overdue },
    };
  }

  /** Devices connected now, per target `address:port`; cheap enough to poll. */
  connectedByTarget(): Record<string, number> {
    const result: Record<string, number> = {};
    for (const [key, n] of this.live) if (n > 0) result[key] = n;
    return result;
  }

  /** Completed seconds so far (the current, partial second is not included). */
  timeline(): FleetSecond[] {
    return this.seconds.slice(0, this.closed + 1).map((s) => structuredClone(s));
  }

  /**
   * Stops publishing, waits up to drainMs for outstanding messages to come back, stops every device
   * and reports. Messages still unconfirmed after the drain are lost.
   */
  async stop(options: { drainMs?: number } = {}): Promise<FleetReport> {
    this.stopped = true;
    this.publishing = false;
    if (this.ticker) clearInterval(this.ticker);
    const deadline = Date.now() + (options.drainMs ?? 5_000);
    while (Date.now() < deadline && this.devices.some((d) => d.pending.size > 0)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.sampler) clearInterval(this.sampler);
    this.closeSecond(Math.floor((Date.now() - this.startedAt) / 1_000));
    this.finalSecond = Math.max(0, this.closed);
    const stats = this.snapshot();
    await Promise.all(this.devices.map((d) => d.client.stop()));
    const lost = this.devices.reduce((n, d) => n + d.pending.size, 0);
    const final = this.snapshot();
    return {
      ...final,
      connected: stats.connected,
      connectedByTarget: stats.connectedByTarget,
      lost,
      timeline: [...this.seconds],
    };
  }

  // ------------------------------------------------------------------------------------------

  private bucket(now = Math.floor((Date.now() - this.startedAt) / 1_000)): FleetSecond {
    const second = Math.min(now, this.finalSecond ?? now);
    while (this.seconds.length <= second) {
      this.seconds.push({
        second: this.seconds.length,
        connects: {},
        disconnects: 0,
        connected: {},
        sent: 0,
        received: 0,
        dropped: 0,
      });
    }
    return this.seconds[second];
  }

  /** Records the connected gauge into a second that has ended (or into the last one, at stop). */
  private closeSecond(second: number): void {
    if (second <= this.closed) return;
    const bucket = this.bucket(second);
    bucket.connected = this.snapshot().connectedByTarget;
    for (let s = this.closed + 1; s < second; s++) this.bucket(s).connected = bucket.connected;
    this.closed = second;
    this.emit("second", structuredClone(bucket));
  }

  private startDevice(device: DeviceState, interval: number): void {
    const { client } = device;
    client.on("connected", ({ target }) => this.countConnect(targetKey(target)));
    client.on("reconnected", ({ target }) => this.countConnect(targetKey(target)));
    client.on("disconnected", ({ target }) => {
      this.bucket().disconnects++;
      const key = targetKey(target);
      this.live.set(key, (this.live.get(key) ?? 0) - 1);
    });
    client.on("message", (topic, payload) => this.onEcho(device, topic, payload));
    void client.subscribe(device.topic, 1);
    // A random phase per device, so that telemetry does not arrive in lockstep.
    device.nextPublishAt = Date.now() + Math.floor(Math.random() * Math.max(interval, 1));
    client.start();
    this.started++;
  }

  private countConnect(key: string): void {
    this.live.set(key, (this.live.get(key) ?? 0) + 1);
    const bucket = this.bucket();
    bucket.connects[key] = (bucket.connects[key] ?? 0) + 1;
  }

  private publishDue(): void {
    if (!this.publishing) return;
    const now = Date.now();
    const interval = this.options.publishIntervalMs ?? 1_000;
    for (const device of this.devices) {
      if (device.nextPublishAt === 0 || device.nextPublishAt > now) continue;
      device.nextPublishAt += interval;
      const seq = device.nextSeq++;
      device.pending.set(seq, now);
      this.totals.sent++;
      this.bucket().sent++;
      const payload = JSON.stringify({ d: device.client.clientId, seq, t: now });
      void device.client.publish(device.topic, payload, { qos: 1 }).then((outcome) => {
        if (outcome.status === "sent") {
          this.totals.acked++;
        } else if (device.pending.delete(seq)) {
          this.totals.dropped++;
          this.bucket().dropped++;
        }
      });
    }
  }

  private onEcho(device: DeviceState, topic: string, payload: Buffer): void {
    if (topic !== device.topic) return;
    let seq: unknown;
    try {
      seq = (JSON.parse(payload.toString()) as { seq?: unknown }).seq;
    } catch {
      return;
    }
    if (typeof seq !== "number") return;
    if (device.received.has(seq)) {
      this.totals.duplicates++;
      return;
    }
    device.received.add(seq);
    device.pending.delete(seq);
    this.totals.received++;
    this.bucket().received++;
  }
}
