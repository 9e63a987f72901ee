/**
 * The server-side move (functions/health/mover.ts) against IoT's DeleteConnection as emulated in
 * front of a real broker that drops a client by id: real FailoverClients, whose DNS caches still
 * point at the failing region, reconnect where DNS now points once their connection is closed.
 */
import * as crypto from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailoverClient } from "../../device/client.js";
import { createSigV4Signer } from "../../functions/health/aws.js";
import { createNodeTransport } from "../../functions/health/http.js";
import { disconnectClients } from "../../functions/health/mover.js";
import { waitFor } from "../device/harness.js";
import {
  loopbackTls,
  startIotDataPlane,
  type IotDataPlane,
  type TlsMaterial,
} from "../emulators/iotDataPlane.js";
import { startDnsServer, type TestDnsServer } from "../support/dns.js";
import { startBrokerPair, type TestBroker } from "../support/mqtt.js";

const ENDPOINT = "devices.iot.example.test";
const DEVICES = 12;

describe("the server-side move closes the failing region's connections by client id", () => {
  let tls: TlsMaterial;
  let a: TestBroker;
  let b: TestBroker;
  let dns: TestDnsServer;
  let plane: IotDataPlane;
  const clients: FailoverClient[] = [];

  beforeAll(async () => {
    tls = loopbackTls();
    [a, b] = (await startBrokerPair()) as [TestBroker, TestBroker];
    plane = await startIotDataPlane({
      region: "us-east-1",
      tls,
      publish: (topic, payload, qos, retain) => a.publish(topic, payload, { qos, retain }),
      disconnect: async (clientId) => {
        const client = (a.aedes as unknown as { clients: Record<string, { close(): void }> }).clients[
          clientId
        ];
        if (!client) return false;
        client.close();
        return true;
      },
    });
    dns = await startDnsServer({ [ENDPOINT]: { addresses: [a.host], ttl: 300 } });
    for (let i = 0; i < DEVICES; i++) {
      const client = new FailoverClient({
        endpoint: ENDPOINT,
        clientId: `device-${i}`,
        port: a.port,
        dnsServers: [dns.server],
        reresolveIntervalMs: 0,
        backoff: { minDelayMs: 50, maxDelayMs: 200 },
      });
      clients.push(client);
      client.start();
    }
    await waitFor("every device on the failing region", () =>
      clients.every((c) => c.target?.address === a.host),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all([a?.stop(), b?.stop(), dns?.stop(), plane?.stop()]);
    tls?.dispose();
  });

  it("moves every device once, paced at the target's connect rate, and names the ones not connected there", async () => {
    // Route 53 has flipped; the devices' caches have not, and they get no notice.
    dns.setRecord(ENDPOINT, b.host, 300);
    const trusting = {
      request: (url: URL, options: https.RequestOptions, cb: (res: http.IncomingMessage) => void) =>
        https.request(url, { ...options, ca: tls.cert }, cb),
    } as unknown as typeof https;
    const ids = clients.map((c) => c.clientId);
    const rate = 20;
    // A client id twice in a row (two sources listed it) is tried once.
    const outcome = await disconnectClients([ids[0]!, ...ids, "never-connected"], {
      transport: createNodeTransport({ http, https: trusting }),
      sign: createSigV4Signer({
        SignatureV4,
        crypto,
        credentials: async () => ({ accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }),
        region: "us-east-1",
        service: "iotdata",
      }),
      endpoint: `https://${plane.endpoint}`,
      ratePerSecond: rate,
      clock: { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
    });
    expect(outcome).toEqual({ disconnected: DEVICES, notConnected: 1, failed: 0, skipped: 0, duplicates: 1 });
    // Keep the session, no last will: the device moved, it did not die.
    expect(plane.disconnects.every((d) => !d.cleanSession && d.preventWillMessage)).toBe(true);
    // Paced: DEVICES + 1 calls at `rate` per second span at least (calls - 1) spacings.
    const at = plane.disconnects.map((d) => d.at);
    expect(at[at.length - 1]! - at[0]!).toBeGreaterThanOrEqual(((at.length - 1) * 1000) / rate - 5);

    await waitFor("every device on the healthy region", () =>
      clients.every((c) => c.target?.address === b.host),
    );
    for (const c of clients) expect(c.counters).toMatchObject({ moves: 1, disconnects: 1 });
  }, 60_000);

  it("stops when the failing region's data plane no longer answers, and says how many it could not try", async () => {
    plane.setDown(true);
    try {
      const outcome = await disconnectClients(
        Array.from({ length: 10 }, (_, i) => `device-${i}`),
        {
          transport: createNodeTransport({
            http,
            https: {
              request: (url: URL, options: https.RequestOptions, cb: (res: http.IncomingMessage) => void) =>
                https.request(url, { ...options, ca: tls.cert }, cb),
            } as unknown as typeof https,
          }),
          sign: async (r) => ({
            ...r,
            headers: {
              ...r.headers,
              authorization: "AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/iotdata/aws4_request",
            },
          }),
          endpoint: `https://${plane.endpoint}`,
          ratePerSecond: 1000,
          clock: { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
          maxConsecutiveFailures: 3,
        },
      );
      expect(outcome).toEqual({ disconnected: 0, notConnected: 0, failed: 3, skipped: 7, duplicates: 0 });
    } finally {
      plane.setDown(false);
    }
  });

  it("refuses a rate that is not positive, naming the quota", async () => {
    await expect(
      disconnectClients(["x"], {
        transport: async () => ({ status: 200, headers: {}, body: "" }),
        sign: async (r) => r,
        endpoint: "https://x",
        ratePerSecond: 0,
        clock: { now: () => 0, sleep: async () => undefined },
      }),
    ).rejects.toThrow(/ratePerSecond must be > 0 \(the target region's connect quota\)/);
  });
});
