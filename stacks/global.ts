/**
 * The global stack (shared-services account): fail-over notifications, Route 53 records and
 * health checks, the EventBridge global endpoint. It reads both regional stacks.
 *
 * Each block (stacks/global/*.ts) takes the shared context and what the blocks before it
 * returned, and returns typed values; the stack's outputs are assembled here once and checked
 * against stacks/outputs.ts by tsc.
 */
import { globalContext } from "./global/context.js";
import { failoverBlock, serverSideMoveBlock } from "./global/failover.js";
import { analyticsEndpointBlock, appAccessPointBlock } from "./global/services.js";
import type { DrConfig } from "./config.js";
import { exactOutputs, type ExportedOutputs, type GlobalOutputs } from "./outputs.js";

export function globalStack(config: DrConfig): ExportedOutputs<GlobalOutputs> {
  const ctx = globalContext(config);
  // Health and fail-over (DESIGN.md §4): Route 53 records, health checks, alarms, device notices.
  const failover = failoverBlock(ctx);
  const mover = serverSideMoveBlock(ctx, failover.dns);
  // Analytics global endpoint and the application's access point (DESIGN.md §5).
  const analytics = analyticsEndpointBlock(ctx);
  const app = appAccessPointBlock(ctx);

  return exactOutputs<GlobalOutputs>()({
    role: "global",
    primaryRegion: ctx.primaryRegion,
    secondaryRegion: ctx.secondaryRegion,
    primaryAlarmTopicArn: ctx.primary.require("alarmTopicArn"),
    secondaryAlarmTopicArn: ctx.secondary.require("alarmTopicArn"),
    ...failover.outputs,
    ...mover,
    ...analytics,
    ...app,
  });
}
