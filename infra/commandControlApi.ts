/* eslint-disable @typescript-eslint/no-require-imports -- callbacks require npm modules inside their body (DESIGN.md §8) */
/**
 * The command & control API of one region (C&C account): an API Gateway HTTP API whose only
 * route, `POST /commands/{command}`, is IAM-authorized, backed by a function that assumes an
 * operator role in the IoT services account with an external id. The role is created here too,
 * through the IoT account's provider, trusting only this function's role and that external id.
 * A Route 53 failover record (infra/failoverDns.ts, global stack) points at `regionalDomainName`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./provider.js";
import { issuedCertificate, type CertificateSource } from "./certificate.js";
import { powertoolsLogger } from "../functions/shared/observability.js";
import { CC_SERVICE, ccHandlerFromEnv } from "../functions/cc/runtime.js";
import type { HttpEvent } from "../functions/cc/handler.js";
import { IOT_ARN_LESS_ACTIONS, callbackFunction, type PolicyStatement } from "./callbackFunction.js";
import { crossAccountRole } from "./serviceRole.js";
import { onDemandTable } from "./tables.js";

/** IoT actions the commands and their journal (capture) use, besides the ARN-less ones. */
export const CC_IOT_ACTIONS = [
  "iot:DescribeThing",
  "iot:DescribeThingType",
  "iot:DescribeThingGroup",
  "iot:DescribeCertificate",
  "iot:GetPolicy",
  "iot:GetPolicyVersion",
  "iot:ListPolicyVersions",
  "iot:ListThingPrincipals",
  "iot:ListPrincipalThings",
  "iot:ListAttachedPolicies",
  "iot:ListTargetsForPolicy",
  "iot:ListThingGroupsForThing",
  "iot:CreateThing",
  "iot:DeleteThing",
  "iot:AddThingToThingGroup",
  "iot:RemoveThingFromThingGroup",
  "iot:UpdateCertificate",
  "iot:DeleteCertificate",
  "iot:DetachPolicy",
] as const;

/** The policy-version command's actions, granted on the allowed policies only (issue 15). */
export const CC_POLICY_VERSION_ACTIONS = ["iot:CreatePolicyVersion", "iot:DeletePolicyVersion"] as const;

export interface CommandControlApiArgs {
  /** The region this API runs in. Required. */
  region: string;
  /** Provider of the IoT services account in this region; the operator role is created there. Required. */
  iotProvider: pulumi.ProviderResource;
  /** The ops table (in the IoT services account, this region) the commands are journaled to. Required. */
  opsTable: { name: pulumi.Input<string>; arn: pulumi.Input<string>; keyArn: pulumi.Input<string> };
  /**
   * This region's marker table (infra/markerTable.ts, IoT services account, encrypted with the ops
   * table's key), where replay records what it applied; the journal's capture reads it so that
   * C&C never re-captures a replayed state. Default none: markers are looked up in the ops table.
   */
  markerTable?: { name: pulumi.Input<string>; arn: pulumi.Input<string> };
  /** Days a journaled tombstone stays in the ops table (config tombstoneRetentionDays); default 30. */
  tombstoneRetentionDays?: number;
  /** External id the function presents when it assumes the operator role (sts:ExternalId). Required. */
  externalId: pulumi.Input<string>;
  /** Policies onboarding may attach to a device certificate; must not be empty. Required. */
  allowedPolicies: string[];
  /**
   * The idempotency table: `{ replicaRegions, name? }` creates a global table here (primary
   * stack; a fixed `name` lets the secondary stack find its replica without a stack reference);
   * `{ name, arn }` uses the replica the primary stack created (secondary stack). Default: create
   * an auto-named table without replicas.
   */
  idempotencyTable?:
    { replicaRegions: string[]; name?: string } | { name: pulumi.Input<string>; arn: pulumi.Input<string> };
  /** Name of the operator role in the IoT services account; default `iot-dr-cc-operator-<region>`. */
  operatorRoleName?: string;
  /**
   * A custom domain served by this region's API (the failover record's name, the same in both
   * regions) with its certificate in this account and region: `certificateArn`, or `validation`
   * to request and DNS-validate one. Default none: callers use the execute-api host.
   */
  customDomain?: { domainName: string } & CertificateSource;
  /** Steady-state requests per second across all callers; default 20 (onboarding is bounded by IoT's 10 TPS registration quota). */
  throttleRatePerSecond?: number;
  /** Burst of requests; default 40. */
  throttleBurst?: number;
  /** Lambda runtime; default nodejs22.x. */
  runtime?: string;
  /** Function timeout in seconds; default 25 (API Gateway waits 30 s at most). */
  timeoutSeconds?: number;
  /** Function memory in MB; default 512. */
  memoryMb?: number;
  /** Log retention in days (function and access logs); default 30. */
  logRetentionDays?: number;
}

export class CommandControlApi extends pulumi.ComponentResource {
  readonly api: aws.apigatewayv2.Api;
  /** `https://<api-id>.execute-api.<region>.amazonaws.com` (the `$default` stage). */
  readonly endpoint: pulumi.Output<string>;
  /** Host name of the execute-api endpoint, for a CNAME failover record when there is no custom domain. */
  readonly apiHost: pulumi.Output<string>;
  /** Target of an alias failover record for the custom domain (`d-xxx.execute-api.<region>.amazonaws.com`); absent without one. */
  readonly regionalDomainName?: pulumi.Output<string>;
  /** Hosted zone id of `regionalDomainName`, for the alias record; absent without a custom domain. */
  readonly regionalHostedZoneId?: pulumi.Output<string>;
  /** The function's role in the C&C account (the only principal the operator role trusts). */
  readonly functionRoleArn: pulumi.Output<string>;
  /** The role in the IoT services account the function assumes. */
  readonly operatorRoleArn: pulumi.Output<string>;
  readonly idempotencyTableName: pulumi.Output<string>;
  readonly idempotencyTableArn: pulumi.Output<string>;
  /** A managed policy granting execute-api:Invoke on the command route; attach it to operator roles. */
  readonly invokePolicyArn: pulumi.Output<string>;
  readonly functionArn: pulumi.Output<string>;

  constructor(name: string, args: CommandControlApiArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:cc:CommandControlApi", name, {}, opts);
    requireProvider(opts.provider, "CommandControlApi", "command & control");
    requireProvider(args.iotProvider, "CommandControlApi iotProvider", "IoT services");
    if (!args.region) throw new Error(`CommandControlApi '${name}' needs the region it runs in`);
    if (!args.allowedPolicies || args.allowedPolicies.length === 0) {
      throw new Error(
        `CommandControlApi '${name}' needs at least one allowed policy for onboarding (config iot-dr:ccAllowedPolicies)`,
      );
    }
    for (const p of args.allowedPolicies) {
      if (!/^[\w+=,.@-]{1,128}$/.test(p))
        throw new Error(`CommandControlApi '${name}': '${p}' is not an IoT policy name`);
    }
    if (args.customDomain && !/^[a-z0-9.-]+\.[a-z]{2,}$/.test(args.customDomain.domainName)) {
      throw new Error(
        `CommandControlApi '${name}': customDomain.domainName '${args.customDomain.domainName}' is not a DNS name`,
      );
    }
    const retention = args.logRetentionDays ?? 30;
    const iotOpts = { parent: this, provider: args.iotProvider };

    // Idempotency items: a global table so that a retry after fail-over still finds its key.
    let tableName: pulumi.Output<string>;
    let tableArn: pulumi.Output<string>;
    const idem = args.idempotencyTable ?? { replicaRegions: [] };
    if ("replicaRegions" in idem) {
      const table = onDemandTable(
        `${name}-idempotency`,
        {
          ...(idem.name ? { name: idem.name } : {}),
          hashKey: ["pk", "S"],
          ttlAttribute: "expiresAt",
          pointInTimeRecovery: { enabled: true },
          // Global tables replicate through the stream.
          streamEnabled: idem.replicaRegions.length > 0,
          streamViewType: idem.replicaRegions.length > 0 ? "NEW_AND_OLD_IMAGES" : undefined,
          replicas: idem.replicaRegions.map((regionName) => ({ regionName, pointInTimeRecovery: true })),
          deletionProtectionEnabled: true,
        },
        { parent: this },
      );
      tableName = table.name;
      tableArn = table.arn;
    } else {
      tableName = pulumi.output(idem.name);
      // The replica in this region has the same name; its ARN names this region.
      tableArn = pulumi.output(idem.arn);
    }
    this.idempotencyTableName = tableName;
    this.idempotencyTableArn = tableArn;

    // The operator role has a fixed name so that the function's policy and environment can name
    // it before it exists: the role in turn trusts the function's role (no dependency cycle).
    const operatorRoleName = args.operatorRoleName ?? `iot-dr-cc-operator-${args.region}`;
    if (!/^[\w+=,.@-]{1,64}$/.test(operatorRoleName)) {
      throw new Error(
        `CommandControlApi '${name}': operatorRoleName '${operatorRoleName}' is not an IAM role name`,
      );
    }
    const iotPartition = aws.getPartitionOutput({}, { parent: this, provider: args.iotProvider });
    const iotIdentity = aws.getCallerIdentityOutput({}, { parent: this, provider: args.iotProvider });
    const iotArn = (resource: string) =>
      pulumi.interpolate`arn:${iotPartition.partition}:iot:${args.region}:${iotIdentity.accountId}:${resource}`;
    const operatorRoleArn = pulumi.interpolate`arn:${iotPartition.partition}:iam::${iotIdentity.accountId}:role/${operatorRoleName}`;

    const statements: PolicyStatement[] = [
      { Sid: "AssumeOperatorRole", Effect: "Allow", Action: ["sts:AssumeRole"], Resource: operatorRoleArn },
      {
        Sid: "IdempotencyItems",
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
        Resource: tableArn,
      },
    ];
    const fn = callbackFunction<HttpEvent, unknown>(
      name,
      {
        description: `command & control API (${args.region})`,
        runtime: args.runtime ?? "nodejs22.x",
        timeoutSeconds: args.timeoutSeconds ?? 25,
        memoryMb: args.memoryMb ?? 512,
        logRetentionDays: retention,
        environment: {
          IOT_ROLE_ARN: operatorRoleArn,
          IOT_ROLE_EXTERNAL_ID: args.externalId,
          OPS_TABLE: args.opsTable.name,
          ...(args.markerTable ? { MARKER_TABLE: args.markerTable.name } : {}),
          TOMBSTONE_RETENTION_DAYS: String(args.tombstoneRetentionDays ?? 30),
          IDEMPOTENCY_TABLE: tableName,
          CC_ALLOWED_POLICIES: JSON.stringify(args.allowedPolicies),
        },
        statements,
        callbackFactory: () => {
          const handler = ccHandlerFromEnv(process.env, {
            crypto: require("node:crypto"),
            zod: require("zod"),
            iot: require("@aws-sdk/client-iot"),
            sts: require("@aws-sdk/client-sts"),
            dynamodb: require("@aws-sdk/client-dynamodb"),
            libDynamodb: require("@aws-sdk/lib-dynamodb"),
            logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), CC_SERVICE),
          });
          return (event: HttpEvent) => handler(event);
        },
      },
      this,
    );
    this.functionArn = fn.fn.arn;
    this.functionRoleArn = fn.role.arn;

    // The operator role in the IoT services account: trusted only by the function's role, and
    // only with the external id (confused-deputy protection).
    const { role: operatorRole } = crossAccountRole(
      { role: `${name}-operator`, policy: `${name}-operator-policy` },
      {
        description: `iot-dr C&C operator (${args.region}): assumed by the C&C function to change the IoT registry`,
        role: { name: operatorRoleName, maxSessionDuration: 3600 },
        principal: fn.role.arn,
        externalId: args.externalId,
        statements: [
          {
            Sid: "Registry",
            Effect: "Allow",
            Action: [...CC_IOT_ACTIONS],
            Resource: ["thing", "thingtype", "thinggroup", "cert", "policy"].map((t) => iotArn(`${t}/*`)),
          },
          {
            Sid: "AllowedPolicyVersions",
            Effect: "Allow",
            Action: [...CC_POLICY_VERSION_ACTIONS],
            Resource: args.allowedPolicies.map((p) => iotArn(`policy/${p}`)),
          },
          {
            Sid: "AttachAllowedPolicies",
            Effect: "Allow",
            Action: ["iot:AttachPolicy"],
            Resource: [
              iotArn("cert/*"),
              iotArn("thinggroup/*"),
              ...args.allowedPolicies.map((p) => iotArn(`policy/${p}`)),
            ],
          },
          {
            // These IoT actions have no resource-level permissions: resource must be "*".
            Sid: "RegistryWithoutResourceArns",
            Effect: "Allow",
            Action: [...IOT_ARN_LESS_ACTIONS],
            Resource: "*",
          },
          {
            Sid: "Journal",
            Effect: "Allow",
            Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
            Resource: args.opsTable.arn,
          },
          ...(args.markerTable
            ? [
                {
                  // Read replay's markers; rewrite one when a genuine change ends its echo window.
                  Sid: "JournalMarkers",
                  Effect: "Allow",
                  Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
                  Resource: args.markerTable.arn,
                },
              ]
            : []),
          {
            // The ops table is encrypted with a customer-managed key: reads and writes need it.
            Sid: "JournalKey",
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:GenerateDataKey"],
            Resource: args.opsTable.keyArn,
          },
        ],
      },
      iotOpts,
    );
    this.operatorRoleArn = operatorRole.arn;

    // The HTTP API, IAM-authorized: callers sign with SigV4 and need execute-api:Invoke.
    this.api = new aws.apigatewayv2.Api(
      `${name}-api`,
      {
        protocolType: "HTTP",
        description: `iot-dr command & control (${args.region})`,
        // The custom domain is the way in when there is one (the failover record names it).
        disableExecuteApiEndpoint: false,
      },
      { parent: this },
    );
    // The execution ARN, built from the API id so that plans show it (API Gateway derives it the same way).
    const ccPartition = aws.getPartitionOutput({}, { parent: this });
    const ccIdentity = aws.getCallerIdentityOutput({}, { parent: this });
    const executionArn = pulumi.interpolate`arn:${ccPartition.partition}:execute-api:${args.region}:${ccIdentity.accountId}:${this.api.id}`;
    const integration = new aws.apigatewayv2.Integration(
      `${name}-integration`,
      {
        apiId: this.api.id,
        integrationType: "AWS_PROXY",
        integrationUri: fn.fn.arn,
        integrationMethod: "POST",
        payloadFormatVersion: "2.0",
        timeoutMilliseconds: 29_000,
      },
      { parent: this },
    );
    new aws.apigatewayv2.Route(
      `${name}-commands`,
      {
        apiId: this.api.id,
        routeKey: "POST /commands/{command}",
        authorizationType: "AWS_IAM",
        target: pulumi.interpolate`integrations/${integration.id}`,
      },
      { parent: this },
    );
    const accessLogs = new aws.cloudwatch.LogGroup(
      `${name}-access-logs`,
      { retentionInDays: retention },
      { parent: this },
    );
    const stage = new aws.apigatewayv2.Stage(
      `${name}-stage`,
      {
        apiId: this.api.id,
        name: "$default",
        autoDeploy: true,
        defaultRouteSettings: {
          throttlingRateLimit: args.throttleRatePerSecond ?? 20,
          throttlingBurstLimit: args.throttleBurst ?? 40,
          detailedMetricsEnabled: true,
        },
        accessLogSettings: {
          destinationArn: accessLogs.arn,
          format: JSON.stringify({
            requestId: "$context.requestId",
            caller: "$context.identity.userArn",
            routeKey: "$context.routeKey",
            path: "$context.path",
            status: "$context.status",
            latencyMs: "$context.responseLatency",
            error: "$context.error.message",
            integrationError: "$context.integrationErrorMessage",
          }),
        },
      },
      { parent: this },
    );
    new aws.lambda.Permission(
      `${name}-invoke`,
      {
        function: fn.fn.name,
        action: "lambda:InvokeFunction",
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${executionArn}/*/POST/commands/*`,
      },
      { parent: this },
    );
    // Derived from the API id (as API Gateway names it) so that plans and previews know it.
    this.apiHost = pulumi.interpolate`${this.api.id}.execute-api.${args.region}.amazonaws.com`;
    this.endpoint = pulumi.interpolate`https://${this.apiHost}`;

    const invokePolicy = new aws.iam.Policy(
      `${name}-invoke-policy`,
      {
        description: `Send iot-dr C&C commands in ${args.region}`,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Action: ["execute-api:Invoke"],
              Resource: pulumi.interpolate`${executionArn}/*/POST/commands/*`,
            },
          ],
        }),
      },
      { parent: this },
    );
    this.invokePolicyArn = invokePolicy.arn;

    if (args.customDomain) {
      const { certificateArn, dependsOn } = issuedCertificate(
        `${name}-domain`,
        args.customDomain.domainName,
        args.customDomain,
        this,
        `CommandControlApi '${name}' customDomain`,
      );
      const domain = new aws.apigatewayv2.DomainName(
        `${name}-domain`,
        {
          domainName: args.customDomain.domainName,
          domainNameConfiguration: { certificateArn, endpointType: "REGIONAL", securityPolicy: "TLS_1_2" },
        },
        { parent: this, dependsOn },
      );
      new aws.apigatewayv2.ApiMapping(
        `${name}-mapping`,
        { apiId: this.api.id, domainName: domain.domainName, stage: stage.id },
        { parent: this },
      );
      this.regionalDomainName = domain.domainNameConfiguration.targetDomainName;
      this.regionalHostedZoneId = domain.domainNameConfiguration.hostedZoneId;
    }

    this.registerOutputs({
      endpoint: this.endpoint,
      apiHost: this.apiHost,
      regionalDomainName: this.regionalDomainName,
      regionalHostedZoneId: this.regionalHostedZoneId,
      functionRoleArn: this.functionRoleArn,
      operatorRoleArn: this.operatorRoleArn,
      idempotencyTableName: this.idempotencyTableName,
      invokePolicyArn: this.invokePolicyArn,
    });
  }
}
