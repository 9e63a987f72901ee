/**
 * Registry replication (DESIGN.md §3) in one region: the ops table as this region sees it, the
 * applied-marker table, capture and replay; and the scheduled reconciler (§3 "Bootstrap and
 * repair"), which compares this region with the peer and repairs only this region.
 */
import * as pulumi from "@pulumi/pulumi";
import { RegistryCapture } from "../../infra/capture.js";
import { MarkerTable } from "../../infra/markerTable.js";
import { OpsTable } from "../../infra/opsTable.js";
import { Reconciler } from "../../infra/reconciler.js";
import { ReplayPipeline } from "../../infra/replayPipeline.js";
import type { ExportedOutputs, PrimaryOutputs, RegionalOutputs } from "../outputs.js";
import type { RegionalContext } from "./context.js";

/** The ops table (global table) as this region sees it: the table itself, or its replica. */
export interface OpsTableInRegion {
  tableName: pulumi.Input<string>;
  tableArn: pulumi.Input<string>;
  streamArn: pulumi.Input<string>;
  tableKeyArn: pulumi.Input<string>;
}

/** The outputs only the primary stack exports: the global table and its replica. */
type OpsTableOutputs = ExportedOutputs<Omit<PrimaryOutputs, keyof RegionalOutputs>>;

/**
 * The primary stack owns the global table (and its replica in the secondary region); the
 * secondary stack reads the replica's name, ARN, stream and key from the primary stack's
 * outputs, so it needs no call into the primary region.
 */
export function opsTableBlock(ctx: RegionalContext): {
  table: OpsTableInRegion;
  primaryOutputs?: OpsTableOutputs;
} {
  const { config, providers } = ctx;
  if (ctx.slot === "primary") {
    const opsTable = new OpsTable(
      "ops",
      { replicaRegion: config.secondaryRegion, replicaProvider: providers.get("iot", "secondary") },
      { provider: providers.get("iot", "primary") },
    );
    return {
      table: {
        tableName: opsTable.tableName,
        tableArn: opsTable.tableArn,
        streamArn: opsTable.streamArn,
        tableKeyArn: opsTable.keyArn,
      },
      primaryOutputs: {
        opsTableName: opsTable.tableName,
        opsTableArn: opsTable.tableArn,
        opsTableReplicaArn: opsTable.replicaTableArn,
        opsTableReplicaStreamArn: opsTable.replicaStreamArn,
        opsTableReplicaKeyArn: opsTable.replicaKeyArn,
      },
    };
  }
  const ref = ctx.primaryRef;
  if (!ref)
    throw new Error("the secondary stack reads the ops table replica from the primary stack's reference");
  // Read only once the primary stack is known to run in the configured region (regionalContext).
  const fromPrimary = (
    key: "opsTableName" | "opsTableReplicaArn" | "opsTableReplicaStreamArn" | "opsTableReplicaKeyArn",
  ) => pulumi.output(ctx.primaryRegion).apply(() => ref.require(key));
  return {
    table: {
      tableName: fromPrimary("opsTableName"),
      tableArn: fromPrimary("opsTableReplicaArn"),
      streamArn: fromPrimary("opsTableReplicaStreamArn"),
      tableKeyArn: fromPrimary("opsTableReplicaKeyArn"),
    },
  };
}

/** What replication hands the blocks after it. */
export interface Replication {
  table: OpsTableInRegion;
  /** This region's marker table (replay's applied markers): repairs and the C&C journal record and see markers there. */
  markers: { name: pulumi.Output<string>; arn: pulumi.Output<string> };
  /** The replication launcher: its IteratorAge is the backlog towards this region (fail-back gate). */
  launcherName: pulumi.Output<string>;
  outputs: ExportedOutputs<
    Pick<
      RegionalOutputs,
      | "opsTableNameInRegion"
      | "markerTableNameInRegion"
      | "captureDeadLetterQueueUrl"
      | "replayDeadLetterQueueUrl"
      | "replayStreamFailureQueueUrl"
      | "replayStateMachineArn"
    >
  >;
}

/**
 * Capture and replay over the ops table. Each stack owns its region's marker table (replay's
 * applied markers, read only here), under the ops table's key in this region.
 */
export function replicationBlock(ctx: RegionalContext, table: OpsTableInRegion): Replication {
  const { config, region } = ctx;
  const iotProvider = ctx.providers.get("iot", ctx.slot);
  const markers = new MarkerTable(
    "applied-markers",
    { region, kmsKeyArn: table.tableKeyArn },
    { provider: iotProvider },
  );
  const common = {
    region,
    ...table,
    markerTableName: markers.tableName,
    markerTableArn: markers.tableArn,
    runtime: config.lambdaRuntime,
    iotApiRates: config.replication.iotApiRates,
    alarmTopicArn: ctx.alarmTopicArn,
    logRetentionDays: config.logRetentionDays,
    logLevel: config.replication.logLevel,
  };
  const replay = new ReplayPipeline(
    "replay",
    {
      ...common,
      batchSize: config.replication.batchSize,
      batchWindowSeconds: config.replication.batchWindowSeconds,
      maxRetries: config.replication.maxRetries,
      maxRecordAgeSeconds: config.replication.maxRecordAgeSeconds,
      lagAlarmSeconds: config.replication.lagAlarmSeconds,
    },
    { provider: iotProvider },
  );
  const capture = new RegistryCapture(
    "capture",
    {
      ...common,
      tombstoneRetentionDays: config.replication.tombstoneRetentionDays,
      backlogAlarmSeconds: config.replication.lagAlarmSeconds,
      ruleNamePrefix: ctx.names.captureRulePrefix,
      // Replay's own CloudTrail calls are echoes: the rule leaves them out.
      replayRoleArns: [replay.replay.role],
    },
    { provider: iotProvider },
  );
  return {
    table,
    markers: { name: markers.tableName, arn: markers.tableArn },
    launcherName: replay.launcher.name,
    outputs: {
      opsTableNameInRegion: table.tableName,
      markerTableNameInRegion: markers.tableName,
      captureDeadLetterQueueUrl: capture.deadLetterQueueUrl,
      replayDeadLetterQueueUrl: replay.deadLetterQueueUrl,
      replayStreamFailureQueueUrl: replay.streamFailureQueueUrl,
      replayStateMachineArn: replay.stateMachineArn,
    },
  };
}

/**
 * Compares this region with the peer on a schedule, publishes DriftCount with an alarm, and
 * repairs this region only when config says so; it only reads the peer (see infra/reconciler.ts).
 */
export function reconcilerBlock(
  ctx: RegionalContext,
  replication: Replication,
): { reconcilerFunctionName: pulumi.Output<string> } {
  const { config } = ctx;
  const reconciler = new Reconciler(
    "reconciler",
    {
      region: ctx.region,
      peerRegion: ctx.peerRegion,
      ...replication.table,
      markerTable: replication.markers,
      scheduleMinutes: config.reconcile.scheduleMinutes,
      repair: config.reconcile.repair,
      // Its CNAME names the region Route 53 serves: repair takes that region as the truth (issue 15).
      deviceEndpointName: `${config.dns.deviceEndpointName}.${config.dns.hostedZoneName}`,
      runtime: config.lambdaRuntime,
      iotApiRates: config.replication.iotApiRates,
      alarmTopicArn: ctx.alarmTopicArn,
      logRetentionDays: config.logRetentionDays,
    },
    { provider: ctx.providers.get("iot", ctx.slot) },
  );
  return { reconcilerFunctionName: reconciler.function.name };
}
