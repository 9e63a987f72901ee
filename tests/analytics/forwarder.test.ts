import { beforeEach, describe, expect, it } from "vitest";
import * as eb from "@aws-sdk/client-eventbridge";
import * as sqs from "@aws-sdk/client-sqs";
import * as kinesis from "@aws-sdk/client-kinesis";
import { AwsSdkSigV4Signer } from "@aws-sdk/core";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { useMoto } from "../support/useMoto.js";
import { busIntoQueue, type BusSink } from "./support.js";
import {
  DEVICE_DATA_SOURCE,
  deviceDataRuleSql,
  forwardDeviceData,
  putEventsFromSdk,
  type BusEntry,
  type ForwarderDeps,
  type PutEvents,
} from "../../functions/analytics/forwarder.js";
import {
  analyticsPortsFromSdk,
  analyticsProbes,
  probeOutcome,
} from "../../functions/analytics/checkpoints.js";

const REGION = "us-east-1";
const BUS = "iot-dr-device-data";
const quiet = { info() {}, warn() {}, error() {} };

const moto = useMoto();
let events: eb.EventBridgeClient;
let queues: sqs.SQSClient;
let queueUrl: string;

let drain: BusSink["drain"];

beforeEach(async () => {
  ({ events, queues, queueUrl, drain } = await busIntoQueue(moto, REGION, BUS));
});

const message = (i: number) => ({
  messageId: `m-${i}`,
  topic: `dt/device-${i % 3}/telemetry`,
  clientId: `device-${i % 3}`,
  receivedAt: 1_790_000_000_000 + i,
  payload: { temperature: 20 + i },
});

/** Refuses the entries whose index is listed, on the first call only (as EventBridge does under load). */
function flaky(inner: PutEvents, refuse: Set<number>): PutEvents & { calls: BusEntry[][] } {
  const calls: BusEntry[][] = [];
  const fn = async (entries: BusEntry[]) => {
    calls.push(entries);
    if (calls.length > 1) return inner(entries);
    const accepted = entries.filter((_, i) => !refuse.has(i));
    const results = await inner(accepted);
    let k = 0;
    return entries.map((_, i) =>
      refuse.has(i) ? { ok: false as const, code: "ThrottlingException" } : results[k++]!,
    );
  };
  return Object.assign(fn, { calls });
}

const deps = (putEvents: PutEvents): ForwarderDeps => ({
  putEvents,
  eventBusName: BUS,
  sleep: async () => {},
  logger: quiet,
});

describe("device data forwarder → EventBridge → SQS target", () => {
  it("delivers every event exactly once, even when EventBridge refuses some entries at first", async () => {
    const put = flaky(putEventsFromSdk(eb, events), new Set([1, 4]));
    const batch = Array.from({ length: 7 }, (_, i) => message(i));
    expect(await forwardDeviceData(batch, deps(put))).toEqual({ forwarded: 7 });
    // Only the refused entries were sent again.
    expect(put.calls.map((c) => c.length)).toEqual([7, 2]);
    const delivered = await drain();
    expect(delivered.map((e) => (e.detail as { messageId: string }).messageId).sort()).toEqual(
      batch.map((m) => m.messageId).sort(),
    );
    const first = delivered.find((e) => (e.detail as { messageId: string }).messageId === "m-0")!;
    expect(first).toMatchObject({
      source: DEVICE_DATA_SOURCE,
      "detail-type": "DeviceTelemetry",
      detail: { deviceId: "device-0", topic: "dt/device-0/telemetry", payload: { temperature: 20 } },
    });
  });

  it("forwards the single event an IoT rule hands to the function", async () => {
    await forwardDeviceData(message(42), deps(putEventsFromSdk(eb, events)));
    expect((await drain()).map((e) => (e.detail as { messageId: string }).messageId)).toEqual(["m-42"]);
  });

  it("fails (so Lambda retries and then dead-letters) when entries stay refused, having sent each accepted one once", async () => {
    const refuseAlways: PutEvents = async (entries) =>
      entries.map(() => ({ ok: false as const, code: "InternalFailure" }));
    await expect(forwardDeviceData([message(1)], deps(refuseAlways))).rejects.toMatchObject({
      name: "ForwardFailed",
    });
    await expect(forwardDeviceData([message(1)], deps(refuseAlways))).rejects.toThrow(/InternalFailure/);
    expect(await drain()).toEqual([]);
  });

  it.each([
    ["a string", "hello"],
    ["an event without messageId", { topic: "dt/a/telemetry", receivedAt: 1 }],
    ["an event without topic", { messageId: "m", receivedAt: 1 }],
    ["an event without receivedAt", { messageId: "m", topic: "dt/a/telemetry" }],
  ])("refuses %s as invalid device data and sends nothing", async (_what, event) => {
    const put = flaky(putEventsFromSdk(eb, events), new Set());
    await expect(forwardDeviceData(event, deps(put))).rejects.toMatchObject({ name: "InvalidDeviceData" });
    expect(put.calls).toEqual([]);
  });

  it("sends the global endpoint's id with PutEvents", async () => {
    // moto does not check signatures; AWS signs global-endpoint calls with SigV4a
    // (@aws-sdk/signature-v4a), stood in for here by the SigV4 signer.
    const client = new eb.EventBridgeClient({
      ...moto.clientConfig(REGION),
      httpAuthSchemes: [
        {
          schemeId: "aws.auth#sigv4a",
          identityProvider: (ipc) => ipc.getIdentityProvider("aws.auth#sigv4"),
          signer: new AwsSdkSigV4Signer(),
        },
      ],
    });
    const bodies: string[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        // The SDK's JSON codec hands a Uint8Array body to the signer; decode it rather than call a
        // string method on it (the SDK warns on that, and will throw in a later version).
        const body = (args.request as { body?: unknown }).body;
        bodies.push(body instanceof Uint8Array ? new TextDecoder().decode(body) : String(body));
        return next(args);
      },
      { step: "finalizeRequest", name: "captureBody" },
    );
    await forwardDeviceData(message(7), deps(putEventsFromSdk(eb, client, "abcde.veo")));
    expect(JSON.parse(bodies[0]!)).toMatchObject({ EndpointId: "abcde.veo" });
    expect((await drain()).length).toBe(1);
  });

  it("builds rule SQL for a topic filter and refuses filters that would break it", () => {
    expect(deviceDataRuleSql("dt/+/telemetry")).toBe(
      "SELECT newuuid() AS messageId, topic() AS topic, clientid() AS clientId, timestamp() AS receivedAt, * AS payload FROM 'dt/+/telemetry'",
    );
    expect(() => deviceDataRuleSql("dt/'x")).toThrow(/topic filter/);
    expect(() => deviceDataRuleSql("dt/#/x")).toThrow(/topic filter/);
  });
});

describe("analytics checkpoints", () => {
  // The Kinesis client speaks HTTP/2 by default; moto serves HTTP/1.1.
  const kinesisClient = () =>
    new kinesis.KinesisClient({ ...moto.clientConfig(REGION), requestHandler: new NodeHttpHandler() });
  const ports = () =>
    analyticsPortsFromSdk({
      eventbridge: eb,
      kinesis,
      sqs,
      clients: { eventbridge: events, kinesis: kinesisClient(), sqs: queues },
    });

  it("pass when the bus, the stream and the dead-letter queues are healthy, and the canary does not reach data targets", async () => {
    await kinesisClient().send(new kinesis.CreateStreamCommand({ StreamName: "data", ShardCount: 1 }));
    const probes = analyticsProbes(
      { eventBusName: BUS, streamName: "data", deadLetterQueueUrls: { target: queueUrl } },
      ports(),
    );
    for (const [name, probe] of Object.entries(probes))
      expect(await probeOutcome(probe), name).toEqual({ ok: true });
    expect(await drain()).toEqual([]);
  });

  it("fail with a reason when the bus or stream is missing or dead letters pile up", async () => {
    await queues.send(new sqs.SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "dead" }));
    const probes = analyticsProbes(
      { eventBusName: "missing", streamName: "missing", deadLetterQueueUrls: { rule: queueUrl } },
      ports(),
    );
    expect(await probeOutcome(probes["analytics-bus"]!)).toMatchObject({
      ok: false,
      detail: expect.stringContaining("ResourceNotFound"),
    });
    expect((await probeOutcome(probes["analytics-stream"]!)).ok).toBe(false);
    expect(await probeOutcome(probes["analytics-dead-letters"]!)).toEqual({
      ok: false,
      detail: "CheckpointFailed: dead letters waiting: rule=1",
    });
  });
});
