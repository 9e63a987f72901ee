/* eslint-disable @typescript-eslint/no-require-imports -- callbacks require npm modules inside their body (DESIGN.md §8) */
/**
 * One account's health API in one region: a function behind a Lambda function URL with
 * AuthType AWS_IAM whose resource policy admits only the shared-services account (the health
 * checks there sign their calls). Never public. In the IoT services account it also runs the
 * broker canary, whose identity lives in Secrets Manager, never in the code package.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { OWN_POLICY_PREFIX } from "../functions/registry/ownResources.js";
import { requireProvider } from "./provider.js";
import type { CheckpointSpec, Probe } from "../functions/health/probes.js";
import { parseCheckpointSpecs } from "../functions/health/probes.js";
import { healthApiFromEnv } from "../functions/health/runtime.js";
import { callbackFunction, functionUrl, type PolicyStatement } from "./callbackFunction.js";
import { powertoolsLogger } from "../functions/shared/observability.js";
import { crossAccountRole } from "./serviceRole.js";

export interface HealthCanaryArgs {
  /** The account's IoT data endpoint (ATS) in this region; the canary connects with MQTT over TLS on 8883. */
  endpoint: pulumi.Input<string>;
  /** MQTT client-id prefix of the canary (each probe adds `-<random>`); default `iot-dr-canary-<region>`. Its topic is `iot-dr/canary/<prefix>`. */
  clientId?: string;
  /** An existing Secrets Manager secret with {certificatePem, privateKeyPem}; default: the component creates certificate, IoT policy and secret. */
  secretArn?: pulumi.Input<string>;
  /** The customer-managed KMS key of an existing secretArn, when it has one; default none. */
  secretKmsKeyArn?: pulumi.Input<string>;
  /** Budget of one canary round trip in ms; default 1000. */
  timeoutMs?: number;
}

export interface HealthApiArgs {
  /** The account this API checks (`iot`, `commandControl`, `analytics`), for names and descriptions. Required. */
  account: string;
  /** The region it runs in (names the canary). Required. */
  region: string;
  /** The shared-services account id: the only principal allowed to call the API. Required. */
  callerAccountId: string;
  /** Factors this API answers for on `/<factor>`, even when they have no checkpoint yet; default: the checkpoints' factors. */
  factors?: string[];
  /** Checkpoints declared in config (http, dynamodbTable, eventBus, probe); default none. */
  checkpoints?: CheckpointSpec[];
  /** The IoT broker canary (IoT services account only); default none. */
  canary?: HealthCanaryArgs;
  /**
   * Named probes for `{ type: "probe" }` checkpoints (e.g. functions/app/checkpoints.ts): a factory
   * run inside the function (it requires its SDK clients there), the environment it reads and the
   * IAM statements it needs; default none.
   */
  probes?: {
    factory: (env: Record<string, string | undefined>) => Record<string, Probe>;
    environment?: Record<string, pulumi.Input<string>>;
    statements?: PolicyStatement[];
  };
  /** Lets the health check read this account's replication metrics through a role it assumes with this external id; default none. */
  readinessReader?: { externalId: pulumi.Input<string> };
  /** Lambda runtime; default nodejs22.x. */
  runtime?: string;
  /** Function timeout in seconds; default 10. */
  timeoutSeconds?: number;
  /** Function memory in MB; default 256. */
  memoryMb?: number;
  /** Log retention in days; default 30. */
  logRetentionDays?: number;
}

const ACCOUNT_PATTERN = /^\d{12}$/;

export class HealthApi extends pulumi.ComponentResource {
  /** The function URL, e.g. `https://<id>.lambda-url.<region>.on.aws/`; callers append `<factor>`. */
  readonly url: pulumi.Output<string>;
  readonly functionArn: pulumi.Output<string>;
  readonly functionUrl: aws.lambda.FunctionUrl;
  /** The canary's secret, when the API runs a canary. */
  readonly canarySecretArn?: pulumi.Output<string>;
  /** Role the health check assumes to read ReplicationLagMs and DriftCount here (with readinessReader). */
  readonly readinessRoleArn?: pulumi.Output<string>;

  constructor(name: string, args: HealthApiArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:health:HealthApi", name, {}, opts);
    requireProvider(opts.provider, "HealthApi", `the ${args.account}`);
    if (!ACCOUNT_PATTERN.test(args.callerAccountId)) {
      throw new Error(
        `HealthApi '${name}': callerAccountId must be the 12-digit shared-services account id, got '${args.callerAccountId}'`,
      );
    }
    // Validate now, so that a bad spec fails the preview instead of the deployed function.
    const declared = parseCheckpointSpecs(args.checkpoints ?? []);
    const statements: PolicyStatement[] = [...(args.probes?.statements ?? [])];
    const probeNames = declared.flatMap((s) => (s.type === "probe" ? [s.probe] : []));
    if (probeNames.length > 0 && !args.probes) {
      throw new Error(
        `HealthApi '${name}': checkpoints name probes (${probeNames.join(", ")}) but no 'probes' factory is given`,
      );
    }
    const region = aws.getRegionOutput({}, { parent: this });
    const identity = aws.getCallerIdentityOutput({}, { parent: this });
    const partition = aws.getPartitionOutput({}, { parent: this });
    const arnOf = (service: string, resource: string) =>
      pulumi.interpolate`arn:${partition.partition}:${service}:${region.region}:${identity.accountId}:${resource}`;

    // A table or bus checkpoint may describe the resources declared, nothing else.
    const allowDescribe = (sid: string, action: string, resources: pulumi.Output<string>[]) => {
      if (resources.length > 0)
        statements.push({ Sid: sid, Effect: "Allow", Action: [action], Resource: resources });
    };
    allowDescribe(
      "DescribeTables",
      "dynamodb:DescribeTable",
      declared.flatMap((s) =>
        s.type === "dynamodbTable" ? [arnOf("dynamodb", `table/${s.tableName}`)] : [],
      ),
    );
    allowDescribe(
      "DescribeBuses",
      "events:DescribeEventBus",
      declared.flatMap((s) =>
        s.type === "eventBus" ? [arnOf("events", `event-bus/${s.eventBusName}`)] : [],
      ),
    );
    if (declared.some((s) => s.type === "mqttCanary")) {
      throw new Error(
        `HealthApi '${name}': declare the broker canary through the 'canary' argument, not as a checkpoint spec`,
      );
    }

    const specs: pulumi.Input<unknown>[] = [...declared];
    if (args.canary) {
      const clientId = args.canary.clientId ?? `iot-dr-canary-${args.region}`;
      const identity = args.canary.secretArn
        ? { secretArn: args.canary.secretArn, keyArn: args.canary.secretKmsKeyArn }
        : this.canaryIdentity(name, clientId, arnOf);
      const secretArn = identity.secretArn;
      this.canarySecretArn = pulumi.output(secretArn);
      statements.push({
        Sid: "ReadCanaryIdentity",
        Effect: "Allow",
        Action: ["secretsmanager:GetSecretValue"],
        Resource: secretArn,
      });
      if (identity.keyArn) {
        statements.push({
          Sid: "DecryptCanaryIdentity",
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: identity.keyArn,
        });
      }
      specs.push({
        name: "iot-broker-canary",
        type: "mqttCanary",
        factor: "iotBroker",
        critical: true,
        timeoutMs: args.canary.timeoutMs ?? 1000,
        brokerUrl: pulumi.interpolate`mqtts://${args.canary.endpoint}:8883`,
        clientId,
        secretId: secretArn,
      });
    }
    const factors = [
      ...new Set([
        ...(args.factors ?? []),
        ...declared.map((s) => s.factor ?? ""),
        ...(args.canary ? ["iotBroker"] : []),
      ]),
    ].filter((f) => f !== "");

    // Captured by the callback on its own, so that the serialized closure holds no other argument.
    const probeFactory = args.probes?.factory;
    const fn = callbackFunction(
      name,
      {
        description: `health API of the ${args.account} account`,
        runtime: args.runtime ?? "nodejs22.x",
        timeoutSeconds: args.timeoutSeconds ?? 10,
        memoryMb: args.memoryMb ?? 256,
        logRetentionDays: args.logRetentionDays ?? 30,
        environment: {
          HEALTH_CHECKPOINTS: pulumi.jsonStringify(specs),
          HEALTH_API_FACTORS: JSON.stringify(factors),
          ...(args.probes?.environment ?? {}),
        },
        statements,
        callbackFactory: () => {
          const probes = probeFactory ? probeFactory(process.env) : undefined;
          const handler = healthApiFromEnv(process.env, {
            http: require("node:http"),
            https: require("node:https"),
            mqtt: require("mqtt"),
            dynamodb: require("@aws-sdk/client-dynamodb"),
            eventbridge: require("@aws-sdk/client-eventbridge"),
            secretsManager: require("@aws-sdk/client-secrets-manager"),
            ...(probes ? { probes } : {}),
            logger: powertoolsLogger(require("@aws-lambda-powertools/logger"), "iot-dr-health-api"),
          });
          return (event: unknown) => handler(event);
        },
      },
      this,
    );

    // Both permissions name the caller account only.
    this.functionUrl = functionUrl(
      name,
      fn.fn,
      { authorizationType: "AWS_IAM", principal: args.callerAccountId },
      { parent: this },
    );
    if (args.readinessReader) {
      const reader = crossAccountRole(
        { role: `${name}-readiness-reader`, policy: `${name}-readiness-read` },
        {
          description: "iot-dr: lets the health check read replication lag and drift metrics",
          principal: pulumi.interpolate`arn:${partition.partition}:iam::${args.callerAccountId}:root`,
          externalId: args.readinessReader.externalId,
          // GetMetricData has no resource-level permissions: resource "*" is the only form IAM accepts.
          statements: [{ Effect: "Allow", Action: "cloudwatch:GetMetricData", Resource: "*" }],
        },
        { parent: this },
      );
      this.readinessRoleArn = reader.role.arn;
    }
    this.url = this.functionUrl.functionUrl;
    this.functionArn = fn.fn.arn;
    this.registerOutputs({
      url: this.url,
      functionArn: this.functionArn,
      canarySecretArn: this.canarySecretArn,
      readinessRoleArn: this.readinessRoleArn,
    });
  }

  /** Certificate, IoT policy (connect as the canary, its topic only) and the secret holding the identity. */
  private canaryIdentity(
    name: string,
    clientId: string,
    arnOf: (service: string, resource: string) => pulumi.Output<string>,
  ): { secretArn: pulumi.Output<string>; keyArn: pulumi.Output<string> } {
    const certificate = new aws.iot.Certificate(`${name}-canary-cert`, { active: true }, { parent: this });
    const topic = `iot-dr/canary/${clientId}`;
    const policy = new aws.iot.Policy(
      `${name}-canary-policy`,
      {
        // The OWN_POLICY_PREFIX marks it (and the certificate it guards) as iot-dr's own: never replicated, never drift.
        name: OWN_POLICY_PREFIX + clientId.replace(/^iot-dr-/, "").replace(/[^\w+=,.@-]/g, "_"),
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            // Each probe connects as <prefix>-<random> (functions/health/canary.ts): overlapping probes coexist.
            { Effect: "Allow", Action: "iot:Connect", Resource: arnOf("iot", `client/${clientId}-*`) },
            {
              Effect: "Allow",
              Action: ["iot:Publish", "iot:Receive"],
              Resource: arnOf("iot", `topic/${topic}`),
            },
            { Effect: "Allow", Action: "iot:Subscribe", Resource: arnOf("iot", `topicfilter/${topic}`) },
          ],
        }),
      },
      { parent: this },
    );
    new aws.iot.PolicyAttachment(
      `${name}-canary-attach`,
      { policy: policy.name, target: certificate.arn },
      { parent: this },
    );
    // A key of its own: only principals granted kms:Decrypt on it (the health API's role) can read the identity.
    const key = new aws.kms.Key(
      `${name}-canary-key`,
      {
        description: `iot-dr broker canary identity (${clientId})`,
        enableKeyRotation: true,
        deletionWindowInDays: 7,
      },
      { parent: this },
    );
    const secret = new aws.secretsmanager.Secret(
      `${name}-canary-identity`,
      {
        description: `iot-dr broker canary identity (${clientId})`,
        recoveryWindowInDays: 7,
        kmsKeyId: key.arn,
      },
      { parent: this },
    );
    new aws.secretsmanager.SecretVersion(
      `${name}-canary-identity-value`,
      {
        secretId: secret.id,
        secretString: pulumi.secret(
          pulumi.jsonStringify({
            certificatePem: certificate.certificatePem,
            privateKeyPem: certificate.privateKey,
          }),
        ),
      },
      { parent: this },
    );
    return { secretArn: secret.arn, keyArn: key.arn };
  }
}

/** What a component plugs into its account's health API: checkpoint specs and the probes they name. */
export interface HealthPlugin {
  checkpoints: CheckpointSpec[];
  probes?: NonNullable<HealthApiArgs["probes"]>;
}

/** `{ type: "probe" }` specs for named probes, all reporting under one factor. */
export function probeCheckpoints(factor: string, names: string[], timeoutMs = 1000): CheckpointSpec[] {
  return names.map((name) => ({ name, type: "probe", probe: name, factor, timeoutMs, critical: true }));
}
