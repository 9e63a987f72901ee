/**
 * Health and fail-over (DESIGN.md §4) in one region: every account's health API, this region's
 * health check, the device endpoint and the server-side move's presence table. Every health API
 * answers only the shared-services account (IAM); the health check there judges this region
 * alone and answers Route 53 (global stack) or feeds its alarm.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { DeviceEndpoint } from "../../infra/deviceEndpoint.js";
import { HealthApi, type HealthPlugin } from "../../infra/healthApi.js";
import { HealthCheck } from "../../infra/healthCheck.js";
import { PresenceRecorder } from "../../infra/serverSideMover.js";
import type { CheckpointSpec } from "../../functions/health/probes.js";
import type { ExportedOutputs, RegionalOutputs } from "../outputs.js";
import { certificateFor, placeholder, type RegionalContext } from "./context.js";

/** The checkpoints the service blocks plug into their accounts' health APIs. */
export interface HealthPlugins {
  commandControl: HealthPlugin;
  analytics: HealthPlugin;
  /** Only with iot-dr:applicationServices. */
  application?: HealthPlugin;
}

type HealthOutputs = ExportedOutputs<
  Pick<
    RegionalOutputs,
    | "healthCheckHost"
    | "healthCheckResourcePath"
    | "healthAlarmName"
    | "healthOverrideParameter"
    | "iotDataEndpoint"
    | "deviceEndpointTarget"
    | "noticePublisherRoleArn"
    | "presenceTableName"
    | "moverRoleArn"
  >
>;

/** Roles the shared-services account assumes here demand an external id (the global stack uses the same). */
const healthExternalId = (ctx: RegionalContext) =>
  ctx.config.assumeRoleExternalId ?? `iot-dr-health-${ctx.config.environment}`;

/** A health API's checkpoints: those declared in config plus those a component plugs in. */
const plugged = (declared: CheckpointSpec[] | undefined, plugin: HealthPlugin | undefined) => ({
  checkpoints: [...(declared ?? []), ...(plugin?.checkpoints ?? [])],
  ...(plugin?.probes ? { probes: plugin.probes } : {}),
});

interface HealthApis {
  iot: HealthApi;
  commandControl: HealthApi;
  analytics: HealthApi;
  iotDataEndpoint: pulumi.Output<string>;
}

/** One health API per account in this region, each with its config and plugged-in checkpoints. */
function healthApis(ctx: RegionalContext, plugins: HealthPlugins): HealthApis {
  const { config, slot, providers } = ctx;
  const common = {
    region: ctx.region,
    callerAccountId: config.accounts.sharedServices.id,
    runtime: config.lambdaRuntime,
    logRetentionDays: config.logRetentionDays,
  };
  const iotProvider = providers.get("iot", slot);
  const iotData = aws.iot.getEndpointOutput({ endpointType: "iot:Data-ATS" }, { provider: iotProvider });
  const iot = new HealthApi(
    `health-iot-${slot}`,
    {
      ...common,
      account: "iot",
      factors: ["iotBroker", "applicationServices"],
      ...plugged(config.health.checkpoints.iot, plugins.application),
      canary: { endpoint: iotData.endpointAddress, clientId: ctx.names.canaryClientIdPrefix(ctx.region) },
      readinessReader: { externalId: healthExternalId(ctx) },
    },
    { provider: iotProvider },
  );
  // The C&C and analytics accounts' health APIs judge their own factor from their plugged checkpoints.
  const accountApi = (account: "commandControl" | "analytics", label: string) =>
    new HealthApi(
      `health-${label}-${slot}`,
      {
        ...common,
        account,
        factors: [account],
        ...plugged(config.health.checkpoints[account], plugins[account]),
      },
      { provider: providers.get(account, slot) },
    );
  const commandControl = accountApi("commandControl", "cc");
  const analytics = accountApi("analytics", "analytics");
  return { iot, commandControl, analytics, iotDataEndpoint: iotData.endpointAddress };
}

/** This region's health check (shared-services account) over the four factors, with its policy. */
function healthCheck(
  ctx: RegionalContext,
  apis: HealthApis,
  launcherName: pulumi.Output<string>,
): HealthCheck {
  const { config, slot } = ctx;
  const factor = (name: string, api: HealthApi) => ({
    name,
    url: pulumi.interpolate`${api.url}${name}`,
    functionArn: api.functionArn,
  });
  const pathSecret =
    config.health.pathSecret ??
    (config.health.routingMode === "endpoint"
      ? pulumi.secret(
          placeholder(
            "healthCheckPathSecret",
            "pulumi config set --secret iot-dr:healthCheckPathSecret <32 random letters and digits>",
            "preview-placeholder-path-secret-0000",
          ),
        )
      : undefined);
  return new HealthCheck(
    `health-check-${slot}`,
    {
      region: ctx.region,
      factors: [
        factor("iotBroker", apis.iot),
        factor("applicationServices", apis.iot),
        factor("commandControl", apis.commandControl),
        factor("analytics", apis.analytics),
      ],
      policy: {
        criticalFactors: config.health.criticalFactors,
        failuresBeforeUnhealthy: config.health.failuresBeforeUnhealthy,
        successesBeforeHealthy: config.health.successesBeforeHealthy,
        // The standby must be fresh before traffic may move to it (DESIGN.md §4).
        readinessGate: slot === "secondary",
        maxLagMs: config.health.readinessMaxLagSeconds * 1000,
        maxDrift: config.health.readinessMaxDrift,
        missingReadinessData: "ready",
        // Either region, once recovered, reads healthy only after the reverse catch-up (DESIGN.md §4).
        failbackGate: true,
      },
      backlogDimensions: { FunctionName: launcherName },
      routingMode: config.health.routingMode,
      pathSecret,
      deadlineMs: config.health.probeDeadlineMs,
      alarmIntervalSeconds: config.health.checkIntervalSeconds,
      alarmEvaluationPeriods: config.health.failureThreshold,
      readinessRoleArn: apis.iot.readinessRoleArn,
      readinessExternalId: healthExternalId(ctx),
      overrideParameterName: ctx.names.healthOverrideParameter(ctx.region),
      runtime: config.lambdaRuntime,
      logRetentionDays: config.logRetentionDays,
    },
    { provider: ctx.providers.get("sharedServices", slot) },
  );
}

/**
 * Health APIs, the health check, the device endpoint (it needs an issued certificate: an existing
 * one, or one validated in an existing zone) and, with iot-dr:serverSideMove, the presence table
 * and the role the other region's mover assumes to disconnect clients here ("" when off: the
 * global stack then plans no mover).
 */
export function healthBlock(
  ctx: RegionalContext,
  plugins: HealthPlugins,
  launcherName: pulumi.Output<string>,
): HealthOutputs {
  const { config, slot } = ctx;
  const sharedServicesId = config.accounts.sharedServices.id;
  const iotProvider = ctx.providers.get("iot", slot);
  const apis = healthApis(ctx, plugins);
  const check = healthCheck(ctx, apis, launcherName);
  const certificate = certificateFor(
    ctx,
    "deviceCertificateArn",
    config.dns.deviceCertificateArn,
    "iot",
    config.accounts.iot.id,
  );
  const devices = new DeviceEndpoint(
    `devices-${slot}`,
    {
      domainName: `${config.dns.deviceEndpointName}.${config.dns.hostedZoneName}`,
      ...certificate,
      noticeTopic: config.devices.failoverNoticeTopic,
      noticePublisherAccountId: sharedServicesId,
      noticeExternalId: healthExternalId(ctx),
    },
    { provider: iotProvider },
  );
  const presence = config.serverSideMove
    ? new PresenceRecorder(
        `presence-${slot}`,
        {
          ruleName: ctx.names.presenceRule(ctx.region),
          moverAccountId: sharedServicesId,
          externalId: healthExternalId(ctx),
          logRetentionDays: config.logRetentionDays,
        },
        { provider: iotProvider },
      )
    : undefined;
  return {
    healthCheckHost: check.host ?? "",
    healthCheckResourcePath: check.resourcePath ?? "",
    healthAlarmName: check.alarmName ?? "",
    healthOverrideParameter: check.overrideParameterName,
    iotDataEndpoint: apis.iotDataEndpoint,
    deviceEndpointTarget: devices.target,
    noticePublisherRoleArn: devices.noticePublisherRoleArn,
    presenceTableName: presence?.tableName ?? "",
    moverRoleArn: presence?.moverRoleArn ?? "",
  };
}
