/**
 * The pack's configuration in Pulumi's policy-pack-config format
 * (`{"<policy>": {"enforcementLevel": "...", "<key>": value}}`), validated into a PackConfig and
 * per-policy enforcement levels. The same file works for `pulumi preview --policy-pack-config`
 * and `iot-dr plan --policy --policy-config`.
 */
import { DEFAULT_PACK_CONFIG, type PackConfig } from "./types";

export type EnforcementLevel = "advisory" | "mandatory" | "disabled";

/** Configurable keys per policy, with their JSON schema (also given to CrossGuard as configSchema). */
export const CONFIG_SCHEMAS: Record<string, Record<string, { type: string; [k: string]: unknown }>> = {
  "failover-record-ttl": {
    maxFailoverTtlSeconds: {
      type: "integer",
      minimum: 1,
      maximum: 86400,
      default: DEFAULT_PACK_CONFIG.maxFailoverTtlSeconds,
      description: "Highest TTL in seconds a failover record may have.",
    },
  },
  "health-api-not-public": {
    route53EndpointNames: {
      type: "array",
      items: { type: "string" },
      default: DEFAULT_PACK_CONFIG.route53EndpointNames,
      description:
        "Logical names of the Route 53 health-check endpoint's function URL and permission, the only ones allowed to be public.",
    },
  },
};

export interface ResolvedPackConfig {
  config: PackConfig;
  levels: Record<string, EnforcementLevel>;
}

/** The error for a bad pack config: names the key and how to fix it. */
export class PolicyConfigError extends Error {
  override name = "PolicyConfigError";
}

const LEVELS: readonly string[] = ["advisory", "mandatory", "disabled"];

/** Validates a parsed policy-pack-config document against the pack's policy names. */
export function resolvePackConfig(doc: unknown, policyNames: readonly string[]): ResolvedPackConfig {
  const config: PackConfig = {
    ...DEFAULT_PACK_CONFIG,
    route53EndpointNames: [...DEFAULT_PACK_CONFIG.route53EndpointNames],
  };
  const levels: Record<string, EnforcementLevel> = {};
  if (doc === undefined || doc === null) return { config, levels };
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new PolicyConfigError(
      'policy config must be a JSON object keyed by policy name, e.g. {"failover-record-ttl": {"maxFailoverTtlSeconds": 120}}',
    );
  }
  for (const [policy, value] of Object.entries(doc as Record<string, unknown>)) {
    if (policy !== "all" && !policyNames.includes(policy)) {
      throw new PolicyConfigError(
        `policy config names unknown policy '${policy}': use one of ${policyNames.join(", ")}`,
      );
    }
    const targets = policy === "all" ? policyNames : [policy];
    if (typeof value === "string") {
      if (!LEVELS.includes(value)) {
        throw new PolicyConfigError(
          `policy config '${policy}': enforcement level '${value}' is not one of ${LEVELS.join(", ")}`,
        );
      }
      for (const t of targets) levels[t] = value as EnforcementLevel;
      continue;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new PolicyConfigError(
        `policy config '${policy}' must be an enforcement level or an object of settings, got ${JSON.stringify(value)}`,
      );
    }
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (key === "enforcementLevel") {
        if (typeof v !== "string" || !LEVELS.includes(v)) {
          throw new PolicyConfigError(
            `policy config '${policy}.enforcementLevel' must be one of ${LEVELS.join(", ")}, got ${JSON.stringify(v)}`,
          );
        }
        for (const t of targets) levels[t] = v as EnforcementLevel;
        continue;
      }
      const known = CONFIG_SCHEMAS[policy] ?? {};
      if (!(key in known)) {
        const keys = Object.keys(known);
        throw new PolicyConfigError(
          `policy config '${policy}.${key}' is not a setting of that policy` +
            (keys.length ? ` (it has: ${keys.join(", ")})` : " (it has only enforcementLevel)"),
        );
      }
      if (key === "maxFailoverTtlSeconds") {
        if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 86400) {
          throw new PolicyConfigError(
            `policy config '${policy}.maxFailoverTtlSeconds' must be a whole number of seconds from 1 to 86400, got ${JSON.stringify(v)}`,
          );
        }
        config.maxFailoverTtlSeconds = v;
      } else if (key === "route53EndpointNames") {
        if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && x !== "")) {
          throw new PolicyConfigError(
            `policy config '${policy}.route53EndpointNames' must be a list of logical resource names, got ${JSON.stringify(v)}`,
          );
        }
        config.route53EndpointNames = [...v];
      }
    }
  }
  return { config, levels };
}
