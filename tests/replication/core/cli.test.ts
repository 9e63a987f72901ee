import { beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as iot from "@aws-sdk/client-iot";
import * as lib from "@aws-sdk/lib-dynamodb";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from "@aws-sdk/client-dynamodb-streams";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { useMotoEnv } from "../../support/useMoto.js";
import { captureStdio } from "../../support/stdio.js";
import { runCli } from "../../../cli/main.js";
import type { ReplaySummary } from "../../../cli/registry/replay.js";
import { getAppliedMarker } from "../../../functions/registry/echoMarkers.js";
import { getRecord, opsTableFromSdk } from "../../../functions/registry/table.js";
import { captureEvent } from "../../../functions/replication/capture.js";
import { deadLetterBody } from "../../../functions/replication/deadLetter.js";
import { world, type World, REGION_A, REGION_B } from "./support.js";
import { emitCloudTrailEvents } from "../../../peers/emulators/cloudTrailEvents.js";
import { createPkTable } from "../../support/tables.js";

describe("iot-dr replay and redrive", () => {
  const moto = useMotoEnv(REGION_B);
  const io = captureStdio();
  let w: World;
  const dir = mkdtempSync(join(tmpdir(), "iot-dr-replay-"));
  beforeEach(() => {
    w = world(moto);
  });
  const sendA = (command: unknown) => w.a.client.send(command as never);
  const file = (name: string, lines: string[]) => {
    const path = join(dir, name);
    writeFileSync(path, lines.join("\n") + "\n");
    return path;
  };
  const replay = (path: string, ...extra: string[]) =>
    runCli(["replay", "--events", path, "--source-region", REGION_A, "--target-region", REGION_B, ...extra]);

  it("replays an event file into the target and prints one JSON summary", async () => {
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "g" }));
    await sendA(
      new iot.CreateThingCommand({ thingName: "c1", attributePayload: { attributes: { k: "v" } } }),
    );
    await sendA(new iot.AddThingToThingGroupCommand({ thingGroupName: "g", thingName: "c1" }));
    // The membership event first: replay waits for its thing and group within the same run.
    const events = w.a.events
      .take()
      .reverse()
      .map((m) => JSON.stringify(m));
    const code = await replay(file("good.jsonl", events), "--json");
    expect(code).toBe(0);
    expect(JSON.parse(io.out)).toEqual({ read: 3, applied: 3, unchanged: 0, failed: [] });
    expect(await w.b.port.listThingGroupsForThing("c1")).toEqual(["g"]);

    io.out = "";
    expect(await replay(join(dir, "good.jsonl"), "--json")).toBe(0);
    // The membership's AddThingToThingGroup is re-sent without reading first (idempotent); the rest is unchanged.
    expect(JSON.parse(io.out)).toEqual({ read: 3, applied: 1, unchanged: 2, failed: [] });
    expect(await w.b.port.listThingGroupsForThing("c1")).toEqual(["g"]);
  });

  it("replays CloudTrail API-call events mixed with registry event messages, as a JSON array or JSON Lines, counting both", async () => {
    const direct = new iot.IoTClient(moto.clientConfig(REGION_A));
    const trail = emitCloudTrailEvents(direct, { region: REGION_A });
    await sendA(new iot.CreateThingCommand({ thingName: "dev" }));
    const cert = await direct.send(new iot.CreateKeysAndCertificateCommand({ setAsActive: true }));
    await direct.send(
      new iot.CreatePolicyCommand({
        policyName: "p",
        policyDocument: '{"Version":"2012-10-17","Statement":[]}',
      }),
    );
    await direct.send(new iot.AttachPolicyCommand({ policyName: "p", target: cert.certificateArn! }));
    await direct.send(
      new iot.AttachThingPrincipalCommand({ thingName: "dev", principal: cert.certificateArn! }),
    );
    await direct.send(
      new iot.UpdateCertificateCommand({ certificateId: cert.certificateId!, newStatus: "REVOKED" }),
    );
    // Attachments first, the thing's registry event last: replay waits for what they need.
    const mixed = [...trail.take().reverse(), ...w.a.events.take()];
    expect(mixed).toHaveLength(6);
    const array = join(dir, "mixed.json");
    writeFileSync(array, JSON.stringify(mixed, null, 2));
    expect(await replay(array, "--json")).toBe(0);
    const first = JSON.parse(io.out) as ReplaySummary;
    expect(first).toMatchObject({ read: 6, failed: [] });
    expect(first.applied).toBeGreaterThanOrEqual(5); // thing, certificate, policy, two attachments
    expect(await w.b.port.listThingPrincipals("dev")).toEqual([cert.certificateId]);
    expect(
      await w.b.port.listAttachedPolicies({ type: "certificate", certificateId: cert.certificateId! }),
    ).toEqual(["p"]);
    expect((await w.b.port.describeCertificate(cert.certificateId!))?.status).toBe("REVOKED");

    io.out = "";
    expect(
      await replay(
        file(
          "mixed.jsonl",
          mixed.map((m) => JSON.stringify(m)),
        ),
        "--json",
      ),
    ).toBe(0);
    const again = JSON.parse(io.out) as ReplaySummary;
    expect(again).toMatchObject({ read: 6, failed: [] });
    expect(again.applied + again.unchanged).toBeGreaterThanOrEqual(6);
  });

  it("reports malformed lines by line number, skips them and applies the rest; exit 1", async () => {
    await sendA(new iot.CreateThingCommand({ thingName: "ok" }));
    const [event] = w.a.events.take();
    const path = file("mixed.jsonl", [
      "{not json",
      JSON.stringify(event),
      JSON.stringify({ topic: "$aws/events/thing/x/created" }),
      "",
      JSON.stringify({ topic: "$aws/events/thing/x/created", payload: { timestamp: 5 } }),
    ]);
    expect(await replay(path, "--json")).toBe(1);
    const summary = JSON.parse(io.out);
    expect(summary.read).toBe(4);
    expect(summary.applied).toBe(1);
    expect(summary.failed.map((f: { key: string }) => f.key)).toEqual(["line:1", "line:3", "line:5"]);
    expect(summary.failed[2].error).toContain("eventId");
    expect(io.err).toContain("line 1: skipped");
    expect(await w.b.port.describeThing("ok")).not.toBeNull();
  });

  it("refuses a command line it cannot run with exit 2 and changes nothing", async () => {
    const path = file("one.jsonl", []);
    expect(await runCli(["replay", "--source-region", REGION_A, "--target-region", REGION_B])).toBe(2);
    expect(
      await runCli(["replay", "--events", path, "--source-region", REGION_A, "--target-region", REGION_A]),
    ).toBe(2);
    expect(
      await runCli(["replay", "--events", path, "--source-region", "mars", "--target-region", REGION_B]),
    ).toBe(2);
    expect(
      await runCli([
        "replay",
        "--events",
        join(dir, "missing.jsonl"),
        "--source-region",
        REGION_A,
        "--target-region",
        REGION_B,
      ]),
    ).toBe(2);
    expect(io.err).toMatch(/--events FILE is required/);
    expect(io.err).toMatch(/must differ/);
    expect(io.err).toMatch(/--source-region must be an AWS region such as eu-west-1, got .mars./);
    expect(io.err).toMatch(/cannot read --events/);
    expect(await runCli(["redrive", "--target-region", REGION_B])).toBe(2);
    expect(await runCli(["redrive", "--queue", "dlq", "--target-region", REGION_B])).toBe(2);
    expect(io.out).toBe("");
  });

  async function queue(name: string) {
    const sqs = new SQSClient(moto.clientConfig(REGION_B));
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
    const depth = async () =>
      Number(
        (
          await sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages"] }),
          )
        ).Attributes?.ApproximateNumberOfMessages,
      );
    return { sqs, url, depth };
  }

  it("redrive applies dead-lettered records, deletes only those, and keeps what still fails", async () => {
    await sendA(new iot.CreateThingCommand({ thingName: "dl" }));
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "nowhere" }));
    await sendA(new iot.AddThingToThingGroupCommand({ thingGroupName: "nowhere", thingName: "dl" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    const thing = (await getRecord(w.table, "thing#dl"))!;
    const member = (await getRecord(w.table, "membership#nowhere#dl"))!;
    const q = await queue("dlq");
    const send = (body: string) => q.sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: body }));
    await send(deadLetterBody(thing, { name: "DependencyNotReady", message: "thing type missing" }));
    await send(
      JSON.stringify({
        record: member,
        error: { Error: "DependencyNotReady", Cause: "{}" },
        source: "replay",
      }),
    );
    await send("{broken");
    expect(await runCli(["redrive", "--queue", q.url, "--target-region", REGION_B, "--json"])).toBe(1);
    const summary = JSON.parse(io.out);
    expect(summary).toMatchObject({ received: 3, applied: 1, deleted: 1 });
    expect(summary.failed).toHaveLength(2);
    expect(summary.failed.find((f: { key?: string }) => f.key === "membership#nowhere#dl").error).toMatch(
      /DependencyNotReady/,
    );
    expect(await w.b.port.describeThing("dl")).not.toBeNull();
    expect(await q.depth()).toBe(2);
  });

  it("redrive captures capture's dead letters again (rule error action, EventBridge dead letter, Lambda on-failure record) and deletes each only once recorded", async () => {
    // Changes made in region B, whose capture failed: its queue lives in B, and so does the ops table replica.
    const ddb = new DynamoDBClient(moto.clientConfig(REGION_B));
    await createPkTable(ddb, "ops");
    const trail = emitCloudTrailEvents(w.b.client, { region: REGION_B });
    await w.b.client.send(new iot.CreateThingCommand({ thingName: "rt" }));
    await w.b.client.send(new iot.CreateThingGroupCommand({ thingGroupName: "grp" }));
    const cert = await w.b.client.send(new iot.CreateKeysAndCertificateCommand({ setAsActive: true }));
    await w.b.client.send(
      new iot.UpdateCertificateCommand({ certificateId: cert.certificateId!, newStatus: "REVOKED" }),
    );
    const [thingEvent, groupEvent] = w.b.events.take();
    const revoked = trail.take().find((e) => e.detail.eventName === "UpdateCertificate")!;
    const q = await queue("capture-dlq");
    const send = (body: unknown) =>
      q.sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: JSON.stringify(body) }));
    // The IoT rule's error action (SQS, useBase64 false): the original MQTT payload in base64.
    await send({
      ruleName: "capture_THING",
      topic: thingEvent.topic,
      cloudwatchTraceId: "trace-1",
      clientId: "iot-registry",
      base64OriginalPayload: Buffer.from(JSON.stringify(thingEvent.payload)).toString("base64"),
      failures: [{ failedAction: "LambdaAction", failedResource: "capture-fn", errorMessage: "Throttled" }],
    });
    // EventBridge's dead-letter queue: the event itself.
    await send(revoked);
    // Lambda's asynchronous on-failure destination: the invocation record with the rule's SQL output.
    const onFailure = (requestPayload: unknown) => ({
      version: "1.0",
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: "r-1",
        functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:capture-fn:$LATEST",
        condition: "RetriesExhausted",
        approximateInvokeCount: 3,
      },
      requestPayload,
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      responsePayload: { errorType: "Error", errorMessage: "timeout" },
    });
    await send(onFailure({ ...(groupEvent.payload as object), iotDrTopic: groupEvent.topic }));
    await send(onFailure({ unrelated: true }));
    const args = ["redrive", "--queue", q.url, "--target-region", REGION_B];
    expect(await runCli([...args, "--table", "ops", "--json"])).toBe(1);
    const summary = JSON.parse(io.out);
    expect(summary).toMatchObject({ received: 4, applied: 3, deleted: 3 });
    expect(summary.failed).toEqual([
      expect.objectContaining({ error: expect.stringContaining("requestPayload") }),
    ]);
    expect(await q.depth()).toBe(1);
    const table = opsTableFromSdk(lib, lib.DynamoDBDocumentClient.from(ddb), "ops");
    expect(await getRecord(table, "thing#rt")).toMatchObject({ origin: REGION_B, state: { name: "rt" } });
    expect(await getRecord(table, "thingGroup#grp")).toMatchObject({ origin: REGION_B });
    expect((await getRecord(table, `certificate#${cert.certificateId}`))?.state).toMatchObject({
      status: "REVOKED",
    });

    // Without the table nothing is deleted: the message says what is missing.
    io.out = "";
    io.err = "";
    await send(revoked);
    expect(await runCli([...args, "--json"])).toBe(1);
    expect(io.err).toContain("pass --table NAME");
    expect(await q.depth()).toBe(2);
  });

  it("redrive with --marker-table leaves replay's applied marker in the target's marker table", async () => {
    await sendA(new iot.CreateThingCommand({ thingName: "marked" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    const thing = (await getRecord(w.table, "thing#marked"))!;
    const ddb = new DynamoDBClient(moto.clientConfig(REGION_B));
    await createPkTable(ddb, "markers");
    const q = await queue("dlq-marked");
    await q.sqs.send(
      new SendMessageCommand({
        QueueUrl: q.url,
        MessageBody: deadLetterBody(thing, { name: "Throttled", message: "x" }),
      }),
    );
    const args = ["redrive", "--queue", q.url, "--target-region", REGION_B, "--marker-table", "markers"];
    expect(await runCli([...args, "--json"])).toBe(0);
    expect(JSON.parse(io.out)).toMatchObject({ applied: 1, deleted: 1 });
    const markers = opsTableFromSdk(lib, lib.DynamoDBDocumentClient.from(ddb), "markers");
    expect(await getAppliedMarker(markers, REGION_B, "thing#marked")).toMatchObject({
      entries: [expect.objectContaining({ hash: expect.any(String) })],
    });
  });

  it("redrive re-reads a failed stream range and applies the current records of its keys", async () => {
    const ddb = new DynamoDBClient(moto.clientConfig(REGION_B));
    const created = await createPkTable(ddb, "ops", { stream: true });
    const table = opsTableFromSdk(lib, lib.DynamoDBDocumentClient.from(ddb), "ops");
    await sendA(new iot.CreateThingCommand({ thingName: "s1" }));
    await sendA(new iot.CreateThingCommand({ thingName: "s2" }));
    for (const m of w.a.events.take()) await captureEvent(m, { ...w.captureDeps(w.a), table });
    const streamArn = created.TableDescription!.LatestStreamArn!;
    const streams = new DynamoDBStreamsClient(moto.clientConfig(REGION_B));
    const shard = (await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription!
      .Shards![0];
    const it0 = (
      await streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shard.ShardId,
          ShardIteratorType: "TRIM_HORIZON",
        }),
      )
    ).ShardIterator;
    const recs = (await streams.send(new GetRecordsCommand({ ShardIterator: it0 }))).Records!;
    expect(recs.length).toBe(2);
    const failure = {
      requestContext: {
        requestId: "r",
        functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:launcher",
        condition: "RetryAttemptsExhausted",
        approximateInvokeCount: 3,
      },
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      version: "1.0",
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: shard.ShardId,
        startSequenceNumber: recs[0].dynamodb!.SequenceNumber,
        endSequenceNumber: recs[1].dynamodb!.SequenceNumber,
        approximateArrivalOfFirstRecord: new Date().toISOString(),
        approximateArrivalOfLastRecord: new Date().toISOString(),
        batchSize: 2,
        streamArn,
      },
    };
    const q = await queue("stream-failures");
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: JSON.stringify(failure) }));
    // Without the table the keys' current records cannot be read: the message stays.
    expect(await runCli(["redrive", "--queue", q.url, "--target-region", REGION_B, "--json"])).toBe(1);
    expect(JSON.parse(io.out).failed[0].error).toMatch(/--table/);
    expect(await q.depth()).toBe(1);
    io.out = "";
    expect(
      await runCli(["redrive", "--queue", q.url, "--target-region", REGION_B, "--table", "ops", "--json"]),
    ).toBe(0);
    expect(JSON.parse(io.out)).toEqual({ received: 1, applied: 2, unchanged: 0, deleted: 1, failed: [] });
    expect(await w.b.port.describeThing("s1")).not.toBeNull();
    expect(await w.b.port.describeThing("s2")).not.toBeNull();
    expect(await q.depth()).toBe(0);
  });
});
