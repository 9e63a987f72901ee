/**
 * The regional program, deployed twice: role `primary` in the primary region and role
 * `secondary` in the secondary region. The same capture and replay run in both (symmetric), so
 * fail-back needs no extra machinery. `secondary` owns no resource in the primary region.
 *
 * Each block (stacks/regional/*.ts) takes the shared context and what the blocks before it
 * returned, and returns typed values; the stack's outputs are assembled here once and checked
 * against stacks/outputs.ts by tsc.
 */
import { regionalContext } from "./regional/context.js";
import { dashboardBlock } from "./regional/dashboard.js";
import { healthBlock } from "./regional/health.js";
import { opsTableBlock, reconcilerBlock, replicationBlock } from "./regional/replication.js";
import { analyticsBlock, applicationBlock, commandControlBlock } from "./regional/services.js";
import type { DrConfig } from "./config.js";
import { exactOutputs, type ExportedOutputs, type PrimaryOutputs, type SecondaryOutputs } from "./outputs.js";

export type RegionalStackOutputs = ExportedOutputs<PrimaryOutputs> | ExportedOutputs<SecondaryOutputs>;

export function regionalStack(config: DrConfig): RegionalStackOutputs {
  const ctx = regionalContext(config);
  // Registry replication (DESIGN.md §3): ops table, capture and replay, then the scheduled reconciler.
  const ops = opsTableBlock(ctx);
  const replication = replicationBlock(ctx, ops.table);
  const reconciler = reconcilerBlock(ctx, replication);
  // Command & control, analytics, application services (DESIGN.md §5): each plugs checkpoints into health.
  const cc = commandControlBlock(ctx, replication);
  const analytics = analyticsBlock(ctx);
  const app = applicationBlock(ctx);
  // Health and fail-over (DESIGN.md §4); the launcher's IteratorAge feeds the fail-back gate.
  const health = healthBlock(
    ctx,
    { commandControl: cc.plugin, analytics: analytics.plugin, ...(app ? { application: app.plugin } : {}) },
    replication.launcherName,
  );
  const dashboard = dashboardBlock(ctx, replication);

  const regional = {
    region: ctx.region,
    primaryRegion: ctx.primaryRegion,
    alarmTopicArn: ctx.alarmTopicArn,
    ...replication.outputs,
    ...reconciler,
    ...(app?.outputs ?? {}),
    ...cc.outputs,
    ...analytics.outputs,
    ...health,
    ...dashboard,
  };
  if (ctx.slot === "primary") {
    if (!ops.primaryOutputs) throw new Error("the primary stack owns the ops table and exports it");
    return exactOutputs<PrimaryOutputs>()({ role: "primary", ...regional, ...ops.primaryOutputs });
  }
  return exactOutputs<SecondaryOutputs>()({ role: "secondary", ...regional });
}
