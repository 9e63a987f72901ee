/**
 * The checkpoints the C&C API, the analytics region and the application services plug into their
 * accounts' health APIs (infra/healthPlugins.ts): the serialized health functions, run in a fresh
 * Node process against moto, answer 200 while every dependency works and 503 naming the one that
 * does not; their roles may do exactly what the probes need.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  UpdateTableCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { CreateEventBusCommand, EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { CreateStreamCommand, KinesisClient } from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { CreateFunctionCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { CreateBucketCommand, DeleteBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { HealthApi } from "../../../infra/healthApi.js";
import {
  analyticsHealthPlugin,
  applicationHealthPlugin,
  commandControlHealthPlugin,
} from "../../../infra/healthPlugins.js";
import type { AnalyticsRegion } from "../../../infra/analytics.js";
import type { ApplicationServicesRegion } from "../../../infra/applicationServices.js";
import type { CommandControlApi } from "../../../infra/commandControlApi.js";
import { invokeSerialized, serializedCallback, type SerializedCallback } from "../../support/serialized.js";
import { useMoto } from "../../support/useMoto.js";
import { doc, named, provider, SHARED_ACCOUNT, underMocks } from "../mocks.js";

const REGION = "eu-west-1";
const PEER = "eu-central-1";

describe("health plug-ins of C&C, analytics and application services", async () => {
  const run = await underMocks(() => {
    // Only the outputs the plug-ins read; the components themselves have their own tests.
    const analytics = {
      eventBusName: pulumi.output("device-data"),
      eventBusArn: pulumi.output(`arn:aws:events:${REGION}:333333333333:event-bus/device-data`),
      streamName: pulumi.output("device-stream"),
      streamArn: pulumi.output(`arn:aws:kinesis:${REGION}:333333333333:stream/device-stream`),
      deadLetterQueueUrls: pulumi.output({
        rule: "https://rule",
        target: "https://target",
        forwarder: "https://fwd",
      }),
      deadLetterQueueArns: pulumi.output({
        rule: "arn:aws:sqs:eu-west-1:111111111111:rule-dlq",
        target: "arn:aws:sqs:eu-west-1:333333333333:target-dlq",
        forwarder: "arn:aws:sqs:eu-west-1:333333333333:forwarder-dlq",
      }),
    } as unknown as AnalyticsRegion;
    const cc = {
      functionArn: pulumi.output(`arn:aws:lambda:${REGION}:222222222222:function:cc-fn`),
    } as unknown as CommandControlApi;
    const app = {
      tableName: pulumi.output("orders-production"),
      regionalTableArn: pulumi.output(`arn:aws:dynamodb:${REGION}:111111111111:table/orders-production`),
      bucketName: pulumi.output("orders-111111111111-eu-west-1"),
      bucketArn: pulumi.output("arn:aws:s3:::orders-111111111111-eu-west-1"),
      functionArns: pulumi.output({ api: `arn:aws:lambda:${REGION}:111111111111:function:orders-api` }),
      functionCount: 1,
    } as unknown as ApplicationServicesRegion;
    const common = { region: REGION, callerAccountId: SHARED_ACCOUNT };
    const apis = [
      ["analytics", "analytics", analyticsHealthPlugin(analytics), "333333333333"],
      ["cc", "commandControl", commandControlHealthPlugin(cc, "cc-idempotency"), "222222222222"],
      ["app", "iot", applicationHealthPlugin(app, PEER), "111111111111"],
    ] as const;
    for (const [name, account, plugin, id] of apis) {
      new HealthApi(
        `${name}-health`,
        {
          ...common,
          account,
          checkpoints: plugin.checkpoints,
          ...(plugin.probes ? { probes: plugin.probes } : {}),
        },
        { provider: provider(`${name}-provider`, REGION, id) },
      );
    }
  });

  const fn = (name: string) => named(run.resources, "aws:lambda/function:Function", `${name}-health-fn`);
  const envOf = (name: string) =>
    (fn(name).inputs.environment as { variables: Record<string, string> }).variables;
  const statements = (name: string) =>
    doc(named(run.resources, "aws:iam/rolePolicy:RolePolicy", `${name}-health-policy`).inputs.policy)
      .Statement;

  it("registers without errors", () => {
    expect(run.errors).toEqual([]);
  });

  it("declares each plug-in's checkpoints under its factor", () => {
    const names = (name: string) =>
      (JSON.parse(envOf(name).HEALTH_CHECKPOINTS!) as Array<{ name: string; factor: string }>).map(
        (c) => `${c.factor}/${c.name}`,
      );
    expect(names("analytics")).toEqual([
      "analytics/analytics-bus",
      "analytics/analytics-ingest",
      "analytics/analytics-stream",
      "analytics/analytics-dead-letters",
    ]);
    expect(names("cc")).toEqual(["commandControl/cc-idempotency-table", "commandControl/cc-function"]);
    expect(names("app")).toEqual([
      "applicationServices/app-table",
      "applicationServices/app-table-replica",
      "applicationServices/app-bucket",
      "applicationServices/app-functions",
    ]);
  });

  it("grants the probes exactly their calls on their resources, and no queue of another account", () => {
    const grants = (name: string) =>
      statements(name)
        .filter((s) => s.Sid !== "OwnLogs")
        .map((s) => ({ actions: s.Action, resource: s.Resource }));
    expect(grants("analytics")).toEqual([
      {
        actions: ["events:DescribeEventBus", "events:PutEvents"],
        resource: `arn:aws:events:${REGION}:333333333333:event-bus/device-data`,
      },
      {
        actions: ["kinesis:DescribeStreamSummary"],
        resource: `arn:aws:kinesis:${REGION}:333333333333:stream/device-stream`,
      },
      {
        actions: ["sqs:GetQueueAttributes"],
        resource: [
          "arn:aws:sqs:eu-west-1:333333333333:target-dlq",
          "arn:aws:sqs:eu-west-1:333333333333:forwarder-dlq",
        ],
      },
    ]);
    expect(grants("cc")).toEqual([
      {
        actions: ["lambda:GetFunctionConfiguration"],
        resource: `arn:aws:lambda:${REGION}:222222222222:function:cc-fn`,
      },
      {
        actions: ["dynamodb:DescribeTable"],
        resource: [`arn:aws:dynamodb:${REGION}:222222222222:table/cc-idempotency`],
      },
    ]);
    expect(grants("app")).toEqual([
      {
        actions: ["dynamodb:DescribeTable", "dynamodb:GetItem"],
        resource: `arn:aws:dynamodb:${REGION}:111111111111:table/orders-production`,
      },
      { actions: ["s3:ListBucket"], resource: "arn:aws:s3:::orders-111111111111-eu-west-1" },
      {
        actions: ["lambda:GetFunctionConfiguration"],
        resource: [`arn:aws:lambda:${REGION}:111111111111:function:orders-api`],
      },
    ]);
  });

  describe("the deployed code against moto", () => {
    const moto = useMoto({ resetBeforeEach: false });
    const code: Record<string, SerializedCallback> = {};
    const queues: Record<string, string> = {};
    let functionArn = "";

    beforeAll(async () => {
      for (const name of ["analytics", "cc", "app"]) code[name] = await serializedCallback(fn(name).inputs);
      const config = moto.clientConfig(REGION);
      await new EventBridgeClient(config).send(new CreateEventBusCommand({ Name: "device-data" }));
      // Kinesis' default HTTP/2 handler does not talk to moto.
      await new KinesisClient({ ...config, requestHandler: new NodeHttpHandler() }).send(
        new CreateStreamCommand({ StreamName: "device-stream", ShardCount: 1 }),
      );
      const sqs = new SQSClient(config);
      for (const q of ["target-dlq", "forwarder-dlq"]) {
        queues[q] = (await sqs.send(new CreateQueueCommand({ QueueName: q }))).QueueUrl!;
      }
      const dynamo = new DynamoDBClient(config);
      for (const table of ["orders-production", "cc-idempotency"]) {
        await dynamo.send(
          new CreateTableCommand({
            TableName: table,
            BillingMode: "PAY_PER_REQUEST",
            KeySchema: [
              { AttributeName: "pk", KeyType: "HASH" },
              ...(table === "orders-production" ? [{ AttributeName: "sk", KeyType: "RANGE" as const }] : []),
            ],
            AttributeDefinitions: [
              { AttributeName: "pk", AttributeType: "S" },
              ...(table === "orders-production"
                ? [{ AttributeName: "sk", AttributeType: "S" as const }]
                : []),
            ],
          }),
        );
        await waitUntilTableExists({ client: dynamo, maxWaitTime: 30 }, { TableName: table });
      }
      // The application's table is a global table; the stack names the peer region's replica.
      await dynamo.send(
        new UpdateTableCommand({
          TableName: "orders-production",
          ReplicaUpdates: [{ Create: { RegionName: PEER } }],
        }),
      );
      await new S3Client({ ...config, forcePathStyle: true }).send(
        new CreateBucketCommand({
          Bucket: "orders-111111111111-eu-west-1",
          CreateBucketConfiguration: { LocationConstraint: REGION },
        }),
      );
      // moto wants the function's role to exist; its IAM query API routes on the credential scope.
      const roleArn = "arn:aws:iam::123456789012:role/fn-role";
      const iam = await fetch(`${moto.endpoint}/`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization:
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        },
        body: new URLSearchParams({
          Action: "CreateRole",
          Version: "2010-05-08",
          RoleName: "fn-role",
          AssumeRolePolicyDocument: "{}",
        }).toString(),
      });
      expect(iam.status).toBe(200);
      const created = await new LambdaClient(config).send(
        new CreateFunctionCommand({
          FunctionName: "orders-api",
          Runtime: "nodejs22.x",
          Role: roleArn,
          Handler: "index.handler",
          Code: { ZipFile: new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)]) },
        }),
      );
      functionArn = created.FunctionArn!;
    }, 120_000);

    const factorEvent = (factor: string) => ({
      rawPath: `/${factor}`,
      requestContext: { http: { method: "GET" } },
    });
    const invoke = async (name: string, factor: string, config: Record<string, string>) => {
      const out = await invokeSerialized(code[name], factorEvent(factor), {
        ...envOf(name),
        ...moto.env(REGION),
        ...config,
      });
      if (!out.ok) throw new Error(`${name} health API failed: ${out.error?.message}\n${out.stderr}`);
      const result = out.result as { statusCode: number; body: string };
      return {
        status: result.statusCode,
        checkpoints: (
          JSON.parse(result.body) as { checkpoints: Array<{ name: string; ok: boolean; error?: string }> }
        ).checkpoints,
      };
    };
    const analyticsConfig = () => ({
      ANALYTICS_PROBE_CONFIG: JSON.stringify({
        eventBusName: "device-data",
        streamName: "device-stream",
        deadLetterQueueUrls: { target: queues["target-dlq"], forwarder: queues["forwarder-dlq"] },
      }),
    });
    const appConfig = () => ({
      APP_PROBE_CONFIG: JSON.stringify({
        tableName: "orders-production",
        bucketName: "orders-111111111111-eu-west-1",
        functionNames: [functionArn],
        peerRegion: PEER,
      }),
    });

    it("analytics: 200 while bus, ingest, stream and dead-letter queues are fine; 503 naming piled-up dead letters", async () => {
      const up = await invoke("analytics", "analytics", analyticsConfig());
      expect(up.checkpoints.filter((c) => !c.ok)).toEqual([]);
      expect(up.status).toBe(200);
      await new SQSClient(moto.clientConfig(REGION)).send(
        new SendMessageCommand({ QueueUrl: queues["forwarder-dlq"], MessageBody: "{}" }),
      );
      const down = await invoke("analytics", "analytics", analyticsConfig());
      expect(down.status).toBe(503);
      expect(down.checkpoints.find((c) => c.name === "analytics-dead-letters")?.error).toContain(
        "forwarder=1",
      );
    }, 60_000);

    it("C&C: 200 while the function is Active and the idempotency table exists; 503 when the table is gone", async () => {
      const config = { CC_PROBE_CONFIG: JSON.stringify({ functionName: functionArn }) };
      const up = await invoke("cc", "commandControl", config);
      expect(up.checkpoints.filter((c) => !c.ok)).toEqual([]);
      expect(up.status).toBe(200);
      await new DynamoDBClient(moto.clientConfig(REGION)).send(
        new DeleteTableCommand({ TableName: "cc-idempotency" }),
      );
      const down = await invoke("cc", "commandControl", config);
      expect(down.status).toBe(503);
      expect(down.checkpoints.find((c) => c.name === "cc-idempotency-table")?.ok).toBe(false);
    }, 60_000);

    it("application services: table, bucket and functions pass; a missing replica or bucket fails with its name", async () => {
      // moto accepts ReplicaUpdates but lists no replica: the replica checkpoint must say so (503).
      const up = await invoke("app", "applicationServices", appConfig());
      expect(up.checkpoints.filter((c) => !c.ok).map((c) => c.error)).toEqual([
        "CheckpointFailed: the replica of orders-production in eu-central-1 is missing",
      ]);
      expect(up.status).toBe(503);
      await new S3Client({ ...moto.clientConfig(REGION), forcePathStyle: true }).send(
        new DeleteBucketCommand({ Bucket: "orders-111111111111-eu-west-1" }),
      );
      const down = await invoke("app", "applicationServices", appConfig());
      expect(down.status).toBe(503);
      expect(down.checkpoints.find((c) => c.name === "app-bucket")?.error).toContain("HeadBucket");
      expect(down.checkpoints.find((c) => c.name === "app-table")?.ok).toBe(true);
      expect(down.checkpoints.find((c) => c.name === "app-functions")?.ok).toBe(true);
    }, 60_000);
  });
});
