/**
 * Checkpoints declared in config: an HTTP GET expecting 2xx, a DynamoDB table that must be
 * ACTIVE, an EventBridge bus that must exist, the MQTT broker canary, or a named probe plugged in
 * by the deployment (C&C and analytics dependencies). Specs arrive as JSON (an environment
 * variable of the health API function); bad specs fail with a message naming the field.
 */
import type * as Mqtt from "mqtt";
import { canaryCheckpoint, parseCanaryIdentity } from "./canary.js";
import type { Checkpoint } from "./checkpoints.js";
import type { HttpTransport } from "./http.js";

interface SpecBase {
  name: string;
  /** The factor this checkpoint reports under; default by type (see DEFAULT_FACTOR). */
  factor?: string;
  /** Budget of one check; default 1000 ms. */
  timeoutMs?: number;
  /** Default true. */
  critical?: boolean;
}
export type CheckpointSpec = SpecBase &
  (
    | { type: "http"; url: string }
    | { type: "dynamodbTable"; tableName: string }
    | { type: "eventBus"; eventBusName: string }
    | {
        type: "mqttCanary";
        brokerUrl: string;
        clientId: string;
        secretId: string;
        topic?: string;
        serverName?: string;
      }
    | { type: "probe"; probe: string }
  );

const DEFAULT_FACTOR: Record<CheckpointSpec["type"], string> = {
  http: "applicationServices",
  dynamodbTable: "applicationServices",
  eventBus: "analytics",
  mqttCanary: "iotBroker",
  probe: "applicationServices",
};

const REQUIRED: Record<CheckpointSpec["type"], string[]> = {
  http: ["url"],
  dynamodbTable: ["tableName"],
  eventBus: ["eventBusName"],
  mqttCanary: ["brokerUrl", "clientId", "secretId"],
  probe: ["probe"],
};

/** Validates checkpoint specs (parsed JSON); throws naming the offending entry and field. */
export function parseCheckpointSpecs(value: unknown): CheckpointSpec[] {
  if (!Array.isArray(value)) throw new Error("health checkpoints must be a JSON array of checkpoint specs");
  const seen = new Set<string>();
  return value.map((raw, index) => {
    const where = `health checkpoint #${index + 1}`;
    if (typeof raw !== "object" || raw === null) throw new Error(`${where} must be an object`);
    const spec = raw as Record<string, unknown>;
    if (typeof spec.name !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(spec.name)) {
      throw new Error(`${where} needs a 'name' of 1-64 letters, digits, '.', '_' or '-'`);
    }
    if (seen.has(spec.name)) throw new Error(`${where}: the name '${spec.name}' is used twice`);
    seen.add(spec.name);
    const type = spec.type as CheckpointSpec["type"];
    if (!(type in REQUIRED)) {
      throw new Error(
        `${where} ('${spec.name}') has type '${String(spec.type)}'; use one of ${Object.keys(REQUIRED).join(", ")}`,
      );
    }
    for (const field of REQUIRED[type]) {
      if (typeof spec[field] !== "string" || (spec[field] as string).length === 0) {
        throw new Error(`${where} ('${spec.name}', type ${type}) needs a non-empty string '${field}'`);
      }
    }
    if (type === "http" && !/^https?:\/\//.test(spec.url as string)) {
      throw new Error(`${where} ('${spec.name}'): 'url' must start with http:// or https://`);
    }
    if (
      spec.timeoutMs !== undefined &&
      (typeof spec.timeoutMs !== "number" || spec.timeoutMs <= 0 || spec.timeoutMs > 10_000)
    ) {
      throw new Error(`${where} ('${spec.name}'): 'timeoutMs' must be a number in (0, 10000]`);
    }
    if (spec.critical !== undefined && typeof spec.critical !== "boolean") {
      throw new Error(`${where} ('${spec.name}'): 'critical' must be true or false`);
    }
    if (
      spec.factor !== undefined &&
      (typeof spec.factor !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(spec.factor))
    ) {
      throw new Error(`${where} ('${spec.name}'): 'factor' must be 1-64 letters, digits, '_' or '-'`);
    }
    return spec as unknown as CheckpointSpec;
  });
}

/** A probe plugged in by the deployment: resolves when the dependency works. */
export type Probe = (signal: AbortSignal) => Promise<void>;

export interface ProbeDeps {
  transport: HttpTransport;
  /** DynamoDB DescribeTable: resolves to the table status. */
  describeTable?: (tableName: string, signal: AbortSignal) => Promise<string | undefined>;
  /** EventBridge DescribeEventBus: resolves when the bus exists. */
  describeEventBus?: (eventBusName: string, signal: AbortSignal) => Promise<void>;
  /** Secrets Manager GetSecretValue: resolves to the secret string. */
  getSecret?: (secretId: string, signal: AbortSignal) => Promise<string | undefined>;
  mqtt?: typeof Mqtt;
  probes?: Record<string, Probe>;
}

function need<T>(value: T | undefined, what: string, spec: CheckpointSpec): T {
  if (value === undefined) {
    throw new Error(
      `health checkpoint '${spec.name}' (type ${spec.type}) needs ${what}, which this deployment does not provide`,
    );
  }
  return value;
}

/** Turns specs into runnable checkpoints; throws when a spec needs a client the caller did not pass. */
export function buildCheckpoints(specs: readonly CheckpointSpec[], deps: ProbeDeps): Checkpoint[] {
  return specs.map((spec): Checkpoint => {
    const common = {
      name: spec.name,
      factor: spec.factor ?? DEFAULT_FACTOR[spec.type],
      timeoutMs: spec.timeoutMs ?? 1000,
      critical: spec.critical ?? true,
    };
    switch (spec.type) {
      case "http":
        return {
          ...common,
          run: async (signal) => {
            const response = await deps.transport({ method: "GET", url: spec.url, signal });
            if (response.status < 200 || response.status > 299) throw new Error(`HTTP ${response.status}`);
          },
        };
      case "dynamodbTable": {
        const describeTable = need(deps.describeTable, "a DynamoDB client", spec);
        return {
          ...common,
          run: async (signal) => {
            const status = await describeTable(spec.tableName, signal);
            if (status !== "ACTIVE" && status !== "UPDATING")
              throw new Error(`table status ${status ?? "unknown"}`);
          },
        };
      }
      case "eventBus": {
        const describeEventBus = need(deps.describeEventBus, "an EventBridge client", spec);
        return { ...common, run: (signal) => describeEventBus(spec.eventBusName, signal) };
      }
      case "mqttCanary": {
        const mqtt = need(deps.mqtt, "the mqtt module", spec);
        const getSecret = need(deps.getSecret, "a Secrets Manager client", spec);
        return canaryCheckpoint(mqtt, {
          ...common,
          brokerUrl: spec.brokerUrl,
          clientId: spec.clientId,
          ...(spec.topic ? { topic: spec.topic } : {}),
          ...(spec.serverName ? { serverName: spec.serverName } : {}),
          getIdentity: async (signal) => parseCanaryIdentity(await getSecret(spec.secretId, signal)),
        });
      }
      case "probe": {
        const probe = need(deps.probes?.[spec.probe], `the probe '${spec.probe}'`, spec);
        return { ...common, run: probe };
      }
    }
  });
}
