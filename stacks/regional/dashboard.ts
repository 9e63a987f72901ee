/**
 * The operations dashboard and alarms (issue 9): lag, dead letters, drift, health, connects,
 * fail-over. It lives in the shared-services account next to the alarm topic and links the IoT,
 * C&C and analytics accounts to an OAM sink there (metrics only, only the namespaces it shows),
 * so their widgets fill on AWS.
 */
import type * as pulumi from "@pulumi/pulumi";
import { RegionalDashboard } from "../../infra/dashboards.js";
import type { RegionalContext } from "./context.js";
import type { Replication } from "./replication.js";

export function dashboardBlock(
  ctx: RegionalContext,
  replication: Replication,
): { dashboardName: pulumi.Output<string> } {
  const { config, slot, providers } = ctx;
  const queues = replication.outputs;
  const observability = config.observability;
  const dashboard = new RegionalDashboard(
    `dashboard-${slot}`,
    {
      region: ctx.region,
      dashboardName: ctx.names.dashboard(slot, ctx.region),
      ...(observability
        ? {
            observability: {
              ...(observability.sinkArn ? { existingSinkArn: observability.sinkArn } : {}),
              ...(observability.linkLabelTemplate ? { labelTemplate: observability.linkLabelTemplate } : {}),
            },
          }
        : {}),
      peerRegion: ctx.peerRegion,
      alarmTopicArn: ctx.alarmTopicArn,
      iotProvider: providers.get("iot", slot),
      iotAccountId: config.accounts.iot.id,
      dashboardAccountId: config.accounts.sharedServices.id,
      commandControl: {
        accountId: config.accounts.commandControl.id,
        provider: providers.get("commandControl", slot),
      },
      analytics: { accountId: config.accounts.analytics.id, provider: providers.get("analytics", slot) },
      // capture and replay alarm on their own queues; the dashboard only shows them.
      deadLetterQueues: [
        { label: "capture dead letters", queueName: queues.captureDeadLetterQueueUrl },
        { label: "replay dead letters", queueName: queues.replayDeadLetterQueueUrl },
        { label: "replay stream failures", queueName: queues.replayStreamFailureQueueUrl },
      ],
      lagAlarmSeconds: config.replication.lagAlarmSeconds,
      maxDrift: config.health.readinessMaxDrift,
      // Metrics Insights alarms see 3 hours at most: an hour per period covers any schedule.
      driftPeriodSeconds: Math.min(config.reconcile.scheduleMinutes * 60, 3600),
      // With the schedule, a reconciler that stops reporting alarms (missing data breaches).
      reconcileScheduleMinutes: config.reconcile.scheduleMinutes,
    },
    { provider: providers.get("sharedServices", slot) },
  );
  return { dashboardName: dashboard.dashboardName };
}
