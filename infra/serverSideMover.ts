/* eslint-disable @typescript-eslint/no-require-imports -- callbacks require npm modules inside their body (DESIGN.md §8) */
/**
 * The optional server-side move (`iot-dr:serverSideMove`, DESIGN.md §4): on fail-over, close the
 * failing region's device connections through IoT's data-plane DeleteConnection.
 *
 * - `PresenceRecorder` (regional stacks, IoT services account): the presence table fed by an IoT
 *   rule on the lifecycle events (functions/health/presence.ts), and the role the mover assumes
 *   there: DeleteConnection on this region's client ids, Scan on this region's presence table,
 *   and conditional writes of the mover's claim items in it (single flight per alarm transition).
 * - `ServerSideMover` (global stack, shared-services account): one function per region,
 *   subscribed cross-region to the health-check alarm topic (us-east-1) like the notifier; the
 *   one in the healthy region acts (functions/health/serverSideMove.ts says why).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./provider.js";
import {
  MOVE_CLAIM_PREFIX,
  PRESENCE_RULE_SQL,
  PRESENCE_TTL_ATTRIBUTE,
} from "../functions/health/presence.js";
import { serverSideMoveFromEnv, type MoverTarget } from "../functions/health/serverSideMoveRuntime.js";
import { callbackFunction } from "./callbackFunction.js";
import { powertoolsLogger } from "../functions/shared/observability.js";
import { crossAccountRole, serviceRole } from "./serviceRole.js";
import { onDemandTable } from "./tables.js";

export interface PresenceRecorderArgs {
  /** Physical name of the IoT rule (letters, digits, '_'; carries the environment). Required. */
  ruleName: string;
  /** The shared-services account whose movers assume the mover role. Required. */
  moverAccountId: string;
  /** External id the movers must present. Required. */
  externalId: pulumi.Input<string>;
  /** Retention of the rule's error log, days; default 30. */
  logRetentionDays?: number;
}

export class PresenceRecorder extends pulumi.ComponentResource {
  readonly tableName: pulumi.Output<string>;
  readonly tableArn: pulumi.Output<string>;
  /** Role in the IoT services account the mover assumes to disconnect this region's clients. */
  readonly moverRoleArn: pulumi.Output<string>;

  constructor(name: string, args: PresenceRecorderArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:health:PresenceRecorder", name, {}, opts);
    requireProvider(opts.provider, "PresenceRecorder", "IoT services");
    if (!/^\d{12}$/.test(args.moverAccountId))
      throw new Error(
        `PresenceRecorder '${name}': moverAccountId must be a 12-digit account id, got '${args.moverAccountId}'`,
      );
    if (!/^[A-Za-z0-9_]{1,128}$/.test(args.ruleName))
      throw new Error(
        `PresenceRecorder '${name}': ruleName takes letters, digits and '_' only, got '${args.ruleName}'`,
      );
    const region = aws.getRegionOutput({}, { parent: this }).region;
    const account = aws.getCallerIdentityOutput({}, { parent: this }).accountId;
    const partition = aws.getPartitionOutput({}, { parent: this }).partition;

    const table = onDemandTable(
      `${name}-table`,
      { hashKey: ["clientId", "S"], rangeKey: ["versionNumber", "N"], ttlAttribute: PRESENCE_TTL_ATTRIBUTE },
      { parent: this },
    );

    const errorLog = new aws.cloudwatch.LogGroup(
      `${name}-rule-errors`,
      { retentionInDays: args.logRetentionDays ?? 30 },
      { parent: this },
    );
    const { role: ruleRole, policy: rulePolicy } = serviceRole(
      { role: `${name}-rule-role`, policy: `${name}-rule-policy` },
      {
        service: "iot.amazonaws.com",
        description: "iot-dr: the presence rule writes lifecycle events to the presence table",
        statements: [
          { Effect: "Allow", Action: ["dynamodb:PutItem"], Resource: table.arn },
          {
            Effect: "Allow",
            Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
            Resource: pulumi.interpolate`${errorLog.arn}:*`,
          },
        ],
      },
      { parent: this },
    );
    new aws.iot.TopicRule(
      `${name}-rule`,
      {
        name: args.ruleName,
        description: "iot-dr: who is connected here, for the server-side move on fail-over",
        enabled: true,
        sql: PRESENCE_RULE_SQL,
        sqlVersion: "2016-03-23",
        dynamodbv2s: [{ roleArn: ruleRole.arn, putItem: { tableName: table.name } }],
        errorAction: { cloudwatchLogs: { logGroupName: errorLog.name, roleArn: ruleRole.arn } },
      },
      { parent: this, dependsOn: [rulePolicy] },
    );

    const { role: moverRole } = crossAccountRole(
      { role: `${name}-mover-role`, policy: `${name}-mover-policy` },
      {
        description: "iot-dr: lets the server-side mover disconnect this region's devices on fail-over",
        principal: pulumi.interpolate`arn:${partition}:iam::${args.moverAccountId}:root`,
        externalId: args.externalId,
        statements: [
          {
            Sid: "DisconnectClients",
            Effect: "Allow",
            Action: ["iot:DeleteConnection"],
            // Any client id of this account and region: the ids come from the presence table.
            Resource: pulumi.interpolate`arn:${partition}:iot:${region}:${account}:client/*`,
          },
          { Sid: "ReadPresence", Effect: "Allow", Action: ["dynamodb:Scan"], Resource: table.arn },
          {
            // Single flight per alarm transition: its claim items only, never a presence item.
            Sid: "ClaimMove",
            Effect: "Allow",
            Action: ["dynamodb:PutItem", "dynamodb:UpdateItem"],
            Resource: table.arn,
            Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${MOVE_CLAIM_PREFIX}*`] } },
          },
        ],
      },
      { parent: this },
    );

    this.tableName = table.name;
    this.tableArn = table.arn;
    this.moverRoleArn = moverRole.arn;
    this.registerOutputs({
      tableName: this.tableName,
      tableArn: this.tableArn,
      moverRoleArn: this.moverRoleArn,
    });
  }
}

export interface ServerSideMoverRegionArgs {
  /** Provider of the shared-services account in this region (where this region's mover runs). */
  provider: pulumi.ProviderResource;
  /** This region's data endpoint, mover role and presence table (its regional stack's outputs). */
  target: { region: string } & { [K in Exclude<keyof MoverTarget, "region">]: pulumi.Input<MoverTarget[K]> };
}

export interface ServerSideMoverArgs {
  /** The two regions: where each mover runs, and what it reaches in the other. Required. */
  regions: [ServerSideMoverRegionArgs, ServerSideMoverRegionArgs];
  /** The health-check alarms (FailoverDns.alarmNames with their regions). Required. */
  alarms: Array<{ alarmName: pulumi.Input<string>; region: string }>;
  /** The health-check alarm topic (us-east-1) the notifier is subscribed to. Required. */
  alarmTopicArn: pulumi.Input<string>;
  /** Provider of the topic's account and region (the subscription is made there). Required. */
  alarmProvider: pulumi.ProviderResource;
  /** External id the mover roles require. Required. */
  externalId: pulumi.Input<string>;
  /** Closed connections per second (≤ the target region's connect quota). Required. */
  ratePerSecond: number;
  /** Wait before the first disconnect, seconds (the fail-over record's TTL); default 60. */
  waitSeconds?: number;
  /** Lambda runtime; default nodejs22.x. */
  runtime?: string;
  /** Log retention in days; default 30. */
  logRetentionDays?: number;
}

/** Lambda's longest timeout: the mover works through as many clients as fit (the rest: notice and DNS). */
const MOVER_TIMEOUT_SECONDS = 900;

export class ServerSideMover extends pulumi.ComponentResource {
  /** The function in each region, in `args.regions` order. */
  readonly functionArns: pulumi.Output<string>[];

  constructor(name: string, args: ServerSideMoverArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("iot-dr:health:ServerSideMover", name, {}, opts);
    requireProvider(args.alarmProvider, "ServerSideMover (alarmProvider, us-east-1)", "shared-services");
    if (!(Number.isInteger(args.ratePerSecond) && args.ratePerSecond > 0))
      throw new Error(
        `ServerSideMover '${name}': ratePerSecond must be a whole number > 0, got ${args.ratePerSecond}`,
      );
    const [a, b] = args.regions;
    if (a.target.region === b.target.region)
      throw new Error(`ServerSideMover '${name}': give two different regions, got ${a.target.region} twice`);
    const waitMs = (args.waitSeconds ?? 60) * 1000;
    // The timeout must leave time to disconnect after the wait.
    if (waitMs >= (MOVER_TIMEOUT_SECONDS - 60) * 1000)
      throw new Error(`ServerSideMover '${name}': waitSeconds must be below ${MOVER_TIMEOUT_SECONDS - 60}`);
    this.functionArns = args.regions.map((own, i) => {
      const other = args.regions[1 - i]!;
      const region = own.target.region;
      requireProvider(own.provider, `ServerSideMover (${region})`, "shared-services");
      const regionParent = new pulumi.ComponentResource(
        "iot-dr:health:ServerSideMoverRegion",
        `${name}-${region}`,
        {},
        { parent: this, provider: own.provider },
      );
      const fn = callbackFunction(
        `${name}-${region}`,
        {
          description: `server-side move of devices to ${region} on fail-over`,
          runtime: args.runtime ?? "nodejs22.x",
          timeoutSeconds: MOVER_TIMEOUT_SECONDS,
          memoryMb: 256,
          logRetentionDays: args.logRetentionDays ?? 30,
          environment: {
            MOVER_REGION: region,
            MOVER_TARGETS: pulumi.jsonStringify(args.regions.map((r) => r.target)),
            MOVER_ALARMS: pulumi.jsonStringify(args.alarms),
            MOVER_RATE_PER_SECOND: String(args.ratePerSecond),
            MOVER_WAIT_MS: String(waitMs),
            MOVER_EXTERNAL_ID: args.externalId,
          },
          statements: [
            {
              // Only the other region's mover role: this function moves devices out of there, never out of its own region.
              Sid: "AssumeOtherRegionMoverRole",
              Effect: "Allow",
              Action: ["sts:AssumeRole"],
              Resource: [other.target.roleArn],
            },
          ],
          callbackFactory: () => {
            const handler = serverSideMoveFromEnv(process.env, {
              sts: require("@aws-sdk/client-sts"),
              iotData: require("@aws-sdk/client-iot-data-plane"),
              dynamodb: require("@aws-sdk/client-dynamodb"),
              logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), "iot-dr-server-side-move"),
            });
            return (event: unknown, context: { getRemainingTimeInMillis?(): number }) =>
              handler(event, context);
          },
        },
        regionParent,
      );
      new aws.lambda.Permission(
        `${name}-${region}-from-sns`,
        {
          function: fn.fn.name,
          action: "lambda:InvokeFunction",
          principal: "sns.amazonaws.com",
          sourceArn: args.alarmTopicArn,
        },
        { parent: regionParent },
      );
      // Made in the topic's account and region (SNS cross-region delivery to Lambda).
      new aws.sns.TopicSubscription(
        `${name}-${region}-subscription`,
        { topic: args.alarmTopicArn, protocol: "lambda", endpoint: fn.fn.arn },
        { parent: this, provider: args.alarmProvider },
      );
      return fn.fn.arn;
    });
    this.registerOutputs({ functionArns: this.functionArns });
  }
}
