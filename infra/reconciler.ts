/* eslint-disable @typescript-eslint/no-require-imports -- callbacks require npm modules inside their body (DESIGN.md §8) */
/**
 * The scheduled reconciler of one region (functions/reconcile/scheduled.ts): on a schedule,
 * compares this region's registry with the peer region's, publishes `DriftCount` (namespace
 * `iot-dr`, embedded metric format) with an alarm, and repairs this region only when configured.
 *
 * It reads the peer region's registry: acceptable for the reconciler alone, which is not on the
 * replay path; a peer that cannot be read is reported (metric `ReconcilePeerUnreachable`), not a
 * failure. It never writes to the peer.
 *
 * A pass spans several invocations (BENCHMARKS.md "Reconcile": at default quotas and quota share
 * 0.5 one 900-s invocation covers only ~4,400 things' ListThingPrincipals per region): the first
 * compares every kind but thing principals, then the principals go in shards of things while the
 * budget (remaining time less a safety reserve) allows; the function then invokes itself
 * asynchronously with the pass state (lambda:InvokeFunction on its own ARN only). DriftCount is
 * published once per completed pass. One pass at a time holds a lease on a lock item in the
 * reconciler's own lock table (functions/reconcile/lock.ts), renewed by each of its invocations: a
 * scheduled start that fires mid-pass finds the lease and is skipped, so passes do not interleave.
 * No reserved concurrency: reserving even 1 fails in accounts whose concurrency quota leaves less
 * than Lambda's 100 unreserved executions (issue #17). A
 * 10,000-thing region takes 3 invocations (~35 min) at default quotas: the default 60-min schedule
 * leaves room. The drift alarm treats missing data as breaching over a window of one full pass
 * (`driftAlarmWindowSeconds`), so a reconciler that stops publishing alarms.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PORT_API, type IotRegistryPort } from "../functions/registry/iotPort.js";
import { LIST_PORT_API } from "../functions/reconcile/listPort.js";
import { LOCK_TTL_ATTRIBUTE } from "../functions/reconcile/lock.js";
import { reconcilerFromEnv } from "../functions/reconcile/runtime.js";
import { DRIFT_METRIC, RECONCILER_SERVICE, type ScheduledOutcome } from "../functions/reconcile/scheduled.js";
import { METRICS_NAMESPACE } from "../functions/replication/observability.js";
import { powertoolsLogger } from "../functions/shared/observability.js";
import {
  ARN_LESS_ACTIONS,
  callbackFunction,
  opsTableKeyStatement,
  type PolicyStatement,
} from "./callbackFunction.js";
import { alarmFamily } from "./alarms.js";
import { requireProvider } from "./provider.js";
import { onDemandTable } from "./tables.js";
import { eventRuleQueuePolicy } from "./queuePolicy.js";

/** The registry reads of a compare: the list APIs plus the per-resource reads snapshot and repair make. */
const READ_PORT_METHODS: (keyof IotRegistryPort)[] = [
  "describeThing",
  "describeThingType",
  "describeThingGroup",
  "describeCertificate",
  "getPolicy",
  "listThingPrincipals",
  "listThingGroupsForThing",
  "listAttachedPolicies",
  "listTargetsForPolicy",
];
export const RECONCILE_READ_ACTIONS = [
  ...new Set(
    [...Object.values(LIST_PORT_API), ...READ_PORT_METHODS.map((m) => PORT_API[m])].map((a) => `iot:${a}`),
  ),
].sort();
/** Repair goes through replay's port: every action it may call. */
export const RECONCILE_REPAIR_ACTIONS = [...new Set(Object.values(PORT_API))].map((a) => `iot:${a}`).sort();

/**
 * IoT list actions that enumerate a whole account and region: IAM has no resource ARN for them
 * (Service Authorization Reference), so they are granted on "*" and held to the two regions by
 * `aws:RequestedRegion`.
 */
export const RECONCILE_ARN_LESS_ACTIONS = [
  "iot:ListThings",
  "iot:ListThingTypes",
  "iot:ListThingGroups",
  "iot:ListCertificates",
  "iot:ListPolicies",
] as const;

/**
 * Milliseconds of an invocation kept back from the pass: the last shard running over its estimate,
 * its repairs, and the continuation's Invoke call. 10% of the timeout, at least a minute.
 */
export const reserveMs = (timeoutSeconds: number) => Math.max(60_000, timeoutSeconds * 100);

/**
 * The drift alarm's window: one schedule interval plus one full pass (at most one interval when
 * the schedule suits the registry, see BENCHMARKS.md "Reconcile") plus one function timeout of
 * slack for queued continuations. Every window that long holds a completed pass's DriftCount while
 * the reconciler works, so missing data can count as breaching. 60-min schedule: 8,100 s.
 */
export const driftAlarmWindowSeconds = (scheduleMinutes: number, timeoutSeconds = 900) =>
  Math.ceil((2 * scheduleMinutes * 60 + timeoutSeconds) / 60) * 60;
/** CloudWatch evaluates at most one day (period × evaluation periods). */
const MAX_ALARM_WINDOW_SECONDS = 86_400;

const arnLess = (a: string) =>
  (RECONCILE_ARN_LESS_ACTIONS as readonly string[]).includes(a) || ARN_LESS_ACTIONS.includes(a);

export interface ReconcilerArgs {
  /** The region this reconciler runs in and repairs. Required. */
  region: string;
  /** The other region of the pair, read as the reference. Required. */
  peerRegion: string;
  /** Ops table name in this region (arbitrates who is right; holds echo markers). Required. */
  tableName: pulumi.Input<string>;
  /** Ops table (or replica) ARN in this region. Required. */
  tableArn: pulumi.Input<string>;
  /** KMS key of the table in this region. Required. */
  tableKeyArn: pulumi.Input<string>;
  /**
   * This region's marker table (infra/markerTable.ts, same key), where repairs record what they
   * applied so that capture here does not take them for local changes; default: the ops table.
   */
  markerTable?: { name: pulumi.Input<string>; arn: pulumi.Input<string> };
  /** Minutes between runs (config `reconcile.scheduleMinutes`). Required. */
  scheduleMinutes: number;
  /** Repair this region when it is the standby, from the active region's registry (config `reconcile.repair`); default false. */
  repair?: boolean;
  /**
   * The device endpoint's fail-over record (`<deviceEndpointName>.<hostedZoneName>`): its CNAME
   * names the active region (functions/reconcile/activeRegion.ts). Default none: the active region
   * is unknown, so nothing is repaired and every difference is reported as undecided.
   */
  deviceEndpointName?: string;
  /** Lambda runtime; default nodejs22.x. */
  runtime?: string;
  /** Timeout in seconds; default 900 (Lambda's maximum: a sweep of a large registry is paced under quotas). */
  timeoutSeconds?: number;
  /** Memory in MB; default 1024 (per-field digests of the largest kind are held while comparing). */
  memoryMb?: number;
  /** IoT API rates in calls per second overriding AWS's default quotas; default none. */
  iotApiRates?: Record<string, number>;
  /** Share of each quota the sweep may use, leaving the rest to capture and replay; default 0.5. */
  quotaShare?: number;
  /** DriftCount above which the alarm fires; default 0. */
  driftAlarmThreshold?: number;
  /** SNS topic for alarm and OK notifications; default none. */
  alarmTopicArn?: pulumi.Input<string>;
  /** Retention of the function's log group, in days; default 30. */
  logRetentionDays?: number;
}

export class Reconciler extends pulumi.ComponentResource {
  readonly function: aws.lambda.Function;
  readonly role: aws.iam.Role;
  /** lambda:InvokeFunction on the function itself: how a pass continues. */
  readonly continuePolicy: aws.iam.RolePolicy;
  readonly schedule: aws.cloudwatch.EventRule;
  /** Scheduled runs EventBridge could not deliver. */
  readonly deadLetterQueue: aws.sqs.Queue;
  readonly driftAlarm: aws.cloudwatch.MetricAlarm;
  /** The pass lock's table (one lease item per region). */
  readonly lockTable: aws.dynamodb.Table;
  readonly errorAlarm: aws.cloudwatch.MetricAlarm;

  constructor(name: string, args: ReconcilerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("iot-dr:reconcile:Reconciler", name, {}, opts);
    requireProvider(opts.provider, "Reconciler", "IoT services");
    if (!args.region || !args.peerRegion || args.region === args.peerRegion)
      throw new Error(
        `Reconciler needs its region and a different peer region, got region '${args.region}' and peerRegion '${args.peerRegion}'`,
      );
    if (!Number.isInteger(args.scheduleMinutes) || args.scheduleMinutes < 1 || args.scheduleMinutes > 1440)
      throw new Error(
        `Reconciler scheduleMinutes must be a whole number from 1 to 1440, got ${args.scheduleMinutes}`,
      );
    const quotaShare = args.quotaShare ?? 0.5;
    if (!(quotaShare > 0 && quotaShare <= 1))
      throw new Error(`Reconciler quotaShare must be in (0, 1], got ${quotaShare}`);
    const repair = args.repair ?? false;
    const timeoutSeconds = args.timeoutSeconds ?? 900;
    const parent = { parent: this };
    // One pass at a time: the lease item (see the header). Regional, on demand, TTL-cleaned.
    const lockTable = onDemandTable(
      `${name}-lock`,
      { hashKey: ["pk", "S"], ttlAttribute: LOCK_TTL_ATTRIBUTE },
      parent,
    );
    this.lockTable = lockTable;

    const account = pulumi.output(args.tableArn).apply((arn) => arn.split(":")[4]);
    const partition = pulumi.output(args.tableArn).apply((arn) => arn.split(":")[1]);
    const registryArns = (region: string) =>
      pulumi
        .all([partition, account])
        .apply(([p, a]) =>
          ["thing", "thingtype", "thinggroup", "cert", "policy"].map(
            (t) => `arn:${p}:iot:${region}:${a}:${t}/*`,
          ),
        );
    const ownActions = repair
      ? [...new Set([...RECONCILE_READ_ACTIONS, ...RECONCILE_REPAIR_ACTIONS])].sort()
      : RECONCILE_READ_ACTIONS;
    const inRegions = (regions: string[]) => ({ StringEquals: { "aws:RequestedRegion": regions } });
    const statements: PolicyStatement[] = [
      {
        Sid: "OwnRegistry",
        Effect: "Allow",
        Action: ownActions.filter((a) => !arnLess(a)),
        Resource: registryArns(args.region),
      },
      {
        Sid: "PeerRegistryRead",
        Effect: "Allow",
        Action: RECONCILE_READ_ACTIONS.filter((a) => !arnLess(a)),
        Resource: registryArns(args.peerRegion),
      },
      // These IoT actions have no resource ARN (IAM grants them only on "*"); held to the two regions.
      {
        Sid: "RegistryArnLess",
        Effect: "Allow",
        Action: [
          ...new Set([
            ...RECONCILE_READ_ACTIONS.filter(arnLess),
            ...(repair ? ownActions.filter(arnLess) : []),
          ]),
        ].sort(),
        Resource: "*",
        Condition: inRegions([args.region, args.peerRegion]),
      } as PolicyStatement,
      {
        Sid: "OpsTableRecordsAndMarkers",
        Effect: "Allow",
        Action: repair ? ["dynamodb:GetItem", "dynamodb:PutItem"] : ["dynamodb:GetItem"],
        Resource: args.tableArn,
      },
      ...(repair && args.markerTable
        ? [
            {
              Sid: "RepairMarkers",
              Effect: "Allow",
              Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
              Resource: args.markerTable.arn,
            } as PolicyStatement,
          ]
        : []),
      {
        Sid: "PassLock",
        Effect: "Allow",
        Action: ["dynamodb:PutItem", "dynamodb:DeleteItem"],
        Resource: lockTable.arn,
      },
      opsTableKeyStatement(args.tableKeyArn, { readOnly: !repair }),
    ];

    const fn = callbackFunction<unknown, ScheduledOutcome>(
      `${name}-reconcile`,
      {
        description: `registry reconciler in ${args.region}: compares with ${args.peerRegion}, publishes DriftCount${repair ? ", repairs this region" : ""}`,
        runtime: args.runtime,
        timeoutSeconds,
        memoryMb: args.memoryMb ?? 1024,
        logRetentionDays: args.logRetentionDays,
        environment: {
          OPS_TABLE: pulumi.output(args.tableName),
          ...(args.markerTable ? { MARKER_TABLE: args.markerTable.name } : {}),
          PEER_REGION: args.peerRegion,
          RECONCILE_REPAIR: String(repair),
          IOT_API_RATES: JSON.stringify(args.iotApiRates ?? {}),
          RECONCILE_QUOTA_SHARE: String(quotaShare),
          RECONCILE_RESERVE_MS: String(reserveMs(timeoutSeconds)),
          RECONCILE_SCHEDULE_MINUTES: String(args.scheduleMinutes),
          ...(args.deviceEndpointName ? { DEVICE_ENDPOINT_NAME: args.deviceEndpointName } : {}),
          RECONCILE_LOCK_TABLE: lockTable.name,
          // A lease outlives one invocation (the function's timeout) plus the async hand-over.
          RECONCILE_LEASE_MS: String(timeoutSeconds * 1000 + 120_000),
        },
        statements,
        callbackFactory: () => {
          return reconcilerFromEnv(process.env, {
            iot: require("@aws-sdk/client-iot"),
            dynamodb: require("@aws-sdk/client-dynamodb"),
            libDynamodb: require("@aws-sdk/lib-dynamodb"),
            lambda: require("@aws-sdk/client-lambda"),
            dns: require("node:dns"),
            logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), RECONCILER_SERVICE),
            metrics: require("@aws-lambda-powertools/metrics"),
          });
        },
      },
      this,
    );
    this.function = fn.fn;
    this.role = fn.role;
    // A pass continues by invoking this function, and only it. A separate policy: the function's
    // ARN exists only after the role's first policy. Until it exists a continuation fails and the
    // invocation errors (retried by Lambda), which can only happen right after the first deploy.
    this.continuePolicy = new aws.iam.RolePolicy(
      `${name}-continue-policy`,
      {
        role: fn.role.id,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "ContinueOwnPass",
              Effect: "Allow",
              Action: ["lambda:InvokeFunction"],
              Resource: this.function.arn,
            },
          ],
        }),
      },
      parent,
    );

    this.schedule = new aws.cloudwatch.EventRule(
      `${name}-schedule`,
      {
        description: `iot-dr reconciler ${args.region} every ${args.scheduleMinutes} min`,
        scheduleExpression:
          args.scheduleMinutes === 1 ? "rate(1 minute)" : `rate(${args.scheduleMinutes} minutes)`,
      },
      parent,
    );
    const permission = new aws.lambda.Permission(
      `${name}-schedule-invoke`,
      {
        action: "lambda:InvokeFunction",
        function: this.function.name,
        principal: "events.amazonaws.com",
        sourceArn: this.schedule.arn,
      },
      parent,
    );
    // A run EventBridge cannot deliver (e.g. the function is throttled) is kept, not dropped.
    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-schedule-dlq`,
      { sqsManagedSseEnabled: true, messageRetentionSeconds: 14 * 24 * 3600 },
      parent,
    );
    eventRuleQueuePolicy(
      `${name}-schedule-dlq-policy`,
      { queue: this.deadLetterQueue, ruleArn: this.schedule.arn, sid: "ScheduleDeadLetters" },
      parent,
    );
    new aws.cloudwatch.EventTarget(
      `${name}-schedule-target`,
      {
        rule: this.schedule.name,
        arn: this.function.arn,
        retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
        deadLetterConfig: { arn: this.deadLetterQueue.arn },
      },
      { ...parent, dependsOn: [permission] },
    );

    const alarm = alarmFamily(name, { region: args.region, alarmTopicArn: args.alarmTopicArn }, parent);
    const period = args.scheduleMinutes * 60;
    const passWindow = driftAlarmWindowSeconds(args.scheduleMinutes, timeoutSeconds);
    // Schedules over ~12 h do not fit a window of a full pass: there missing data cannot breach.
    const window = Math.min(passWindow, MAX_ALARM_WINDOW_SECONDS);
    const missingBreaches = passWindow <= MAX_ALARM_WINDOW_SECONDS;
    // One datapoint per completed pass; one period spanning a full pass, so no DriftCount in it
    // (the reconciler stopped, timed out, lost its continuation or cannot read the peer) breaches.
    this.driftAlarm = alarm(
      "drift-alarm",
      `registry drift against ${args.peerRegion} above ${args.driftAlarmThreshold ?? 0}` +
        (missingBreaches ? `, or no completed reconcile pass in ${window / 60} minutes` : ""),
      {
        namespace: METRICS_NAMESPACE,
        metricName: DRIFT_METRIC,
        dimensions: { service: RECONCILER_SERVICE },
        statistic: "Maximum",
        period: window,
        comparisonOperator: "GreaterThanThreshold",
        threshold: args.driftAlarmThreshold ?? 0,
        treatMissingData: missingBreaches ? "breaching" : "notBreaching",
      },
    );
    this.errorAlarm = alarm("errors-alarm", "the reconciler failed (drift not measured)", {
      namespace: "AWS/Lambda",
      metricName: "Errors",
      dimensions: { FunctionName: this.function.name },
      statistic: "Sum",
      period,
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
    });
    this.registerOutputs({ functionName: this.function.name, scheduleArn: this.schedule.arn });
  }
}
