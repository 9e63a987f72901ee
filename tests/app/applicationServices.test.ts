import { describe, expect, it } from "vitest";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as ddb from "@aws-sdk/client-dynamodb";
import { ofType } from "../replication/infra/mocks.js";
import { parsedJson, plannedBeforeAll } from "../support/mocks.js";
import {
  ApplicationServicesGlobal,
  ApplicationServicesRegion,
  appBucketName,
} from "../../infra/applicationServices.js";
import { appProbes, appTablePortsFromSdk, type AppPorts } from "../../functions/app/checkpoints.js";
import { probeOutcome } from "../../functions/analytics/checkpoints.js";
import { invokeSerialized, serializedCallback } from "../support/serialized.js";
import { useMoto } from "../support/useMoto.js";
import { checkResources, fromPlanned } from "../../policy/run.js";
import { expectNoWildcardActions } from "../support/iam.js";

const PRIMARY = "us-east-1";
const SECONDARY = "us-west-2";
const IOT = "111111111111";

const planned = plannedBeforeAll(() => {
  const p = new aws.Provider(`iot-${PRIMARY}`, { region: PRIMARY, allowedAccountIds: [IOT] });
  const s = new aws.Provider(`iot-${SECONDARY}`, { region: SECONDARY, allowedAccountIds: [IOT] });
  const functions = {
    api: {
      code: new pulumi.asset.AssetArchive({
        "index.js": new pulumi.asset.StringAsset("exports.handler=async()=>1"),
      }),
      handler: "index.handler",
    },
    worker: {
      callbackFactory: () => () => async () => ({
        table: process.env.APP_TABLE,
        region: process.env.APP_REGION,
      }),
    },
  };
  const primary = new ApplicationServicesRegion(
    `app-${PRIMARY}`,
    { region: PRIMARY, appName: "fleet", functions, table: { replicaRegions: [SECONDARY] } },
    { provider: p },
  );
  const secondary = new ApplicationServicesRegion(
    `app-${SECONDARY}`,
    {
      region: SECONDARY,
      appName: "fleet",
      functions,
      table: { name: primary.tableName, arn: primary.tableArn },
    },
    { provider: s },
  );
  return new ApplicationServicesGlobal(
    "app-global",
    {
      appName: "fleet",
      primary: { region: PRIMARY, bucketName: primary.bucketName },
      secondary: { region: SECONDARY, bucketName: secondary.bucketName },
      secondaryProvider: s,
    },
    { provider: p },
  );
});

const of = (type: string, prefix = "") => ofType(planned.resources, type, prefix);

describe("application services under Pulumi mocks", () => {
  it("registers every resource with an explicit provider", () => {
    expect(planned.errors).toEqual([]);
  });

  it("deploys the team's functions in both regions with the table, bucket and region in their environment", () => {
    for (const region of [PRIMARY, SECONDARY]) {
      const fns = of("aws:lambda/function:Function", `app-${region}`);
      expect(fns.map((f) => f.name).sort()).toEqual([`app-${region}-api-fn`, `app-${region}-worker-fn`]);
      for (const f of fns) {
        expect(f.provider).toBe(`iot-${region}`);
        expect(f.inputs).toMatchObject({ runtime: "nodejs22.x", timeout: 30, memorySize: 256 });
        expect((f.inputs.environment as { variables: Record<string, string> }).variables).toMatchObject({
          APP_REGION: region,
          APP_BUCKET: appBucketName("fleet", IOT, region),
        });
      }
    }
  });

  it("keeps the application's data in a global table created once, with a replica in the secondary region", () => {
    const tables = of("aws:dynamodb/table:Table");
    expect(tables).toHaveLength(1);
    expect(tables[0]!.inputs).toMatchObject({
      replicas: [{ regionName: SECONDARY, pointInTimeRecovery: true }],
      streamEnabled: true,
      billingMode: "PAY_PER_REQUEST",
    });
    // Each region's functions use their own region's replica.
    const policy = parsedJson(
      of("aws:iam/rolePolicy:RolePolicy", `app-${SECONDARY}-worker`)[0]!.inputs.policy,
    );
    const data = (policy.Statement as { Sid: string; Resource: string }[]).find((s) => s.Sid === "AppData")!;
    expect(data.Resource).toMatch(new RegExp(`^arn:aws:dynamodb:${SECONDARY}:${IOT}:table/`));
  });

  it("puts a multi-region access point over a versioned, private bucket per region, replicated both ways", () => {
    const mrap = of("aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint")[0]!;
    expect(mrap.inputs.details).toMatchObject({
      name: "fleet",
      regions: [
        { bucket: appBucketName("fleet", IOT, PRIMARY) },
        { bucket: appBucketName("fleet", IOT, SECONDARY) },
      ],
      publicAccessBlock: {
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
    });
    expect(
      of("aws:s3/bucketVersioning:BucketVersioning").map((v) => v.inputs.versioningConfiguration),
    ).toEqual([{ status: "Enabled" }, { status: "Enabled" }]);
    const replication = of("aws:s3/bucketReplicationConfig:BucketReplicationConfig").sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    expect(
      replication.map((r) => [
        r.inputs.bucket,
        (r.inputs.rules as { destination: { bucket: string } }[])[0]!.destination.bucket,
      ]),
    ).toEqual([
      [appBucketName("fleet", IOT, PRIMARY), `arn:aws:s3:::${appBucketName("fleet", IOT, SECONDARY)}`],
      [appBucketName("fleet", IOT, SECONDARY), `arn:aws:s3:::${appBucketName("fleet", IOT, PRIMARY)}`],
    ]);
    expect(replication[1]!.provider).toBe(`iot-${SECONDARY}`);
  });

  it("replicates objects encrypted with KMS: rules select them, name the destination's key, the role may use both keys", () => {
    // Each bucket encrypts under its own customer-managed key, known by one alias in both regions.
    const encryption = of(
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    );
    const keys = of("aws:kms/key:Key");
    expect(keys).toHaveLength(2);
    for (const e of encryption) {
      const rule = (e.inputs.rules as { applyServerSideEncryptionByDefault: Record<string, string> }[])[0]!;
      expect(rule.applyServerSideEncryptionByDefault.sseAlgorithm).toBe("aws:kms");
      expect(rule.applyServerSideEncryptionByDefault.kmsMasterKeyId).toMatch(/^arn:aws:kms:/);
    }
    expect(of("aws:kms/alias:Alias").map((a) => a.inputs.name)).toEqual([
      "alias/iot-dr-app-fleet",
      "alias/iot-dr-app-fleet",
    ]);
    const replication = of("aws:s3/bucketReplicationConfig:BucketReplicationConfig").sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    const destinations = [SECONDARY, PRIMARY];
    replication.forEach((r, i) => {
      const [rule] = r.inputs.rules as Record<string, Record<string, unknown>>[];
      expect(rule!.sourceSelectionCriteria).toEqual({ sseKmsEncryptedObjects: { status: "Enabled" } });
      expect(rule!.destination!.encryptionConfiguration).toEqual({
        replicaKmsKeyId: `arn:aws:kms:${destinations[i]}:${IOT}:alias/iot-dr-app-fleet`,
      });
    });
    const role = parsedJson(of("aws:iam/rolePolicy:RolePolicy", "app-global-replication")[0]!.inputs.policy);
    const kms = (
      role.Statement as {
        Action: string[];
        Resource: string;
        Condition: Record<string, Record<string, unknown>>;
      }[]
    ).filter((s) => s.Action.includes("kms:Decrypt"));
    expect(kms.map((s) => [s.Resource, s.Condition.StringEquals!["kms:ViaService"]])).toEqual([
      [`arn:aws:kms:${PRIMARY}:${IOT}:key/*`, `s3.${PRIMARY}.amazonaws.com`],
      [`arn:aws:kms:${SECONDARY}:${IOT}:key/*`, `s3.${SECONDARY}.amazonaws.com`],
    ]);
    for (const s of kms) {
      expect(s.Action.sort()).toEqual(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]);
      expect(s.Condition["ForAnyValue:StringEquals"]).toEqual({
        "kms:ResourceAliases": ["alias/iot-dr-app-fleet"],
      });
    }
    expect(
      checkResources(fromPlanned(planned.resources)).map((v) => `${v.policy}: ${v.resource}: ${v.message}`),
    ).toEqual([]);
  });

  it("grants no IAM '*' action and no resource '*'", () => {
    const docs = of("aws:iam/rolePolicy:RolePolicy").map((r) => ({
      name: r.name,
      doc: parsedJson(r.inputs.policy),
    }));
    expect(docs.length).toBe(5);
    for (const { name, doc } of docs) {
      for (const s of doc.Statement as { Action: string[]; Resource: unknown }[]) {
        expectNoWildcardActions(s, name);
        expect(s.Resource, name).not.toBe("*");
      }
    }
  });

  it("refuses a bad app name, a function without code, and wildcard statements", () => {
    const p = { provider: new aws.Provider("x", { region: PRIMARY }) };
    const table = { replicaRegions: [] };
    expect(
      () => new ApplicationServicesRegion("a", { region: PRIMARY, appName: "Fleet!", table }, p),
    ).toThrow(/appName/);
    expect(
      () =>
        new ApplicationServicesRegion(
          "b",
          { region: PRIMARY, appName: "fleet", table, functions: { x: {} as never } },
          p,
        ),
    ).toThrow(/code and handler, or callbackFactory/);
    const wild = {
      x: {
        code: new pulumi.asset.AssetArchive({}),
        handler: "i.h",
        statements: [{ Effect: "Allow" as const, Action: "s3:*", Resource: "arn:aws:s3:::b" }],
      },
    };
    expect(
      () =>
        new ApplicationServicesRegion("c", { region: PRIMARY, appName: "fleet", table, functions: wild }, p),
    ).toThrow(/wildcard/);
    expect(
      () => new ApplicationServicesRegion("d", { region: PRIMARY, appName: "fleet", table }, {}),
    ).toThrow(/IoT services/);
  });

  it("serializes a team callback function that runs in a fresh Node process with its context", async () => {
    const fn = of("aws:lambda/function:Function", `app-${PRIMARY}-worker`)[0]!;
    const result = await invokeSerialized(
      await serializedCallback(fn.inputs),
      {},
      { AWS_REGION: PRIMARY, APP_REGION: PRIMARY, APP_TABLE: "t" },
    );
    expect(result.result).toEqual({ table: "t", region: PRIMARY });
  });
});

describe("application checkpoints", () => {
  const moto = useMoto({ resetBeforeEach: false });

  const fakes = (overrides: Partial<AppPorts> = {}): Pick<AppPorts, "headBucket" | "functionState"> => ({
    headBucket: async () => {},
    functionState: async () => "Active",
    ...overrides,
  });

  it("pass when the table reads, the bucket answers and every function is active", async () => {
    const client = new ddb.DynamoDBClient(moto.clientConfig(PRIMARY));
    await client.send(
      new ddb.CreateTableCommand({
        TableName: "app",
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        AttributeDefinitions: [
          { AttributeName: "pk", AttributeType: "S" },
          { AttributeName: "sk", AttributeType: "S" },
        ],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    const probes = appProbes(
      { tableName: "app", bucketName: "b", functionNames: ["f1", "f2"] },
      { ...appTablePortsFromSdk(ddb, client), ...fakes() },
    );
    for (const [name, probe] of Object.entries(probes))
      expect(await probeOutcome(probe), name).toEqual({ ok: true });
  });

  it("fail with a reason for a missing table, a missing replica, a stopped function or an unreachable bucket", async () => {
    const client = new ddb.DynamoDBClient(moto.clientConfig(PRIMARY));
    const ports = {
      ...appTablePortsFromSdk(ddb, client),
      ...fakes({
        functionState: async (f: string) => (f === "f2" ? "Failed" : "Active"),
        headBucket: async () => {
          throw Object.assign(new Error("no route"), { name: "NetworkError" });
        },
      }),
    };
    const missing = appProbes({ tableName: "nope", bucketName: "b", functionNames: ["f1", "f2"] }, ports);
    expect(await probeOutcome(missing["app-table"]!)).toMatchObject({
      ok: false,
      detail: expect.stringContaining("ResourceNotFound"),
    });
    expect(await probeOutcome(missing["app-functions"]!)).toEqual({
      ok: false,
      detail: "CheckpointFailed: functions not active: f2=Failed",
    });
    expect(await probeOutcome(missing["app-bucket"]!)).toEqual({
      ok: false,
      detail: "NetworkError: no route",
    });
    const replica = appProbes(
      { tableName: "app", bucketName: "b", functionNames: [], peerRegion: SECONDARY },
      ports,
    );
    expect(await probeOutcome(replica["app-table-replica"]!)).toEqual({
      ok: false,
      detail: `CheckpointFailed: the replica of app in ${SECONDARY} is missing`,
    });
  });

  it("refuses a team probe whose name clashes with a built-in one", () => {
    expect(() =>
      appProbes(
        { tableName: "t", bucketName: "b", functionNames: [] },
        {
          ...fakes(),
          describeTable: async () => ({ status: "ACTIVE", replicas: {} }),
          readItem: async () => {},
        },
        { "app-bucket": async () => {} },
      ),
    ).toThrow(/clashes/);
  });
});
