/**
 * Every config key of the program, declared once: its type, default, bounds, example, the stacks
 * that read it and its description. stacks/config.ts validates through it (bounds and examples in
 * its errors), derives DEFAULTS, CONFIG_KEYS and the secret keys from it; tests/foundation/config.test.ts
 * keeps Pulumi.yaml's declarations and the README's key table equal to it (`renderConfigTable`).
 */

import type * as pulumi from "@pulumi/pulumi";
import { HEALTH_FACTORS } from "../functions/health/factors.js";
import { REPLICATION_LOG_LEVELS } from "../functions/replication/observability.js";

export const STACK_ROLES = ["primary", "secondary", "global"] as const;

/** Where a key is read: a stack's program, or only the operations tool (rto, drill, device library). */
export type KeyReader = (typeof STACK_ROLES)[number] | "tools";

export interface ConfigKeySpec {
  /** The type Pulumi.yaml declares. */
  type: "string" | "integer" | "boolean" | "array";
  /** The value used when the key is unset; none: unset means "not configured" (or required). */
  default?: string | number | boolean | readonly string[];
  /** Integers: the accepted range, inclusive. */
  min?: number;
  max?: number;
  /** Choices: the accepted values. */
  values?: readonly string[];
  /** Shown in errors as `pulumi config set iot-dr:<key> <example>`. */
  example?: string | number;
  /** Set with `pulumi config set --secret`; read with getSecret, never shown. */
  secret?: true;
  /** Who reads it. */
  stacks: readonly KeyReader[];
  /** Where parseConfig puts the value in DrConfig ("group.field"); absent: the key itself, at the top. */
  at?: `${string}.${string}`;
  /** The DrConfig field parseConfig builds from this key together with others; the key is not placed alone. */
  composed?: string;
  description: string;
}

const ALL = STACK_ROLES;
const REGIONAL = ["primary", "secondary"] as const;
const GLOBAL = ["global"] as const;

export const CONFIG_TABLE = {
  role: {
    type: "string",
    example: "primary",
    values: STACK_ROLES,
    stacks: ALL,
    description: "The stack's role: primary, secondary or global. Required in every stack file.",
  },
  primaryRegion: {
    type: "string",
    default: "us-east-1",
    example: "us-east-1",
    stacks: ALL,
    description: "Region that is active in normal operation.",
  },
  secondaryRegion: {
    type: "string",
    default: "us-west-2",
    example: "us-west-2",
    stacks: ALL,
    description: "Standby region; must differ from primaryRegion.",
  },
  iotAccountId: {
    type: "string",
    composed: "accounts",
    stacks: ALL,
    description: "12-digit id of the IoT services account (IoT Core, application services).",
  },
  commandControlAccountId: {
    type: "string",
    composed: "accounts",
    stacks: ALL,
    description: "12-digit id of the command & control account.",
  },
  analyticsAccountId: {
    type: "string",
    composed: "accounts",
    stacks: ALL,
    description: "12-digit id of the data analytics account.",
  },
  sharedServicesAccountId: {
    type: "string",
    composed: "accounts",
    stacks: ALL,
    description: "12-digit id of the shared-services account (Route 53, health checks, notifications).",
  },
  iotRoleArn: {
    type: "string",
    composed: "accounts",
    stacks: ALL,
    description:
      "Role to assume in the IoT services account; leave unset when deploying credentials act there.",
  },
  commandControlRoleArn: {
    type: "string",
    composed: "accounts",
    stacks: ALL,
    description: "Role to assume in the command & control account; unset for no assume-role.",
  },
  analyticsRoleArn: {
    type: "string",
    composed: "accounts",
    stacks: ALL,
    description: "Role to assume in the analytics account; unset for no assume-role.",
  },
  sharedServicesRoleArn: {
    type: "string",
    composed: "accounts",
    stacks: ALL,
    description: "Role to assume in the shared-services account; unset for no assume-role.",
  },
  assumeRoleExternalId: {
    type: "string",
    secret: true,
    stacks: ALL,
    description:
      "External id every assumed role requires (set with --secret); required when any role ARN is set.",
  },
  primaryStack: {
    type: "string",
    default: "primary",
    stacks: ALL,
    description:
      "Fully qualified name of the primary stack, read by secondary and global (e.g. acme/iot-dr/primary).",
  },
  secondaryStack: {
    type: "string",
    default: "secondary",
    stacks: GLOBAL,
    description: "Fully qualified name of the secondary stack, read by global.",
  },
  environment: {
    type: "string",
    default: "production",
    stacks: ALL,
    description: "Environment name put in the default tags of every resource.",
  },
  lambdaRuntime: {
    type: "string",
    default: "nodejs22.x",
    example: "nodejs22.x",
    values: ["nodejs22.x", "nodejs24.x"],
    stacks: ALL,
    description: "Lambda runtime of every function (nodejs22.x or nodejs24.x).",
  },
  logRetentionDays: {
    type: "integer",
    default: 30,
    min: 1,
    max: 3653,
    example: 30,
    stacks: ALL,
    description: "Retention of every log group, one of CloudWatch's periods.",
  },
  replicationBatchSize: {
    type: "integer",
    at: "replication.batchSize",
    default: 100,
    min: 1,
    max: 1000,
    example: 100,
    stacks: REGIONAL,
    description: "Stream records per launcher invocation (1-1000).",
  },
  replicationBatchWindowSeconds: {
    type: "integer",
    at: "replication.batchWindowSeconds",
    default: 1,
    min: 0,
    max: 300,
    example: 1,
    stacks: REGIONAL,
    description: "Seconds the stream mapping waits to fill a batch (0-300).",
  },
  replicationMaxRetries: {
    type: "integer",
    at: "replication.maxRetries",
    default: 3,
    min: 0,
    max: 10,
    example: 3,
    stacks: REGIONAL,
    description: "Retries of a failing stream batch before it goes to the dead-letter queue (0-10).",
  },
  replicationMaxRecordAgeSeconds: {
    type: "integer",
    at: "replication.maxRecordAgeSeconds",
    default: 21600,
    min: 60,
    max: 86400,
    example: 21600,
    stacks: REGIONAL,
    description:
      "Age after which a stream record goes to the dead-letter queue instead of being retried (60-86400).",
  },
  tombstoneRetentionDays: {
    type: "integer",
    at: "replication.tombstoneRetentionDays",
    default: 30,
    min: 1,
    max: 365,
    example: 30,
    stacks: REGIONAL,
    description: "Days a tombstone is kept before DynamoDB TTL may remove it (1-365).",
  },
  replicationLagAlarmSeconds: {
    type: "integer",
    at: "replication.lagAlarmSeconds",
    default: 60,
    min: 1,
    max: 3600,
    example: 60,
    stacks: REGIONAL,
    description: "Replication lag (p99) above which the lag alarm fires.",
  },
  replicationLogLevel: {
    type: "string",
    at: "replication.logLevel",
    default: "WARN",
    example: "INFO",
    values: REPLICATION_LOG_LEVELS,
    stacks: REGIONAL,
    description:
      "What capture, replay and the launcher log: WARN (errors, warnings and the lag metric) or INFO (also a line per record, billed by CloudWatch Logs).",
  },
  iotApiRates: {
    type: "array",
    at: "replication.iotApiRates",
    default: [],
    example: "CreateThing=50",
    stacks: REGIONAL,
    description:
      "Overrides of the IoT control-plane rates replay paces itself to, as Api=callsPerSecond (e.g. CreateThing=50).",
  },
  reconcileScheduleMinutes: {
    type: "integer",
    at: "reconcile.scheduleMinutes",
    default: 60,
    min: 5,
    max: 1440,
    example: 60,
    stacks: REGIONAL,
    description: "Period of the scheduled reconciler in minutes (5-1440).",
  },
  reconcileRepair: {
    type: "boolean",
    at: "reconcile.repair",
    default: false,
    example: "true",
    stacks: REGIONAL,
    description: "Whether the scheduled reconciler repairs drift (otherwise it only reports it).",
  },
  healthCheckIntervalSeconds: {
    type: "integer",
    at: "health.checkIntervalSeconds",
    default: 10,
    min: 10,
    max: 30,
    example: 10,
    stacks: ALL,
    description: "Route 53 health-check interval, 10 or 30 seconds.",
  },
  healthCheckFailureThreshold: {
    type: "integer",
    at: "health.failureThreshold",
    default: 3,
    min: 1,
    max: 10,
    example: 3,
    stacks: ALL,
    description: "Consecutive Route 53 check failures before a region is unhealthy (1-10).",
  },
  healthProbeDeadlineMs: {
    type: "integer",
    at: "health.probeDeadlineMs",
    default: 1500,
    min: 200,
    max: 1800,
    example: 1500,
    stacks: REGIONAL,
    description:
      "Hard deadline of the health-check function's answer in milliseconds (200-1800, under Route 53's 2 s).",
  },
  healthFailuresBeforeUnhealthy: {
    type: "integer",
    at: "health.failuresBeforeUnhealthy",
    default: 2,
    min: 1,
    max: 10,
    example: 2,
    stacks: REGIONAL,
    description:
      "Consecutive failed judgements of a factor before the health-check function reports it unhealthy.",
  },
  healthSuccessesBeforeHealthy: {
    type: "integer",
    at: "health.successesBeforeHealthy",
    default: 3,
    min: 1,
    max: 10,
    example: 3,
    stacks: REGIONAL,
    description: "Consecutive good judgements before an unhealthy factor is healthy again.",
  },
  criticalFactors: {
    type: "array",
    at: "health.criticalFactors",
    default: HEALTH_FACTORS,
    example: "iotBroker",
    stacks: REGIONAL,
    description:
      "Factors whose failure fails the region over (iotBroker, applicationServices, commandControl, analytics).",
  },
  readinessMaxLagSeconds: {
    type: "integer",
    at: "health.readinessMaxLagSeconds",
    default: 120,
    min: 1,
    max: 86400,
    example: 120,
    stacks: REGIONAL,
    description: "The standby is not ready while its replication lag is above this.",
  },
  readinessMaxDrift: {
    type: "integer",
    at: "health.readinessMaxDrift",
    default: 0,
    min: 0,
    max: 1000000,
    example: 0,
    stacks: REGIONAL,
    description: "The standby is not ready while the reconciler reports more drift than this.",
  },
  healthRoutingMode: {
    type: "string",
    at: "health.routingMode",
    default: "endpoint",
    example: "endpoint",
    values: ["endpoint", "alarm"],
    stacks: ALL,
    description:
      "How Route 53 judges a region: endpoint (HTTPS to the health-check function) or alarm (CloudWatch alarm checks).",
  },
  healthCheckPathSecret: {
    type: "string",
    at: "health.pathSecret",
    secret: true,
    stacks: REGIONAL,
    description:
      "Secret URL path segment (24-128 of A-Z a-z 0-9 _ -) Route 53 uses to reach the health-check function; set with --secret. Required by 'up' in endpoint mode.",
  },
  healthCheckpoints: {
    type: "string",
    at: "health.checkpoints",
    stacks: REGIONAL,
    description:
      'JSON object of extra checkpoints per account, e.g. {"iot":[{"name":"orders-api","type":"http","url":"https://orders.internal/health"}]} (types http, dynamodbTable, eventBus, mqttCanary, probe).',
  },
  deviceCertificateArn: {
    type: "string",
    at: "dns.deviceCertificateArn",
    stacks: REGIONAL,
    description:
      "ACM certificate of the device endpoint domain in the IoT account (same ARN pattern per region); unset to validate one in hostedZoneId.",
  },
  ccCertificateArn: {
    type: "string",
    at: "dns.ccCertificateArn",
    stacks: REGIONAL,
    description:
      "ACM certificate of the C&C API domain (<commandControlApiName>.<hostedZoneName>) in the C&C account, in this stack's region; unset to validate one in hostedZoneId.",
  },
  analyticsGlobalEndpointId: {
    type: "string",
    at: "analytics.globalEndpointId",
    stacks: REGIONAL,
    description:
      "Id of the EventBridge global endpoint (the global stack's output analyticsGlobalEndpointId, e.g. abcde.veo); set it on both regional stacks after the first global deploy. Unset, forwarders put device data on their own region's bus.",
  },
  applicationServices: {
    type: "string",
    stacks: ALL,
    description:
      'JSON object of the platform application deployed in both regions, e.g. {"appName":"orders","functions":{"api":{"codePath":"app/orders/dist","handler":"index.handler"}}} (optional per function: runtime, memoryMb, timeoutSeconds; optional probeKey). Unset: no application services.',
  },
  hostedZoneName: {
    type: "string",
    at: "dns.hostedZoneName",
    default: "example.com",
    stacks: ALL,
    description: "DNS zone of the device endpoint and C&C API records.",
  },
  hostedZoneId: {
    type: "string",
    at: "dns.hostedZoneId",
    stacks: ALL,
    description: "Id of an existing hosted zone for hostedZoneName; unset to create the zone.",
  },
  deviceEndpointName: {
    type: "string",
    at: "dns.deviceEndpointName",
    default: "devices",
    stacks: ALL,
    description: "Label of the device endpoint record (devices.<zone>).",
  },
  commandControlApiName: {
    type: "string",
    at: "dns.commandControlApiName",
    default: "cc",
    stacks: ALL,
    description: "Label of the C&C API record (cc.<zone>).",
  },
  failoverRecordTtlSeconds: {
    type: "integer",
    at: "dns.failoverRecordTtlSeconds",
    default: 60,
    min: 1,
    max: 3600,
    example: 60,
    stacks: ALL,
    description: "TTL of the failover records in seconds (1-3600).",
  },
  deviceConnectRatePerSecond: {
    type: "integer",
    at: "devices.connectRatePerSecond",
    default: 500,
    min: 1,
    max: 100000,
    example: 500,
    stacks: ["tools"],
    description: "Device connects per second the account admits (AWS default 500), for RTO estimates.",
  },
  deviceReresolveSeconds: {
    type: "integer",
    at: "devices.reresolveSeconds",
    default: 30,
    min: 1,
    max: 3600,
    example: 30,
    stacks: ["tools"],
    description: "How often connected devices re-resolve the endpoint.",
  },
  deviceNoticeSpreadSeconds: {
    type: "integer",
    at: "devices.noticeSpreadSeconds",
    default: 0,
    min: 0,
    max: 3600,
    example: 200,
    stacks: GLOBAL,
    description:
      "Window over which a fail-over notice spreads the fleet's moves (fleet size / deviceConnectRatePerSecond, e.g. 100,000 / 500 = 200); 0 leaves it to each device's own noticeSpreadMs.",
  },
  failoverNoticeTopic: {
    type: "string",
    at: "devices.failoverNoticeTopic",
    default: "dr/failover/notice",
    stacks: ALL,
    description: "MQTT topic on which the fail-over notice reaches connected devices in both regions.",
  },
  serverSideMove: {
    type: "boolean",
    composed: "serverSideMove",
    default: false,
    example: "true",
    stacks: ALL,
    description:
      "On fail-over, also close the failing region's device connections through IoT's DeleteConnection (from the healthy region, while the failing region's data plane answers), so devices reconnect through DNS. Plans a presence table and rule per region and a mover per region; set the same value on all three stacks.",
  },
  serverSideMoveRatePerSecond: {
    type: "integer",
    at: "serverSideMove.ratePerSecond",
    default: 100,
    min: 1,
    max: 100000,
    example: 100,
    stacks: GLOBAL,
    description:
      "Connections the server-side mover closes per second; at most deviceConnectRatePerSecond (each is a connect in the target region, next to devices moving on their own).",
  },
  notificationEmail: {
    type: "string",
    stacks: ALL,
    description: "E-mail subscribed to the fail-over and alarm notifications; unset for none.",
  },
  ccAllowedPolicies: {
    type: "array",
    at: "commandControl.allowedPolicies",
    default: ["iot-dr-device"],
    example: "iot-dr-device",
    stacks: REGIONAL,
    description: "IoT policies the C&C API may attach to onboarded devices.",
  },
  oamSinkArn: {
    type: "string",
    at: "observability.sinkArn",
    stacks: REGIONAL,
    description:
      "OAM sink that the shared-services account already has in this stack's region (an account has one per region); the links go to it and no sink or sink policy is created. Its policy must admit the IoT, C&C and analytics accounts for metrics (iot-dr preflight checks). Unset, the stack creates the sink.",
  },
  oamLinkLabelTemplate: {
    type: "string",
    at: "observability.linkLabelTemplate",
    stacks: REGIONAL,
    description: "Label template of the OAM links (e.g. '$AccountName'); unset, 'iot-dr <roles>'.",
  },
} as const satisfies Record<string, ConfigKeySpec>;

export type ConfigKey = keyof typeof CONFIG_TABLE;

type Table = typeof CONFIG_TABLE;

/**
 * A key's value as the table declares it: one of its values, a number, a flag, a list or text (a
 * secret may be a Pulumi output); `undefined` allowed when the key has no default.
 */
export type TableValue<K extends ConfigKey> =
  | (Table[K] extends { values: readonly (infer V)[] }
      ? V
      : Table[K]["type"] extends "integer"
        ? number
        : Table[K]["type"] extends "boolean"
          ? boolean
          : Table[K]["type"] extends "array"
            ? string[]
            : Table[K] extends { secret: true }
              ? pulumi.Input<string>
              : string)
  | (Table[K] extends { default: unknown } ? never : undefined);

type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** Fields whose value may be undefined become optional. */
type Fields<M> = Simplify<
  { [F in keyof M as undefined extends M[F] ? never : F]: M[F] } & {
    [F in keyof M as undefined extends M[F] ? F : never]?: Exclude<M[F], undefined>;
  }
>;
type PlacedKey = { [K in ConfigKey]: Table[K] extends { composed: string } ? never : K }[ConfigKey];
type GroupName = { [K in ConfigKey]: Table[K] extends { at: `${infer G}.${string}` } ? G : never }[ConfigKey];
type ValueOf<K extends ConfigKey, P> = K extends keyof P ? P[K] : TableValue<K>;

/**
 * The validated config as the table places it (`at`), each value typed by the table unless `P`
 * (the keys parseConfig transforms) says otherwise. stacks/config.ts derives DrConfig from it.
 */
export type TableConfig<P> = Simplify<
  Fields<{ [K in PlacedKey as Table[K] extends { at: string } ? never : K]: ValueOf<K, P> }> & {
    [G in GroupName]: Fields<{
      [K in PlacedKey as Table[K] extends { at: `${G}.${infer F}` } ? F : never]: ValueOf<K, P>;
    }>;
  }
>;

const cell = (s: string) => s.replace(/\|/g, "\\|");
const shown = (v: ConfigKeySpec["default"]) =>
  v === undefined
    ? "—"
    : Array.isArray(v)
      ? v.length
        ? v.map((x) => `\`${x}\``).join(", ")
        : "none"
      : `\`${String(v)}\``;

/** The README's table of config keys (between its `config-keys` markers), one row per key. */
export function renderConfigTable(): string {
  const rows = (Object.entries(CONFIG_TABLE) as [string, ConfigKeySpec][]).map(([key, spec]) => {
    const range =
      spec.min !== undefined
        ? ` (${spec.min}–${spec.max})`
        : spec.values
          ? ` (${spec.values.join(", ")})`
          : "";
    const name = `\`${key}\`${spec.secret ? " (secret)" : ""}`;
    return `| ${name} | ${spec.type}${range} | ${shown(spec.default)} | ${spec.stacks.join(", ")} | ${cell(spec.description)} |`;
  });
  return ["| key | type | default | read by | meaning |", "| --- | --- | --- | --- | --- |", ...rows].join(
    "\n",
  );
}
