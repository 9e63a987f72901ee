import { describe, expect, it } from "vitest";
import { T } from "../../policy/rules";
import { allow, resource, violationsOf } from "./support";

const OPS_URN =
  "urn:pulumi:primary::iot-dr::pulumi:pulumi:Stack$iot-dr:replication:OpsTable::ops/aws:dynamodb/table:Table::ops-table";

const goodOpsTable = () => ({
  hashKey: "pk",
  streamEnabled: true,
  streamViewType: "NEW_AND_OLD_IMAGES",
  pointInTimeRecovery: { enabled: true },
  serverSideEncryption: { enabled: true, kmsKeyArn: "arn:aws:kms:us-east-1:111111111111:key/k" },
  replicas: [
    {
      regionName: "us-west-2",
      kmsKeyArn: "arn:aws:kms:us-west-2:111111111111:key/k",
      pointInTimeRecovery: true,
    },
  ],
});

const opsTable = (props: Record<string, unknown>) =>
  resource(T.table, props, { name: "ops-table", urn: OPS_URN });

describe("ops-table-durability", () => {
  it("accepts the ops table as infra/opsTable.ts builds it", () => {
    expect(violationsOf([opsTable(goodOpsTable())])).toEqual([]);
  });

  it("refuses an ops table without a replica, naming replicas as the fix", () => {
    const v = violationsOf([opsTable({ ...goodOpsTable(), replicas: [] })]);
    expect(v).toContainEqual({
      policy: "ops-table-durability",
      message: expect.stringMatching(/no replica.*add replicas: \[\{ regionName/),
    });
  });

  it("refuses an ops table without point-in-time recovery, on the table or on its replica", () => {
    const table = violationsOf([opsTable({ ...goodOpsTable(), pointInTimeRecovery: { enabled: false } })]);
    expect(table.map((v) => v.message)).toContainEqual(
      expect.stringMatching(/pointInTimeRecovery: \{ enabled: true \}/),
    );
    const replica = violationsOf([
      opsTable({ ...goodOpsTable(), replicas: [{ regionName: "us-west-2", kmsKeyArn: "k" }] }),
    ]);
    expect(replica.map((v) => v.message)).toContainEqual(
      expect.stringMatching(
        /replica in us-west-2 has no point-in-time recovery: set pointInTimeRecovery: true/,
      ),
    );
  });

  it("refuses an ops table whose stream is off or lacks old images", () => {
    for (const change of [{ streamEnabled: false }, { streamViewType: "NEW_IMAGE" }]) {
      const v = violationsOf([opsTable({ ...goodOpsTable(), ...change })]);
      expect(v.map((x) => x.message)).toContainEqual(
        expect.stringMatching(/streamViewType: "NEW_AND_OLD_IMAGES"/),
      );
    }
  });

  it("refuses an ops table without its own KMS key, on the table or on the replica", () => {
    const v = violationsOf([
      opsTable({
        ...goodOpsTable(),
        serverSideEncryption: { enabled: true },
        replicas: [{ regionName: "us-west-2", pointInTimeRecovery: true }],
      }),
    ]);
    const messages = v.filter((x) => x.policy === "ops-table-durability").map((x) => x.message);
    expect(messages).toContainEqual(expect.stringMatching(/kmsKeyArn: <multi-region key>/));
    expect(messages).toContainEqual(
      expect.stringMatching(/replica in us-west-2 has no KMS key: set kmsKeyArn/),
    );
  });

  it("leaves other tables to the encryption policy only", () => {
    const other = resource(T.table, { serverSideEncryption: { enabled: true } }, { name: "app-data" });
    expect(violationsOf([other])).toEqual([]);
  });
});

describe("dead-letter-destinations", () => {
  it("refuses a stream mapping without an on-failure destination", () => {
    const mapping = resource(T.mapping, {
      eventSourceArn: "arn:aws:dynamodb:us-east-1:1:table/t/stream/2026",
      functionName: "fn",
    });
    expect(violationsOf([mapping])).toEqual([
      {
        policy: "dead-letter-destinations",
        message: expect.stringMatching(/destinationConfig: \{ onFailure: \{ destinationArn/),
      },
    ]);
    const fixed = {
      ...mapping,
      props: { ...mapping.props, destinationConfig: { onFailure: { destinationArn: "q" } } },
    };
    expect(violationsOf([fixed])).toEqual([]);
  });

  it("leaves an SQS-sourced mapping to its queue's redrive policy", () => {
    const mapping = resource(T.mapping, { eventSourceArn: "arn:aws:sqs:us-east-1:1:q", functionName: "fn" });
    expect(violationsOf([mapping])).toEqual([]);
  });

  it("refuses an IoT topic rule without an error action", () => {
    const rule = resource(T.topicRule, {
      sql: "SELECT * FROM 'a'",
      enabled: true,
      lambdas: [{ functionArn: "f" }],
    });
    expect(violationsOf([rule])).toEqual([
      { policy: "dead-letter-destinations", message: expect.stringMatching(/set errorAction/) },
    ]);
    const fixed = {
      ...rule,
      props: { ...rule.props, errorAction: { sqs: { queueUrl: "u", roleArn: "r" } } },
    };
    expect(violationsOf([fixed])).toEqual([]);
  });

  it("refuses an event target and a schedule without a dead-letter queue", () => {
    const target = resource(T.eventTarget, { rule: "r", arn: "arn:aws:lambda:us-east-1:1:function:f" });
    const schedule = resource(T.schedule, { target: { arn: "a", roleArn: "r" } });
    expect(violationsOf([target, schedule]).map((v) => v.message)).toEqual([
      expect.stringMatching(/deadLetterConfig: \{ arn: <SQS queue ARN> \}/),
      expect.stringMatching(/target\.deadLetterConfig: \{ arn/),
    ]);
    expect(
      violationsOf([
        { ...target, props: { ...target.props, deadLetterConfig: { arn: "q" } } },
        { ...schedule, props: { target: { arn: "a", roleArn: "r", deadLetterConfig: { arn: "q" } } } },
      ]),
    ).toEqual([]);
  });
});

describe("lambda-function-settings and log groups", () => {
  const fn = (props: Record<string, unknown>, name = "fn") => resource(T.fn, props, { name });
  const logGroup = (props: Record<string, unknown>, name = "fn-logs") =>
    resource(T.logGroup, props, { name });
  const complete = {
    role: "arn:aws:iam::1:role/r",
    runtime: "nodejs22.x",
    timeout: 30,
    loggingConfig: { logGroup: "g" },
  };

  it("accepts a function with role, runtime, timeout and a configured log group", () => {
    expect(violationsOf([fn(complete), logGroup({ name: "g", retentionInDays: 30 })])).toEqual([]);
  });

  it("names each missing setting: role, runtime, timeout", () => {
    const messages = violationsOf([fn({ loggingConfig: { logGroup: "g" } })]).map((v) => v.message);
    expect(messages).toEqual([
      expect.stringMatching(/no role: give it `role`/),
      expect.stringMatching(/no explicit runtime: set `runtime`/),
      expect.stringMatching(/no explicit timeout.*set `timeout`/),
    ]);
  });

  it("does not ask a container-image function for a runtime", () => {
    const image = fn({ role: "r", packageType: "Image", timeout: 10, loggingConfig: { logGroup: "g" } });
    expect(violationsOf([image])).toEqual([]);
  });

  it("refuses a function whose logs go to an unmanaged group, and accepts /aws/lambda/<name> with retention", () => {
    const bare = fn({ role: "r", runtime: "nodejs22.x", timeout: 3, name: "capture" });
    expect(violationsOf([bare])).toEqual([
      { policy: "lambda-log-group", message: expect.stringMatching(/set loggingConfig: \{ logGroup/) },
    ]);
    expect(violationsOf([bare, logGroup({ name: "/aws/lambda/capture", retentionInDays: 14 })])).toEqual([]);
  });

  it("refuses a log group that keeps events forever, and the function that uses it", () => {
    const v = violationsOf([fn(complete), logGroup({ name: "g" })]);
    expect(v).toEqual([
      {
        policy: "lambda-log-group",
        message: expect.stringMatching(/log group 'fn-logs' keeps events forever/),
      },
      { policy: "log-group-retention", message: expect.stringMatching(/set retentionInDays/) },
    ]);
  });
});

describe("iam-least-privilege", () => {
  const rolePolicy = (policy: unknown) => resource(T.rolePolicy, { role: "r", policy }, { name: "p" });

  it("refuses action '*' and whole-service actions, in JSON strings and objects alike", () => {
    for (const policy of [
      allow("*", "arn:aws:s3:::b"),
      JSON.stringify(allow(["iot:*"], "arn:aws:iot:*:1:thing/*")),
    ]) {
      const v = violationsOf([rolePolicy(policy)]);
      expect(v).toEqual([
        {
          policy: "iam-least-privilege",
          message: expect.stringMatching(/allows '(\*|iot:\*)'.*list the actions/),
        },
      ]);
    }
  });

  it("refuses resource '*' for actions that take resource ARNs, naming them", () => {
    const v = violationsOf([rolePolicy(allow(["iot:DescribeThing", "iot:ListThings"], "*"))]);
    expect(v).toEqual([
      {
        policy: "iam-least-privilege",
        message: expect.stringMatching(/grants iot:DescribeThing on resource '\*'.*name the ARNs/),
      },
    ]);
  });

  it("allows resource '*' for the listed ARN-less actions only", () => {
    expect(violationsOf([rolePolicy(allow(["iot:ListThings", "cloudwatch:PutMetricData"], "*"))])).toEqual(
      [],
    );
    expect(violationsOf([rolePolicy(allow("iot:Describe*", "*"))]).map((v) => v.message)).toEqual([
      expect.stringMatching(/iot:Describe\* on resource '\*'/),
    ]);
  });

  it("refuses NotAction and NotResource in Allow statements", () => {
    const notAction = { Statement: { Effect: "Allow", NotAction: "iam:*", Resource: "*" } };
    const notResource = { Statement: { Effect: "Allow", Action: "sqs:SendMessage", NotResource: "arn:x" } };
    expect(violationsOf([rolePolicy(notAction), rolePolicy(notResource)]).map((v) => v.message)).toEqual([
      expect.stringMatching(/NotAction grants every other action/),
      expect.stringMatching(/NotResource covers every other resource/),
    ]);
  });

  it("ignores Deny statements, which only narrow", () => {
    const deny = { Statement: [{ Effect: "Deny", Action: "*", Resource: "*" }] };
    expect(violationsOf([rolePolicy(deny)])).toEqual([]);
  });

  it("checks aws.iam.Policy documents and role inlinePolicies the same way", () => {
    const managed = resource(T.policy, { policy: JSON.stringify(allow("*", "*")) }, { name: "mp" });
    const role = resource(
      T.role,
      {
        assumeRolePolicy: {
          Statement: [
            { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
          ],
        },
        inlinePolicies: [
          { name: "inline", policy: JSON.stringify(allow("dynamodb:*", "arn:aws:dynamodb:*:1:table/t")) },
        ],
      },
      { name: "role" },
    );
    const v = violationsOf([managed, role]).map((x) => x.message);
    expect(v).toEqual([
      expect.stringMatching(/^the policy, statement 'Crafted': allows '\*'/),
      expect.stringMatching(/^inline policy 'inline', statement 'Crafted': allows 'dynamodb:\*'/),
    ]);
  });

  it("reports a policy document that is not JSON, asking for a document", () => {
    expect(violationsOf([rolePolicy("{not json")])).toEqual([
      {
        policy: "iam-least-privilege",
        message: expect.stringMatching(/not valid JSON.*pulumi\.jsonStringify/),
      },
    ]);
  });
});

describe("iam-no-aws-managed-policies", () => {
  it("refuses AWS-managed policy attachments, by attachment or on the role", () => {
    const attachment = resource(T.rolePolicyAttachment, {
      role: "r",
      policyArn: "arn:aws:iam::aws:policy/AWSLambdaFullAccess",
    });
    const role = resource(T.role, {
      assumeRolePolicy: "{}",
      managedPolicyArns: ["arn:aws:iam::aws:policy/AdministratorAccess"],
    });
    expect(violationsOf([attachment, role]).map((v) => v.message)).toEqual([
      expect.stringMatching(/AWSLambdaFullAccess.*inline aws\.iam\.RolePolicy/),
      expect.stringMatching(/AdministratorAccess/),
    ]);
  });

  it("accepts the project's own customer-managed policies", () => {
    const attachment = resource(T.rolePolicyAttachment, {
      role: "r",
      policyArn: "arn:aws:iam::111111111111:policy/x",
    });
    expect(violationsOf([attachment])).toEqual([]);
  });
});

describe("iot-policy-least-privilege", () => {
  const iotPolicy = (policy: unknown) => resource(T.iotPolicy, { policy }, { name: "device-policy" });

  it("accepts a policy scoped to the device's own client id and topics", () => {
    const scoped = {
      Statement: [
        {
          Effect: "Allow",
          Action: "iot:Connect",
          Resource: "arn:aws:iot:us-east-1:1:client/${iot:Connection.Thing.ThingName}",
        },
        {
          Effect: "Allow",
          Action: ["iot:Publish", "iot:Receive"],
          Resource: "arn:aws:iot:us-east-1:1:topic/dt/${iot:Connection.Thing.ThingName}/*",
        },
      ],
    };
    expect(violationsOf([iotPolicy(JSON.stringify(scoped))])).toEqual([]);
  });

  it("refuses iot:* and resource '*', naming the actions and ARNs to use", () => {
    const v = violationsOf([iotPolicy(allow("iot:*", "*"))]).map((x) => x.message);
    expect(v).toEqual([
      expect.stringMatching(/allows 'iot:\*': list iot:Connect, iot:Publish/),
      expect.stringMatching(/every client and topic: scope Resource to client\/<id>/),
    ]);
  });
});

describe("resource-policy-not-public", () => {
  const queuePolicy = (statement: Record<string, unknown>) =>
    resource(T.queuePolicy, {
      queueUrl: "u",
      policy: JSON.stringify({
        Statement: [
          { Effect: "Allow", Action: "sqs:SendMessage", Resource: "arn:aws:sqs:us-east-1:1:q", ...statement },
        ],
      }),
    });

  it("refuses Principal '*' without a condition on queue, topic, bus, bucket and key policies", () => {
    const open = { Statement: [{ Effect: "Allow", Principal: "*", Action: "x:Y", Resource: "r" }] };
    const types = [T.queuePolicy, T.topicPolicy, T.busPolicy, T.bucketPolicy, T.key];
    const v = violationsOf(types.map((t) => resource(t, { policy: JSON.stringify(open) })));
    expect(v).toHaveLength(5);
    for (const x of v) {
      expect(x).toEqual({
        policy: "resource-policy-not-public",
        message: expect.stringMatching(/lets anyone.*add a condition/),
      });
    }
  });

  it("accepts a named service principal, and '*' narrowed by a source condition", () => {
    expect(violationsOf([queuePolicy({ Principal: { Service: "events.amazonaws.com" } })])).toEqual([]);
    expect(
      violationsOf([
        queuePolicy({
          Principal: { AWS: "*" },
          Condition: { ArnEquals: { "aws:SourceArn": "arn:aws:events:us-east-1:1:rule/r" } },
        }),
      ]),
    ).toEqual([]);
    expect(violationsOf([queuePolicy({ Principal: { AWS: "*" } })])).toHaveLength(1);
  });

  it("leaves a key without a policy (the account's default key policy) alone", () => {
    expect(violationsOf([resource(T.key, { description: "k" })])).toEqual([]);
  });
});

describe("encryption-at-rest", () => {
  it("refuses unencrypted queues, tables, secrets, topics and streams, naming the setting", () => {
    const v = violationsOf([
      resource(T.queue, {}),
      resource(T.table, { hashKey: "pk" }),
      resource(T.secret, { name: "canary" }),
      resource(T.topic, {}),
      resource(T.kinesis, { shardCount: 1 }),
    ]);
    expect(v.map((x) => x.message)).toEqual([
      expect.stringMatching(/sqsManagedSseEnabled: true/),
      expect.stringMatching(/serverSideEncryption: \{ enabled: true/),
      expect.stringMatching(/set kmsKeyId to a customer-managed key/),
      expect.stringMatching(/set kmsMasterKeyId/),
      expect.stringMatching(/encryptionType: "KMS"/),
    ]);
    expect(new Set(v.map((x) => x.policy))).toEqual(new Set(["encryption-at-rest"]));
  });

  it("accepts each when encrypted", () => {
    expect(
      violationsOf([
        resource(T.queue, { sqsManagedSseEnabled: true }),
        resource(T.queue, { kmsMasterKeyId: "alias/aws/sqs" }),
        resource(T.table, { serverSideEncryption: { enabled: true } }),
        resource(T.secret, { kmsKeyId: "arn:aws:kms:us-east-1:1:key/k" }),
        resource(T.topic, { kmsMasterKeyId: "alias/aws/sns" }),
        resource(T.kinesis, { encryptionType: "KMS" }),
      ]),
    ).toEqual([]);
  });
});

describe("failover-record-ttl", () => {
  const record = (props: Record<string, unknown>) =>
    resource(T.record, {
      zoneId: "Z",
      name: "devices.iot.example.com",
      type: "CNAME",
      setIdentifier: "primary",
      failoverRoutingPolicies: [{ type: "PRIMARY" }],
      healthCheckId: "hc",
      ...props,
    });

  it("refuses a failover TTL above the default bound of 300 s, naming the config key", () => {
    expect(violationsOf([record({ ttl: 301 })])).toEqual([
      {
        policy: "failover-record-ttl",
        message: expect.stringMatching(
          /TTL is 301 s, above the bound of 300 s.*iot-dr:failoverRecordTtlSeconds to 300/,
        ),
      },
    ]);
    expect(violationsOf([record({ ttl: 300 })])).toEqual([]);
  });

  it("applies the configured bound maxFailoverTtlSeconds", () => {
    const cfg = { "failover-record-ttl": { maxFailoverTtlSeconds: 30 } };
    expect(violationsOf([record({ ttl: 60 })], cfg).map((v) => v.message)).toEqual([
      expect.stringMatching(/above the bound of 30 s/),
    ]);
  });

  it("refuses a failover record without TTL and a PRIMARY without health check", () => {
    expect(
      violationsOf([record({ ttl: undefined, healthCheckId: undefined })]).map((v) => v.message),
    ).toEqual([
      expect.stringMatching(/no TTL: set ttl/),
      expect.stringMatching(/PRIMARY failover record has no health check.*set healthCheckId/),
    ]);
  });

  it("accepts alias failover records, which have no TTL of their own", () => {
    const alias = record({
      aliases: [{ name: "d.execute-api", zoneId: "Z2", evaluateTargetHealth: true }],
      healthCheckId: undefined,
    });
    expect(violationsOf([alias])).toEqual([]);
  });

  it("ignores records without failover routing", () => {
    expect(violationsOf([resource(T.record, { name: "x", type: "A", ttl: 86400 })])).toEqual([]);
  });
});

describe("cross-account-metrics-linked", () => {
  const MONITORING = "444444444444";
  const IOT = "111111111111";
  const at = (account: string, region = "us-east-1") => ({ account, region });
  const sinkArn = (account = MONITORING, region = "us-east-1") => `arn:aws:oam:${region}:${account}:sink/s-1`;
  const sink = (account = MONITORING, region = "us-east-1") =>
    resource(T.oamSink, {}, { name: "sink", ...at(account, region) });
  const link = (props: Record<string, unknown> = {}, account = IOT, region = "us-east-1") =>
    resource(
      T.oamLink,
      { sinkIdentifier: sinkArn(), resourceTypes: ["AWS::CloudWatch::Metric"], labelTemplate: "l", ...props },
      { name: "link", ...at(account, region) },
    );
  const dashboard = (metric: unknown[], widget: Record<string, unknown> = {}) =>
    resource(
      T.dashboard,
      {
        dashboardName: "d",
        dashboardBody: JSON.stringify({
          widgets: [{ type: "metric", properties: { region: "us-east-1", metrics: [metric], ...widget } }],
        }),
      },
      { name: "dash", ...at(MONITORING) },
    );
  const lagOfIot = ["iot-dr", "ReplicationLagMs", { stat: "p99", accountId: IOT }];

  it("refuses a dashboard that reads another account's metrics with no link from it, naming the fix", () => {
    expect(violationsOf([dashboard(lagOfIot)])).toEqual([
      {
        policy: "cross-account-metrics-linked",
        message: expect.stringMatching(
          /the dashboard in account 444444444444 reads metrics of account 111111111111 in us-east-1, but no OAM link .*create an aws.oam.Link in 111111111111/,
        ),
      },
    ]);
  });

  it("accepts it once the account links to a sink of the dashboard's account in that region, sharing metrics", () => {
    expect(violationsOf([dashboard(lagOfIot), sink(), link()])).toEqual([]);
    // A sink ARN not known yet (preview) counts for this stack's sink in the link's region.
    expect(violationsOf([dashboard(lagOfIot), sink(), link({ sinkIdentifier: undefined })])).toEqual([]);
  });

  it("refuses a link to another account's sink, in another region, or sharing only logs", () => {
    const policies = (...rs: ReturnType<typeof resource>[]) => violationsOf(rs).map((v) => v.policy);
    expect(policies(dashboard(lagOfIot), link({ sinkIdentifier: sinkArn("999999999999") }))).toEqual([
      "cross-account-metrics-linked",
    ]);
    expect(policies(dashboard(lagOfIot), sink(), link({}, IOT, "us-west-2"))).toEqual([
      "cross-account-metrics-linked",
    ]);
    expect(policies(dashboard(lagOfIot), sink(), link({ resourceTypes: ["AWS::Logs::LogGroup"] }))).toEqual([
      "cross-account-metrics-linked",
    ]);
  });

  it("judges search expressions and widget-level accounts, not metrics of the dashboard's own account", () => {
    const search = [{ expression: "SEARCH('{AWS/SQS,QueueName}', 'Maximum', 60)", id: "e", accountId: IOT }];
    expect(violationsOf([dashboard(search)]).map((v) => v.policy)).toEqual(["cross-account-metrics-linked"]);
    expect(violationsOf([dashboard(["AWS/SQS", "X"], { accountId: IOT })]).map((v) => v.policy)).toEqual([
      "cross-account-metrics-linked",
    ]);
    expect(violationsOf([dashboard(["iot-dr", "FactorHealthy", { accountId: MONITORING }])])).toEqual([]);
  });

  it("leaves a widget of another region to the stack that owns that region's sink", () => {
    expect(
      violationsOf([dashboard(["AWS/IoT", "Connect.Success", { accountId: IOT, region: "us-west-2" }])]),
    ).toEqual([]);
  });

  it("refuses an alarm on another account's metric (accountId or Metrics Insights AWS.AccountId) without a link", () => {
    const alarm = (query: Record<string, unknown>) =>
      resource(
        T.metricAlarm,
        {
          comparisonOperator: "GreaterThanThreshold",
          metricQueries: [{ id: "m", returnData: true, ...query }],
        },
        { name: "alarm", ...at(MONITORING) },
      );
    const byAccountId = alarm({
      accountId: IOT,
      metric: { namespace: "AWS/SQS", metricName: "X", stat: "Maximum" },
    });
    const byInsights = alarm({
      expression: `SELECT MAX(DriftCount) FROM "iot-dr" WHERE AWS.AccountId = '${IOT}'`,
    });
    for (const a of [byAccountId, byInsights]) {
      expect(violationsOf([a])).toEqual([
        {
          policy: "cross-account-metrics-linked",
          message: expect.stringMatching(
            /the alarm in account 444444444444 reads metrics of account 111111111111/,
          ),
        },
      ]);
      expect(violationsOf([a, sink(), link()])).toEqual([]);
    }
  });
});
