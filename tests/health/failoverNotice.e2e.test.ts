/**
 * The fail-over notice across its whole seam: a CloudWatch alarm state change as SNS hands it to
 * Lambda -> the notifier's serialized code (as deployed, in a fresh Node process, assuming the
 * publisher role through STS on moto) -> IoT's data-plane Publish (emulated over TLS in front of a
 * real aedes broker per region) -> real FailoverClients configured with regionEndpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailoverClient } from "../../device/client.js";
import { parseNotice } from "../../device/notice.js";
import { FailoverDns } from "../../infra/failoverDns.js";
import { startFleet, waitFor } from "../device/harness.js";
import { snsAlarmEvent } from "./alarmEvent.js";
import {
  loopbackTls,
  startIotDataPlane,
  type IotDataPlane,
  type TlsMaterial,
} from "../../peers/emulators/iotDataPlane.js";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";
import { useMoto } from "../support/useMoto.js";
import { startBrokerPair, type TestBroker } from "../../peers/mqtt.js";
import { invokeSerialized, serializedCallback, type InvokeResult } from "../support/serialized.js";
import { ALARM_ROUTED_DEVICES, named, provider, SHARED_ACCOUNT, underMocks, IOT_ACCOUNT } from "./mocks.js";

const TOPIC = "dr/failover/notice";
const ENDPOINT = "devices.iot.example.test";
const REGION_ENDPOINTS = {
  "us-east-1": "iot.us-east-1.example.test",
  "us-west-2": "iot.us-west-2.example.test",
};
const DEVICES = 20;

describe("a health-check alarm moves every connected device to the healthy region, once", () => {
  const moto = useMoto({ resetBeforeEach: false });
  let tls: TlsMaterial;
  let a: TestBroker;
  let b: TestBroker;
  let dns: TestDnsServer;
  const planes: Record<"primary" | "secondary", IotDataPlane> = {} as never;
  const clients: FailoverClient[] = [];
  /** CONNACKs per client id on the healthy region's broker. */
  const connectsOnB = new Map<string, number>();
  let invoke: (event: unknown) => Promise<InvokeResult>;
  let primaryAlarm: string;

  beforeAll(async () => {
    tls = loopbackTls();
    [a, b] = (await startBrokerPair()) as [TestBroker, TestBroker];
    b.aedes.on("client", (c) => connectsOnB.set(c.id, (connectsOnB.get(c.id) ?? 0) + 1));
    const into = (broker: TestBroker) => (topic: string, payload: string, qos: 0 | 1, retain: boolean) =>
      broker.publish(topic, payload, { qos, retain });
    planes.primary = await startIotDataPlane({ region: "us-east-1", tls, publish: into(a) });
    planes.secondary = await startIotDataPlane({ region: "us-west-2", tls, publish: into(b) });
    dns = await startDnsServer({
      // Route 53 has not flipped yet, and the devices' caches would hold the old answer for minutes.
      [ENDPOINT]: { addresses: [a.host], ttl: 300 },
      [REGION_ENDPOINTS["us-east-1"]]: { addresses: [a.host], ttl: 300 },
      [REGION_ENDPOINTS["us-west-2"]]: { addresses: [b.host], ttl: 300 },
    });

    // The notifier as the global stack deploys it (only the data endpoints point at the emulators).
    const run = await underMocks(() => {
      const shared = provider("shared-primary", "us-east-1", SHARED_ACCOUNT);
      new FailoverDns(
        "failover",
        {
          ...ALARM_ROUTED_DEVICES,
          alarmProvider: shared,
          notice: {
            topic: TOPIC,
            externalId: "ext-health",
            spreadMs: 300,
            targets: [
              {
                region: "us-east-1",
                dataEndpoint: planes.primary.endpoint,
                roleArn: `arn:aws:iam::${IOT_ACCOUNT}:role/notice-publisher-primary`,
              },
              {
                region: "us-west-2",
                dataEndpoint: planes.secondary.endpoint,
                roleArn: `arn:aws:iam::${IOT_ACCOUNT}:role/notice-publisher-secondary`,
              },
            ],
          },
        },
        { provider: shared },
      );
    });
    const fn = named(run.resources, "aws:lambda/function:Function", "failover-notifier-fn");
    const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    const alarms = JSON.parse(env.NOTICE_ALARMS!) as Array<{ alarmName: string; region: string }>;
    primaryAlarm = alarms.find((x) => x.region === "us-east-1")!.alarmName;
    const code = await serializedCallback(fn.inputs);
    invoke = (event) =>
      invokeSerialized(code, event, { ...moto.env("us-east-1"), ...env, NODE_EXTRA_CA_CERTS: tls.caFile });

    startFleet(clients, DEVICES, {
      endpoint: ENDPOINT,
      port: a.port,
      dnsServers: [dns.server],
      noticeTopic: TOPIC,
      regionEndpoints: REGION_ENDPOINTS,
      // Only the notice may move them here: no periodic re-resolution.
      reresolveIntervalMs: 0,
    });
    await waitFor("every device on the primary", () => a.subscriberCount(TOPIC) === DEVICES);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all([a?.stop(), b?.stop(), dns?.stop(), planes.primary?.stop(), planes.secondary?.stop()]);
    tls?.dispose();
  });

  it("the primary's alarm sends every device to the secondary; SNS's redelivery and the retained copy move nobody again", async () => {
    const event = snsAlarmEvent({
      alarmName: primaryAlarm,
      messageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
    });
    // The data endpoints are bare hosts, as the stacks export them; the notifier adds https://.
    const first = await invoke(event);
    expect(first.error).toBeUndefined();
    expect(first.result).toEqual({ published: 2, failed: 0, ignored: 0 });

    // Published retained in both regions, signed with the assumed publisher role's session.
    for (const plane of [planes.primary, planes.secondary]) {
      expect(plane.published).toHaveLength(1);
      expect(plane.published[0]).toMatchObject({ topic: TOPIC, qos: 1, retain: true });
      expect(plane.published[0]!.sessionToken).toBeTruthy();
    }
    const sent = parseNotice(planes.secondary.published[0]!.payload);
    expect(sent).toEqual({
      ok: true,
      notice: expect.objectContaining({
        version: 1,
        type: "failover",
        id: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        targetRegion: "us-west-2",
        fromRegion: "us-east-1",
        spreadMs: 300,
        at: "2026-12-03T17:01:02.345Z",
      }),
    });

    await waitFor(
      "every device on the secondary",
      () => clients.every((c) => c.target?.address === b.host),
      10_000,
    );
    expect(a.connectedClients()).toBe(0);
    for (const c of clients) {
      expect(c.target).toMatchObject({ host: REGION_ENDPOINTS["us-west-2"], address: b.host });
      expect(c.counters).toMatchObject({ moves: 1, reconnects: 1, notices: 1 });
    }

    // SNS delivers at least once: the same message again publishes again, and moves nobody.
    const handled = new Map<string, string[]>();
    for (const c of clients)
      c.on("notice", (e) => handled.set(c.clientId, [...(handled.get(c.clientId) ?? []), e.detail]));
    const again = await invoke(event);
    expect(again.result).toEqual({ published: 2, failed: 0, ignored: 0 });
    await waitFor("the repeated notice reached every device", () => handled.size === DEVICES);
    expect(new Set([...handled.values()].flat())).toEqual(
      new Set(["notice 95df01b4-ee98-5cb9-9903-4c221d41eb5e already handled"]),
    );

    // A device that connects afterwards gets the retained notice, already where it should be.
    dns.setRecord(ENDPOINT, b.host, 60);
    const late = new FailoverClient({
      endpoint: ENDPOINT,
      clientId: "device-late",
      port: a.port,
      dnsServers: [dns.server],
      noticeTopic: TOPIC,
      regionEndpoints: REGION_ENDPOINTS,
      reresolveIntervalMs: 0,
    });
    clients.push(late);
    const lateNotices: string[] = [];
    late.on("notice", (e) => lateNotices.push(e.action));
    // Its notice check (within spreadMs) re-resolves the target region's endpoint; a PUBACK after that
    // answer shows the connection it kept. Counted from before it starts: the check can answer
    // before the test sees the notice event (it did once, in a full run on a loaded machine).
    const queries = dns.queryCount(REGION_ENDPOINTS["us-west-2"]);
    late.start();
    await waitFor("the late device got the retained notice", () => lateNotices.length === 1);
    await waitFor(
      "the late device's notice check",
      () => dns.queryCount(REGION_ENDPOINTS["us-west-2"]) > queries,
    );
    expect(await late.publish("telemetry/device-late", "{}")).toEqual({ status: "sent" });
    expect(late.target?.address).toBe(b.host);
    expect(late.counters).toMatchObject({ notices: 1, moves: 0, reconnects: 0 });

    // Exactly once: one CONNACK per device on the healthy region.
    expect([...connectsOnB.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(connectsOnB.size).toBe(DEVICES + 1);
  }, 60_000);
});
