/**
 * What `drill --target aws` devices do against IoT Core's listeners, run on loopback: two regions of
 * peers/iotTls.ts (mutual TLS on "8883", ALPN x-amzn-mqtt-ca on "443", only registered device
 * certificates, SNI required), server certificates from a test CA made with the openssl CLI, device
 * identities from the drill's own issuer (drill/certificates.ts `issueIdentity`), and the real
 * FailoverClient / Fleet of device/.
 */
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailoverClient, type FailoverClientOptions } from "../../device/client.js";
import { Fleet } from "../../device/fleet.js";
import { IOT_MQTT_ALPN, type TlsSettings } from "../../device/transport.js";
import { createIssuer, type DeviceIdentity } from "../../drill/certificates.js";
import { encodeNotice } from "../../functions/health/notice.js";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";
import { startIotTlsPair, type IotTlsRegion } from "../../peers/iotTls.js";
import { createTestCa, type TestCa } from "../../peers/testCa.js";
import { firstFailure, waitFor } from "../device/harness.js";

const FAILOVER_NAME = "devices.drill.test";
const ENDPOINT_A = "iot.eu-west-1.drill.test";
const ENDPOINT_B = "iot.eu-central-1.drill.test";
const NOTICE_TOPIC = "iot-dr/notice";

let ca: TestCa;
let serverCa: string;
let dns: TestDnsServer;
let a: IotTlsRegion;
let b: IotTlsRegion;
const identities: DeviceIdentity[] = [];
/** From another issuer, never registered. */
let stranger: DeviceIdentity;

beforeAll(async () => {
  ca = createTestCa({ commonName: "test-amazon-root" });
  serverCa = ca.caPem;
  // Each region's certificate names the fail-over name and the region's own endpoint only.
  const [certA, certB] = [ENDPOINT_A, ENDPOINT_B].map((own) =>
    ca.issue(own, { extensions: [`subjectAltName=DNS:${FAILOVER_NAME},DNS:${own}`] }),
  );
  const issuer = createIssuer();
  for (let i = 0; i < 3; i++) identities.push(issuer.issueIdentity(`drill-device-${i}`, i + 1));
  stranger = createIssuer("another issuer").issueIdentity("drill-device-0", 1);
  // Registered in both regions, as C&C's onboarding and replication leave them.
  const registered = identities.map((d) => d.certificatePem);
  [a, b] = await startIotTlsPair({
    regions: [
      { cert: certA!.certificatePem, key: certA!.keyPem, registered },
      { cert: certB!.certificatePem, key: certB!.keyPem, registered },
    ],
  });
  dns = await startDnsServer({
    [FAILOVER_NAME]: { addresses: [a.host], ttl: 1 },
    [ENDPOINT_A]: { addresses: [a.host], ttl: 60 },
    [ENDPOINT_B]: { addresses: [b.host], ttl: 60 },
  });
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await dns?.stop();
  ca?.dispose();
});

const device = (
  identity: DeviceIdentity,
  options: Omit<Partial<FailoverClientOptions>, "tls"> & { tls?: Partial<TlsSettings> } = {},
) =>
  new FailoverClient({
    endpoint: FAILOVER_NAME,
    clientId: `tls-${Math.random().toString(36).slice(2, 8)}`,
    port: a.ports.mqtts,
    dnsServers: [dns.server],
    backoff: { minDelayMs: 20, maxDelayMs: 100 },
    reresolveIntervalMs: 0,
    ...options,
    tls: { cert: identity.certificatePem, key: identity.privateKeyPem, ca: serverCa, ...options.tls },
  });

describe("drill devices against IoT Core's TLS listeners", () => {
  it("a device with its onboarded identity connects with mutual TLS on 8883, sending the endpoint as SNI", async () => {
    const client = device(identities[0]!);
    client.start();
    expect(await client.whenConnected()).toBe(true);
    expect(a.accepted.at(-1)).toEqual({
      listener: "mqtts",
      servername: FAILOVER_NAME,
      alpn: false,
      peer: "drill-device-0",
    });
    await client.stop();
  });

  it("on 443 a device connects with ALPN x-amzn-mqtt-ca, and is refused without it or with another protocol", async () => {
    const client = device(identities[1]!, { port: a.ports.alpn, tls: { alpn: [IOT_MQTT_ALPN] } });
    client.start();
    expect(await client.whenConnected()).toBe(true);
    expect(a.accepted.at(-1)).toMatchObject({
      listener: "alpn",
      alpn: IOT_MQTT_ALPN,
      peer: "drill-device-1",
    });
    await client.stop();

    const refusedBefore = a.refused.filter((r) => r.listener === "alpn").length;
    await firstFailure(device(identities[1]!, { port: a.ports.alpn, tls: { alpn: false } }));
    await firstFailure(device(identities[1]!, { port: a.ports.alpn, tls: { alpn: ["mqtt"] } }));
    const refused = a.refused.filter((r) => r.listener === "alpn").slice(refusedBefore);
    expect(refused.length).toBeGreaterThanOrEqual(2);
    expect(refused[0]!.reason).toMatch(/ALPN false on 443/);
  });

  it("refuses a client without a certificate and one whose certificate is not registered (another issuer)", async () => {
    const before = a.refused.length;
    const bare = tls.connect({ host: a.host, port: a.ports.mqtts, servername: FAILOVER_NAME, ca: serverCa });
    bare.on("error", () => undefined);
    await new Promise((resolve) => bare.once("close", resolve));
    await firstFailure(device(stranger));
    const reasons = a.refused.slice(before).map((r) => r.reason);
    expect(reasons.some((r) => /certificate/i.test(r))).toBe(true);
    expect(reasons.length).toBeGreaterThanOrEqual(2);
  });

  it("checks the server name: a certificate that does not name the endpoint is refused, and a client without SNI is refused", async () => {
    // Region A's certificate does not name region B's endpoint.
    const wrongName = await firstFailure(device(identities[0]!, { tls: { servername: ENDPOINT_B } }));
    expect(wrongName).toMatch(/altnames/i);
    const before = a.refused.length;
    const noSni = tls.connect({
      host: a.host,
      port: a.ports.mqtts,
      cert: identities[0]!.certificatePem,
      key: identities[0]!.privateKeyPem,
      ca: serverCa,
      checkServerIdentity: () => undefined,
    });
    noSni.on("error", () => undefined);
    await new Promise((resolve) => noSni.once("close", resolve));
    expect(a.refused.slice(before).map((r) => r.reason)).toContain(
      "no SNI: IoT Core needs the endpoint name as SNI",
    );
  });

  it("a notice moves a device to the other region's endpoint, over TLS with that endpoint as server name", async () => {
    const client = device(identities[2]!, {
      noticeTopic: NOTICE_TOPIC,
      regionEndpoints: { "eu-central-1": ENDPOINT_B },
      noticeSpreadMs: 0,
    });
    const moved = new Promise<{ host: string; address: string }>((resolve) =>
      client.once("reconnected", ({ target }) => resolve(target)),
    );
    client.start();
    expect(await client.whenConnected()).toBe(true);
    await waitFor("the notice subscription", () =>
      Object.values(
        (a.aedes as unknown as { clients: Record<string, { id: string; subscriptions: object }> }).clients,
      ).some((c) => c.id === client.clientId && NOTICE_TOPIC in c.subscriptions),
    );
    await new Promise<void>((resolve, reject) =>
      a.aedes.publish(
        {
          cmd: "publish",
          topic: NOTICE_TOPIC,
          payload: Buffer.from(
            encodeNotice({
              version: 1,
              id: "n-1",
              type: "failover",
              targetRegion: "eu-central-1",
              fromRegion: "eu-west-1",
            }),
          ),
          qos: 1,
          retain: false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    expect(await moved).toMatchObject({ host: ENDPOINT_B, address: b.host });
    expect(b.accepted.at(-1)).toEqual({
      listener: "mqtts",
      servername: ENDPOINT_B,
      alpn: false,
      peer: "drill-device-2",
    });
    await client.stop();
  });

  it("a fleet of onboarded identities fails over to the second region over TLS when the first is gone and DNS moves", async () => {
    const fleet = new Fleet({
      count: identities.length,
      endpoint: FAILOVER_NAME,
      port: a.ports.alpn,
      dnsServers: [dns.server],
      tls: { ca: serverCa, alpn: [IOT_MQTT_ALPN] },
      identities: identities.map((d) => ({ cert: d.certificatePem, key: d.privateKeyPem })),
      clientIdPrefix: "drill-fleet",
      publishIntervalMs: 200,
      startRatePerSecond: 0,
      client: { backoff: { minDelayMs: 50, maxDelayMs: 200 }, reresolveIntervalMs: 0 },
    });
    try {
      await fleet.start();
      await fleet.waitUntil((s) => s.connectedByTarget[`${a.host}:${a.ports.alpn}`] === 3, 10_000);
      const seenInA = new Set(a.accepted.filter((s) => s.listener === "alpn").map((s) => s.peer));
      expect(identities.map((_, i) => seenInA.has(`drill-device-${i}`))).toEqual([true, true, true]);
      const acceptedInB = b.accepted.length;
      dns.setRecord(FAILOVER_NAME, [b.host], 1);
      await a.kill();
      await fleet.waitUntil((s) => s.connectedByTarget[`${b.host}:${b.ports.alpn}`] === 3, 15_000);
      const inB = b.accepted.slice(acceptedInB);
      expect(inB.map((s) => [s.listener, s.servername, s.alpn])).toEqual(
        Array.from({ length: 3 }, () => ["alpn", FAILOVER_NAME, IOT_MQTT_ALPN]),
      );
      expect(new Set(inB.map((s) => s.peer))).toEqual(
        new Set(["drill-device-0", "drill-device-1", "drill-device-2"]),
      );
    } finally {
      await fleet.stop({ drainMs: 0 });
    }
  });

  it("a fleet refuses identities it cannot use, saying what to set", () => {
    const base = { count: 2, endpoint: FAILOVER_NAME };
    const one = [{ cert: identities[0]!.certificatePem, key: identities[0]!.privateKeyPem }];
    expect(() => new Fleet({ ...base, identities: one })).toThrow(/identities need tls/);
    expect(() => new Fleet({ ...base, tls: { ca: serverCa }, identities: one })).toThrow(
      /one certificate and key per device: 1 for 2 devices/,
    );
  });
});
