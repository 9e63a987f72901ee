/** The replication components under Pulumi mocks: what each one registers and with which settings. */
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../../cli/plan/recorder.js";
import { readFileSync } from "node:fs";
import path from "node:path";
import { PORT_API, type IotRegistryPort } from "../../../functions/registry/iotPort.js";
import {
  CAPTURE_IOT_ACTIONS,
  CAPTURE_RULE_TOPICS,
  CAPTURE_TIMEOUT_SECONDS,
  CLOUDTRAIL_TARGET_RETRY,
  RegistryCapture,
} from "../../../infra/capture.js";
import { captureSizing } from "../../../functions/replication/captureSizing.js";
import { CLOUDTRAIL_EVENT_PATTERN } from "../../../functions/replication/cloudTrail.js";
import { MarkerTable } from "../../../infra/markerTable.js";
import { OpsTable } from "../../../infra/opsTable.js";
import { ReplayPipeline } from "../../../infra/replayPipeline.js";
import { ARN_LESS_ACTIONS, IOT_ARN_LESS_ACTIONS } from "../../../infra/callbackFunction.js";
import { replayFilterPattern } from "../../../functions/replication/streamFilter.js";
import { ACCOUNT, arnsIn, one, ofType, provider, underMocks } from "./mocks.js";
import { list, statementsOf } from "../../support/iam.js";

const PRIMARY = "us-east-1";
const SECONDARY = "us-west-2";
const { TABLE_ARN, KEY_ARN, TOPIC_ARN } = arnsIn(SECONDARY);
const MARKER_TABLE_ARN = `arn:aws:dynamodb:${SECONDARY}:${ACCOUNT}:table/applied-markers`;
const MARKERS = { markerTableName: "applied-markers", markerTableArn: MARKER_TABLE_ARN };

/** The least a capture or replay component is built from (in tests of what it refuses). */
const MINIMAL = { region: SECONDARY, tableName: "t", tableArn: TABLE_ARN, tableKeyArn: KEY_ARN, ...MARKERS };

describe("replication components under mocks", () => {
  let resources: PlannedResource[];
  let protectedTable: boolean | undefined;
  /** The statements of an inline role policy, by its logical name's suffix. */
  const policyOf = (name: string) => statementsOf(one(resources, "aws:iam/rolePolicy:RolePolicy", name));
  /** A function's environment variables, by its logical name's suffix. */
  const envOf = (name: string) =>
    (
      one(resources, "aws:lambda/function:Function", name).inputs.environment as {
        variables: Record<string, string>;
      }
    ).variables;
  let protectedKeys: (boolean | undefined)[];

  beforeAll(async () => {
    const run = await underMocks(() => {
      const primary = provider("iot-primary", PRIMARY);
      const secondary = provider("iot-secondary", SECONDARY);
      const table = new OpsTable(
        "ops",
        { replicaRegion: SECONDARY, replicaProvider: secondary },
        { provider: primary },
      );
      new MarkerTable("applied-markers", { region: SECONDARY, kmsKeyArn: KEY_ARN }, { provider: secondary });
      new RegistryCapture(
        "capture",
        {
          region: SECONDARY,
          tableName: "ops-table",
          tableArn: TABLE_ARN,
          tableKeyArn: KEY_ARN,
          ...MARKERS,
          alarmTopicArn: TOPIC_ARN,
        },
        { provider: secondary },
      );
      new ReplayPipeline(
        "replay",
        {
          region: SECONDARY,
          tableName: "ops-table",
          tableArn: TABLE_ARN,
          streamArn: `${TABLE_ARN}/stream/label`,
          tableKeyArn: KEY_ARN,
          ...MARKERS,
          batchSize: 50,
          batchWindowSeconds: 2,
          maxRetries: 4,
          maxRecordAgeSeconds: 3600,
          lagAlarmSeconds: 30,
          alarmTopicArn: TOPIC_ARN,
          logRetentionDays: 14,
        },
        { provider: secondary },
      );
      return table;
    });
    expect(run.errors).toEqual([]);
    resources = run.resources;
    const internals = (r: unknown) => (r as { __protect?: boolean }).__protect;
    protectedTable = internals(run.result.table);
    protectedKeys = [internals(run.result.key), internals(run.result.replicaKey)];
  });

  describe("ops table", () => {
    it("is an on-demand global table with a replica in the secondary region under that region's key", () => {
      const table = one(resources, "aws:dynamodb/table:Table", "ops-table");
      const key = one(resources, "aws:kms/key:Key", "ops-key");
      const replicaKey = one(resources, "aws:kms/replicaKey:ReplicaKey", "ops-replica-key");
      expect(table.provider).toBe("iot-primary");
      expect(replicaKey.provider).toBe("iot-secondary");
      expect(key.inputs).toMatchObject({ multiRegion: true, enableKeyRotation: true });
      expect(table.inputs).toMatchObject({
        hashKey: "pk",
        attributes: [{ name: "pk", type: "S" }],
        billingMode: "PAY_PER_REQUEST",
        serverSideEncryption: { enabled: true, kmsKeyArn: expect.stringContaining(`:kms:${PRIMARY}:`) },
        replicas: [
          {
            regionName: SECONDARY,
            kmsKeyArn: expect.stringContaining(`:kms:${SECONDARY}:`),
            pointInTimeRecovery: true,
          },
        ],
      });
    });

    it("keeps point-in-time recovery, a NEW_AND_OLD_IMAGES stream and TTL on expiresAt", () => {
      const table = one(resources, "aws:dynamodb/table:Table", "ops-table");
      expect(table.inputs).toMatchObject({
        pointInTimeRecovery: { enabled: true },
        streamEnabled: true,
        streamViewType: "NEW_AND_OLD_IMAGES",
        ttl: { attributeName: "expiresAt", enabled: true },
        deletionProtectionEnabled: true,
      });
    });

    it("protects the table and both keys from deletion", () => {
      expect(protectedTable).toBe(true);
      expect(protectedKeys).toEqual([true, true]);
    });

    it("refuses to be built without the region of its replica", () => {
      expect(
        () =>
          new OpsTable(
            "t2",
            { replicaRegion: "", replicaProvider: provider("q", SECONDARY) },
            { provider: provider("r", PRIMARY) },
          ),
      ).toThrow(/needs replicaRegion/);
    });

    it("refuses to be built without the replica region's provider", () => {
      const primary = provider("p", PRIMARY);
      expect(
        () =>
          new OpsTable(
            "t",
            { replicaRegion: SECONDARY, replicaProvider: undefined as never },
            { provider: primary },
          ),
      ).toThrow(/aws\.Provider of the IoT services \(secondary region\)/);
    });
  });

  describe("marker table", () => {
    it("is a regional on-demand table with TTL on expiresAt, encrypted with the ops table's key in its region", () => {
      const table = one(resources, "aws:dynamodb/table:Table", "applied-markers-table");
      expect(table.provider).toBe("iot-secondary");
      expect(table.inputs).toMatchObject({
        hashKey: "pk",
        attributes: [{ name: "pk", type: "S" }],
        billingMode: "PAY_PER_REQUEST",
        serverSideEncryption: { enabled: true, kmsKeyArn: KEY_ARN },
        ttl: { attributeName: "expiresAt", enabled: true },
      });
      // Only this region reads its markers: no replica and no stream for the other region to drop.
      expect(table.inputs.replicas ?? []).toEqual([]);
      expect(table.inputs.streamEnabled ?? false).toBe(false);
    });

    it("refuses to be built without a provider", () => {
      expect(() => new MarkerTable("m", { region: SECONDARY, kmsKeyArn: KEY_ARN })).toThrow(
        /aws\.Provider of the IoT services account/,
      );
    });
  });

  describe("capture", () => {
    it("turns on every registry event type", () => {
      const config = one(resources, "aws:iot/eventConfigurations:EventConfigurations", "registry-events");
      expect(config.inputs.eventConfigurations).toEqual({
        THING: true,
        THING_TYPE: true,
        THING_TYPE_ASSOCIATION: true,
        THING_GROUP: true,
        THING_GROUP_MEMBERSHIP: true,
        THING_GROUP_HIERARCHY: true,
      });
    });

    it("routes each registry event topic and just-in-time registration to the capture queue through a rule with an SQS error action", () => {
      const rules = ofType(resources, "aws:iot/topicRule:TopicRule");
      const dlq = one(resources, "aws:sqs/queue:Queue", "capture-dlq");
      const queue = one(resources, "aws:sqs/queue:Queue", "capture-queue");
      expect(rules.map((r) => String(r.inputs.sql))).toContain(
        "SELECT *, topic() AS iotDrTopic FROM '$aws/events/certificates/registered/+'",
      );
      expect(rules.map((r) => String(r.inputs.sql)).sort()).toEqual(
        Object.values(CAPTURE_RULE_TOPICS)
          .map((t) => `SELECT *, topic() AS iotDrTopic FROM '${t}'`)
          .sort(),
      );
      for (const rule of rules) {
        expect(rule.inputs.name).toMatch(/^[A-Za-z0-9_]+$/);
        expect(rule.inputs.lambdas).toBeUndefined();
        expect(rule.inputs.sqs).toEqual([
          {
            queueUrl: expect.stringContaining(String(queue.inputs.name ?? "capture-queue")),
            roleArn: expect.stringContaining("capture-rule-error-role"),
            useBase64: false,
          },
        ]);
        expect(rule.inputs.errorAction).toMatchObject({
          sqs: {
            queueUrl: expect.stringContaining(String(dlq.inputs.name ?? "capture-dlq")),
            useBase64: false,
          },
        });
      }
    });

    it("delivers IoT's CloudTrail API calls from the default bus to capture, with EventBridge's retries and the dead-letter queue", () => {
      const rule = one(resources, "aws:cloudwatch/eventRule:EventRule", "capture-api-call-rule");
      expect(rule.inputs.eventBusName ?? "default").toBe("default");
      // The module's pattern, which the CloudTrail emulator routes by: core/cloudTrail.test.ts drives
      // every captured call through it to the target. AWS's own names are fixed here.
      const pattern = JSON.parse(String(rule.inputs.eventPattern));
      expect(pattern).toEqual(CLOUDTRAIL_EVENT_PATTERN);
      expect(pattern).toMatchObject({
        source: ["aws.iot"],
        "detail-type": ["AWS API Call via CloudTrail"],
        detail: { eventSource: ["iot.amazonaws.com"] },
      });
      const target = one(resources, "aws:cloudwatch/eventTarget:EventTarget", "capture-api-call-target");
      expect(target.inputs).toMatchObject({
        arn: expect.stringMatching(/^arn:aws:sqs:.*capture-queue/),
        retryPolicy: CLOUDTRAIL_TARGET_RETRY,
        deadLetterConfig: { arn: expect.stringContaining("capture-dlq") },
      });
      const delivery = one(resources, "aws:sqs/queuePolicy:QueuePolicy", "capture-queue-policy");
      expect(JSON.parse(String(delivery.inputs.policy)).Statement).toEqual([
        expect.objectContaining({
          Principal: { Service: "events.amazonaws.com" },
          Action: "sqs:SendMessage",
          Resource: expect.stringContaining("capture-queue"),
          Condition: { ArnEquals: { "aws:SourceArn": expect.stringContaining("capture-api-call-rule") } },
        }),
      ]);
      const queuePolicy = one(resources, "aws:sqs/queuePolicy:QueuePolicy", "capture-dlq-policy");
      const [statement] = JSON.parse(String(queuePolicy.inputs.policy)).Statement as Record<
        string,
        unknown
      >[];
      expect(statement).toMatchObject({
        Principal: { Service: "events.amazonaws.com" },
        Action: "sqs:SendMessage",
        Condition: { ArnEquals: { "aws:SourceArn": expect.stringContaining("capture-api-call-rule") } },
      });
    });

    it("invokes capture from nothing but the capture queue: no rule or bus may invoke it, and no asynchronous retries", () => {
      const permissions = ofType(resources, "aws:lambda/permission:Permission").filter(
        (p) => p.parent === "capture",
      );
      expect(permissions).toEqual([]);
      expect(
        ofType(resources, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").filter(
          (c) => c.parent === "capture",
        ),
      ).toEqual([]);
    });

    it("consumes the capture queue with a bounded, quota-sized event source mapping that reports partial batch failures", () => {
      const mapping = one(
        resources,
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "capture-queue-mapping",
      );
      const sizing = captureSizing({}, { timeoutSeconds: CAPTURE_TIMEOUT_SECONDS });
      expect(mapping.inputs).toMatchObject({
        eventSourceArn: expect.stringContaining("capture-queue"),
        functionName: expect.stringContaining(":function:capture-capture-fn"),
        batchSize: sizing.batchSize,
        maximumBatchingWindowInSeconds: 1,
        scalingConfig: { maximumConcurrency: sizing.maximumConcurrency },
        functionResponseTypes: ["ReportBatchItemFailures"],
      });
      // AWS defaults: ListThingPrincipals (10 TPS) binds; 2 containers at 5 calls/s each, x 0.95, 15 s per batch.
      expect(sizing).toMatchObject({
        maximumConcurrency: 2,
        batchSize: 71,
        batchWindowSeconds: 1,
        visibilityTimeoutSeconds: 180,
        bindingApi: { api: "ListThingPrincipals", rate: 10 },
      });
      const queue = one(resources, "aws:sqs/queue:Queue", "capture-queue");
      expect(queue.inputs).toMatchObject({ sqsManagedSseEnabled: true, visibilityTimeoutSeconds: 180 });
      expect(JSON.parse(String(queue.inputs.redrivePolicy))).toEqual({
        deadLetterTargetArn: expect.stringContaining("capture-dlq"),
        maxReceiveCount: 5,
      });
      expect(envOf("capture-capture-fn").CAPTURE_CONTAINERS).toBe("2");
    });

    it("lets capture consume only its queue, and the rules send only to it and to the dead-letter queue", () => {
      const statements = policyOf("capture-capture-policy");
      const sqs = statements.filter((s) => list(s.Action).some((a) => a.startsWith("sqs:")));
      expect(sqs).toEqual([
        expect.objectContaining({
          Sid: "CaptureQueueConsume",
          Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
          Resource: expect.stringMatching(/^arn:aws:sqs:.*capture-queue/),
        }),
      ]);
      const ruleRole = policyOf("capture-rule-error-policy");
      expect(ruleRole.map((s) => [list(s.Action), String(s.Resource)])).toEqual([
        [["sqs:SendMessage"], expect.stringContaining("capture-queue")],
        [["sqs:SendMessage"], expect.stringContaining("capture-dlq")],
      ]);
    });

    it("grants capture the registry reads it enriches with, scoped to this account and region, and a conditional table write", () => {
      const statements = policyOf("capture-capture-policy");
      const iot = statements.find((s) => s.Sid === "IotRegistryRead")!;
      expect(list(iot.Action).every((a) => /^iot:(Describe|Get|List)/.test(a))).toBe(true);
      expect(list(iot.Resource).every((r) => r.startsWith(`arn:aws:iot:${SECONDARY}:${ACCOUNT}:`))).toBe(
        true,
      );
      expect(statements.find((s) => s.Sid === "OpsTableConditionalWrite")).toMatchObject({
        Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
        Resource: TABLE_ARN,
      });
      expect(statements.find((s) => s.Sid === "OpsTableKey")?.Resource).toBe(KEY_ARN);
    });

    it("gives capture the marker table's name and lets it read markers and rewrite them, on that table only", () => {
      expect(envOf("capture-capture-fn")).toMatchObject({
        OPS_TABLE: "ops-table",
        MARKER_TABLE: "applied-markers",
      });
      const statements = policyOf("capture-capture-policy");
      const onMarkers = statements.filter((s) => list(s.Resource).includes(MARKER_TABLE_ARN));
      expect(onMarkers).toEqual([
        expect.objectContaining({
          Sid: "MarkerTableReadForget",
          Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
          Resource: MARKER_TABLE_ARN,
        }),
      ]);
    });

    it("grants every registry read capture.ts makes (kept in step with the core by reading its source)", () => {
      const source = readFileSync(
        path.resolve(__dirname, "../../../functions/replication/capture.ts"),
        "utf8",
      );
      const called = [...new Set([...source.matchAll(/\biot\.(\w+)\(/g)].map((m) => m[1]))];
      expect(called.length).toBeGreaterThan(0);
      for (const method of called) {
        expect(CAPTURE_IOT_ACTIONS, method).toContain(`iot:${PORT_API[method as keyof IotRegistryPort]}`);
      }
    });

    it("refuses to be built without a provider", () => {
      expect(() => new RegistryCapture("c", MINIMAL)).toThrow(/aws\.Provider of the IoT services account/);
    });
  });

  describe("replay pipeline", () => {
    it("maps the table stream with per-item failures, bisection, bounded retries and an on-failure queue", () => {
      const mapping = one(
        resources,
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "replay-stream-mapping",
      );
      expect(mapping.inputs).toMatchObject({
        eventSourceArn: `${TABLE_ARN}/stream/label`,
        functionName: expect.stringContaining(":function:replay-launcher-fn"),
        startingPosition: "TRIM_HORIZON",
        batchSize: 50,
        maximumBatchingWindowInSeconds: 2,
        functionResponseTypes: ["ReportBatchItemFailures"],
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 4,
        maximumRecordAgeInSeconds: 3600,
        destinationConfig: {
          onFailure: { destinationArn: expect.stringContaining("replay-stream-failures") },
        },
      });
    });

    it("filters the stream with the same pattern the launcher and the emulator evaluate", () => {
      const mapping = one(
        resources,
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "replay-stream-mapping",
      );
      const filters = (mapping.inputs.filterCriteria as { filters: { pattern: string }[] }).filters;
      expect(filters).toHaveLength(1);
      const pattern = JSON.parse(filters[0].pattern);
      expect(pattern).toEqual(replayFilterPattern(SECONDARY));
      expect(pattern.dynamodb.NewImage.origin.S).toEqual([{ "anything-but": [SECONDARY] }]);
      expect(pattern.eventName).toEqual(["INSERT", "MODIFY"]);
    });

    it("runs an Express state machine with logging to its own log group", () => {
      const sm = one(resources, "aws:sfn/stateMachine:StateMachine", "replay-state-machine");
      expect(sm.inputs.type).toBe("EXPRESS");
      expect(sm.inputs.loggingConfiguration).toMatchObject({
        level: "ERROR",
        includeExecutionData: true,
        logDestination: expect.stringMatching(/log-group:replay-state-machine-logs.*:\*$/),
      });
      const definition = JSON.parse(String(sm.inputs.definition));
      const group = definition.States.ApplyWaves.ItemProcessor.States.ApplyWave.ItemProcessor.States;
      // Both Tasks, a group and the per-record path after it, invoke the one replay function.
      expect(group.ApplyGroup.Resource).toMatch(/:function:replay-replay-fn/);
      expect(group.ApplyLeftOneByOne.ItemProcessor.States.ApplyRecord.Resource).toBe(
        group.ApplyGroup.Resource,
      );
      expect(definition.States.ApplyWaves.MaxConcurrency).toBe(1);
    });

    it("encrypts every queue", () => {
      const queues = ofType(resources, "aws:sqs/queue:Queue");
      expect(queues.map((q) => q.name).sort()).toEqual([
        "capture-dlq",
        "capture-queue",
        "replay-dlq",
        "replay-stream-failures",
      ]);
      for (const q of queues) expect(q.inputs.sqsManagedSseEnabled).toBe(true);
    });

    it("alarms on replication lag, on every dead-letter queue, on the capture backlog's age and on function errors, notifying the topic", () => {
      const alarms = ofType(resources, "aws:cloudwatch/metricAlarm:MetricAlarm");
      const lag = one(resources, "aws:cloudwatch/metricAlarm:MetricAlarm", "replay-lag-alarm");
      expect(lag.inputs).toMatchObject({
        namespace: "iot-dr",
        metricName: "ReplicationLagMs",
        extendedStatistic: "p99",
        threshold: 30_000,
        dimensions: { service: "iot-dr-replay" },
      });
      const queueAlarms = alarms.filter((a) => a.inputs.metricName === "ApproximateNumberOfMessagesVisible");
      // The capture queue is a buffer (messages in it are normal); every other queue is a dead-letter queue.
      const queueNames = ofType(resources, "aws:sqs/queue:Queue")
        .map((q) => q.name)
        .filter((n) => n !== "capture-queue");
      const alarmed = queueAlarms.map((a) => (a.inputs.dimensions as { QueueName: string }).QueueName);
      // Every queue (by its mocked physical name "<logical>-<hash>") has exactly one depth alarm.
      for (const name of queueNames) expect(alarmed.filter((n) => n.startsWith(`${name}-`))).toHaveLength(1);
      expect(alarmed).toHaveLength(queueNames.length);
      for (const a of queueAlarms)
        expect(a.inputs).toMatchObject({ threshold: 0, comparisonOperator: "GreaterThanThreshold" });
      // The buffer's alarm is on the age of its oldest message.
      const backlog = one(resources, "aws:cloudwatch/metricAlarm:MetricAlarm", "capture-backlog-alarm");
      expect(backlog.inputs).toMatchObject({
        namespace: "AWS/SQS",
        metricName: "ApproximateAgeOfOldestMessage",
        statistic: "Maximum",
        threshold: 60,
        comparisonOperator: "GreaterThanThreshold",
      });
      expect((backlog.inputs.dimensions as { QueueName: string }).QueueName).toMatch(/^capture-queue-/);
      const errorAlarms = alarms.filter((a) => a.inputs.metricName === "Errors");
      expect(errorAlarms.map((a) => a.name).sort()).toEqual([
        "capture-capture-errors-alarm",
        "replay-launcher-errors-alarm",
        "replay-replay-errors-alarm",
      ]);
      for (const a of alarms) expect(a.inputs.alarmActions).toEqual([TOPIC_ARN]);
    });

    it("gives every function a log group with the configured retention and an explicit runtime, timeout and memory", () => {
      const functions = ofType(resources, "aws:lambda/function:Function");
      expect(functions).toHaveLength(3);
      for (const fn of functions) {
        expect(fn.inputs).toMatchObject({
          runtime: "nodejs22.x",
          timeout: expect.any(Number),
          memorySize: expect.any(Number),
          loggingConfig: { logGroup: expect.any(String) },
        });
      }
      const replayLogs = ofType(resources, "aws:cloudwatch/logGroup:LogGroup").filter(
        (g) => g.parent === "replay",
      );
      for (const g of replayLogs) expect(g.inputs.retentionInDays).toBe(14);
    });

    it("scopes the launcher to this state machine, the state machine to the replay function and the dead-letter queue", () => {
      const launcher = policyOf("replay-launcher-policy");
      expect(launcher.find((s) => s.Sid === "StartReplay")).toMatchObject({
        Action: ["states:StartSyncExecution"],
        Resource: expect.stringMatching(/:stateMachine:replay-state-machine/),
      });
      expect(launcher.find((s) => s.Sid === "ReadStream")?.Resource).toBe(`${TABLE_ARN}/stream/label`);
      // The one table write: putting back a record an older replicated version replaced.
      const tableActions = launcher.flatMap((s) => list(s.Action)).filter((a) => a.startsWith("dynamodb:"));
      expect(
        tableActions.filter(
          (a) => !a.includes("Stream") && a !== "dynamodb:GetRecords" && a !== "dynamodb:GetShardIterator",
        ),
      ).toEqual(["dynamodb:PutItem"]);
      expect(launcher.find((s) => s.Sid === "OpsTableRestoreRecord")).toMatchObject({
        Action: ["dynamodb:PutItem"],
        Resource: TABLE_ARN,
      });
      const sm = policyOf("replay-state-machine-policy");
      expect(
        list(sm.find((s) => s.Sid === "InvokeReplay")!.Resource).every((r) =>
          r.includes(":function:replay-replay-fn"),
        ),
      ).toBe(true);
      expect(sm.find((s) => s.Sid === "DeadLetter")?.Resource).toMatch(/replay-dlq/);
    });

    const pipelineArgs = { ...MINIMAL, streamArn: TABLE_ARN };

    it("refuses to be built without a provider", () => {
      expect(() => new ReplayPipeline("r", pipelineArgs)).toThrow(
        /aws\.Provider of the IoT services account/,
      );
    });

    it.each([
      ["a maximum record age", "y", { maxRecordAgeSeconds: 10 }, /maxRecordAgeSeconds must be 60\.\.604800/],
      ["a batch size", "x", { batchSize: 5000 }, /batchSize must be 1\.\.1000/],
    ])("refuses %s a DynamoDB stream mapping cannot have", (_what, providerName, extra, error) => {
      expect(
        () =>
          new ReplayPipeline(
            "r",
            { ...pipelineArgs, ...extra },
            { provider: provider(providerName, SECONDARY) },
          ),
      ).toThrow(error);
    });
  });

  describe("roles", () => {
    it("never grant action '*', and grant resource '*' only for actions without a resource ARN", () => {
      const policies = ofType(resources, "aws:iam/rolePolicy:RolePolicy");
      expect(policies.length).toBeGreaterThanOrEqual(5);
      for (const policy of policies) {
        for (const s of statementsOf(policy)) {
          for (const action of list(s.Action)) expect(action).not.toContain("*");
          if (list(s.Resource).includes("*")) {
            for (const action of list(s.Action)) expect(ARN_LESS_ACTIONS).toContain(action);
          }
        }
      }
    });

    it("grant replay the IoT writes it needs, with only the ARN-less ones on '*'", () => {
      const statements = policyOf("replay-replay-policy");
      const scoped = statements.find((s) => s.Sid === "IotRegistryWrite")!;
      const star = statements.find((s) => s.Sid === "IotRegistryArnLess")!;
      expect(list(scoped.Action)).toEqual(
        expect.arrayContaining(["iot:CreateThing", "iot:AddThingToThingGroup", "iot:AttachPolicy"]),
      );
      expect(list(star.Action).sort()).toEqual([...IOT_ARN_LESS_ACTIONS].sort());
      expect(list(scoped.Resource).every((r) => r.startsWith(`arn:aws:iot:${SECONDARY}:${ACCOUNT}:`))).toBe(
        true,
      );
    });

    it("let replay write markers and its pacing schedule only to the marker table and only read the ops table", () => {
      expect(envOf("replay-replay-fn")).toMatchObject({
        OPS_TABLE: "ops-table",
        MARKER_TABLE: "applied-markers",
      });
      const statements = policyOf("replay-replay-policy");
      const dynamo = statements.filter((s) => list(s.Action).some((a) => a.startsWith("dynamodb:")));
      expect(dynamo).toEqual([
        expect.objectContaining({ Action: ["dynamodb:GetItem"], Resource: TABLE_ARN }),
        expect.objectContaining({
          Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
          Resource: MARKER_TABLE_ARN,
        }),
        // The shared pacing schedule: UpdateItem on the marker table's `pace#` items only.
        expect.objectContaining({
          Sid: "PacingSchedule",
          Action: ["dynamodb:UpdateItem"],
          Resource: MARKER_TABLE_ARN,
          Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["pace#*"] } },
        }),
      ]);
      expect(statements.find((s) => s.Sid === "OpsTableKey")?.Resource).toBe(KEY_ARN);
    });

    it("let only their own service assume them", () => {
      const roles = ofType(resources, "aws:iam/role:Role");
      for (const role of roles) {
        const principals = (
          JSON.parse(String(role.inputs.assumeRolePolicy)) as {
            Statement: { Principal: { Service: string } }[];
          }
        ).Statement.map((s) => s.Principal.Service);
        const expected = role.name.includes("state-machine")
          ? "states.amazonaws.com"
          : role.name.includes("rule-error")
            ? "iot.amazonaws.com"
            : "lambda.amazonaws.com";
        expect(principals).toEqual([expected]);
      }
    });
  });
});
