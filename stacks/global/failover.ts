/**
 * Health and fail-over of the global stack (DESIGN.md §4): the operators' fail-over topic, the
 * Route 53 records, health checks and alarms with the device notifier, and the server-side mover.
 */
import { FailoverDns, type RegionHealthArgs } from "../../infra/failoverDns.js";
import { NotificationTopic } from "../../infra/notificationTopic.js";
import { ServerSideMover } from "../../infra/serverSideMover.js";
import { ACCOUNTS } from "../config.js";
import type { TypedStackReference } from "../references.js";
import type { ExportedOutputs, GlobalOutputs, RegionalOutputs } from "../outputs.js";
import type { GlobalContext } from "./context.js";

type FailoverOutputs = ExportedOutputs<
  Pick<
    GlobalOutputs,
    | "failoverTopicArn"
    | "hostedZoneId"
    | "healthCheckIds"
    | "healthCheckAlarmNames"
    | "failoverRecordNames"
    | "deviceEndpoint"
  >
>;

export interface FailoverBlock {
  dns: FailoverDns;
  outputs: FailoverOutputs;
}

/** How Route 53 judges one region: its health-check function's URL, or its health alarm. */
function regionHealth(
  ctx: GlobalContext,
  ref: TypedStackReference<RegionalOutputs>,
  region: string,
): RegionHealthArgs {
  return ctx.config.health.routingMode === "endpoint"
    ? {
        mode: "endpoint",
        region,
        host: ref.require("healthCheckHost"),
        resourcePath: ref.require("healthCheckResourcePath"),
      }
    : { mode: "alarm", region, alarmName: ref.require("healthAlarmName") };
}

export function failoverBlock(ctx: GlobalContext): FailoverBlock {
  const { config, primary, secondary, alarmProvider } = ctx;
  // The operators' fail-over topic: in us-east-1 too, because alarm actions name topics of the alarm's region.
  const failover = new NotificationTopic(
    "failover",
    {
      purpose: "fail-over notices",
      email: config.notificationEmail,
      publisherAccountIds: ACCOUNTS.map((a) => config.accounts[a].id),
    },
    { provider: alarmProvider },
  );
  const dns = new FailoverDns(
    "failover",
    {
      zone: config.dns.hostedZoneId
        ? { zoneName: config.dns.hostedZoneName, zoneId: config.dns.hostedZoneId }
        : { zoneName: config.dns.hostedZoneName },
      records: [
        {
          name: config.dns.deviceEndpointName,
          primary: { cname: primary.require("deviceEndpointTarget") },
          secondary: { cname: secondary.require("deviceEndpointTarget") },
        },
        {
          name: config.dns.commandControlApiName,
          // SigV4 callers sign for the serving region, which they read here (functions/cc/client.ts).
          servingRegionTxt: true,
          primary: {
            alias: { name: primary.require("ccDomainTarget"), zoneId: primary.require("ccDomainZoneId") },
          },
          secondary: {
            alias: { name: secondary.require("ccDomainTarget"), zoneId: secondary.require("ccDomainZoneId") },
          },
        },
      ],
      health: {
        primary: regionHealth(ctx, primary, config.primaryRegion),
        secondary: regionHealth(ctx, secondary, config.secondaryRegion),
      },
      intervalSeconds: config.health.checkIntervalSeconds,
      failureThreshold: config.health.failureThreshold,
      ttlSeconds: config.dns.failoverRecordTtlSeconds,
      alarmProvider,
      extraAlarmActions: [failover.arn],
      notice: {
        topic: config.devices.failoverNoticeTopic,
        ...(config.devices.noticeSpreadSeconds > 0
          ? { spreadMs: config.devices.noticeSpreadSeconds * 1000 }
          : {}),
        // The same external id the regional stacks put on the publisher roles.
        externalId: ctx.externalId,
        targets: [
          {
            region: config.primaryRegion,
            dataEndpoint: primary.require("iotDataEndpoint"),
            roleArn: primary.require("noticePublisherRoleArn"),
          },
          {
            region: config.secondaryRegion,
            dataEndpoint: secondary.require("iotDataEndpoint"),
            roleArn: secondary.require("noticePublisherRoleArn"),
          },
        ],
      },
      runtime: config.lambdaRuntime,
      logRetentionDays: config.logRetentionDays,
    },
    { provider: ctx.providers.get("sharedServices", "primary") },
  );
  return {
    dns,
    outputs: {
      failoverTopicArn: failover.arn,
      hostedZoneId: dns.zoneId,
      healthCheckIds: dns.healthCheckIds,
      healthCheckAlarmNames: dns.alarmNames,
      failoverRecordNames: dns.recordNames,
      // The name devices connect to; `iot-dr drill --target aws` resolves it.
      deviceEndpoint: `${config.dns.deviceEndpointName}.${config.dns.hostedZoneName}`,
    },
  };
}

/** What the mover of one region needs from that region's stack; refused when it has the move off. */
function moverTarget(ref: TypedStackReference<RegionalOutputs>, region: string) {
  const set = (key: "presenceTableName" | "moverRoleArn") =>
    ref.require(key).apply((value) => {
      if (value === "")
        throw new Error(
          `stack '${ref.stackName}' exports no ${key}: set iot-dr:serverSideMove true on '${ref.stackName}' too and deploy it before this stack`,
        );
      return value;
    });
  return {
    region,
    dataEndpoint: ref.require("iotDataEndpoint"),
    roleArn: set("moverRoleArn"),
    presenceTable: set("presenceTableName"),
  };
}

/** The server-side move (iot-dr:serverSideMove): a mover per region, on the notifier's alarm topic. */
export function serverSideMoveBlock(
  ctx: GlobalContext,
  dns: FailoverDns,
): ExportedOutputs<Pick<GlobalOutputs, "serverSideMoverFunctionArns">> {
  const { config, providers } = ctx;
  if (!config.serverSideMove) return {};
  const mover = new ServerSideMover(
    "server-side-move",
    {
      regions: [
        {
          provider: providers.get("sharedServices", "primary"),
          target: moverTarget(ctx.primary, config.primaryRegion),
        },
        {
          provider: providers.get("sharedServices", "secondary"),
          target: moverTarget(ctx.secondary, config.secondaryRegion),
        },
      ],
      alarms: [
        { alarmName: dns.alarmNames.primary, region: config.primaryRegion },
        { alarmName: dns.alarmNames.secondary, region: config.secondaryRegion },
      ],
      alarmTopicArn: dns.alarmTopicArn,
      alarmProvider: ctx.alarmProvider,
      externalId: ctx.externalId,
      ratePerSecond: config.serverSideMove.ratePerSecond,
      // Resolvers answer the healthy region once the fail-over record's TTL has passed.
      waitSeconds: config.dns.failoverRecordTtlSeconds,
      runtime: config.lambdaRuntime,
      logRetentionDays: config.logRetentionDays,
    },
    { provider: providers.get("sharedServices", "primary") },
  );
  return { serverSideMoverFunctionArns: mover.functionArns };
}
