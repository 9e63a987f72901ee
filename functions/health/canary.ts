/**
 * The IoT broker canary: publish a nonce on the canary's own topic and wait until the broker
 * delivers it back. Any step that fails or runs late fails the checkpoint.
 *
 * The canary keeps one connection open across rounds instead of connecting for each. On AWS it
 * connects to the same endpoint as the fleet and draws on the same per-account connect quota
 * (500/s by default, DESIGN.md §7): during a reconnect storm into the healthy region a canary that
 * connects per round would be throttled, read as unhealthy, and with the failed region unhealthy
 * too Route 53 would answer the dead primary. A kept connection proves the same thing each round
 * (the broker accepts a publish and delivers it to a subscriber) without a connect. It is dropped
 * after any failed round, and when it has been idle longer than `reuseWithinMs` (a frozen Lambda
 * sends no keep-alive pings), so the next round connects afresh and a dead or half-open connection
 * is never trusted twice.
 *
 * The mqtt module and the identity getter are passed in: the identity lives in Secrets Manager,
 * never in a code package.
 */
import type * as Mqtt from "mqtt";
import type { Checkpoint } from "./checkpoints.js";

/** The canary's X.509 identity as stored in its Secrets Manager secret (JSON with these keys). */
export interface CanaryIdentity {
  certificatePem: string;
  privateKeyPem: string;
  /** Trust anchor for the broker's server certificate; the system store when absent. */
  caPem?: string;
}

export interface CanaryOptions {
  /** `mqtts://<endpoint>:8883` in AWS; `mqtt://127.0.0.1:<port>` against a loopback broker. */
  brokerUrl: string;
  /**
   * The client-id prefix the canary's IoT policy allows (`client/<prefix>-*`); also names its topic.
   * Each connection is `<prefix>-<random>`: every Lambda container keeps one of its own, and two
   * containers under one client id would disconnect each other.
   */
  clientId: string;
  /** The topic the canary publishes to and subscribes on; default `iot-dr/canary/<clientId>`. */
  topic?: string;
  /** TLS server name (SNI) for a custom domain; default the broker URL's host. */
  serverName?: string;
  /** Returns the identity, or null when the broker needs none (loopback tests). */
  getIdentity: (signal: AbortSignal) => Promise<CanaryIdentity | null>;
  /** Produces the nonce of one round; default a random string. */
  nonce?: () => string;
  /**
   * A kept connection whose last good round is older than this is closed and opened again
   * (default 45 s: below the 60 s keep-alive, so IoT Core, which disconnects after 1.5 times the
   * keep-alive without traffic, has not dropped it even if the process was frozen meanwhile).
   */
  reuseWithinMs?: number;
  /** Milliseconds now; default `Date.now`. */
  clock?: () => number;
}

const KEEPALIVE_SECONDS = 60;

/** Parses the canary secret's JSON and names what is missing. */
export function parseCanaryIdentity(secretString: string | undefined): CanaryIdentity {
  let value: unknown;
  try {
    value = JSON.parse(secretString ?? "");
  } catch {
    throw new Error(
      'the canary secret is not JSON: store {"certificatePem": "...", "privateKeyPem": "..."} in it',
    );
  }
  const v = value as Partial<Record<keyof CanaryIdentity, unknown>>;
  for (const key of ["certificatePem", "privateKeyPem"] as const) {
    if (typeof v?.[key] !== "string" || (v[key] as string).length === 0) {
      throw new Error(`the canary secret has no '${key}': store the canary's PEM under that key`);
    }
  }
  return {
    certificatePem: v.certificatePem as string,
    privateKeyPem: v.privateKeyPem as string,
    ...(typeof v.caPem === "string" ? { caPem: v.caPem } : {}),
  };
}

/** A client id of its own for one connection: `<prefix>-<10 random letters and digits>`. */
export function canaryClientId(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 12).padEnd(10, "0")}`;
}

/** The broker canary with its kept connection. */
export interface Canary {
  /** One round trip; resolves when the nonce came back, rejects on any failure or abort. */
  roundTrip(signal: AbortSignal): Promise<void>;
  /** Closes the kept connection, if any (a drill's stop; a Lambda container just ends). */
  close(): void;
  /** Connections opened so far (one for as long as the broker keeps delivering). */
  readonly connects: number;
}

/** One connection and the rounds waiting on it. */
interface Link {
  client?: Mqtt.MqttClient;
  /** Settles when the connection is up and subscribed to the canary's topic. */
  ready: Promise<void>;
  /** Waiting rounds by nonce. */
  rounds: Map<string, { resolve: () => void; reject: (err: Error) => void }>;
  lastGoodAt: number;
  failed?: Error;
  /** Rejects `ready` when the link is dropped while it is still opening. */
  abandon: (err: Error) => void;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Resolves as `promise` does, or rejects with the signal's reason when it aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(asError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(asError(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export function createCanary(mqtt: typeof Mqtt, options: CanaryOptions): Canary {
  const topic = options.topic ?? `iot-dr/canary/${options.clientId}`;
  const makeNonce = options.nonce ?? (() => `${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const reuseWithinMs = options.reuseWithinMs ?? 45_000;
  const clock = options.clock ?? Date.now;
  const host = new URL(options.brokerUrl).hostname;
  let link: Link | undefined;
  let connects = 0;

  /** Ends a link for good: its waiting rounds fail, the next round opens a new one. */
  const drop = (target: Link, reason: Error) => {
    if (link === target) link = undefined;
    if (target.failed) return;
    target.failed = reason;
    target.abandon(reason);
    for (const round of target.rounds.values()) round.reject(reason);
    target.rounds.clear();
    if (target.client) {
      target.client.removeAllListeners("close");
      target.client.on("error", () => {});
      target.client.end(true);
    }
  };

  const open = (signal: AbortSignal): Link => {
    let abandon: (err: Error) => void = () => {};
    const abandoned = new Promise<never>((_, reject) => (abandon = reject));
    const opened: Link = { ready: abandoned, rounds: new Map(), lastGoodAt: clock(), abandon };
    const work = (async () => {
      const identity = await untilAborted(options.getIdentity(signal), signal);
      if (opened.failed) throw opened.failed;
      connects++;
      const client = mqtt.connect(options.brokerUrl, {
        clientId: canaryClientId(options.clientId),
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 0,
        keepalive: KEEPALIVE_SECONDS,
        ...(identity
          ? {
              cert: identity.certificatePem,
              key: identity.privateKeyPem,
              ...(identity.caPem ? { ca: identity.caPem } : {}),
              servername: options.serverName ?? host,
              rejectUnauthorized: true,
            }
          : {}),
      });
      opened.client = client;
      client.on("message", (received, payload) => {
        if (received === topic) opened.rounds.get(payload.toString("utf8"))?.resolve();
      });
      await new Promise<void>((resolve, reject) => {
        const fail = (err: unknown) => {
          reject(asError(err));
          drop(opened, asError(err));
        };
        client.on("error", fail);
        client.on("close", () => fail(new Error("the broker closed the canary connection")));
        client.once("connect", () => {
          client.subscribe(topic, { qos: 1 }, (err, granted) => {
            if (err) return fail(err);
            if (granted?.some((g) => g.qos === 128))
              return fail(new Error("the broker refused the canary subscription"));
            resolve();
          });
        });
      });
    })();
    opened.ready = Promise.race([work, abandoned]);
    // A round awaits `ready`; this keeps a failure nobody awaits any more from going unhandled.
    opened.ready.catch((err: unknown) => drop(opened, asError(err)));
    return opened;
  };

  return {
    get connects() {
      return connects;
    },
    close: () => {
      if (link) drop(link, new Error("the canary was closed"));
    },
    roundTrip: async (signal) => {
      if (signal.aborted) throw asError(signal.reason);
      if (link && clock() - link.lastGoodAt > reuseWithinMs) drop(link, new Error("idle too long"));
      const current = (link ??= open(signal));
      try {
        await untilAborted(current.ready, signal);
        const nonce = makeNonce();
        const delivered = new Promise<void>((resolve, reject) => {
          current.rounds.set(nonce, { resolve, reject });
          current.client!.publish(topic, nonce, { qos: 1 }, (err) => {
            if (err) reject(asError(err));
          });
        });
        await untilAborted(delivered, signal).finally(() => current.rounds.delete(nonce));
        current.lastGoodAt = clock();
      } catch (err) {
        // Not delivered in time, refused or broken: this connection is not trusted again.
        drop(current, asError(err));
        throw asError(err);
      }
    },
  };
}

/**
 * The broker canary as a checkpoint of the IoT services account's health API. The checkpoint owns
 * one canary, so its connection lives as long as the checkpoint (a Lambda container).
 */
export function canaryCheckpoint(
  mqtt: typeof Mqtt,
  options: CanaryOptions & { name?: string; factor?: string; timeoutMs: number; critical?: boolean },
  canary: Canary = createCanary(mqtt, options),
): Checkpoint {
  return {
    name: options.name ?? "iot-broker-canary",
    factor: options.factor ?? "iotBroker",
    timeoutMs: options.timeoutMs,
    critical: options.critical ?? true,
    run: (signal) => canary.roundTrip(signal),
  };
}
