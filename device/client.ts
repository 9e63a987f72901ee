/**
 * FailoverClient: an MQTT 3.1.1 client (mqtt.js underneath) that follows its endpoint across
 * regions.
 *
 * Route 53 fail-over only changes where new connections go. A connected device moves on any of:
 *   1. a fail-over notice on `noticeTopic` (moves within `noticeSpreadMs`, see notice.ts);
 *   2. the server closing the connection (re-resolves bypassing the cache, then reconnects with
 *      backoff and full jitter so the fleet spreads its reconnects);
 *   3. periodic re-resolution (every ~`reresolveIntervalMs`, cache honouring TTL) returning
 *      addresses that no longer include the connected one.
 * Subscriptions are restored after every (re)connect. QoS 1 publishes made while disconnected,
 * and those left unacknowledged by a lost connection, wait in a bounded queue and are sent after
 * reconnecting (at least once: a message the old broker had received may arrive twice); every
 * message the client had to give up is counted by reason and reported in a "dropped" event.
 */
import { EventEmitter } from "node:events";
import { MqttClient } from "mqtt";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { parseNotice, type FailoverNotice } from "./notice.js";
import {
  NO_NOTICES,
  admitToQueue,
  answerMovesAway,
  decideNotice,
  pickAddress,
  rememberNotice,
  reresolvePeriodMs,
  type NoticeMemory,
} from "./policy.js";
import { CachingResolver, type ResolvedAnswer } from "./resolver.js";
import { buildTlsOptions, openStream, type ConnectTarget, type TlsSettings } from "./transport.js";

/** Timers and time, injectable for tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface FailoverClientOptions {
  /** DNS name devices connect to (the Route 53 fail-over record). */
  endpoint: string;
  /** MQTT client id. */
  clientId: string;
  /** Broker port. Default 8883 with TLS, 1883 without. */
  port?: number;
  /** TLS with mutual auth (required for IoT Core). Absent: plain TCP, for local brokers only. */
  tls?: TlsSettings;
  /** DNS servers "ip[:port]" for the device's own resolver. Default: the system's. */
  dnsServers?: string[];
  /** A resolver to use instead of building one from dnsServers (share the query, inject a clock). */
  resolver?: CachingResolver;
  /** Topic carrying fail-over notices; subscribed on every connection. Default: none. */
  noticeTopic?: string;
  /** Region name in a notice -> endpoint name to move to. Default: none (notices follow DNS). */
  regionEndpoints?: Record<string, string>;
  /** Window over which a notice's move is spread when the notice names none, ms. Default 1000. */
  noticeSpreadMs?: number;
  /** Cap on a notice's spreadMs. Default 600000. */
  maxNoticeSpreadMs?: number;
  /** Mean period of re-resolution while connected, ms (each period drawn from [½, 1] of it). Default 30000; 0 disables. */
  reresolveIntervalMs?: number;
  /** Reconnect backoff (see backoff.ts). */
  backoff?: BackoffOptions;
  /** QoS 1 messages kept while disconnected. Default 1000. */
  maxQueued?: number;
  /** Which message goes when the queue is full. Default "oldest" (telemetry: keep the freshest). */
  dropPolicy?: "oldest" | "newest";
  /** MQTT keep-alive, seconds (IoT Core accepts 30..1200). Default 30. */
  keepaliveSeconds?: number;
  /** CONNACK must arrive within this many ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Clean session. Default true (sessions do not cross regions anyway). */
  clean?: boolean;
  /** Random source in [0, 1). Default Math.random. */
  random?: () => number;
  clock?: Clock;
}

/** What made the client (re)connect. */
export type Trigger = "start" | "connection-lost" | "notice" | "reresolve";

export type DropReason = "queue-full" | "offline-qos0" | "stopped";

export type PublishOutcome = { status: "sent" } | { status: "dropped"; reason: DropReason };

export interface TargetInfo {
  host: string;
  address: string;
  port: number;
}

export interface DeviceCounters {
  /** Successful connects (CONNACK), first one included. */
  connects: number;
  /** Connections lost or ended to move. */
  disconnects: number;
  /** Connects after the first. */
  reconnects: number;
  /** Reconnects that landed on a different host or address than before. */
  moves: number;
  connectFailures: number;
  resolveFailures: number;
  notices: number;
  published: number;
  acked: number;
  /** Messages that entered the offline queue (at publish time or put back from a lost connection). */
  queued: number;
  /** The part of `queued` that had been sent on a connection lost before its PUBACK. */
  requeued: number;
  /** Queued messages later acknowledged by a broker. */
  flushed: number;
  dropped: number;
  droppedQueueFull: number;
  droppedOfflineQos0: number;
  droppedStopped: number;
}

export interface FailoverClientEvents {
  connected: [info: { target: TargetInfo; durationMs: number; attempts: number }];
  disconnected: [info: { target: TargetInfo; reason: Trigger | "stopped"; error?: string }];
  reconnected: [
    info: {
      target: TargetInfo;
      previous: TargetInfo;
      /** From losing (or leaving) the previous connection to CONNACK on the new one. */
      durationMs: number;
      attempts: number;
      trigger: Trigger;
      moved: boolean;
    },
  ];
  connectFailed: [info: { host: string; address?: string; error: string; nextDelayMs: number }];
  queued: [info: { topic: string; queueLength: number; requeued: boolean }];
  flushed: [info: { count: number; durationMs: number }];
  dropped: [info: { topic: string; reason: DropReason }];
  notice: [info: { notice: FailoverNotice; action: "move" | "none" | "ignored"; detail: string }];
  message: [topic: string, payload: Buffer];
  warning: [message: string];
}

interface OutboundMessage {
  topic: string;
  payload: Buffer | string;
  qos: 0 | 1;
  retain: boolean;
  settle: (outcome: PublishOutcome) => void;
  /** The connection it was last written to. */
  via?: MqttClient;
  wasQueued: boolean;
}

type State = "idle" | "connecting" | "connected" | "waiting" | "moving" | "stopped";

const emptyCounters = (): DeviceCounters => ({
  connects: 0,
  disconnects: 0,
  reconnects: 0,
  moves: 0,
  connectFailures: 0,
  resolveFailures: 0,
  notices: 0,
  published: 0,
  acked: 0,
  queued: 0,
  requeued: 0,
  flushed: 0,
  dropped: 0,
  droppedQueueFull: 0,
  droppedOfflineQos0: 0,
  droppedStopped: 0,
});

function positiveInt(name: string, value: number, allowZero = false): number {
  if (!Number.isInteger(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(
      `${name} must be a ${allowZero ? "non-negative" : "positive"} integer, got ${value}`,
    );
  }
  return value;
}

export class FailoverClient extends EventEmitter<FailoverClientEvents> {
  readonly clientId: string;
  readonly counters: DeviceCounters = emptyCounters();
  private readonly opts: Required<
    Pick<
      FailoverClientOptions,
      | "endpoint"
      | "port"
      | "noticeSpreadMs"
      | "maxNoticeSpreadMs"
      | "reresolveIntervalMs"
      | "maxQueued"
      | "dropPolicy"
      | "keepaliveSeconds"
      | "connectTimeoutMs"
      | "clean"
    >
  > &
    FailoverClientOptions;
  private readonly resolver: CachingResolver;
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private readonly clock: Clock;

  private state: State = "idle";
  private mqtt?: MqttClient;
  private current?: TargetInfo;
  private previous?: TargetInfo;
  private pinnedHost?: string;
  /** Recent notices acted on (a retained notice arrives again after the move). */
  private noticeMemory: NoticeMemory = NO_NOTICES;
  private lastFailedAddress?: string;
  private startedAt = 0;
  private connectedAt = 0;
  private disconnectedAt = 0;
  private attemptsSinceDisconnect = 0;
  private pendingTrigger: Trigger = "start";
  private timer?: unknown;
  private reresolveTimer?: unknown;
  private noticeTimer?: unknown;
  private readonly subscriptions = new Map<string, 0 | 1>();
  private readonly queue: OutboundMessage[] = [];
  private readonly inFlight = new Set<OutboundMessage>();
  private flushing?: { pending: Set<OutboundMessage>; count: number; startedAt: number };
  private readonly connectWaiters: ((connected: boolean) => void)[] = [];

  constructor(options: FailoverClientOptions) {
    super();
    if (!options.endpoint || typeof options.endpoint !== "string") {
      throw new TypeError("endpoint is required: the DNS name devices connect to (e.g. iot.example.com)");
    }
    if (!options.clientId) throw new TypeError("clientId is required");
    this.clientId = options.clientId;
    this.opts = {
      ...options,
      port: options.port ?? (options.tls ? 8883 : 1883),
      noticeSpreadMs: options.noticeSpreadMs ?? 1_000,
      maxNoticeSpreadMs: options.maxNoticeSpreadMs ?? 600_000,
      reresolveIntervalMs: options.reresolveIntervalMs ?? 30_000,
      maxQueued: options.maxQueued ?? 1_000,
      dropPolicy: options.dropPolicy ?? "oldest",
      keepaliveSeconds: options.keepaliveSeconds ?? 30,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      clean: options.clean ?? true,
    };
    positiveInt("port", this.opts.port);
    if (this.opts.port > 65535) throw new RangeError(`port must be at most 65535, got ${this.opts.port}`);
    positiveInt("noticeSpreadMs", this.opts.noticeSpreadMs, true);
    positiveInt("maxNoticeSpreadMs", this.opts.maxNoticeSpreadMs, true);
    positiveInt("reresolveIntervalMs", this.opts.reresolveIntervalMs, true);
    positiveInt("maxQueued", this.opts.maxQueued, true);
    positiveInt("keepaliveSeconds", this.opts.keepaliveSeconds, true);
    positiveInt("connectTimeoutMs", this.opts.connectTimeoutMs);
    if (this.opts.dropPolicy !== "oldest" && this.opts.dropPolicy !== "newest") {
      throw new RangeError(`dropPolicy must be "oldest" or "newest", got ${String(this.opts.dropPolicy)}`);
    }
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? systemClock;
    this.resolver =
      options.resolver ?? new CachingResolver({ servers: options.dnsServers, now: this.clock.now });
    this.backoff = new Backoff(options.backoff, this.random);
    // Bad TLS settings are configuration errors: report them here, not as endless retries.
    if (options.tls)
      buildTlsOptions({ host: options.endpoint, address: "127.0.0.1", port: this.opts.port }, options.tls);
  }

  /** Where the client is connected now, if it is. */
  get target(): TargetInfo | undefined {
    return this.state === "connected" ? this.current : undefined;
  }

  get connected(): boolean {
    return this.state === "connected";
  }

  /** QoS 1 messages waiting for a connection. */
  get queueLength(): number {
    return this.queue.length;
  }

  /** Starts connecting; returns at once. Listen for "connected" or await whenConnected(). */
  start(): void {
    if (this.state !== "idle") throw new Error(`start() called twice on client ${this.clientId}`);
    this.startedAt = this.clock.now();
    this.disconnectedAt = this.startedAt;
    void this.connectNow("start", false);
  }

  /** Resolves true when the client is next connected (at once if it is), false if it is stopped first. */
  whenConnected(): Promise<boolean> {
    if (this.state === "connected") return Promise.resolve(true);
    if (this.state === "stopped") return Promise.resolve(false);
    return new Promise((resolve) => this.connectWaiters.push(resolve));
  }

  /** Subscribes now if connected, and again after every reconnect. */
  async subscribe(topic: string, qos: 0 | 1 = 1): Promise<void> {
    this.subscriptions.set(topic, qos);
    // A connection lost mid-SUBSCRIBE is no error here: every reconnect subscribes again.
    if (this.state === "connected" && this.mqtt)
      await this.mqtt.subscribeAsync(topic, { qos }).catch(() => undefined);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.subscriptions.delete(topic);
    if (this.state === "connected" && this.mqtt)
      await this.mqtt.unsubscribeAsync(topic).catch(() => undefined);
  }

  /**
   * Publishes. Never rejects: resolves "sent" on PUBACK (QoS 1) or once written (QoS 0), or
   * "dropped" with the reason when the client had to give the message up.
   */
  publish(
    topic: string,
    payload: Buffer | string,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<PublishOutcome> {
    if (this.state === "stopped") return Promise.resolve({ status: "dropped", reason: "stopped" });
    this.counters.published++;
    return new Promise((settle) => {
      const message: OutboundMessage = {
        topic,
        payload,
        qos: options.qos ?? 1,
        retain: options.retain ?? false,
        settle,
        wasQueued: false,
      };
      if (this.state === "connected" && this.mqtt) this.send(message, this.mqtt);
      else if (message.qos === 0) this.drop(message, "offline-qos0");
      else this.enqueue(message, false);
    });
  }

  /** Ends the connection (waiting up to 2 s for PUBACKs) and gives up queued messages (counted as dropped). */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    const wasConnected = this.state === "connected";
    this.state = "stopped";
    for (const timer of [this.timer, this.reresolveTimer, this.noticeTimer]) {
      if (timer !== undefined) this.clock.clearTimeout(timer);
    }
    const mqtt = this.mqtt;
    this.mqtt = undefined;
    if (mqtt) await this.endGracefully(mqtt);
    if (wasConnected && this.current) this.emit("disconnected", { target: this.current, reason: "stopped" });
    for (const message of [...this.inFlight, ...this.queue.splice(0)]) this.drop(message, "stopped");
    this.inFlight.clear();
    for (const resolve of this.connectWaiters.splice(0)) resolve(false);
  }

  // ---------------------------------------------------------------- connecting

  private async connectNow(trigger: Trigger, refresh: boolean): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "connecting";
    this.pendingTrigger = trigger;
    this.attemptsSinceDisconnect++;
    const host = this.pinnedHost ?? this.opts.endpoint;
    let answer: ResolvedAnswer;
    try {
      answer = await this.resolver.resolve(host, { refresh });
      if (answer.source === "stale") {
        this.counters.resolveFailures++;
        this.emit(
          "warning",
          `DNS lookup of ${host} failed; using the last good answer (${answer.addresses.join(", ")})`,
        );
      }
    } catch (err) {
      this.counters.resolveFailures++;
      this.counters.connectFailures++;
      this.retryLater({ host, error: (err as Error).message });
      return;
    }
    if (this.state !== "connecting") return;
    const address = pickAddress(answer.addresses, this.lastFailedAddress, this.random);
    const target: ConnectTarget = { host, address, port: this.opts.port };
    const mqtt = new MqttClient(() => openStream(target, this.opts.tls), {
      clientId: this.clientId,
      protocolVersion: 4,
      keepalive: this.opts.keepaliveSeconds,
      connectTimeout: this.opts.connectTimeoutMs,
      reconnectPeriod: 0,
      clean: this.opts.clean,
      resubscribe: false,
      queueQoSZero: false,
    });
    this.mqtt = mqtt;
    let lastError: string | undefined;
    mqtt.on("error", (err) => {
      lastError = err.message;
    });
    mqtt.once("connect", () => this.onConnected(mqtt, target));
    mqtt.once("close", () => this.onClosed(mqtt, target, lastError));
    mqtt.on("message", (topic, payload) => this.onMessage(topic, payload));
  }

  private onConnected(mqtt: MqttClient, target: ConnectTarget): void {
    if (this.mqtt !== mqtt || this.state !== "connecting") {
      mqtt.end(true);
      return;
    }
    const now = this.clock.now();
    const info: TargetInfo = { host: target.host, address: target.address, port: target.port };
    this.state = "connected";
    this.connectedAt = now;
    this.lastFailedAddress = undefined;
    const attempts = this.attemptsSinceDisconnect;
    this.attemptsSinceDisconnect = 0;
    this.counters.connects++;
    for (const [topic, qos] of this.subscriptions) mqtt.subscribe(topic, { qos });
    if (this.opts.noticeTopic) mqtt.subscribe(this.opts.noticeTopic, { qos: 1 });
    const previous = this.previous;
    this.current = info;
    if (previous === undefined) {
      this.emit("connected", { target: info, durationMs: now - this.startedAt, attempts });
    } else {
      const moved = previous.host !== info.host || previous.address !== info.address;
      this.counters.reconnects++;
      if (moved) this.counters.moves++;
      this.emit("reconnected", {
        target: info,
        previous,
        durationMs: now - this.disconnectedAt,
        attempts,
        trigger: this.pendingTrigger,
        moved,
      });
    }
    this.flush(mqtt);
    this.scheduleReresolve();
    for (const resolve of this.connectWaiters.splice(0)) resolve(true);
  }

  private onClosed(mqtt: MqttClient, target: ConnectTarget, error: string | undefined): void {
    if (this.mqtt !== mqtt) return; // a connection we left on purpose
    this.mqtt = undefined;
    this.requeueInFlight(mqtt);
    if (this.state === "stopped") return;
    if (this.reresolveTimer !== undefined) this.clock.clearTimeout(this.reresolveTimer);
    if (this.state === "connected") {
      const now = this.clock.now();
      this.counters.disconnects++;
      this.backoff.connectionLasted(now - this.connectedAt);
      this.previous = this.current;
      this.disconnectedAt = now;
      this.emit("disconnected", {
        target: this.current!,
        reason: "connection-lost",
        ...(error ? { error } : {}),
      });
      this.lastFailedAddress = target.address;
      this.retryLater(undefined, "connection-lost");
      return;
    }
    this.counters.connectFailures++;
    this.lastFailedAddress = target.address;
    this.retryLater({
      host: target.host,
      address: target.address,
      error: error ?? "connection closed before CONNACK",
    });
  }

  /** Waits a backoff delay, then re-resolves (bypassing the cache) and connects. */
  private retryLater(
    failure?: { host: string; address?: string; error: string },
    trigger: Trigger = this.pendingTrigger,
  ): void {
    if (this.state === "stopped") return;
    this.state = "waiting";
    const delay = this.backoff.next();
    if (failure) this.emit("connectFailed", { ...failure, nextDelayMs: delay });
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.connectNow(trigger, true);
    }, delay);
  }

  // ---------------------------------------------------------------- moving on purpose

  private scheduleReresolve(): void {
    const interval = this.opts.reresolveIntervalMs;
    if (interval === 0) return;
    if (this.reresolveTimer !== undefined) this.clock.clearTimeout(this.reresolveTimer);
    const period = reresolvePeriodMs(interval, this.random);
    this.reresolveTimer = this.clock.setTimeout(() => {
      this.reresolveTimer = undefined;
      void this.checkTarget("reresolve", false).finally(() => {
        if (this.state === "connected") this.scheduleReresolve();
      });
    }, period);
  }

  /** Resolves the host the client should be on; moves if the connection is elsewhere. */
  private async checkTarget(trigger: Trigger, refresh: boolean): Promise<boolean> {
    if (this.state !== "connected" || !this.current) return false;
    const host = this.pinnedHost ?? this.opts.endpoint;
    let answer: ResolvedAnswer;
    try {
      answer = await this.resolver.resolve(host, { refresh });
    } catch (err) {
      this.counters.resolveFailures++;
      this.emit("warning", `re-resolving ${host} failed: ${(err as Error).message}`);
      return false;
    }
    if (answer.source === "stale") this.counters.resolveFailures++;
    if (this.state !== "connected" || !this.current) return false;
    if (!answerMovesAway(this.current, answer.addresses)) return false;
    await this.move(trigger);
    return true;
  }

  /** Leaves the current connection (PUBACKs awaited briefly) and connects again at once. */
  private async move(trigger: Trigger): Promise<void> {
    const mqtt = this.mqtt;
    if (this.state !== "connected" || !mqtt) return;
    this.state = "moving";
    if (this.reresolveTimer !== undefined) this.clock.clearTimeout(this.reresolveTimer);
    this.mqtt = undefined;
    const now = this.clock.now();
    this.counters.disconnects++;
    this.backoff.connectionLasted(now - this.connectedAt);
    this.previous = this.current;
    this.disconnectedAt = now;
    this.emit("disconnected", { target: this.current!, reason: trigger });
    await this.endGracefully(mqtt);
    this.requeueInFlight(mqtt);
    if (this.state !== "moving") return;
    await this.connectNow(trigger, false);
  }

  private async endGracefully(mqtt: MqttClient): Promise<void> {
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      mqtt.endAsync(false).catch(() => undefined),
      new Promise((resolve) => {
        timeout = setTimeout(resolve, 2_000);
      }),
    ]);
    clearTimeout(timeout);
    mqtt.end(true);
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (this.opts.noticeTopic !== undefined && topic === this.opts.noticeTopic) {
      this.onNotice(payload);
      return;
    }
    this.emit("message", topic, payload);
  }

  private onNotice(payload: Buffer): void {
    const parsed = parseNotice(payload);
    if (!parsed.ok) {
      this.emit("warning", `ignored a fail-over notice: ${parsed.reason}`);
      return;
    }
    const notice = parsed.notice;
    const decision = decideNotice(notice, this.noticeMemory, this.opts, this.random);
    if (decision.action === "none") {
      this.emit("notice", { notice, action: "none", detail: decision.detail });
      return;
    }
    this.counters.notices++;
    this.noticeMemory = rememberNotice(this.noticeMemory, notice);
    if (decision.action === "ignored") {
      this.emit("notice", { notice, action: "ignored", detail: decision.detail });
      return;
    }
    this.pinnedHost = decision.pinned ? decision.host : undefined;
    const delay = decision.delayMs;
    this.emit("notice", { notice, action: "move", detail: decision.detail });
    if (this.noticeTimer !== undefined) this.clock.clearTimeout(this.noticeTimer);
    this.noticeTimer = this.clock.setTimeout(() => {
      this.noticeTimer = undefined;
      void this.checkTarget("notice", true);
    }, delay);
  }

  // ---------------------------------------------------------------- messages

  private send(message: OutboundMessage, mqtt: MqttClient): void {
    message.via = mqtt;
    if (message.qos === 0) {
      mqtt.publish(message.topic, message.payload, { qos: 0, retain: message.retain }, () => {
        this.counters.acked++;
        message.settle({ status: "sent" });
      });
      return;
    }
    this.inFlight.add(message);
    mqtt.publish(message.topic, message.payload, { qos: 1, retain: message.retain }, (err) => {
      // An error means the connection went away; the close handler has put the message back.
      if (err || message.via !== mqtt || !this.inFlight.delete(message)) return;
      this.counters.acked++;
      if (message.wasQueued) this.counters.flushed++;
      message.settle({ status: "sent" });
      const flushing = this.flushing;
      if (flushing && flushing.pending.delete(message) && flushing.pending.size === 0) {
        this.flushing = undefined;
        this.emit("flushed", { count: flushing.count, durationMs: this.clock.now() - flushing.startedAt });
      }
    });
  }

  private enqueue(message: OutboundMessage, requeued: boolean): void {
    const admission = admitToQueue(this.queue.length, 1, this.opts.maxQueued, this.opts.dropPolicy);
    if (admission.kept === 0) {
      this.drop(message, "queue-full");
      return;
    }
    for (let i = 0; i < admission.dropped; i++) this.drop(this.queue.shift()!, "queue-full");
    message.wasQueued = true;
    message.via = undefined;
    this.queue.push(message);
    this.counters.queued++;
    if (requeued) this.counters.requeued++;
    this.emit("queued", { topic: message.topic, queueLength: this.queue.length, requeued });
  }

  /** Puts messages a lost connection never acknowledged back in the queue, ahead of newer ones. */
  private requeueInFlight(mqtt: MqttClient): void {
    const lost = [...this.inFlight].filter((m) => m.via === mqtt);
    if (lost.length === 0) return;
    this.flushing = undefined;
    for (const message of lost) {
      this.inFlight.delete(message);
      message.via = undefined;
      message.wasQueued = true;
      this.counters.queued++;
      this.counters.requeued++;
    }
    this.queue.unshift(...lost);
    while (this.queue.length > this.opts.maxQueued) {
      this.drop(this.opts.dropPolicy === "oldest" ? this.queue.shift()! : this.queue.pop()!, "queue-full");
    }
    for (const message of lost) {
      if (this.queue.includes(message)) {
        this.emit("queued", { topic: message.topic, queueLength: this.queue.length, requeued: true });
      }
    }
  }

  private flush(mqtt: MqttClient): void {
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0);
    this.flushing = { pending: new Set(batch), count: batch.length, startedAt: this.clock.now() };
    for (const message of batch) this.send(message, mqtt);
  }

  private drop(message: OutboundMessage, reason: DropReason): void {
    this.counters.dropped++;
    if (reason === "queue-full") this.counters.droppedQueueFull++;
    else if (reason === "offline-qos0") this.counters.droppedOfflineQos0++;
    else this.counters.droppedStopped++;
    this.emit("dropped", { topic: message.topic, reason });
    message.settle({ status: "dropped", reason });
  }
}
