/**
 * The accounts around the IoT services (DESIGN.md §5) in one region: the C&C API, analytics and
 * the application services from config. Each returns the checkpoints it plugs into its
 * account's health API (stacks/regional/health.ts) with its outputs, so health comes after them.
 */
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { AnalyticsRegion } from "../../infra/analytics.js";
import { ApplicationServicesRegion } from "../../infra/applicationServices.js";
import { CommandControlApi } from "../../infra/commandControlApi.js";
import type { HealthPlugin } from "../../infra/healthApi.js";
import {
  analyticsHealthPlugin,
  applicationHealthPlugin,
  commandControlHealthPlugin,
} from "../../infra/healthPlugins.js";
import type { ExportedOutputs, RegionalOutputs } from "../outputs.js";
import { certificateFor, type RegionalContext } from "./context.js";
import type { Replication } from "./replication.js";

/** A block's health checkpoints and its share of the stack's outputs. */
export interface ServiceBlock<K extends keyof RegionalOutputs> {
  plugin: HealthPlugin;
  outputs: ExportedOutputs<Pick<RegionalOutputs, K>>;
}

/**
 * The C&C API (C&C account) journals into this region's ops table through an operator role it
 * creates in the IoT services account; its idempotency table is a global table with a fixed
 * name, created by the primary stack, so the secondary finds its replica without a reference.
 */
export function commandControlBlock(
  ctx: RegionalContext,
  replication: Replication,
): ServiceBlock<
  | "ccApiEndpoint"
  | "ccApiHost"
  | "ccDomainTarget"
  | "ccDomainZoneId"
  | "ccInvokePolicyArn"
  | "ccOperatorRoleArn"
> {
  const { config, region, slot } = ctx;
  const ccAccountId = config.accounts.commandControl.id;
  const idempotencyTableName = ctx.names.ccIdempotencyTable;
  // The C&C failover record's name, served in both regions by an API Gateway custom domain.
  const ccDomain = `${config.dns.commandControlApiName}.${config.dns.hostedZoneName}`;
  const ccCertificate = certificateFor(
    ctx,
    "ccCertificateArn",
    config.dns.ccCertificateArn,
    "C&C",
    ccAccountId,
  );
  const cc = new CommandControlApi(
    `cc-${slot}`,
    {
      region,
      iotProvider: ctx.providers.get("iot", slot),
      opsTable: {
        name: replication.table.tableName,
        arn: replication.table.tableArn,
        keyArn: replication.table.tableKeyArn,
      },
      // Replay's applied markers in this region: the journal's capture must see them (echo freedom).
      markerTable: replication.markers,
      tombstoneRetentionDays: config.replication.tombstoneRetentionDays,
      // Without assume-role config there is no deployment external id; the C&C role still demands one.
      externalId: config.assumeRoleExternalId ?? `iot-dr-cc-${config.environment}-${region}`,
      allowedPolicies: config.commandControl.allowedPolicies,
      operatorRoleName: ctx.names.ccOperatorRole(region),
      customDomain: { domainName: ccDomain, ...ccCertificate },
      idempotencyTable:
        slot === "primary"
          ? { replicaRegions: [config.secondaryRegion], name: idempotencyTableName }
          : {
              name: idempotencyTableName,
              // The primary stack owns this replica and exports nothing for it: its ARN follows from the fixed name.
              arn: `arn:aws:dynamodb:${region}:${ccAccountId}:table/${idempotencyTableName}`,
            },
      runtime: config.lambdaRuntime,
      logRetentionDays: config.logRetentionDays,
    },
    { provider: ctx.providers.get("commandControl", slot) },
  );
  if (!cc.regionalDomainName || !cc.regionalHostedZoneId) {
    throw new Error("the C&C API serves a custom domain in every region: it must export its regional domain");
  }
  return {
    plugin: commandControlHealthPlugin(cc, idempotencyTableName),
    outputs: {
      ccApiEndpoint: cc.endpoint,
      ccApiHost: cc.apiHost,
      // What the global stack's C&C failover record aliases in this region.
      ccDomainTarget: cc.regionalDomainName,
      ccDomainZoneId: cc.regionalHostedZoneId,
      ccInvokePolicyArn: cc.invokePolicyArn,
      ccOperatorRoleArn: cc.operatorRoleArn,
    },
  };
}

/**
 * The device-data bus (same name in both regions), stream target and forwarder; the IoT rule
 * lives in the IoT services account.
 */
export function analyticsBlock(
  ctx: RegionalContext,
): ServiceBlock<"analyticsEventBusArn" | "analyticsStreamArn" | "analyticsDeadLetterQueueUrls"> {
  const { config, region, slot } = ctx;
  const analytics = new AnalyticsRegion(
    `analytics-${slot}`,
    {
      region,
      iotProvider: ctx.providers.get("iot", slot),
      eventBusName: ctx.names.analyticsBus,
      topicRuleName: ctx.names.analyticsRule(region),
      // Through the global endpoint once the global stack made it (config); else this region's bus.
      ...(config.analytics.globalEndpointId ? { globalEndpointId: config.analytics.globalEndpointId } : {}),
      runtime: config.lambdaRuntime,
      logRetentionDays: config.logRetentionDays,
    },
    { provider: ctx.providers.get("analytics", slot) },
  );
  return {
    plugin: analyticsHealthPlugin(analytics),
    outputs: {
      analyticsEventBusArn: analytics.eventBusArn,
      analyticsStreamArn: analytics.streamArn,
      analyticsDeadLetterQueueUrls: analytics.deadLetterQueueUrls,
    },
  };
}

/** Application services (IoT services account), from config iot-dr:applicationServices; undefined without it. */
export function applicationBlock(
  ctx: RegionalContext,
): ServiceBlock<"appTableName" | "appBucketName" | "appFunctionArns"> | undefined {
  const { config, region, slot } = ctx;
  const app = config.applicationServices;
  if (!app) return undefined;
  for (const [key, f] of Object.entries(app.functions)) {
    if (!fs.existsSync(f.codePath)) {
      throw new Error(
        `Invalid config iot-dr:applicationServices: functions.${key}.codePath '${f.codePath}' does not exist ` +
          `(a directory of built code, relative to the project directory ${process.cwd()})`,
      );
    }
  }
  const appTableName = `${app.appName}-${config.environment}`;
  const application = new ApplicationServicesRegion(
    `app-${slot}`,
    {
      region,
      appName: app.appName,
      table:
        slot === "primary"
          ? { replicaRegions: [config.secondaryRegion], name: appTableName }
          : {
              name: appTableName,
              // The primary stack owns this replica and exports nothing for it: its ARN follows from the fixed name.
              arn: `arn:aws:dynamodb:${region}:${config.accounts.iot.id}:table/${appTableName}`,
            },
      functions: Object.fromEntries(
        Object.entries(app.functions).map(([key, f]) => [
          key,
          {
            code: new pulumi.asset.FileArchive(f.codePath),
            handler: f.handler,
            runtime: f.runtime ?? config.lambdaRuntime,
            ...(f.memoryMb !== undefined ? { memoryMb: f.memoryMb } : {}),
            ...(f.timeoutSeconds !== undefined ? { timeoutSeconds: f.timeoutSeconds } : {}),
          },
        ]),
      ),
      logRetentionDays: config.logRetentionDays,
    },
    { provider: ctx.providers.get("iot", slot) },
  );
  return {
    plugin: applicationHealthPlugin(application, ctx.peerRegion, app.probeKey),
    outputs: {
      appTableName: application.tableName,
      appBucketName: application.bucketName,
      appFunctionArns: application.functionArns,
    },
  };
}
