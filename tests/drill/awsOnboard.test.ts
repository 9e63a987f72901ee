/**
 * `drill --target aws`'s device identities across every seam, on loopback: the drill's onboarding
 * (drill/onboard.ts) through the real C&C caller (functions/cc/client.ts `createCcClient`) into the
 * real C&C handler on moto in the primary (drill/world.ts: the handler journals into the ops table,
 * replication copies the registry to the secondary), then the certificates each region's registry
 * holds ACTIVE are what the region's IoT Core stand-in (peers/iotTls.ts) accepts, and a Fleet with
 * the onboarded identities connects on "443" with ALPN and fails over to the secondary over TLS.
 * Decommissioning through C&C takes the certificates out again. The SigV4 leg of the C&C caller is
 * proven in tests/cc/client.test.ts; here the signer passes requests through.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet } from "../../device/fleet.js";
import { IOT_MQTT_ALPN } from "../../device/transport.js";
import { createIssuer } from "../../drill/certificates.js";
import { decommissionThroughCc, onboardThroughCc } from "../../drill/onboard.js";
import { DEVICE_POLICY, DrillWorld } from "../../drill/world.js";
import { createCcClient, type CcClient } from "../../functions/cc/client.js";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";
import { startIotTlsPair, type IotTlsRegion } from "../../peers/iotTls.js";
import { startMoto, type MotoServer } from "../../peers/moto.js";
import { createTestCa, type TestCa } from "../../peers/testCa.js";

const PRIMARY = "us-east-1";
const SECONDARY = "us-west-2";
const DEVICE_ENDPOINT = "devices.drill.test";
const CC_HOST = "cc.drill.test";
const THINGS = ["iot-dr-drill-t1-0", "iot-dr-drill-t1-1", "iot-dr-drill-t1-2"];

let moto: MotoServer;
let world: DrillWorld;
let ca: TestCa | undefined;
let server: { cert: string; key: string; ca: string };
let dns: TestDnsServer | undefined;
let regions: IotTlsRegion[] = [];
const requests: Array<{ command: string; key: string }> = [];

beforeAll(async () => {
  moto = await startMoto();
  world = await DrillWorld.create(moto, { regions: [PRIMARY, SECONDARY], apiRate: 50 });
  await world.seed(PRIMARY);
  world.start();
  ca = createTestCa();
  const cert = ca.issue(DEVICE_ENDPOINT, { extensions: [`subjectAltName=DNS:${DEVICE_ENDPOINT}`] });
  server = { cert: cert.certificatePem, key: cert.keyPem, ca: ca.caPem };
}, 120_000);

afterAll(async () => {
  for (const region of regions) await region.stop();
  await dns?.stop();
  await world?.stop();
  await moto?.stop();
  ca?.dispose();
});

/** The real C&C caller; the network under it delivers each request to the primary's real handler. */
function ccClient(): CcClient {
  return createCcClient({
    baseUrl: `https://${CC_HOST}`,
    resolveTxt: async (name) => {
      expect(name).toBe(`_region.${CC_HOST}`);
      return [[PRIMARY]];
    },
    sign: async (request) => request,
    transport: async (request) => {
      const url = new URL(request.url);
      expect(url.host).toBe(CC_HOST);
      const command = url.pathname.replace("/commands/", "");
      const key = request.headers?.["idempotency-key"] ?? "";
      requests.push({ command, key });
      const answer = await world.regions[PRIMARY]!.command(command, JSON.parse(request.body ?? "{}"), key);
      return { status: answer.statusCode, headers: answer.headers, body: answer.body };
    },
  });
}

/** The certificates a region's registry holds ACTIVE for the drill's things (what IoT Core accepts there). */
async function activeCertificates(region: string): Promise<Map<string, string>> {
  const iot = world.regions[region]!.iot;
  const found = new Map<string, string>();
  for (const thing of THINGS) {
    for (const id of await iot.listThingPrincipals(thing)) {
      const cert = await iot.describeCertificate(id);
      if (cert?.status === "ACTIVE") found.set(thing, cert.pem);
    }
  }
  return found;
}

describe("drill devices onboarded through C&C connect to IoT Core over TLS in both regions", () => {
  it("onboards each device with its own certificate, which both regions then accept, and fails over over TLS", async () => {
    const identities = await onboardThroughCc(ccClient(), createIssuer("drill"), THINGS, {
      policyName: DEVICE_POLICY,
    });
    expect(requests.filter((r) => r.command === "onboard").map((r) => r.key)).toEqual(
      expect.arrayContaining(THINGS.map((t) => `iot-dr-drill-onboard-${t}`)),
    );
    await world.settled(60_000);
    const inPrimary = await activeCertificates(PRIMARY);
    const inSecondary = await activeCertificates(SECONDARY);
    // What C&C registered is the drill's certificate, replicated as it is; the key never left the drill.
    expect(THINGS.map((t) => inPrimary.get(t))).toEqual(identities.map((d) => d.certificatePem));
    expect(THINGS.map((t) => inSecondary.get(t))).toEqual(identities.map((d) => d.certificatePem));

    regions = await startIotTlsPair({
      regions: [
        { cert: server.cert, key: server.key, registered: [...inPrimary.values()] },
        { cert: server.cert, key: server.key, registered: [...inSecondary.values()] },
      ],
    });
    const [a, b] = regions as [IotTlsRegion, IotTlsRegion];
    dns = await startDnsServer({ [DEVICE_ENDPOINT]: { addresses: [a.host], ttl: 1 } });
    const fleet = new Fleet({
      count: THINGS.length,
      endpoint: DEVICE_ENDPOINT,
      port: a.ports.alpn,
      dnsServers: [dns.server],
      clientIdPrefix: "iot-dr-drill-t1",
      tls: { ca: server.ca, alpn: [IOT_MQTT_ALPN] },
      identities: identities.map((d) => ({ cert: d.certificatePem, key: d.privateKeyPem })),
      publishIntervalMs: 0,
      startRatePerSecond: 0,
      client: { backoff: { minDelayMs: 50, maxDelayMs: 200 }, reresolveIntervalMs: 0 },
    });
    try {
      await fleet.start();
      await fleet.waitUntil((s) => s.connectedByTarget[`${a.host}:${a.ports.alpn}`] === 3, 10_000);
      expect(new Set(a.clientIds())).toEqual(new Set(THINGS));
      dns.setRecord(DEVICE_ENDPOINT, [b.host], 1);
      await a.kill();
      await fleet.waitUntil((s) => s.connectedByTarget[`${b.host}:${b.ports.alpn}`] === 3, 15_000);
      expect(new Set(b.accepted.map((s) => s.peer))).toEqual(new Set(THINGS));
      expect(b.accepted.every((s) => s.alpn === IOT_MQTT_ALPN && s.servername === DEVICE_ENDPOINT)).toBe(
        true,
      );
    } finally {
      await fleet.stop({ drainMs: 0 });
    }
  }, 120_000);

  it("decommissions them through C&C: no certificate of theirs stays active in either region", async () => {
    expect(await decommissionThroughCc(ccClient(), THINGS)).toEqual([]);
    await world.settled(60_000);
    expect((await activeCertificates(PRIMARY)).size).toBe(0);
    expect((await activeCertificates(SECONDARY)).size).toBe(0);
    // A device never onboarded (a run stopped part-way) is nothing to clean up.
    expect(await decommissionThroughCc(ccClient(), ["iot-dr-drill-never"])).toEqual([]);
  }, 120_000);
});
