/**
 * The code Pulumi serializes for each replication callback function, extracted under mocks and run
 * in a fresh Node process against moto, laid out like its Lambda package.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DescribeThingCommand,
  IoTClient,
  UpdateCertificateCommand,
} from "@aws-sdk/client-iot";
import { emitCloudTrailEvents } from "../../../peers/emulators/cloudTrailEvents.js";
import { DynamoDBClient, GetItemCommand, PutItemCommand, type PutItemInput } from "@aws-sdk/client-dynamodb";
import { toItem, type RegistryRecord } from "../../../functions/registry/records.js";
import { LAUNCHER_MEMORY_MB, REPLAY_MEMORY_MB } from "../../../infra/replayPipeline.js";
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { parseDeadLetter } from "../../../functions/replication/deadLetter.js";
import { createQueueWithDeadLetters, pollOnce } from "../../../peers/emulators/sqsEventSource.js";
import { useMoto } from "../../support/useMoto.js";
import { ACCOUNT } from "./mocks.js";
import { MARKER_TABLE, TABLE, replicationCallbacks, thingCreated } from "./replicationCallbacks.js";
import { invokeSerialized, requiredPackages, type SerializedCallback } from "../../support/serialized.js";
import { PRIMARY, SECONDARY, image, record, seqOf, streamRecord } from "./fixtures.js";
import { createPkTable } from "../../support/tables.js";

describe("serialized replication functions", () => {
  const code: Record<"capture" | "replay" | "launcher", SerializedCallback> = {} as never;
  const moto = useMoto();
  let iot: IoTClient;
  let ddb: DynamoDBClient;

  beforeAll(async () => {
    Object.assign(code, await replicationCallbacks());
  });
  beforeEach(async () => {
    iot = new IoTClient(moto.clientConfig(SECONDARY));
    ddb = new DynamoDBClient(moto.clientConfig(SECONDARY));
    for (const TableName of [TABLE, MARKER_TABLE]) await createPkTable(ddb, TableName);
  });

  const env = (extra: Record<string, string> = {}) => ({
    ...moto.env(SECONDARY),
    OPS_TABLE: TABLE,
    MARKER_TABLE,
    IOT_API_RATES: "{}",
    ...extra,
  });
  /** Replay's archive applying one record, as the state machine hands it over. */
  const replay = (r: RegistryRecord) =>
    invokeSerialized(code.replay, { sequenceNumber: "1", record: r }, env());
  /** Replay applying a thing captured in the primary. */
  const replayThing = (name: string, attributes: Record<string, string>) =>
    replay(record("thing", `thing#${name}`, { name, attributes }, { origin: PRIMARY }));

  it("ship each function as one bundled file that requires nothing but Node's built-ins", () => {
    for (const [name, fn] of Object.entries(code)) {
      expect([...fn.files.keys()], name).toEqual(["__index.js"]);
      expect(requiredPackages(fn.indexJs), `${name} requires npm packages at run time`).toEqual([]);
      expect(fn.indexJs, `${name} bundles no deployment-time Pulumi code`).not.toContain("@pulumi/pulumi");
    }
  });

  it("capture writes the record of a registry event to the ops table", async () => {
    await iot.send(
      new CreateThingCommand({ thingName: "sensor-1", attributePayload: { attributes: { fw: "2" } } }),
    );
    const event = thingCreated("sensor-1", "evt-capture-1", "id-1", { fw: "2" });
    const out = await invokeSerialized(code.capture, event, env());
    expect(out.error).toBeUndefined();
    expect(out.result).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: "thing#sensor-1", result: "written" })]),
    );
    const item = await ddb.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: "thing#sensor-1" } } }),
    );
    expect(item.Item?.origin?.S).toBe(SECONDARY);
    expect(JSON.parse(item.Item!.stateJson!.S!)).toMatchObject({ name: "sensor-1", attributes: { fw: "2" } });
  });

  it("capture fails with InvalidRecord for a message that is not a registry event, so Lambda dead-letters it", async () => {
    const out = await invokeSerialized(
      code.capture,
      { hello: "world", iotDrTopic: "not/a/registry/topic" },
      env(),
    );
    expect(out.ok).toBe(false);
    expect(out.error?.name).toBe("InvalidRecord");
  });

  it("capture takes its batches from the capture queue: a failed message comes back until the queue dead-letters it, in a form redrive reads", async () => {
    await iot.send(new CreateThingCommand({ thingName: "queued-1" }));
    const sqs = new SQSClient(moto.clientConfig(SECONDARY));
    const { queueUrl, deadLetterUrl: dlqUrl } = await createQueueWithDeadLetters(
      sqs,
      { queue: "capture-queue", deadLetters: "capture-dlq" },
      2,
    );
    // What a capture rule's SQS action sends: the rule SQL's output (payload + topic), not base64.
    const good = thingCreated("queued-1", "evt-queued-1", "id-q", {});
    const bad = { ...good, eventId: "evt-bad", iotDrTopic: "$aws/events/thing/queued-1/exploded" };
    for (const body of [good, bad])
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
    const responses: unknown[] = [];
    const invoke = async (event: unknown) => {
      const out = await invokeSerialized(code.capture, event, env({ CAPTURE_CONTAINERS: "2" }));
      expect(out.error).toBeUndefined();
      responses.push(out.result);
      return out.result;
    };
    const poll = {
      sqs,
      queueUrl,
      region: SECONDARY,
      batchSize: 10,
      visibilityTimeoutSeconds: 0,
      waitSeconds: 0,
    };
    const first = await pollOnce(poll, invoke);
    expect(first).toEqual({ received: 2, deleted: 1, failed: 1 });
    expect(responses[0]).toEqual({ batchItemFailures: [{ itemIdentifier: expect.any(String) }] });
    const item = await ddb.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: "thing#queued-1" } } }),
    );
    expect(item.Item?.origin?.S).toBe(SECONDARY);
    // The second receive is the last the redrive policy allows; the third finds it in the dead-letter queue.
    expect(await pollOnce(poll, invoke)).toEqual({ received: 1, deleted: 0, failed: 1 });
    expect(await pollOnce(poll, invoke)).toEqual({ received: 0, deleted: 0, failed: 0 });
    const dead =
      (await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10 }))).Messages ??
      [];
    expect(dead).toHaveLength(1);
    expect(parseDeadLetter(dead[0].Body!)).toEqual({
      kind: "capture",
      from: "captureQueue",
      delivery: { topic: bad.iotDrTopic, payload: expect.objectContaining({ eventId: "evt-bad" }) },
    });
  });

  it("capture records a certificate revoked outside C&C from the CloudTrail event EventBridge delivers", async () => {
    const trail = emitCloudTrailEvents(iot, { region: SECONDARY, accountId: ACCOUNT });
    const cert = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await iot.send(
      new UpdateCertificateCommand({ certificateId: cert.certificateId!, newStatus: "REVOKED" }),
    );
    const [created, revoked] = trail.take();
    // Delivered out of order: each event points at the certificate, whose current state is read.
    for (const event of [revoked, created]) {
      const out = await invokeSerialized(code.capture, event, env());
      expect(out.error).toBeUndefined();
      expect(out.result).toEqual([expect.objectContaining({ key: `certificate#${cert.certificateId}` })]);
    }
    const item = await ddb.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `certificate#${cert.certificateId}` } } }),
    );
    expect(JSON.parse(item.Item!.stateJson!.S!)).toMatchObject({
      status: "REVOKED",
      pem: cert.certificatePem,
    });
    expect(item.Item?.versionKey?.S).toContain("cloudtrail-");
  });

  it("replay writes its applied marker to the marker table, not the ops table, and capture then recognises the echo", async () => {
    const applied = await replayThing("echoed", { v: "1" });
    expect(applied.result).toMatchObject({ key: "thing#echoed", outcome: "applied" });
    const pk = { S: `applied#${SECONDARY}#thing#echoed` };
    expect((await ddb.send(new GetItemCommand({ TableName: MARKER_TABLE, Key: { pk } }))).Item).toBeDefined();
    expect((await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk } }))).Item).toBeUndefined();
    // The ops table has no record of it here (as when a newer one is still in flight), so only the
    // marker can tell capture that this state is replay's own.
    const echo = thingCreated("echoed", "evt-echo-1", "id-echo", { v: "1" });
    const captured = await invokeSerialized(code.capture, echo, env());
    expect(captured.error).toBeUndefined();
    expect(captured.result).toEqual([expect.objectContaining({ key: "thing#echoed", result: "echo" })]);
    expect(
      (await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: "thing#echoed" } } }))).Item,
    ).toBeUndefined();
  });

  it("replay applies a record to this region's registry and emits the lag metric; its per-record line with key and version only at REPLICATION_LOG_LEVEL INFO", async () => {
    const out = await replayThing("from-east", { site: "a" });
    expect(out.error).toBeUndefined();
    expect(out.result).toMatchObject({ key: "thing#from-east", outcome: "applied" });
    // Replay's memory (infra/replayPipeline.ts): its peak RSS for a record leaves a quarter free.
    expect(out.maxRssKb! / 1024, "replay's peak RSS in MB").toBeLessThan(0.75 * REPLAY_MEMORY_MB);
    expect((await iot.send(new DescribeThingCommand({ thingName: "from-east" }))).attributes).toEqual({
      site: "a",
    });
    const docs = out.logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const emf = docs.find((d) => d._aws && "ReplicationLagMs" in d);
    expect(emf).toMatchObject({
      service: "iot-dr-replay",
      _aws: { CloudWatchMetrics: [{ Namespace: "iot-dr" }] },
    });
    // The default (WARN) logs nothing per record but the metric; INFO brings the trail back.
    expect(docs.some((d) => d.key === "thing#from-east")).toBe(false);
    const traced = await invokeSerialized(
      code.replay,
      {
        sequenceNumber: "2",
        record: record("thing", "thing#traced", { name: "traced", attributes: {} }, { origin: PRIMARY }),
      },
      env({ REPLICATION_LOG_LEVEL: "INFO" }),
    );
    expect(traced.result).toMatchObject({ key: "thing#traced", outcome: "applied" });
    const lines = traced.logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((d) => d.key === "thing#traced" && typeof d.version === "object")).toBe(true);
  });

  it("replay throws the error name the state machine matches (InvalidRecord) for an invalid record", async () => {
    const liar = record("thing", "thing#liar", { name: "someone-else", attributes: {} });
    const out = await replay(liar);
    expect(out.ok).toBe(false);
    expect(out.error?.name).toBe("InvalidRecord");
  });

  it("launcher loads, filters its own region's records and reports the rest when StartSyncExecution fails", async () => {
    // moto has no StartSyncExecution (and the SDK prefixes its host with "sync-"), so the call fails
    // here: what this proves is the serialized launcher's filtering and failure mapping, not a run.
    const theirs = streamRecord(
      record("thing", "thing#theirs", { name: "theirs", attributes: {} }, { origin: PRIMARY }),
    );
    const own = streamRecord(
      record("thing", "thing#own", { name: "own", attributes: {} }, { origin: SECONDARY }),
    );
    const out = await invokeSerialized(
      code.launcher,
      { Records: [own, theirs] },
      env({
        STATE_MACHINE_ARN: `arn:aws:states:${SECONDARY}:${ACCOUNT}:stateMachine:replay`,
        AWS_MAX_ATTEMPTS: "1",
      }),
    );
    expect(out.error).toBeUndefined();
    expect(out.result).toEqual({ batchItemFailures: [{ itemIdentifier: seqOf(theirs) }] });
    expect(out.maxRssKb! / 1024, "launcher's peak RSS in MB").toBeLessThan(0.75 * LAUNCHER_MEMORY_MB);
    // Powertools writes errors to stderr.
    expect(out.stderr).toContain("sync-127.0.0.1");
    expect(out.stderr).toContain("replay execution failed");
  });

  it("launcher writes back to its ops table a record that an older replicated version replaced, and replays nothing", async () => {
    const newer = record(
      "policy",
      "policy#fleet",
      { name: "fleet", document: '{"v":3}' },
      { origin: SECONDARY },
    );
    const older = record(
      "policy",
      "policy#fleet",
      { name: "fleet", document: '{"v":2}' },
      {
        origin: PRIMARY,
        timestamp: newer.version.timestamp - 30_000,
      },
    );
    // The stream's attribute values and the SDK's are the same wire format under two typings.
    const olderItem = image(toItem(older) as unknown as Record<string, unknown>) as PutItemInput["Item"];
    // The replica now holds the older write (the global table's last writer).
    await ddb.send(new PutItemCommand({ TableName: TABLE, Item: olderItem }));
    const replaced = {
      ...streamRecord(older, "MODIFY"),
      dynamodb: {
        ...streamRecord(older, "MODIFY").dynamodb,
        OldImage: image(toItem(newer) as unknown as Record<string, unknown>),
      },
    };
    const out = await invokeSerialized(
      code.launcher,
      { Records: [replaced] },
      env({
        STATE_MACHINE_ARN: `arn:aws:states:${SECONDARY}:${ACCOUNT}:stateMachine:replay`,
        AWS_MAX_ATTEMPTS: "1",
      }),
    );
    expect(out.error).toBeUndefined();
    expect(out.result).toEqual({ batchItemFailures: [] });
    // No replay execution was started (moto has none; starting one would have failed the record).
    expect(out.stderr).not.toContain("replay execution failed");
    const held = await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: "policy#fleet" } } }));
    expect(held.Item?.stateJson?.S).toBe('{"document":"{\\"v\\":3}","name":"fleet"}');
    expect(held.Item?.origin?.S).toBe(SECONDARY);
  });
});
