import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import type { FailoverClient, PublishOutcome } from "../../device/client.js";
import { connectClient } from "../../peers/mqtt.js";
import { ENDPOINT, startRegions, waitFor, type Regions } from "./harness.js";

let regions: Regions | undefined;
let observer: MqttClient | undefined;
afterEach(async () => {
  await observer?.endAsync();
  observer = undefined;
  await regions?.close();
  regions = undefined;
});

/** Connects a device to A, kills A and waits until the device knows it is offline. */
async function deviceInOutage(maxQueued: number, dropPolicy: "oldest" | "newest" = "oldest") {
  regions = await startRegions(1);
  const r = regions;
  const device = r.client({ maxQueued, dropPolicy, backoff: { minDelayMs: 200, maxDelayMs: 400 } });
  device.start();
  await device.whenConnected();
  const received: number[] = [];
  observer = await connectClient(r.b, { clientId: "observer" });
  await observer.subscribeAsync("telemetry/#", { qos: 1 });
  observer.on("message", (_topic, payload) => received.push(Number(payload.toString())));
  const offline = new Promise<void>((resolve) => device.once("disconnected", () => resolve()));
  await r.a.kill();
  await offline;
  return { r, device, received };
}

function publishRange(device: FailoverClient, from: number, to: number): Promise<PublishOutcome>[] {
  const outcomes: Promise<PublishOutcome>[] = [];
  for (let seq = from; seq < to; seq++)
    outcomes.push(device.publish(`telemetry/${device.clientId}`, String(seq)));
  return outcomes;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("publishing through an outage", () => {
  it("QoS 1 messages published during an outage all arrive, in order, after the move", async () => {
    const { r, device, received } = await deviceInOutage(50);
    const flushed: number[] = [];
    device.on("flushed", (e) => flushed.push(e.count));
    const outcomes = publishRange(device, 0, 50);
    expect(device.queueLength).toBe(50);
    r.dns.setRecord(ENDPOINT, r.b.host, 1);

    expect(new Set((await Promise.all(outcomes)).map((o) => o.status))).toEqual(new Set(["sent"]));
    await waitFor("all 50 at the observer", () => received.length === 50);
    expect(received).toEqual(range(0, 50));
    expect(flushed).toEqual([50]);
    expect(device.counters).toMatchObject({ queued: 50, flushed: 50, dropped: 0, moves: 1 });
  });

  it("beyond the queue bound the oldest messages go and the drop counter says exactly how many", async () => {
    const { r, device, received } = await deviceInOutage(50);
    const dropped: string[] = [];
    device.on("dropped", (e) => dropped.push(e.reason));
    const outcomes = publishRange(device, 0, 80);
    r.dns.setRecord(ENDPOINT, r.b.host, 1);

    const results = await Promise.all(outcomes);
    await waitFor("the 50 kept messages at the observer", () => received.length === 50);
    expect(received).toEqual(range(30, 80));
    expect(results.slice(0, 30).every((o) => o.status === "dropped" && o.reason === "queue-full")).toBe(true);
    expect(results.slice(30).every((o) => o.status === "sent")).toBe(true);
    expect(dropped).toEqual(new Array(30).fill("queue-full"));
    expect(device.counters).toMatchObject({
      published: 80,
      queued: 80,
      flushed: 50,
      dropped: 30,
      droppedQueueFull: 30,
    });
  });

  it("with dropPolicy newest the queue keeps the first messages and refuses the rest", async () => {
    const { r, device, received } = await deviceInOutage(50, "newest");
    const outcomes = publishRange(device, 0, 80);
    r.dns.setRecord(ENDPOINT, r.b.host, 1);
    await Promise.all(outcomes);
    await waitFor("the 50 kept messages at the observer", () => received.length === 50);
    expect(received).toEqual(range(0, 50));
    expect(device.counters).toMatchObject({ dropped: 30, droppedQueueFull: 30 });
  });

  it("QoS 0 messages published while offline are dropped and counted, not queued", async () => {
    const { device } = await deviceInOutage(50);
    const outcome = await device.publish("telemetry/x", "1", { qos: 0 });
    expect(outcome).toEqual({ status: "dropped", reason: "offline-qos0" });
    expect(device.counters).toMatchObject({ dropped: 1, droppedOfflineQos0: 1, queued: 0 });
  });

  it("a message the failed region never acknowledged is sent again after the move", async () => {
    regions = await startRegions(1);
    const r = regions;
    // Region A accepts the PUBLISH but never gets to acknowledge it before it dies.
    r.a.aedes.authorizePublish = () => undefined;
    const device = r.client({ backoff: { minDelayMs: 200, maxDelayMs: 400 } });
    device.start();
    await device.whenConnected();
    const received: string[] = [];
    observer = await connectClient(r.b, { clientId: "observer" });
    await observer.subscribeAsync("telemetry/#", { qos: 1 });
    observer.on("message", (_topic, payload) => received.push(payload.toString()));

    const outcome = device.publish("telemetry/device-1", "unacked");
    await new Promise((resolve) => setTimeout(resolve, 100));
    r.dns.setRecord(ENDPOINT, r.b.host, 1);
    await r.a.kill();
    expect(await outcome).toEqual({ status: "sent" });
    await waitFor("the message at the observer on B", () => received.length === 1);
    expect(received).toEqual(["unacked"]);
    expect(device.counters).toMatchObject({ requeued: 1, flushed: 1, dropped: 0 });
  });

  it("stopping the client gives up what is still queued and counts it", async () => {
    const { device } = await deviceInOutage(50);
    const outcomes = publishRange(device, 0, 5);
    await device.stop();
    expect((await Promise.all(outcomes)).every((o) => o.status === "dropped" && o.reason === "stopped")).toBe(
      true,
    );
    expect(device.counters).toMatchObject({ dropped: 5, droppedStopped: 5 });
  });
});
