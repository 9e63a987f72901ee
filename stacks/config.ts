/**
 * The stack's configuration, read once and validated before any resource is registered.
 * Every key is declared once in stacks/configKeys.ts (type, default, bounds, example, description;
 * Pulumi.yaml is checked against it); this module is the only reader of pulumi.Config. `parseConfig` is pure so the CLI can validate stack files offline.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { HEALTH_FACTORS, type HealthFactor } from "../functions/health/factors.js";
import { parseCheckpointSpecs, type CheckpointSpec } from "../functions/health/probes.js";

export const PROJECT = "iot-dr";

import {
  CONFIG_TABLE,
  STACK_ROLES,
  type ConfigKey,
  type ConfigKeySpec,
  type TableConfig,
} from "./configKeys.js";

export { STACK_ROLES };
export type StackRole = (typeof STACK_ROLES)[number];

/** Regions where AWS IoT Core is available (commercial partition). */
export const IOT_REGIONS = [
  "us-east-1",
  "us-east-2",
  "us-west-1",
  "us-west-2",
  "ca-central-1",
  "sa-east-1",
  "eu-west-1",
  "eu-west-2",
  "eu-west-3",
  "eu-central-1",
  "eu-north-1",
  "eu-south-1",
  "me-central-1",
  "me-south-1",
  "ap-east-1",
  "ap-south-1",
  "ap-northeast-1",
  "ap-northeast-2",
  "ap-southeast-1",
  "ap-southeast-2",
] as const;

export const ACCOUNTS = ["iot", "commandControl", "analytics", "sharedServices"] as const;
export type AccountName = (typeof ACCOUNTS)[number];

export { HEALTH_FACTORS, type HealthFactor };

export const CHECKPOINT_ACCOUNTS = ["iot", "commandControl", "analytics"] as const;
export type CheckpointAccount = (typeof CHECKPOINT_ACCOUNTS)[number];

export interface AccountConfig {
  /** 12-digit AWS account id. */
  id: string;
  /** Role to assume in the account; absent when the deploying credentials already act in it. */
  roleArn?: string;
}

/** Keys parseConfig transforms: their value is not the type stacks/configKeys.ts declares. */
interface ParsedValues {
  /** Required: falls back to the stack's name. */
  role: StackRole;
  /** Calls per second per IoT API, overriding the AWS defaults. */
  iotApiRates: Record<string, number>;
  healthCheckIntervalSeconds: 10 | 30;
  criticalFactors: HealthFactor[];
  /** Extra checkpoints each account's health API runs; none: {}. */
  healthCheckpoints: Partial<Record<CheckpointAccount, CheckpointSpec[]>>;
  applicationServices: ApplicationServicesConfig | undefined;
}
type FromTable = TableConfig<ParsedValues>;

/**
 * The validated config. Each key is declared once in stacks/configKeys.ts: its place here (`at`)
 * and its type come from there; only the values parseConfig transforms (ParsedValues) or composes
 * from several keys (accounts, the optional observability and serverSideMove groups) are typed here.
 */
export type DrConfig = Omit<FromTable, "observability" | "serverSideMove"> & {
  stack: string;
  accounts: Record<AccountName, AccountConfig>;
  /** Cross-account metrics (infra/observability.ts): an existing OAM sink of this stack's region, the links' label. */
  observability?: ObservabilityConfig;
  /** The server-side move on fail-over (infra/serverSideMover.ts); absent: not planned. */
  serverSideMove?: ServerSideMoveConfig;
};

/** `serverSideMove`, `serverSideMoveRatePerSecond` (issue #16, item 3). */
export type ServerSideMoveConfig = FromTable["serverSideMove"];

/** `oamSinkArn`, `oamLinkLabelTemplate` (issue #17): for a shared-services account that is already a monitoring account. */
export type ObservabilityConfig = FromTable["observability"];

/** `applicationServices`: the team's application, deployed in both regions with its data replicated. */
export interface ApplicationServicesConfig {
  /** Short name (2-32 lower-case letters, digits, '-'): names the table, buckets and access point. */
  appName: string;
  /** The team's functions by key: a directory of built code (relative to the project) and its handler. */
  functions: Record<
    string,
    { codePath: string; handler: string; runtime?: string; memoryMb?: number; timeoutSeconds?: number }
  >;
  /** The item key the health API's read probe reads; default `{ "pk": "iot-dr#health", "sk": "probe" }`. */
  probeKey?: Record<string, string>;
}

/** The error raised for invalid configuration: one message naming the key, the problem and an example. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly key: string,
    problem: string,
    example: string,
    /** Replaces the "Example: pulumi config set ..." sentence where setting this key is not the fix. */
    fix?: string,
  ) {
    super(
      `Invalid config ${PROJECT}:${key}: ${problem}. ${fix ?? `Example: pulumi config set ${PROJECT}:${key} ${example}`}`,
    );
  }
}

/** Account ids the shipped example files use; accepted by previews and mocks, refused by `up`. */
export function isPlaceholderAccountId(id: string): boolean {
  return /^(\d)\1{11}$/.test(id) || id === "123456789012";
}

type Raw = Record<string, unknown>;

const intIn = (key: string, min: number, max: number, example: number) => (v: unknown) => {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(
      key,
      `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`,
      String(example),
    );
  }
  return n;
};

function bool(key: string) {
  return (v: unknown) => {
    if (v === true || v === "true") return true;
    if (v === false || v === "false") return false;
    throw new ConfigError(key, `must be true or false, got ${JSON.stringify(v)}`, "true");
  };
}

/**
 * A list or mapping key's value: YAML gives it structured, `pulumi up` as its JSON text. Text that
 * is not JSON fails with `problem` (a ConfigError on `key` showing `example`).
 */
function fromJsonText(v: unknown, key: string, problem: string, example: string): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    throw new ConfigError(key, problem, example);
  }
}

function stringList(key: string, example: string) {
  return (v: unknown): string[] => {
    const problem = `must be a list of strings, got ${JSON.stringify(v)}`;
    const pathExample = `--path '${key}[0]' ${example}`;
    const parsed = z.array(z.string().min(1)).safeParse(fromJsonText(v, key, problem, pathExample));
    if (!parsed.success) throw new ConfigError(key, problem, pathExample);
    return parsed.data;
  };
}

function oneOf<T extends string>(key: string, values: readonly T[], example: T) {
  return (v: unknown): T => {
    if (typeof v !== "string" || !values.includes(v as T)) {
      throw new ConfigError(key, `must be one of ${values.join(", ")}, got ${JSON.stringify(v)}`, example);
    }
    return v as T;
  };
}

function region(key: string, example: string) {
  return (v: unknown): string => {
    if (typeof v !== "string" || v === "") throw new ConfigError(key, "is required (an AWS region)", example);
    if (!(IOT_REGIONS as readonly string[]).includes(v)) {
      throw new ConfigError(key, `'${v}' is not a region where AWS IoT Core is available`, example);
    }
    return v;
  };
}

function accountId(key: string, example: string) {
  return (v: unknown): string => {
    if (v === undefined || v === "")
      throw new ConfigError(key, "is required (the 12-digit AWS account id)", example);
    if (typeof v === "number" && Number.isInteger(v) && v > 0 && String(v).length < 12)
      throw new ConfigError(
        key,
        `reads as the number ${v}: YAML drops the leading zero of an unquoted ${"0".repeat(12 - String(v).length)}${v}; quote it`,
        `'${String(v).padStart(12, "0")}'`,
      );
    if (typeof v === "object" && v !== null)
      throw new ConfigError(key, `must be a 12-digit AWS account id, got ${JSON.stringify(v)}`, example);
    const s = String(v);
    if (!/^\d{12}$/.test(s))
      throw new ConfigError(key, `must be a 12-digit AWS account id, got '${s}'`, example);
    return s;
  };
}

/**
 * A text key's value: a string (or a number/boolean YAML read from an unquoted scalar), never a
 * list or mapping. Under `pulumi up` a YAML list or mapping arrives as its JSON text, so JSON text
 * of an array or object is refused too: no text key takes one.
 */
function optionalString(v: unknown, key: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  let structured = typeof v === "object";
  if (typeof v === "string" && /^\s*[[{]/.test(v)) {
    try {
      structured = typeof JSON.parse(v) === "object";
    } catch {
      // text that merely starts with a bracket is checked by the key's own format
    }
  }
  if (structured || typeof v !== "string")
    throw new ConfigError(
      key,
      `must be text, got ${Array.isArray(v) || (typeof v === "string" && v.trim().startsWith("[")) ? "a list" : "a mapping"} (${typeof v === "string" ? v : JSON.stringify(v)})`,
      typeof DEFAULTS[key] === "string" ? String(DEFAULTS[key]) : "<text>",
    );
  return v;
}

const SPECS = CONFIG_TABLE as Record<ConfigKey, ConfigKeySpec>;

/** Defaults of the keys that have one (stacks/configKeys.ts; Pulumi.yaml declares the same). */
export const DEFAULTS: Readonly<Record<string, unknown>> = Object.fromEntries(
  Object.entries(SPECS).flatMap(([key, spec]) => (spec.default === undefined ? [] : [[key, spec.default]])),
);

/** An integer key, within its bounds (stacks/configKeys.ts). */
const int = (key: ConfigKey, v: unknown): number => {
  const { min, max, example } = SPECS[key];
  if (min === undefined || max === undefined)
    throw new Error(`config key ${key} declares no bounds in stacks/configKeys.ts`);
  return intIn(key, min, max, Number(example ?? min))(v);
};
/** A key with a fixed set of values (stacks/configKeys.ts). */
const choice = <T extends string>(key: ConfigKey, v: unknown): T => {
  const { values, example } = SPECS[key];
  if (!values) throw new Error(`config key ${key} declares no values in stacks/configKeys.ts`);
  return oneOf(key, values as readonly T[], String(example ?? values[0]) as T)(v);
};
/** A list-of-text key, its example from the table. */
const list = (key: ConfigKey, v: unknown): string[] => stringList(key, String(SPECS[key].example))(v);

const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653];

export interface ParseOptions {
  /** The stack's name, e.g. "primary". */
  stack: string;
  /** True in previews and mocks: placeholder account ids are accepted then. */
  dryRun: boolean;
}

/**
 * Validates raw config values (strings as Pulumi stores them, or YAML values) into a DrConfig.
 * Throws ConfigError naming the first invalid key.
 */
export function parseConfig(raw: Raw, options: ParseOptions): DrConfig {
  const get = (key: string): unknown => {
    const v = raw[key];
    return v === undefined || v === null ? DEFAULTS[key] : v;
  };
  /** A text key with its default. */
  const text = (key: string): string => optionalString(get(key), key) ?? String(get(key));

  const role = oneOf("role", STACK_ROLES, "primary")(raw.role ?? options.stack);
  const primaryRegion = region("primaryRegion", String(SPECS.primaryRegion.example))(get("primaryRegion"));
  const secondaryRegion = region(
    "secondaryRegion",
    String(SPECS.secondaryRegion.example),
  )(get("secondaryRegion"));
  if (primaryRegion === secondaryRegion) {
    throw new ConfigError(
      "secondaryRegion",
      `must differ from ${PROJECT}:primaryRegion (both are ${primaryRegion})`,
      primaryRegion === "us-west-2" ? "us-east-1" : "us-west-2",
    );
  }

  const { accounts, assumeRoleExternalId } = parseAccounts(raw, options.dryRun);

  const iotApiRates: Record<string, number> = {};
  for (const entry of list("iotApiRates", get("iotApiRates"))) {
    const m = /^([A-Z][A-Za-z]+)=(\d+(?:\.\d+)?)$/.exec(entry);
    if (!m || Number(m[2]) <= 0) {
      throw new ConfigError(
        "iotApiRates",
        `entry '${entry}' must look like <IotApiName>=<calls per second>`,
        "--path 'iotApiRates[0]' CreateThing=50",
      );
    }
    iotApiRates[m[1]] = Number(m[2]);
  }

  const logRetentionDays = int("logRetentionDays", get("logRetentionDays"));
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays)) {
    throw new ConfigError(
      "logRetentionDays",
      `must be one of CloudWatch's retention periods (${LOG_RETENTION_DAYS.join(", ")})`,
      "30",
    );
  }

  const health = parseHealth(raw, get);
  const dns = parseDns(raw, get, text);
  const globalEndpointId = optionalString(raw.analyticsGlobalEndpointId, "analyticsGlobalEndpointId");
  if (globalEndpointId !== undefined && !/^[A-Za-z0-9-]+\.[A-Za-z0-9]+$/.test(globalEndpointId)) {
    throw new ConfigError(
      "analyticsGlobalEndpointId",
      `must be an EventBridge global endpoint id like 'abcde.veo' (the global stack's output analyticsGlobalEndpointId), got '${globalEndpointId}'`,
      "abcde.veo",
    );
  }
  const applicationServices = parseApplicationServices(raw.applicationServices);

  const notificationEmail = optionalString(raw.notificationEmail, "notificationEmail");
  if (notificationEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(notificationEmail)) {
    throw new ConfigError(
      "notificationEmail",
      `must be an e-mail address, got '${notificationEmail}'`,
      "oncall@example.com",
    );
  }
  const topic = text("failoverNoticeTopic");
  if (topic === "" || /[#+]/.test(topic) || topic.startsWith("$")) {
    throw new ConfigError(
      "failoverNoticeTopic",
      `must be a plain MQTT topic without wildcards or '$', got '${topic}'`,
      "dr/failover/notice",
    );
  }

  return {
    stack: options.stack,
    role,
    primaryRegion,
    secondaryRegion,
    accounts,
    assumeRoleExternalId,
    primaryStack: text("primaryStack"),
    secondaryStack: text("secondaryStack"),
    environment: text("environment"),
    lambdaRuntime: choice("lambdaRuntime", get("lambdaRuntime")),
    logRetentionDays,
    replication: {
      batchSize: int("replicationBatchSize", get("replicationBatchSize")),
      batchWindowSeconds: int("replicationBatchWindowSeconds", get("replicationBatchWindowSeconds")),
      maxRetries: int("replicationMaxRetries", get("replicationMaxRetries")),
      maxRecordAgeSeconds: int("replicationMaxRecordAgeSeconds", get("replicationMaxRecordAgeSeconds")),
      tombstoneRetentionDays: int("tombstoneRetentionDays", get("tombstoneRetentionDays")),
      lagAlarmSeconds: int("replicationLagAlarmSeconds", get("replicationLagAlarmSeconds")),
      iotApiRates,
      logLevel: choice("replicationLogLevel", get("replicationLogLevel")),
    },
    reconcile: {
      scheduleMinutes: int("reconcileScheduleMinutes", get("reconcileScheduleMinutes")),
      repair: bool("reconcileRepair")(get("reconcileRepair")),
    },
    health,
    dns,
    devices: {
      connectRatePerSecond: int("deviceConnectRatePerSecond", get("deviceConnectRatePerSecond")),
      reresolveSeconds: int("deviceReresolveSeconds", get("deviceReresolveSeconds")),
      noticeSpreadSeconds: int("deviceNoticeSpreadSeconds", get("deviceNoticeSpreadSeconds")),
      failoverNoticeTopic: topic,
    },
    notificationEmail,
    commandControl: {
      allowedPolicies: list("ccAllowedPolicies", get("ccAllowedPolicies")),
    },
    analytics: globalEndpointId !== undefined ? { globalEndpointId } : {},
    ...(applicationServices !== undefined ? { applicationServices } : {}),
    ...parseObservability(raw, role, role === "secondary" ? secondaryRegion : primaryRegion, accounts),
    ...parseServerSideMove(get),
  };
}

/** The four accounts (id, optional role to assume) and the external id every assumed role demands. */
function parseAccounts(
  raw: Raw,
  dryRun: boolean,
): { accounts: Record<AccountName, AccountConfig>; assumeRoleExternalId: string | undefined } {
  const examples: Record<AccountName, string> = {
    iot: "111111111111",
    commandControl: "222222222222",
    analytics: "333333333333",
    sharedServices: "444444444444",
  };
  const accounts = {} as Record<AccountName, AccountConfig>;
  for (const name of ACCOUNTS) {
    const idKey = `${name}AccountId`;
    const id = accountId(idKey, examples[name])(raw[idKey]);
    if (!dryRun && isPlaceholderAccountId(id)) {
      throw new ConfigError(
        idKey,
        `'${id}' is the example placeholder; set your real account id before 'up'`,
        "<your 12-digit account id>",
      );
    }
    const roleKey = `${name}RoleArn`;
    const roleArn = optionalString(raw[roleKey], roleKey);
    if (roleArn !== undefined) {
      const m = /^arn:aws[a-z-]*:iam::(\d{12}):role\/[\w+=,.@/-]+$/.exec(roleArn);
      if (!m) {
        throw new ConfigError(
          roleKey,
          `must be an IAM role ARN, got '${roleArn}'`,
          `arn:aws:iam::${id}:role/iot-dr-deployer`,
        );
      }
      if (m[1] !== id) {
        throw new ConfigError(
          roleKey,
          `names account ${m[1]} but ${PROJECT}:${idKey} is ${id}`,
          `arn:aws:iam::${id}:role/iot-dr-deployer`,
        );
      }
    }
    accounts[name] = roleArn ? { id, roleArn } : { id };
  }
  const assumeRoleExternalId = optionalString(raw.assumeRoleExternalId, "assumeRoleExternalId");
  if (ACCOUNTS.some((a) => accounts[a].roleArn) && !assumeRoleExternalId) {
    throw new ConfigError(
      "assumeRoleExternalId",
      "is required when any <account>RoleArn is set (every assumed role demands an external id)",
      "--secret <a long random string>",
    );
  }
  return { accounts, assumeRoleExternalId };
}

/** The health check's timing, policy, readiness gate, routing mode, path secret and extra checkpoints. */
function parseHealth(raw: Raw, get: (key: string) => unknown): DrConfig["health"] {
  const interval = int("healthCheckIntervalSeconds", get("healthCheckIntervalSeconds"));
  if (interval !== 10 && interval !== 30) {
    throw new ConfigError(
      "healthCheckIntervalSeconds",
      `Route 53 checks every 10 or 30 seconds, got ${interval}`,
      "10",
    );
  }
  const criticalFactors = list("criticalFactors", get("criticalFactors"));
  for (const f of criticalFactors) {
    if (!(HEALTH_FACTORS as readonly string[]).includes(f)) {
      throw new ConfigError(
        "criticalFactors",
        `unknown factor '${f}' (known: ${HEALTH_FACTORS.join(", ")})`,
        "--path 'criticalFactors[0]' iotBroker",
      );
    }
  }

  const checkpoints = parseCheckpoints(raw.healthCheckpoints);
  const pathSecret = optionalString(raw.healthCheckPathSecret, "healthCheckPathSecret");
  if (pathSecret !== undefined && pathSecret !== "<secret>" && !/^[A-Za-z0-9_-]{24,128}$/.test(pathSecret)) {
    throw new ConfigError(
      "healthCheckPathSecret",
      "must be 24 to 128 letters, digits, '_' or '-' (it is a URL path segment only Route 53 knows)",
      "--secret <32 random letters and digits>",
    );
  }
  return {
    checkIntervalSeconds: interval,
    failureThreshold: int("healthCheckFailureThreshold", get("healthCheckFailureThreshold")),
    probeDeadlineMs: int("healthProbeDeadlineMs", get("healthProbeDeadlineMs")),
    failuresBeforeUnhealthy: int("healthFailuresBeforeUnhealthy", get("healthFailuresBeforeUnhealthy")),
    successesBeforeHealthy: int("healthSuccessesBeforeHealthy", get("healthSuccessesBeforeHealthy")),
    criticalFactors: criticalFactors as HealthFactor[],
    readinessMaxLagSeconds: int("readinessMaxLagSeconds", get("readinessMaxLagSeconds")),
    readinessMaxDrift: int("readinessMaxDrift", get("readinessMaxDrift")),
    routingMode: choice("healthRoutingMode", get("healthRoutingMode")),
    ...(pathSecret !== undefined ? { pathSecret } : {}),
    checkpoints,
  };
}

/** The hosted zone, the device and C&C names in it, the fail-over record TTL and the domains' certificates. */
function parseDns(raw: Raw, get: (key: string) => unknown, text: (key: string) => string): DrConfig["dns"] {
  const deviceCertificateArn = optionalString(raw.deviceCertificateArn, "deviceCertificateArn");
  if (
    deviceCertificateArn !== undefined &&
    !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[\w-]+$/.test(deviceCertificateArn)
  ) {
    throw new ConfigError(
      "deviceCertificateArn",
      `must be an ACM certificate ARN, got '${deviceCertificateArn}'`,
      "arn:aws:acm:us-east-1:111111111111:certificate/0a1b2c3d-...",
    );
  }

  const acmArn = (key: string) => {
    const arn = optionalString(raw[key], key);
    if (arn !== undefined && !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[\w-]+$/.test(arn)) {
      throw new ConfigError(
        key,
        `must be an ACM certificate ARN, got '${arn}'`,
        "arn:aws:acm:us-east-1:222222222222:certificate/0a1b2c3d-...",
      );
    }
    return arn;
  };
  const ccCertificateArn = acmArn("ccCertificateArn");
  const zoneName = text("hostedZoneName");
  if (!/^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+\.?$/.test(zoneName)) {
    throw new ConfigError(
      "hostedZoneName",
      `must be a DNS domain name, got '${zoneName}'`,
      "iot.example.com",
    );
  }
  const label = (key: string) => {
    const v = text(key);
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(v)) {
      throw new ConfigError(key, `must be one DNS label (a-z, 0-9, '-'), got '${v}'`, String(DEFAULTS[key]));
    }
    return v;
  };
  return {
    hostedZoneName: zoneName.replace(/\.$/, ""),
    hostedZoneId: optionalString(raw.hostedZoneId, "hostedZoneId"),
    deviceEndpointName: label("deviceEndpointName"),
    commandControlApiName: label("commandControlApiName"),
    failoverRecordTtlSeconds: int("failoverRecordTtlSeconds", get("failoverRecordTtlSeconds")),
    ...(deviceCertificateArn !== undefined ? { deviceCertificateArn } : {}),
    ...(ccCertificateArn !== undefined ? { ccCertificateArn } : {}),
  };
}

/** `serverSideMove` (off by default) and its pace, which must fit the target region's connect rate. */
function parseServerSideMove(get: (key: string) => unknown): { serverSideMove?: ServerSideMoveConfig } {
  if (!bool("serverSideMove")(get("serverSideMove"))) return {};
  const connectRate = int("deviceConnectRatePerSecond", get("deviceConnectRatePerSecond"));
  const ratePerSecond = int("serverSideMoveRatePerSecond", get("serverSideMoveRatePerSecond"));
  if (ratePerSecond > connectRate)
    throw new ConfigError(
      "serverSideMoveRatePerSecond",
      `is ${ratePerSecond}, above iot-dr:deviceConnectRatePerSecond (${connectRate}): every closed connection is a connect in the target region, so the mover must stay within its connect quota`,
      String(Math.max(1, Math.floor(connectRate / 2))),
    );
  return { serverSideMove: { ratePerSecond } };
}

/** `oamSinkArn` and `oamLinkLabelTemplate`: an existing sink must be shared services' own, in this stack's region. */
function parseObservability(
  raw: Raw,
  role: StackRole,
  region: string,
  accounts: Record<AccountName, AccountConfig>,
): { observability?: ObservabilityConfig } {
  const sinkArn = optionalString(raw.oamSinkArn, "oamSinkArn");
  const linkLabelTemplate = optionalString(raw.oamLinkLabelTemplate, "oamLinkLabelTemplate");
  const shared = accounts.sharedServices.id;
  const example = `arn:aws:oam:${region}:${shared}:sink/<sink id>`;
  if (sinkArn !== undefined) {
    if (role === "global") {
      throw new ConfigError(
        "oamSinkArn",
        "belongs on the primary and secondary stacks (the sink is regional)",
        example,
      );
    }
    const m = /^arn:aws[a-z-]*:oam:([a-z0-9-]+):(\d{12}):sink\/[\w-]+$/.exec(sinkArn);
    if (!m) throw new ConfigError("oamSinkArn", `must be an OAM sink ARN, got '${sinkArn}'`, example);
    if (m[1] !== region)
      throw new ConfigError(
        "oamSinkArn",
        `names a sink in ${m[1]} but this stack runs in ${region}`,
        example,
      );
    if (m[2] !== shared)
      throw new ConfigError(
        "oamSinkArn",
        `names a sink of account ${m[2]} but the dashboards live in shared services (${PROJECT}:sharedServicesAccountId ${shared})`,
        example,
      );
  }
  if (linkLabelTemplate !== undefined && linkLabelTemplate.length > 64) {
    throw new ConfigError("oamLinkLabelTemplate", "must be at most 64 characters", "'$AccountName'");
  }
  if (sinkArn === undefined && linkLabelTemplate === undefined) return {};
  return {
    observability: {
      ...(sinkArn !== undefined ? { sinkArn } : {}),
      ...(linkLabelTemplate !== undefined ? { linkLabelTemplate } : {}),
    },
  };
}

const appServicesSchema = z.strictObject({
  appName: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$/, "must be 2-32 lower-case letters, digits or '-'"),
  functions: z.record(
    z.string().regex(/^[A-Za-z0-9-]{1,40}$/, "function keys must be 1-40 letters, digits or '-'"),
    z.strictObject({
      codePath: z.string().min(1),
      handler: z.string().regex(/^[\w./-]+\.[A-Za-z_$][\w$]*$/, "must look like index.handler"),
      runtime: z.enum(["nodejs22.x", "nodejs24.x"]).optional(),
      memoryMb: z.number().int().min(128).max(10240).optional(),
      timeoutSeconds: z.number().int().min(1).max(900).optional(),
    }),
  ),
  probeKey: z.record(z.string().min(1), z.string().min(1)).optional(),
});

/** `applicationServices`: a JSON object (or YAML mapping) describing the team's application. */
function parseApplicationServices(value: unknown): ApplicationServicesConfig | undefined {
  const example = `'{"appName":"orders","functions":{"api":{"codePath":"app/orders/dist","handler":"index.handler"}}}'`;
  if (value === undefined || value === null || value === "") return undefined;
  const parsed = fromJsonText(value, "applicationServices", "must be a JSON object", example);
  const result = appServicesSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue.path.length > 0 ? issue.path.join(".") : "(the object)";
    throw new ConfigError("applicationServices", `${where}: ${issue.message}`, example);
  }
  return result.data;
}

/** `healthCheckpoints`: a JSON object (or YAML mapping) of checkpoint lists per account. */
function parseCheckpoints(value: unknown): Partial<Record<CheckpointAccount, CheckpointSpec[]>> {
  const example = `'{"iot":[{"name":"orders-api","type":"http","url":"https://orders.internal/health"}]}'`;
  if (value === undefined || value === null || value === "") return {};
  const parsed = fromJsonText(
    value,
    "healthCheckpoints",
    "must be a JSON object of checkpoint lists per account",
    example,
  );
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      "healthCheckpoints",
      "must be an object keyed by iot, commandControl or analytics",
      example,
    );
  }
  const out: Partial<Record<CheckpointAccount, CheckpointSpec[]>> = {};
  for (const [account, list] of Object.entries(parsed)) {
    if (!(CHECKPOINT_ACCOUNTS as readonly string[]).includes(account)) {
      throw new ConfigError(
        "healthCheckpoints",
        `unknown account '${account}' (use ${CHECKPOINT_ACCOUNTS.join(", ")})`,
        example,
      );
    }
    try {
      out[account as CheckpointAccount] = parseCheckpointSpecs(list);
    } catch (err) {
      throw new ConfigError("healthCheckpoints", `${account}: ${(err as Error).message}`, example);
    }
  }
  return out;
}

/** Keys that hold secrets: set with `pulumi config set --secret`, read with getSecret, never shown. */
export const SECRET_CONFIG_KEYS: readonly ConfigKey[] = (Object.keys(SPECS) as ConfigKey[]).filter(
  (key) => SPECS[key].secret,
);

/** Every key parseConfig reads (stacks/configKeys.ts); `pulumi config` keys outside it are reported as unknown. */
export const CONFIG_KEYS: readonly string[] = Object.keys(SPECS);

/** Reads the running stack's config once. Throws ConfigError before any resource is registered. */
export function loadConfig(): DrConfig {
  const prefix = `${PROJECT}:`;
  checkKnownKeys(
    Object.keys(pulumi.runtime.allConfig())
      .filter((k) => k.startsWith(prefix))
      .map((k) => k.slice(prefix.length)),
  );
  const cfg = new pulumi.Config(PROJECT);
  const raw: Raw = {};
  for (const key of CONFIG_KEYS) {
    if ((SECRET_CONFIG_KEYS as readonly string[]).includes(key)) continue;
    const v = cfg.get(key);
    if (v !== undefined) raw[key] = v;
  }
  // Secrets stay secret outputs; the parser only learns that they are set.
  const externalId = cfg.getSecret("assumeRoleExternalId");
  if (externalId !== undefined) raw.assumeRoleExternalId = "<secret>";
  const pathSecret = cfg.getSecret("healthCheckPathSecret");
  if (pathSecret !== undefined) raw.healthCheckPathSecret = "<secret>";
  warnPlainTextSecrets(pulumi.getStack());
  const config = parseConfig(raw, { stack: pulumi.getStack(), dryRun: pulumi.runtime.isDryRun() });
  return {
    ...config,
    assumeRoleExternalId: externalId,
    health: { ...config.health, ...(pathSecret !== undefined ? { pathSecret } : {}) },
  };
}

/**
 * The secret keys set in plain text in the stack file: the engine passes the program the list of
 * encrypted (`secure:`) keys, so a set secret key missing from it is plain text.
 */
export function plainTextSecretKeys(
  isSet: (key: string) => boolean,
  isEncrypted: (fullKey: string) => boolean,
): string[] {
  return SECRET_CONFIG_KEYS.filter((key) => isSet(key) && !isEncrypted(`${PROJECT}:${key}`));
}

/** Under `pulumi up`/`preview`: one warning per plain-text secret, naming the key and the fix. */
export function warnPlainTextSecrets(stack: string): void {
  // isConfigSecret is the runtime's own reading of PULUMI_CONFIG_SECRET_KEYS (exported, marked internal).
  const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean })
    .isConfigSecret;
  if (!isConfigSecret) return;
  // getConfig, not Config.get: reading a secret with get draws the engine's own warning.
  const isSet = (k: string) => pulumi.runtime.getConfig(`${PROJECT}:${k}`) !== undefined;
  for (const key of plainTextSecretKeys(isSet, isConfigSecret))
    void pulumi.log.warn(
      `${PROJECT}:${key} is a secret stored in plain text in Pulumi.${stack}.yaml; ` +
        `encrypt it: pulumi config set --secret ${PROJECT}:${key} <value>`,
    );
}

/** Throws ConfigError for a key of this project that no part of the program reads (usually a typo). */
export function checkKnownKeys(keys: Iterable<string>): void {
  for (const key of keys) {
    if (!CONFIG_KEYS.includes(key)) {
      const close = CONFIG_KEYS.find(
        (k) => k.toLowerCase() === key.toLowerCase() || editDistance(k, key) <= 2,
      );
      throw new ConfigError(
        key,
        `is not a known key${close ? ` (did you mean ${PROJECT}:${close}?)` : ""}; see Pulumi.yaml`,
        "",
        close
          ? `Fix: pulumi config rm ${PROJECT}:${key} && pulumi config set ${PROJECT}:${close} <value>`
          : `Fix: pulumi config rm ${PROJECT}:${key} (the known keys are listed in Pulumi.yaml)`,
      );
    }
  }
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}
