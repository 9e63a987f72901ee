/**
 * What every component with a deployed function shares: one way to build a callback function
 * (explicit runtime, own least-privilege role, timeout, memory, log group with retention) and the
 * IAM facts about which actions have no resource ARN.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { CALLBACK_HANDLER, callbackCode } from "./functionCode.js";
import { serviceRole } from "./serviceRole.js";

/**
 * IoT registry actions that IAM only grants on resource `*` (no resource-level permissions in the
 * Service Authorization Reference); every other IoT action is scoped to this account and region's
 * thing/thingtype/thinggroup/cert/policy ARNs.
 */
export const IOT_ARN_LESS_ACTIONS = [
  "iot:RegisterCertificateWithoutCA",
  "iot:ListThingGroups",
  "iot:AttachThingPrincipal",
  "iot:DetachThingPrincipal",
] as const;

/** CloudWatch Logs delivery actions Step Functions needs for logging; they have no resource ARN. */
export const LOG_DELIVERY_ACTIONS = [
  "logs:CreateLogDelivery",
  "logs:GetLogDelivery",
  "logs:UpdateLogDelivery",
  "logs:DeleteLogDelivery",
  "logs:ListLogDeliveries",
  "logs:PutResourcePolicy",
  "logs:DescribeResourcePolicies",
  "logs:DescribeLogGroups",
] as const;

/** Every action the replication components grant on resource `*`, each because it has no resource ARN. */
export const ARN_LESS_ACTIONS: readonly string[] = [
  ...IOT_ARN_LESS_ACTIONS,
  ...LOG_DELIVERY_ACTIONS,
  // Lambda's stream poller lists the table's streams; ListStreams has no resource ARN.
  "dynamodb:ListStreams",
];

/** The registry resources of one account and region, for IoT actions that take resource ARNs. */
export function iotRegistryArns(tableArn: pulumi.Input<string>, region: string): pulumi.Output<string[]> {
  return pulumi.output(tableArn).apply((arn) => {
    // The table lives in the same account as the registry it replicates: take partition and account from its ARN.
    const [, partition, , , account] = arn.split(":");
    return ["thing", "thingtype", "thinggroup", "cert", "policy"].map(
      (type) => `arn:${partition}:iot:${region}:${account}:${type}/*`,
    );
  });
}

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow";
  Action: string[];
  Resource: pulumi.Input<string> | pulumi.Input<pulumi.Input<string>[]>;
  /** IAM condition block, e.g. dynamodb:LeadingKeys; default none. */
  Condition?: Record<string, Record<string, string[]>>;
}

/**
 * What a function may do with the ops table's customer-managed key: encrypt and decrypt the items
 * it writes and reads, or (`readOnly`) only decrypt them.
 */
export function opsTableKeyStatement(
  keyArn: pulumi.Input<string>,
  options: { sid?: string; readOnly?: boolean } = {},
): PolicyStatement {
  return {
    Sid: options.sid ?? "OpsTableKey",
    Effect: "Allow",
    Action: options.readOnly
      ? ["kms:Decrypt", "kms:DescribeKey"]
      : ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
    Resource: keyArn,
  };
}

export interface CallbackFunctionArgs<E, R> {
  /** What the function is for, in its description. */
  description: string;
  /** Builds the handler once per container; requires its npm modules inside (DESIGN.md §8). */
  callbackFactory: aws.lambda.CallbackFactory<E, R>;
  /** Lambda runtime; default nodejs22.x. */
  runtime?: string;
  /** Timeout in seconds; default 30. */
  timeoutSeconds?: number;
  /** Memory in MB; default 256. */
  memoryMb?: number;
  /** Instruction set; default Lambda's (x86_64). The bundled archive is plain JavaScript and runs on either. */
  architecture?: "x86_64" | "arm64";
  /** Log retention in days; default 30. */
  logRetentionDays?: number;
  /**
   * Lambda's own log lines (START, END, REPORT per invocation are INFO): with a level, the function
   * logs in Lambda's JSON format (level filtering needs it) and Lambda drops its lines below the
   * level. Default: Text format, every line.
   */
  systemLogLevel?: "DEBUG" | "INFO" | "WARN";
  /** Environment variables; default none. */
  environment?: Record<string, pulumi.Input<string>>;
  /** Statements of the function's role besides writing its own logs. */
  statements: pulumi.Input<PolicyStatement>[];
}

/** A callback function, its role, its inline policy and its log group. Children of `parent`. */
export interface CallbackFunction {
  fn: aws.lambda.Function;
  role: aws.iam.Role;
  policy: aws.iam.RolePolicy;
  logGroup: aws.cloudwatch.LogGroup;
}

export function callbackFunction<E, R>(
  name: string,
  args: CallbackFunctionArgs<E, R>,
  parent: pulumi.Resource,
): CallbackFunction {
  const logGroup = new aws.cloudwatch.LogGroup(
    `${name}-logs`,
    { retentionInDays: args.logRetentionDays ?? 30 },
    { parent },
  );
  const { role, policy } = serviceRole(
    { role: `${name}-role`, policy: `${name}-policy` },
    {
      service: "lambda.amazonaws.com",
      description: `iot-dr ${args.description}`.slice(0, 1000),
      statements: [
        {
          Sid: "OwnLogs",
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: pulumi.interpolate`${logGroup.arn}:*`,
        },
        ...args.statements,
      ],
    },
    { parent },
  );
  const runtime = args.runtime ?? "nodejs22.x";
  // The callback bundled into one file (infra/functionCode.ts), not Pulumi's whole-package archive.
  const fn = new aws.lambda.Function(
    `${name}-fn`,
    {
      description: `iot-dr ${args.description}`.slice(0, 256),
      code: callbackCode(`${name}-fn`, args.callbackFactory, runtime),
      handler: CALLBACK_HANDLER,
      runtime,
      role: role.arn,
      timeout: args.timeoutSeconds ?? 30,
      memorySize: args.memoryMb ?? 256,
      ...(args.architecture ? { architectures: [args.architecture] } : {}),
      loggingConfig: args.systemLogLevel
        ? { logFormat: "JSON", systemLogLevel: args.systemLogLevel, logGroup: logGroup.name }
        : { logFormat: "Text", logGroup: logGroup.name },
      environment: args.environment ? { variables: args.environment } : undefined,
    },
    // The role's policy must exist before the function can be invoked or mapped.
    { parent, dependsOn: [policy] },
  );
  return { fn, role, policy, logGroup };
}

export interface FunctionUrlAccess {
  /** `AWS_IAM`: callers sign their requests; `NONE`: a public URL (the function checks the caller). */
  authorizationType: "AWS_IAM" | "NONE";
  /** Who may call: an account id, or `*` for a public URL. */
  principal: pulumi.Input<string>;
}

/**
 * The URL `${name}-url` of `fn` and the two permissions its callers need since October 2025
 * (`${name}-invoke-url` and `${name}-invoke`), both naming `access.principal` only.
 */
export function functionUrl(
  name: string,
  fn: aws.lambda.Function,
  access: FunctionUrlAccess,
  opts: pulumi.CustomResourceOptions,
): aws.lambda.FunctionUrl {
  const url = new aws.lambda.FunctionUrl(
    `${name}-url`,
    { functionName: fn.name, authorizationType: access.authorizationType },
    opts,
  );
  new aws.lambda.Permission(
    `${name}-invoke-url`,
    {
      function: fn.name,
      action: "lambda:InvokeFunctionUrl",
      principal: access.principal,
      functionUrlAuthType: access.authorizationType,
    },
    opts,
  );
  new aws.lambda.Permission(
    `${name}-invoke`,
    {
      function: fn.name,
      action: "lambda:InvokeFunction",
      principal: access.principal,
      invokedViaFunctionUrl: true,
    },
    opts,
  );
  return url;
}
