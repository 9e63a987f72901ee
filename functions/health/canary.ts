/**
 * The IoT broker canary: connect with the canary identity, subscribe to the canary's own topic,
 * publish a nonce and wait until the broker delivers it back. Any step that fails or runs late
 * fails the checkpoint. The mqtt module and the identity getter are passed in: the identity lives
 * in Secrets Manager, never in a code package.
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
   * Each round connects as `<prefix>-<random>`: Route 53's checkers are not coordinated, and two
   * overlapping rounds under one client id would disconnect each other.
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
}

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

/** A client id of its own for one round: `<prefix>-<10 random letters and digits>`. */
export function canaryClientId(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 12).padEnd(10, "0")}`;
}

/** One canary round trip; resolves when the nonce came back, rejects on any failure or abort. */
export async function canaryRoundTrip(
  mqtt: typeof Mqtt,
  options: CanaryOptions,
  signal: AbortSignal,
): Promise<void> {
  const identity = await options.getIdentity(signal);
  if (signal.aborted) throw signal.reason;
  const topic = options.topic ?? `iot-dr/canary/${options.clientId}`;
  const nonce = (options.nonce ?? (() => `${Date.now()}-${Math.random().toString(36).slice(2)}`))();
  const host = new URL(options.brokerUrl).hostname;
  const client = mqtt.connect(options.brokerUrl, {
    clientId: canaryClientId(options.clientId),
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    keepalive: 30,
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
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown) => reject(err instanceof Error ? err : new Error(String(err)));
      signal.addEventListener("abort", () => fail(signal.reason), { once: true });
      client.on("error", fail);
      client.on("close", () => fail(new Error("the broker closed the canary connection")));
      client.on("message", (received, payload) => {
        if (received === topic && payload.toString("utf8") === nonce) resolve();
      });
      client.once("connect", () => {
        client.subscribe(topic, { qos: 1 }, (err, granted) => {
          if (err) return fail(err);
          if (granted?.some((g) => g.qos === 128))
            return fail(new Error("the broker refused the canary subscription"));
          client.publish(topic, nonce, { qos: 1 }, (publishError) => {
            if (publishError) fail(publishError);
          });
        });
      });
    });
  } finally {
    client.removeAllListeners("close");
    client.on("error", () => {});
    client.end(true);
  }
}

/** The broker canary as a checkpoint of the IoT services account's health API. */
export function canaryCheckpoint(
  mqtt: typeof Mqtt,
  options: CanaryOptions & { name?: string; factor?: string; timeoutMs: number; critical?: boolean },
): Checkpoint {
  return {
    name: options.name ?? "iot-broker-canary",
    factor: options.factor ?? "iotBroker",
    timeoutMs: options.timeoutMs,
    critical: options.critical ?? true,
    run: (signal) => canaryRoundTrip(mqtt, options, signal),
  };
}
