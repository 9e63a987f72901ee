/**
 * Where a platform team plugs its own application into iot-dr (IoT services account). Per region
 * (`ApplicationServicesRegion`): the team's functions, a versioned bucket, and the application's
 * DynamoDB global table (created by the primary stack with a replica in the secondary region).
 * Globally (`ApplicationServicesGlobal`, global stack): an S3 multi-region access point over both
 * buckets and two-way replication between them, so that the application finds its objects in
 * whichever region serves it.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./provider.js";
import { serviceRole } from "./serviceRole.js";
import { CALLBACK_HANDLER, callbackCode } from "./functionCode.js";
import { onDemandTable } from "./tables.js";

/** Context each application function receives (as environment variables, and in its factory). */
export interface AppContext {
  region: string;
  tableName: pulumi.Output<string>;
  bucketName: pulumi.Output<string>;
  /** ARN of the multi-region access point, once the global stack created it; else empty. */
  accessPointArn: pulumi.Input<string>;
}

interface AppFunctionCommon {
  /** Shown in the console; default the function's key. */
  description?: string;
  /** Lambda runtime; default nodejs22.x. */
  runtime?: string;
  /** Timeout in seconds; default 30. */
  timeoutSeconds?: number;
  /** Memory in MB; default 256. */
  memoryMb?: number;
  /** Extra environment variables; default none. */
  environment?: Record<string, pulumi.Input<string>>;
  /** Extra IAM statements the function needs beyond its table and bucket; no '*' actions. Default none. */
  statements?: aws.iam.PolicyStatement[];
}

/** A team function: packaged code (`code` + `handler`), or a callback factory serialized by Pulumi. */
export type AppFunctionSpec = AppFunctionCommon &
  (
    | { code: pulumi.asset.Archive; handler: string }
    | { callbackFactory: (context: AppContext) => aws.lambda.CallbackFactory<unknown, unknown> }
  );

export interface ApplicationServicesRegionArgs {
  /** The region. Required. */
  region: string;
  /** Short application name (lower-case letters, digits, '-'), used in bucket names. Required. */
  appName: string;
  /** The team's functions by key (letters, digits, '-'); default none. */
  functions?: Record<string, AppFunctionSpec>;
  /**
   * The application's table: `{ replicaRegions, name? }` creates the global table here (primary
   * stack; a fixed `name` lets the secondary find its replica without a reference); `{ name, arn }`
   * uses the replica in this region (secondary stack). Required.
   */
  table:
    { replicaRegions: string[]; name?: string } | { name: pulumi.Input<string>; arn: pulumi.Input<string> };
  /** Bucket name; default `<appName>-<accountId>-<region>` (the global stack derives it the same way). */
  bucketName?: pulumi.Input<string>;
  /** ARN of the multi-region access point (global stack output); default none yet. */
  accessPointArn?: pulumi.Input<string>;
  /** Log retention in days; default 30. */
  logRetentionDays?: number;
}

const APP_NAME = /^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$/;
const FUNCTION_KEY = /^[A-Za-z0-9-]{1,40}$/;

/** The bucket name both stacks agree on without referencing each other. */
/**
 * The alias of the bucket's customer-managed key, the same in both regions: S3 replication names
 * the destination's key by its alias ARN (the global stack derives it the same way).
 */
export function appKeyAlias(appName: string): string {
  return `alias/iot-dr-app-${appName}`;
}

export function appBucketName(appName: string, accountId: string, region: string): string {
  return `${appName}-${accountId}-${region}`;
}

function assertNoWildcardActions(where: string, statements: aws.iam.PolicyStatement[] | undefined): void {
  for (const s of statements ?? []) {
    const actions = ([] as unknown[]).concat(s.Action ?? []);
    for (const a of actions) {
      if (typeof a === "string" && (a === "*" || a.endsWith(":*"))) {
        throw new Error(
          `${where}: statement action '${a}' is a wildcard; name the actions the function needs`,
        );
      }
    }
  }
}

export class ApplicationServicesRegion extends pulumi.ComponentResource {
  readonly tableName: pulumi.Output<string>;
  readonly tableArn: pulumi.Output<string>;
  /** The table's ARN in this region (the replica's, in the secondary stack). */
  readonly regionalTableArn: pulumi.Output<string>;
  /** How many team functions run here. */
  readonly functionCount: number;
  readonly bucketName: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  /** The customer-managed key of the bucket's objects (alias `appKeyAlias(appName)`). */
  readonly keyArn: pulumi.Output<string>;
  readonly functionArns: pulumi.Output<Record<string, string>>;
  readonly functionNames: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: ApplicationServicesRegionArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:app:ApplicationServicesRegion", name, {}, opts);
    requireProvider(opts.provider, "ApplicationServicesRegion", "IoT services");
    if (!APP_NAME.test(args.appName ?? "")) {
      throw new Error(
        `ApplicationServicesRegion '${name}': appName '${args.appName}' must be 2-32 lower-case letters, digits or '-'`,
      );
    }
    if (!args.table)
      throw new Error(
        `ApplicationServicesRegion '${name}' needs 'table': { replicaRegions } in the primary stack, { name, arn } in the secondary`,
      );
    for (const [key, spec] of Object.entries(args.functions ?? {})) {
      if (!FUNCTION_KEY.test(key))
        throw new Error(
          `ApplicationServicesRegion '${name}': function key '${key}' must be 1-40 letters, digits or '-'`,
        );
      if (!("callbackFactory" in spec) && !(spec.code && spec.handler)) {
        throw new Error(
          `ApplicationServicesRegion '${name}': function '${key}' needs either code and handler, or callbackFactory`,
        );
      }
      assertNoWildcardActions(`ApplicationServicesRegion '${name}' function '${key}'`, spec.statements);
    }
    const mine = { parent: this };
    const identity = aws.getCallerIdentityOutput({}, mine);
    const partition = aws.getPartitionOutput({}, mine);

    if ("replicaRegions" in args.table) {
      const table = onDemandTable(
        `${name}-table`,
        {
          ...(args.table.name ? { name: args.table.name } : {}),
          hashKey: ["pk", "S"],
          rangeKey: ["sk", "S"],
          streamEnabled: true,
          streamViewType: "NEW_AND_OLD_IMAGES",
          pointInTimeRecovery: { enabled: true },
          replicas: args.table.replicaRegions.map((regionName) => ({
            regionName,
            pointInTimeRecovery: true,
          })),
          deletionProtectionEnabled: true,
        },
        mine,
      );
      this.tableName = table.name;
      this.tableArn = table.arn;
    } else {
      this.tableName = pulumi.output(args.table.name);
      this.tableArn = pulumi.output(args.table.arn);
    }

    this.regionalTableArn = pulumi.interpolate`arn:${partition.partition}:dynamodb:${args.region}:${identity.accountId}:table/${this.tableName}`;
    this.functionCount = Object.keys(args.functions ?? {}).length;
    const bucketName =
      args.bucketName !== undefined
        ? pulumi.output(args.bucketName)
        : identity.accountId.apply((account) => appBucketName(args.appName, account, args.region));
    const bucket = new aws.s3.Bucket(`${name}-bucket`, { bucket: bucketName, forceDestroy: false }, mine);
    new aws.s3.BucketVersioning(
      `${name}-versioning`,
      { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
      mine,
    );
    // A customer-managed key (S3 replication encrypts replicas only under such a key, named by alias).
    const objectKey = new aws.kms.Key(
      `${name}-key`,
      {
        description: `iot-dr application objects of ${args.appName} in ${args.region}`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "AccountAdministersThroughIam",
              Effect: "Allow",
              Principal: {
                AWS: pulumi.interpolate`arn:${partition.partition}:iam::${identity.accountId}:root`,
              },
              Action: "kms:*",
              Resource: "*",
            },
          ],
        }),
      },
      mine,
    );
    new aws.kms.Alias(
      `${name}-key-alias`,
      { name: appKeyAlias(args.appName), targetKeyId: objectKey.keyId },
      mine,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: bucket.id,
        rules: [
          {
            applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: objectKey.arn },
            bucketKeyEnabled: true,
          },
        ],
      },
      mine,
    );
    this.keyArn = objectKey.arn;
    new aws.s3.BucketPublicAccessBlock(
      `${name}-private`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      mine,
    );
    this.bucketName = bucket.bucket;
    this.bucketArn = bucket.arn;

    const accessPointArn = args.accessPointArn ?? "";
    const context: AppContext = {
      region: args.region,
      tableName: this.tableName,
      bucketName: this.bucketName,
      accessPointArn,
    };
    const arns: Record<string, pulumi.Output<string>> = {};
    const names: Record<string, pulumi.Output<string>> = {};
    for (const [key, spec] of Object.entries(args.functions ?? {})) {
      const fnName = `${name}-${key}`;
      const logGroup = new aws.cloudwatch.LogGroup(
        `${fnName}-logs`,
        { retentionInDays: args.logRetentionDays ?? 30 },
        mine,
      );
      const objectArns: pulumi.Input<string>[] = [pulumi.interpolate`${bucket.arn}/*`];
      if (args.accessPointArn !== undefined)
        objectArns.push(pulumi.interpolate`${args.accessPointArn}/object/*`);
      const { role, policy } = serviceRole(
        { role: `${fnName}-role`, policy: `${fnName}-policy` },
        {
          service: "lambda.amazonaws.com",
          description: `iot-dr application function ${key} (${args.region})`,
          statements: [
            {
              Sid: "OwnLogs",
              Effect: "Allow",
              Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
              Resource: pulumi.interpolate`${logGroup.arn}:*`,
            },
            {
              Sid: "AppData",
              Effect: "Allow",
              Action: [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
                "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:ConditionCheckItem",
              ],
              // The replica in this region has the same name; build its ARN for this region.
              Resource: this.regionalTableArn,
            },
            {
              Sid: "AppObjects",
              Effect: "Allow",
              Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
              Resource: objectArns,
            },
            { Sid: "AppBucket", Effect: "Allow", Action: ["s3:ListBucket"], Resource: bucket.arn },
            {
              Sid: "AppObjectsKey",
              Effect: "Allow",
              Action: ["kms:Decrypt", "kms:GenerateDataKey"],
              Resource: objectKey.arn,
            },
            ...(spec.statements ?? []),
          ],
        },
        mine,
      );
      const common = {
        description: (spec.description ?? `iot-dr application function ${key}`).slice(0, 256),
        runtime: spec.runtime ?? "nodejs22.x",
        role: role.arn,
        timeout: spec.timeoutSeconds ?? 30,
        memorySize: spec.memoryMb ?? 256,
        loggingConfig: { logFormat: "JSON", logGroup: logGroup.name },
        environment: {
          variables: {
            APP_REGION: args.region,
            APP_TABLE: this.tableName,
            APP_BUCKET: this.bucketName,
            APP_ACCESS_POINT_ARN: accessPointArn,
            ...(spec.environment ?? {}),
          },
        },
      };
      const fn =
        "callbackFactory" in spec
          ? new aws.lambda.Function(
              `${fnName}-fn`,
              {
                ...common,
                // Bundled into one file like every callback of ours (infra/functionCode.ts).
                code: callbackCode(`${fnName}-fn`, spec.callbackFactory(context), common.runtime),
                handler: CALLBACK_HANDLER,
              },
              { parent: this, dependsOn: [policy] },
            )
          : new aws.lambda.Function(
              `${fnName}-fn`,
              { ...common, code: spec.code, handler: spec.handler },
              { parent: this, dependsOn: [policy] },
            );
      arns[key] = fn.arn;
      names[key] = fn.name;
    }
    this.functionArns = pulumi.output(arns) as pulumi.Output<Record<string, string>>;
    this.functionNames = pulumi.output(names) as pulumi.Output<Record<string, string>>;
    this.registerOutputs({
      tableName: this.tableName,
      bucketName: this.bucketName,
      functionArns: this.functionArns,
    });
  }
}

export interface ApplicationServicesGlobalArgs {
  /** Short application name (names the access point). Required. */
  appName: string;
  /** The buckets of both regions (from the regional stacks). Required. */
  primary: { region: string; bucketName: pulumi.Input<string> };
  secondary: { region: string; bucketName: pulumi.Input<string> };
  /** Provider of the IoT services account in the secondary region, for that bucket's replication. Required. */
  secondaryProvider: pulumi.ProviderResource;
}

/**
 * The multi-region access point over both application buckets and two-way replication between
 * them (global stack; opts.provider is the IoT services account in the primary region).
 */
export class ApplicationServicesGlobal extends pulumi.ComponentResource {
  readonly accessPointArn: pulumi.Output<string>;
  readonly accessPointAlias: pulumi.Output<string>;

  constructor(name: string, args: ApplicationServicesGlobalArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:app:ApplicationServicesGlobal", name, {}, opts);
    requireProvider(opts.provider, "ApplicationServicesGlobal", "IoT services (primary region)");
    requireProvider(
      args.secondaryProvider,
      "ApplicationServicesGlobal secondaryProvider",
      "IoT services (secondary region)",
    );
    if (!APP_NAME.test(args.appName ?? ""))
      throw new Error(`ApplicationServicesGlobal '${name}': appName '${args.appName}' is not valid`);
    const mine = { parent: this };
    const partition = aws.getPartitionOutput({}, mine);
    const bucketArn = (b: pulumi.Input<string>) => pulumi.interpolate`arn:${partition.partition}:s3:::${b}`;

    const mrap = new aws.s3control.MultiRegionAccessPoint(
      `${name}-mrap`,
      {
        details: {
          name: args.appName,
          publicAccessBlock: {
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
          },
          regions: [{ bucket: args.primary.bucketName }, { bucket: args.secondary.bucketName }],
        },
      },
      mine,
    );

    const buckets = [args.primary.bucketName, args.secondary.bucketName].map(bucketArn);
    const identity = aws.getCallerIdentityOutput({}, mine);
    // The buckets encrypt with SSE-KMS under their customer-managed key: S3 skips such objects unless
    // the rule selects them, names the replica key and the role may use both keys (the key behind the
    // app's alias, through S3 only, for these buckets only; with bucket keys the context is the bucket).
    const alias = appKeyAlias(args.appName);
    const keyIn = (region: string) =>
      pulumi.interpolate`arn:${partition.partition}:kms:${region}:${identity.accountId}:key/*`;
    const viaS3 = (region: string, bucket: pulumi.Input<string>) => ({
      StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` },
      "ForAnyValue:StringEquals": { "kms:ResourceAliases": [alias] },
      StringLike: {
        "kms:EncryptionContext:aws:s3:arn": [bucketArn(bucket), pulumi.interpolate`${bucketArn(bucket)}/*`],
      },
    });
    const ends = [args.primary, args.secondary];
    const { role, policy } = serviceRole(
      { role: `${name}-replication`, policy: `${name}-replication-policy` },
      {
        service: "s3.amazonaws.com",
        description: "iot-dr: S3 replicates application objects between the regions",
        statements: [
          {
            Effect: "Allow",
            Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"],
            Resource: buckets,
          },
          {
            Effect: "Allow",
            Action: [
              "s3:GetObjectVersionForReplication",
              "s3:GetObjectVersionAcl",
              "s3:GetObjectVersionTagging",
            ],
            Resource: buckets.map((b) => pulumi.interpolate`${b}/*`),
          },
          {
            Effect: "Allow",
            Action: ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
            Resource: buckets.map((b) => pulumi.interpolate`${b}/*`),
          },
          // Each bucket is a source (decrypt) and a destination (encrypt) of one direction.
          ...ends.map((end) => ({
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            Resource: keyIn(end.region),
            Condition: viaS3(end.region, end.bucketName),
          })),
        ],
      },
      mine,
    );
    const replicate = (
      from: string,
      source: pulumi.Input<string>,
      to: pulumi.Input<string>,
      toRegion: string,
      provider?: pulumi.ProviderResource,
    ) =>
      new aws.s3.BucketReplicationConfig(
        `${name}-replicate-${from}`,
        {
          bucket: source,
          role: role.arn,
          rules: [
            {
              id: "to-other-region",
              status: "Enabled",
              filter: {},
              deleteMarkerReplication: { status: "Enabled" },
              sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
              destination: {
                bucket: bucketArn(to),
                storageClass: "STANDARD",
                // The destination bucket's key, by its alias ARN in this (the requester's) account.
                encryptionConfiguration: {
                  replicaKmsKeyId: pulumi.interpolate`arn:${partition.partition}:kms:${toRegion}:${identity.accountId}:alias/${alias.replace(/^alias\//, "")}`,
                },
              },
            },
          ],
        },
        { parent: this, dependsOn: [policy], ...(provider ? { provider } : {}) },
      );
    replicate("primary", args.primary.bucketName, args.secondary.bucketName, args.secondary.region);
    replicate(
      "secondary",
      args.secondary.bucketName,
      args.primary.bucketName,
      args.primary.region,
      args.secondaryProvider,
    );

    this.accessPointArn = mrap.arn;
    this.accessPointAlias = mrap.alias;
    this.registerOutputs({ accessPointArn: this.accessPointArn, accessPointAlias: this.accessPointAlias });
  }
}
