/**
 * The regional program, deployed twice: role `primary` in the primary region and role
 * `secondary` in the secondary region. The same capture and replay run in both (symmetric), so
 * fail-back needs no extra machinery. `secondary` owns no resource in the primary region.
 */
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { DeviceEndpoint } from "../infra/deviceEndpoint.js";
import { HealthApi, type HealthPlugin } from "../infra/healthApi.js";
import {
  analyticsHealthPlugin,
  applicationHealthPlugin,
  commandControlHealthPlugin,
} from "../infra/healthPlugins.js";
import { ApplicationServicesRegion } from "../infra/applicationServices.js";
import { HealthCheck } from "../infra/healthCheck.js";
import type { CheckpointSpec } from "../functions/health/probes.js";
import { RegistryCapture } from "../infra/capture.js";
import { NotificationTopic } from "../infra/notificationTopic.js";
import { RegionalDashboard } from "../infra/dashboards.js";
import { OpsTable } from "../infra/opsTable.js";
import { MarkerTable } from "../infra/markerTable.js";
import { ReplayPipeline } from "../infra/replayPipeline.js";
import { Reconciler } from "../infra/reconciler.js";
import { CommandControlApi } from "../infra/commandControlApi.js";
import { AnalyticsRegion } from "../infra/analytics.js";
import { PresenceRecorder } from "../infra/serverSideMover.js";
import { ACCOUNTS, type DrConfig } from "./config.js";
import { createProviders, type RegionSlot } from "./providers.js";
import { primaryReference } from "./references.js";
import { physicalNames } from "./names.js";

export function regionalStack(config: DrConfig): Record<string, pulumi.Input<unknown>> {
  if (config.role === "global") throw new Error("regionalStack runs the primary and secondary roles only");
  const slot: RegionSlot = config.role;
  // The primary stack also owns the ops table's replica key in the secondary region; the secondary
  // stack touches only its own region, so it deploys while the primary region is down.
  const providers = createProviders(config, slot === "primary" ? ["primary", "secondary"] : ["secondary"]);
  const region = providers.region(slot);
  // Every name set here carries the environment (two environments may share the accounts).
  const names = physicalNames(config);

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

  // This region's marker table (replay's applied markers); set by the replication block, read by the
  // reconciler and C&C blocks, whose repairs and journal must record and see markers there.
  let markersInRegion: { name: pulumi.Input<string>; arn: pulumi.Input<string> } | undefined;
  // The replication launcher: its IteratorAge is the backlog towards this region (fail-back gate).
  let launcherName: pulumi.Output<string> | undefined;
  // The ops table as seen from this region; set by the replication block, read by the reconciler block.
  let opsTableInRegion:
    | { tableName: pulumi.Input<string>; tableArn: pulumi.Input<string>; tableKeyArn: pulumi.Input<string> }
    | undefined;

  // ── registry replication (DESIGN.md §3): ops table, capture and replay ─────────────────────────
  // The primary stack owns the global table (and its replica in the secondary region); the
  // secondary stack reads the replica's name, ARN, stream and key from the primary stack's outputs,
  // so it needs no call into the primary region. Each stack owns its region's marker table (replay's
  // applied markers, read only here), under the ops table's key in this region.
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
    opsTableInRegion = table;
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
      alarmTopicArn: alarms.arn,
      logRetentionDays: config.logRetentionDays,
    };
    const capture = new RegistryCapture(
      "capture",
      {
        ...common,
        tombstoneRetentionDays: config.replication.tombstoneRetentionDays,
        ruleNamePrefix: names.captureRulePrefix,
      },
      { provider: iotProvider },
    );
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
    markersInRegion = { name: markers.tableName, arn: markers.tableArn };
    launcherName = replay.launcher.name;
    Object.assign(outputs, {
      opsTableNameInRegion: table.tableName,
      markerTableNameInRegion: markers.tableName,
      captureDeadLetterQueueUrl: capture.deadLetterQueueUrl,
      replayDeadLetterQueueUrl: replay.deadLetterQueueUrl,
      replayStreamFailureQueueUrl: replay.streamFailureQueueUrl,
      replayStateMachineArn: replay.stateMachineArn,
    });
  }
  // ── end registry replication ──────────────────────────────────────────────────────────────────

  // ── scheduled reconciler (DESIGN.md §3 "Bootstrap and repair") ────────────────────────────────
  // Compares this region with the peer on a schedule, publishes DriftCount with an alarm, and
  // repairs this region only when config says so; it only reads the peer (see infra/reconciler.ts).
  {
    if (!opsTableInRegion) throw new Error("the reconciler needs the ops table of the replication block");
    const reconciler = new Reconciler(
      "reconciler",
      {
        region,
        peerRegion: slot === "primary" ? config.secondaryRegion : config.primaryRegion,
        ...opsTableInRegion,
        markerTable: markersInRegion,
        scheduleMinutes: config.reconcile.scheduleMinutes,
        repair: config.reconcile.repair,
        // Its CNAME names the region Route 53 serves: repair takes that region as the truth (issue 15).
        deviceEndpointName: `${config.dns.deviceEndpointName}.${config.dns.hostedZoneName}`,
        runtime: config.lambdaRuntime,
        iotApiRates: config.replication.iotApiRates,
        alarmTopicArn: alarms.arn,
        logRetentionDays: config.logRetentionDays,
      },
      { provider: providers.get("iot", slot) },
    );
    outputs.reconcilerFunctionName = reconciler.function.name;
  }
  // ── end scheduled reconciler ──────────────────────────────────────────────────────────────────
  // Previews and plans run without secrets and certificates (as with placeholder account ids); `up` refuses.
  const placeholder = (key: string, example: string, value: string) => {
    if (!pulumi.runtime.isDryRun()) {
      throw new Error(`Invalid config iot-dr:${key}: required by the fail-over part. Example: ${example}`);
    }
    return value;
  };
  // A custom domain's certificate: configured, or requested and validated in the hosted zone.
  const certificateFor = (key: string, arn: string | undefined, accountLabel: string, accountId: string) =>
    arn
      ? { certificateArn: arn }
      : config.dns.hostedZoneId
        ? { validation: { zoneId: config.dns.hostedZoneId, provider: providers.get("sharedServices", slot) } }
        : {
            certificateArn: placeholder(
              key,
              `pulumi config set iot-dr:${key} arn:aws:acm:${region}:<${accountLabel} account>:certificate/<id> (or set iot-dr:hostedZoneId)`,
              `arn:aws:acm:${region}:${accountId}:certificate/preview-placeholder`,
            ),
          };
  // A health API's checkpoints: those declared in config plus those a component plugs in.
  const plugged = (declared: CheckpointSpec[] | undefined, plugin: HealthPlugin | undefined) => ({
    checkpoints: [...(declared ?? []), ...(plugin?.checkpoints ?? [])],
    ...(plugin?.probes ? { probes: plugin.probes } : {}),
  });

  // ── command & control and analytics (DESIGN.md §5) ───────────────────────────────────────────
  // The C&C API (C&C account) journals into this region's ops table through an operator role it
  // creates in the IoT services account; its idempotency table is a global table with a fixed
  // name, created by the primary stack, so the secondary finds its replica without a reference.
  // Analytics: the device-data bus (same name in both regions), stream target and forwarder; the
  // IoT rule lives in the IoT services account. Application services (IoT services account) come
  // from config iot-dr:applicationServices. Each plugs its checkpoints into its account's health
  // API (the health block below), so this block comes first.
  let ccPlugin: HealthPlugin | undefined;
  let analyticsPlugin: HealthPlugin | undefined;
  let appPlugin: HealthPlugin | undefined;
  {
    const opsTableName = outputs.opsTableNameInRegion as pulumi.Input<string> | undefined;
    if (opsTableName === undefined) {
      throw new Error(
        "the C&C API journals into the ops table: keep the registry replication block before this one",
      );
    }
    const ccAccountId = config.accounts.commandControl.id;
    const idempotencyTableName = names.ccIdempotencyTable;
    // The C&C failover record's name, served in both regions by an API Gateway custom domain.
    const ccDomain = `${config.dns.commandControlApiName}.${config.dns.hostedZoneName}`;
    const ccCertificate = certificateFor("ccCertificateArn", config.dns.ccCertificateArn, "C&C", ccAccountId);
    const cc = new CommandControlApi(
      `cc-${slot}`,
      {
        region,
        iotProvider: providers.get("iot", slot),
        opsTable: {
          name: opsTableName,
          arn: pulumi.interpolate`arn:aws:dynamodb:${region}:${config.accounts.iot.id}:table/${opsTableName}`,
          keyArn: opsTableInRegion!.tableKeyArn,
        },
        // Replay's applied markers in this region: the journal's capture must see them (echo freedom).
        markerTable: markersInRegion,
        tombstoneRetentionDays: config.replication.tombstoneRetentionDays,
        // Without assume-role config there is no deployment external id; the C&C role still demands one.
        externalId: config.assumeRoleExternalId ?? `iot-dr-cc-${config.environment}-${region}`,
        allowedPolicies: config.commandControl.allowedPolicies,
        operatorRoleName: names.ccOperatorRole(region),
        customDomain: { domainName: ccDomain, ...ccCertificate },
        idempotencyTable:
          slot === "primary"
            ? { replicaRegions: [config.secondaryRegion], name: idempotencyTableName }
            : {
                name: idempotencyTableName,
                arn: `arn:aws:dynamodb:${region}:${ccAccountId}:table/${idempotencyTableName}`,
              },
        runtime: config.lambdaRuntime,
        logRetentionDays: config.logRetentionDays,
      },
      { provider: providers.get("commandControl", slot) },
    );
    const analytics = new AnalyticsRegion(
      `analytics-${slot}`,
      {
        region,
        iotProvider: providers.get("iot", slot),
        eventBusName: names.analyticsBus,
        topicRuleName: names.analyticsRule(region),
        // Through the global endpoint once the global stack made it (config); else this region's bus.
        ...(config.analytics.globalEndpointId ? { globalEndpointId: config.analytics.globalEndpointId } : {}),
        runtime: config.lambdaRuntime,
        logRetentionDays: config.logRetentionDays,
      },
      { provider: providers.get("analytics", slot) },
    );
    ccPlugin = commandControlHealthPlugin(cc, idempotencyTableName);
    analyticsPlugin = analyticsHealthPlugin(analytics);

    const app = config.applicationServices;
    if (app) {
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
        { provider: providers.get("iot", slot) },
      );
      appPlugin = applicationHealthPlugin(
        application,
        slot === "primary" ? config.secondaryRegion : config.primaryRegion,
        app.probeKey,
      );
      Object.assign(outputs, {
        appTableName: application.tableName,
        appBucketName: application.bucketName,
        appFunctionArns: application.functionArns,
      });
    }
    Object.assign(outputs, {
      ccApiEndpoint: cc.endpoint,
      ccApiHost: cc.apiHost,
      // What the global stack's C&C failover record aliases in this region.
      ccDomainTarget: cc.regionalDomainName!,
      ccDomainZoneId: cc.regionalHostedZoneId!,
      ccInvokePolicyArn: cc.invokePolicyArn,
      ccOperatorRoleArn: cc.operatorRoleArn,
      analyticsEventBusArn: analytics.eventBusArn,
      analyticsStreamArn: analytics.streamArn,
      analyticsDeadLetterQueueUrls: analytics.deadLetterQueueUrls,
    });
  }
  // ── end command & control and analytics ───────────────────────────────────────────────────────
  // ── health and fail-over (DESIGN.md §4): health APIs, this region's health check, device endpoint ──
  // Every account's health API answers only the shared-services account (IAM); the health check
  // there judges this region alone and answers Route 53 (global stack) or feeds its alarm.
  {
    const sharedServicesId = config.accounts.sharedServices.id;
    // Roles the shared-services account assumes here demand an external id (the global stack uses the same).
    const healthExternalId = config.assumeRoleExternalId ?? `iot-dr-health-${config.environment}`;
    const common = {
      region,
      callerAccountId: sharedServicesId,
      runtime: config.lambdaRuntime,
      logRetentionDays: config.logRetentionDays,
    };
    const iotProvider = providers.get("iot", slot);
    const iotData = aws.iot.getEndpointOutput({ endpointType: "iot:Data-ATS" }, { provider: iotProvider });
    const iotHealth = new HealthApi(
      `health-iot-${slot}`,
      {
        ...common,
        account: "iot",
        factors: ["iotBroker", "applicationServices"],
        ...plugged(config.health.checkpoints.iot, appPlugin),
        canary: { endpoint: iotData.endpointAddress, clientId: names.canaryClientIdPrefix(region) },
        readinessReader: { externalId: healthExternalId },
      },
      { provider: iotProvider },
    );
    const ccHealth = new HealthApi(
      `health-cc-${slot}`,
      {
        ...common,
        account: "commandControl",
        factors: ["commandControl"],
        ...plugged(config.health.checkpoints.commandControl, ccPlugin),
      },
      { provider: providers.get("commandControl", slot) },
    );
    const analyticsHealth = new HealthApi(
      `health-analytics-${slot}`,
      {
        ...common,
        account: "analytics",
        factors: ["analytics"],
        ...plugged(config.health.checkpoints.analytics, analyticsPlugin),
      },
      { provider: providers.get("analytics", slot) },
    );
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
    const healthCheck = new HealthCheck(
      `health-check-${slot}`,
      {
        region,
        factors: [
          factor("iotBroker", iotHealth),
          factor("applicationServices", iotHealth),
          factor("commandControl", ccHealth),
          factor("analytics", analyticsHealth),
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
        ...(launcherName ? { backlogDimensions: { FunctionName: launcherName } } : {}),
        routingMode: config.health.routingMode,
        pathSecret,
        deadlineMs: config.health.probeDeadlineMs,
        alarmIntervalSeconds: config.health.checkIntervalSeconds,
        alarmEvaluationPeriods: config.health.failureThreshold,
        readinessRoleArn: iotHealth.readinessRoleArn,
        readinessExternalId: healthExternalId,
        overrideParameterName: names.healthOverrideParameter(region),
        runtime: config.lambdaRuntime,
        logRetentionDays: config.logRetentionDays,
      },
      { provider: providers.get("sharedServices", slot) },
    );

    // The device endpoint needs an issued certificate: an existing one, or one validated in an existing zone.
    const deviceDomain = `${config.dns.deviceEndpointName}.${config.dns.hostedZoneName}`;
    const certificate = certificateFor(
      "deviceCertificateArn",
      config.dns.deviceCertificateArn,
      "iot",
      config.accounts.iot.id,
    );
    const devices = new DeviceEndpoint(
      `devices-${slot}`,
      {
        domainName: deviceDomain,
        ...certificate,
        noticeTopic: config.devices.failoverNoticeTopic,
        noticePublisherAccountId: sharedServicesId,
        noticeExternalId: healthExternalId,
      },
      { provider: iotProvider },
    );
    Object.assign(outputs, {
      healthCheckHost: healthCheck.host ?? "",
      healthCheckResourcePath: healthCheck.resourcePath ?? "",
      healthAlarmName: healthCheck.alarmName ?? "",
      healthOverrideParameter: healthCheck.overrideParameterName,
      iotDataEndpoint: iotData.endpointAddress,
      deviceEndpointTarget: devices.target,
      noticePublisherRoleArn: devices.noticePublisherRoleArn,
    });
    // The server-side move (iot-dr:serverSideMove): who is connected here, and the role the other
    // region's mover assumes to disconnect them; "" when off (the global stack then plans no mover).
    const presence = config.serverSideMove
      ? new PresenceRecorder(
          `presence-${slot}`,
          {
            ruleName: names.presenceRule(region),
            moverAccountId: sharedServicesId,
            externalId: healthExternalId,
            logRetentionDays: config.logRetentionDays,
          },
          { provider: iotProvider },
        )
      : undefined;
    Object.assign(outputs, {
      presenceTableName: presence?.tableName ?? "",
      moverRoleArn: presence?.moverRoleArn ?? "",
    });
  }
  // ── end health and fail-over ──────────────────────────────────────────────────────────────────
  // ── operations dashboard and alarms (issue 9): lag, dead letters, drift, health, connects, fail-over ──
  // Lives in the shared-services account next to the alarm topic; reads the dead-letter queues from
  // this program's outputs so that it needs nothing from the blocks above but their queue URLs.
  // It links the IoT, C&C and analytics accounts to an OAM sink in shared services (metrics only,
  // only the namespaces it shows), so their widgets fill on AWS.
  {
    const queue = (label: string, key: string) =>
      outputs[key] === undefined ? [] : [{ label, queueName: outputs[key] as pulumi.Input<string> }];
    const dashboard = new RegionalDashboard(
      `dashboard-${slot}`,
      {
        region,
        dashboardName: names.dashboard(slot, region),
        ...(config.observability
          ? {
              observability: {
                ...(config.observability.sinkArn ? { existingSinkArn: config.observability.sinkArn } : {}),
                ...(config.observability.linkLabelTemplate
                  ? { labelTemplate: config.observability.linkLabelTemplate }
                  : {}),
              },
            }
          : {}),
        peerRegion: slot === "primary" ? config.secondaryRegion : config.primaryRegion,
        alarmTopicArn: alarms.arn,
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
          ...queue("capture dead letters", "captureDeadLetterQueueUrl"),
          ...queue("replay dead letters", "replayDeadLetterQueueUrl"),
          ...queue("replay stream failures", "replayStreamFailureQueueUrl"),
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
    outputs.dashboardName = dashboard.dashboardName;
  }
  // ── end operations dashboard ──────────────────────────────────────────────────────────────────

  return outputs;
}
