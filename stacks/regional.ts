/**
 * The regional program, deployed twice: role `primary` in the primary region and role
 * `secondary` in the secondary region. The same capture and replay run in both (symmetric), so
 * fail-back needs no extra machinery. `secondary` owns no resource in the primary region.
 */
import * as pulumi from "@pulumi/pulumi";
import { RegistryCapture } from "../infra/capture.js";
import { NotificationTopic } from "../infra/notificationTopic.js";
import { RegionalDashboard } from "../infra/dashboards.js";
import { OpsTable } from "../infra/opsTable.js";
import { ReplayPipeline } from "../infra/replayPipeline.js";
import { ACCOUNTS, type DrConfig } from "./config.js";
import { createProviders, type RegionSlot } from "./providers.js";
import { primaryReference } from "./references.js";

export function regionalStack(config: DrConfig): Record<string, pulumi.Input<unknown>> {
  if (config.role === "global") throw new Error("regionalStack runs the primary and secondary roles only");
  const slot: RegionSlot = config.role;
  // The primary stack also owns the ops table's replica key in the secondary region; the secondary
  // stack touches only its own region, so it deploys while the primary region is down.
  const providers = createProviders(config, slot === "primary" ? ["primary", "secondary"] : ["secondary"]);
  const region = providers.region(slot);

  // The referenced primary stack must describe the same pair of regions as this one.
  // One reference per stack: a second StackReference with the same name would be a duplicate resource.
  const primaryRef = slot === "secondary" ? primaryReference(config) : undefined;
  const primaryRegion = primaryRef
    ? primaryRef.require("region").apply((actual) => {
        if (actual !== config.primaryRegion) {
          throw new Error(
            `stack '${config.primaryStack}' runs in ${actual} but this stack's iot-dr:primaryRegion is ` +
              `${config.primaryRegion}: give both stacks the same primaryRegion and secondaryRegion`,
          );
        }
        return actual;
      })
    : region;

  const alarms = new NotificationTopic(
    `alarms-${slot}`,
    {
      purpose: `alarms ${region}`,
      email: config.notificationEmail,
      publisherAccountIds: ACCOUNTS.map((a) => config.accounts[a].id),
    },
    { provider: providers.get("sharedServices", slot) },
  );

  const outputs: Record<string, pulumi.Input<unknown>> = {
    role: config.role,
    region,
    primaryRegion,
    alarmTopicArn: alarms.arn,
  };

  // ── registry replication (DESIGN.md §3): ops table, capture and replay ─────────────────────────
  // The primary stack owns the global table (and its replica in the secondary region); the
  // secondary stack reads the replica's name, ARN, stream and key from the primary stack's outputs,
  // so it needs no call into the primary region.
  {
    const iotProvider = providers.get("iot", slot);
    let table: {
      tableName: pulumi.Input<string>;
      tableArn: pulumi.Input<string>;
      streamArn: pulumi.Input<string>;
      tableKeyArn: pulumi.Input<string>;
    };
    if (slot === "primary") {
      const opsTable = new OpsTable(
        "ops",
        { replicaRegion: config.secondaryRegion, replicaProvider: providers.get("iot", "secondary") },
        { provider: iotProvider },
      );
      table = {
        tableName: opsTable.tableName,
        tableArn: opsTable.tableArn,
        streamArn: opsTable.streamArn,
        tableKeyArn: opsTable.keyArn,
      };
      Object.assign(outputs, {
        opsTableName: opsTable.tableName,
        opsTableArn: opsTable.tableArn,
        opsTableReplicaArn: opsTable.replicaTableArn,
        opsTableReplicaStreamArn: opsTable.replicaStreamArn,
        opsTableReplicaKeyArn: opsTable.replicaKeyArn,
      });
    } else {
      const ref = primaryRef!;
      // Read only once the primary stack is known to run in the configured region (checked above).
      const fromPrimary = (
        key: "opsTableName" | "opsTableReplicaArn" | "opsTableReplicaStreamArn" | "opsTableReplicaKeyArn",
      ) => pulumi.output(primaryRegion).apply(() => ref.require(key));
      table = {
        tableName: fromPrimary("opsTableName"),
        tableArn: fromPrimary("opsTableReplicaArn"),
        streamArn: fromPrimary("opsTableReplicaStreamArn"),
        tableKeyArn: fromPrimary("opsTableReplicaKeyArn"),
      };
    }
    const common = {
      region,
      ...table,
      runtime: config.lambdaRuntime,
      iotApiRates: config.replication.iotApiRates,
      alarmTopicArn: alarms.arn,
      logRetentionDays: config.logRetentionDays,
    };
    const capture = new RegistryCapture("capture", common, { provider: iotProvider });
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
    Object.assign(outputs, {
      opsTableNameInRegion: table.tableName,
      captureDeadLetterQueueUrl: capture.deadLetterQueueUrl,
      replayDeadLetterQueueUrl: replay.deadLetterQueueUrl,
      replayStreamFailureQueueUrl: replay.streamFailureQueueUrl,
      replayStateMachineArn: replay.stateMachineArn,
    });
  }
  // ── end registry replication ──────────────────────────────────────────────────────────────────

  // ── operations dashboard and alarms (issue 9): lag, dead letters, drift, health, connects, fail-over ──
  // Lives in the shared-services account next to the alarm topic; reads the dead-letter queues from
  // this program's outputs so that it needs nothing from the blocks above but their queue URLs.
  {
    const queue = (label: string, key: string) =>
      outputs[key] === undefined ? [] : [{ label, queueName: outputs[key] as pulumi.Input<string> }];
    const dashboard = new RegionalDashboard(
      `dashboard-${slot}`,
      {
        region,
        peerRegion: slot === "primary" ? config.secondaryRegion : config.primaryRegion,
        alarmTopicArn: alarms.arn,
        iotProvider: providers.get("iot", slot),
        iotAccountId: config.accounts.iot.id,
        dashboardAccountId: config.accounts.sharedServices.id,
        // capture and replay alarm on their own queues; the dashboard only shows them.
        deadLetterQueues: [
          ...queue("capture dead letters", "captureDeadLetterQueueUrl"),
          ...queue("replay dead letters", "replayDeadLetterQueueUrl"),
          ...queue("replay stream failures", "replayStreamFailureQueueUrl"),
        ],
        lagAlarmSeconds: config.replication.lagAlarmSeconds,
        maxDrift: config.health.readinessMaxDrift,
        // Metrics Insights alarms see 3 hours at most: an hour per period covers any schedule.
        driftPeriodSeconds: Math.min(config.reconcile.scheduleMinutes * 60, 3600),
      },
      { provider: providers.get("sharedServices", slot) },
    );
    outputs.dashboardName = dashboard.dashboardName;
  }
  // ── end operations dashboard ──────────────────────────────────────────────────────────────────

  return outputs;
}
