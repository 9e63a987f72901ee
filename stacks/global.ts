/**
 * The global stack (shared-services account): fail-over notifications, Route 53 records and
 * health checks, the EventBridge global endpoint. It reads both regional stacks.
 */
import * as pulumi from "@pulumi/pulumi";
import { FailoverDns, type RegionHealthArgs } from "../infra/failoverDns.js";
import { NotificationTopic } from "../infra/notificationTopic.js";
import { ServerSideMover } from "../infra/serverSideMover.js";
import { AnalyticsGlobalEndpoint } from "../infra/analytics.js";
import { ApplicationServicesGlobal, appBucketName } from "../infra/applicationServices.js";
import { ACCOUNTS, type DrConfig } from "./config.js";
import { accountProvider, createProviders } from "./providers.js";
import { primaryReference, secondaryReference } from "./references.js";
import { physicalNames } from "./names.js";

export function globalStack(config: DrConfig): Record<string, pulumi.Input<unknown>> {
  const providers = createProviders(config, ["primary", "secondary"]);
  const primary = primaryReference(config);
  const secondary = secondaryReference(config);

  // Both regional stacks must describe the pair of regions this stack was configured with.
  const check = (stackName: string, expected: string) => (actual: string) => {
    if (actual !== expected) {
      throw new Error(
        `stack '${stackName}' runs in ${actual} but this stack's config expects ${expected}: ` +
          "give all three stacks the same primaryRegion and secondaryRegion",
      );
    }
    return actual;
  };
  const primaryRegion = primary.require("region").apply(check(config.primaryStack, config.primaryRegion));
  const secondaryRegion = secondary
    .require("region")
    .apply(check(config.secondaryStack, config.secondaryRegion));

  // ── health and fail-over (DESIGN.md §4): Route 53 records, health checks, alarms, device notices ──
  let failover: NotificationTopic;
  const failoverOutputs: Record<string, pulumi.Input<unknown>> = {};
  {
    // Route 53 publishes health-check metrics in us-east-1 only: alarms and the notifier live there.
    const usEast1Slot =
      config.primaryRegion === "us-east-1"
        ? "primary"
        : config.secondaryRegion === "us-east-1"
          ? "secondary"
          : undefined;
    const alarmProvider = usEast1Slot
      ? providers.get("sharedServices", usEast1Slot)
      : accountProvider(config, "sharedServices-route53-metrics", "sharedServices", "us-east-1");
    // The operators' fail-over topic: in us-east-1 too, because alarm actions name topics of the alarm's region.
    failover = new NotificationTopic(
      "failover",
      {
        purpose: "fail-over notices",
        email: config.notificationEmail,
        publisherAccountIds: ACCOUNTS.map((a) => config.accounts[a].id),
      },
      { provider: alarmProvider },
    );
    const regionHealth = (ref: typeof primary, name: string): RegionHealthArgs =>
      config.health.routingMode === "endpoint"
        ? {
            mode: "endpoint",
            region: name,
            host: ref.require("healthCheckHost"),
            resourcePath: ref.require("healthCheckResourcePath"),
          }
        : { mode: "alarm", region: name, alarmName: ref.require("healthAlarmName") };
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
              alias: {
                name: secondary.require("ccDomainTarget"),
                zoneId: secondary.require("ccDomainZoneId"),
              },
            },
          },
        ],
        health: {
          primary: regionHealth(primary, config.primaryRegion),
          secondary: regionHealth(secondary, config.secondaryRegion),
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
          externalId: config.assumeRoleExternalId ?? `iot-dr-health-${config.environment}`,
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
      { provider: providers.get("sharedServices", "primary") },
    );
    // The server-side move (iot-dr:serverSideMove): a mover per region, on the notifier's alarm topic.
    if (config.serverSideMove) {
      const moverTarget = (ref: typeof primary, stackName: string, region: string) => {
        const set = (key: "presenceTableName" | "moverRoleArn") =>
          ref.require(key).apply((value) => {
            if (value === "")
              throw new Error(
                `stack '${stackName}' exports no ${key}: set iot-dr:serverSideMove true on '${stackName}' too and deploy it before this stack`,
              );
            return value;
          });
        return {
          region,
          dataEndpoint: ref.require("iotDataEndpoint"),
          roleArn: set("moverRoleArn"),
          presenceTable: set("presenceTableName"),
        };
      };
      const mover = new ServerSideMover(
        "server-side-move",
        {
          regions: [
            {
              provider: providers.get("sharedServices", "primary"),
              target: moverTarget(primary, config.primaryStack, config.primaryRegion),
            },
            {
              provider: providers.get("sharedServices", "secondary"),
              target: moverTarget(secondary, config.secondaryStack, config.secondaryRegion),
            },
          ],
          alarms: [
            { alarmName: dns.alarmNames.primary, region: config.primaryRegion },
            { alarmName: dns.alarmNames.secondary, region: config.secondaryRegion },
          ],
          alarmTopicArn: dns.alarmTopicArn,
          alarmProvider,
          externalId: config.assumeRoleExternalId ?? `iot-dr-health-${config.environment}`,
          ratePerSecond: config.serverSideMove.ratePerSecond,
          // Resolvers answer the healthy region once the fail-over record's TTL has passed.
          waitSeconds: config.dns.failoverRecordTtlSeconds,
          runtime: config.lambdaRuntime,
          logRetentionDays: config.logRetentionDays,
        },
        { provider: providers.get("sharedServices", "primary") },
      );
      failoverOutputs.serverSideMoverFunctionArns = mover.functionArns;
    }
    Object.assign(failoverOutputs, {
      hostedZoneId: dns.zoneId,
      healthCheckIds: dns.healthCheckIds,
      healthCheckAlarmNames: dns.alarmNames,
      failoverRecordNames: dns.recordNames,
      // The name devices connect to; `iot-dr drill --target aws` resolves it.
      deviceEndpoint: `${config.dns.deviceEndpointName}.${config.dns.hostedZoneName}`,
    });
  }
  // ── end health and fail-over ──────────────────────────────────────────────────────────────────

  // ── analytics global endpoint (DESIGN.md §5) ─────────────────────────────────────────────────
  // Lives in the analytics account (where the buses are), homed in the primary region. The buses
  // have a fixed name, so their ARNs need no reference to the regional stacks.
  const analyticsOutputs: Record<string, pulumi.Input<unknown>> = {};
  {
    const busArn = (region: string) =>
      `arn:aws:events:${region}:${config.accounts.analytics.id}:event-bus/${physicalNames(config).analyticsBus}`;
    const analyticsEndpoint = new AnalyticsGlobalEndpoint(
      "analytics-endpoint",
      {
        primaryRegion: config.primaryRegion,
        secondaryRegion: config.secondaryRegion,
        primaryBusArn: busArn(config.primaryRegion),
        secondaryBusArn: busArn(config.secondaryRegion),
        eventBusName: physicalNames(config).analyticsBus,
        endpointName: physicalNames(config).analyticsEndpoint,
      },
      { provider: providers.get("analytics", "primary") },
    );
    Object.assign(analyticsOutputs, {
      // Known after the first deploy: set it as iot-dr:analyticsGlobalEndpointId on both regional
      // stacks so that their forwarders put device data through the global endpoint.
      analyticsGlobalEndpointId: analyticsEndpoint.endpointId,
      analyticsGlobalEndpointName: analyticsEndpoint.endpointName,
      analyticsGlobalEndpointArn: analyticsEndpoint.endpointArn,
    });
  }
  // ── end analytics global endpoint ─────────────────────────────────────────────────────────────

  // ── application services (DESIGN.md §5): the multi-region access point over both buckets ─────
  // Only with iot-dr:applicationServices. The buckets' names are derived, so no reference is needed.
  const appOutputs: Record<string, pulumi.Input<unknown>> = {};
  if (config.applicationServices) {
    const { appName } = config.applicationServices;
    const iotId = config.accounts.iot.id;
    const app = new ApplicationServicesGlobal(
      "app",
      {
        appName,
        primary: {
          region: config.primaryRegion,
          bucketName: appBucketName(appName, iotId, config.primaryRegion),
        },
        secondary: {
          region: config.secondaryRegion,
          bucketName: appBucketName(appName, iotId, config.secondaryRegion),
        },
        secondaryProvider: providers.get("iot", "secondary"),
      },
      { provider: providers.get("iot", "primary") },
    );
    Object.assign(appOutputs, {
      appAccessPointArn: app.accessPointArn,
      appAccessPointAlias: app.accessPointAlias,
    });
  }
  // ── end application services ──────────────────────────────────────────────────────────────────

  return {
    role: config.role,
    primaryRegion,
    secondaryRegion,
    primaryAlarmTopicArn: primary.require("alarmTopicArn"),
    secondaryAlarmTopicArn: secondary.require("alarmTopicArn"),
    failoverTopicArn: failover.arn,
    ...failoverOutputs,
    ...analyticsOutputs,
    ...appOutputs,
  };
}
