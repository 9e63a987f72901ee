/**
 * The server-side move (functions/health/mover.ts) against IoT's DeleteConnection as emulated in
 * front of a real broker that drops a client by id: real FailoverClients, whose DNS caches still
 * point at the failing region, reconnect where DNS now points once their connection is closed.
 */
import * as https from "node:https";
import { DeleteConnectionCommand, IoTDataPlaneClient } from "@aws-sdk/client-iot-data-plane";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { disconnectClients, type DeleteConnection } from "../../functions/health/mover.js";
import { waitFor } from "../device/harness.js";
import type { TlsMaterial } from "../../peers/emulators/iotDataPlane.js";
import { DEVICES, ENDPOINT, startMoveScene, type MoveScene } from "./moveScene.js";

/** An SDK data-plane client at the emulator, trusting its loopback certificate. */
function deleteConnectionAt(endpoint: string, tls: TlsMaterial): DeleteConnection {
  const client = new IoTDataPlaneClient({
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpsAgent: new https.Agent({ ca: tls.cert }),
      connectionTimeout: 1000,
      requestTimeout: 2000,
    }),
  });
  return (input, signal) => client.send(new DeleteConnectionCommand(input), { abortSignal: signal });
}

describe("the server-side move closes the failing region's connections by client id", () => {
  let scene: MoveScene;

  beforeAll(async () => {
    scene = await startMoveScene();
    await scene.startFleet();
  }, 60_000);

  afterAll(() => scene?.stop());

  it("moves every device once, paced at the target's connect rate, and names the ones not connected there", async () => {
    // Route 53 has flipped; the devices' caches have not, and they get no notice.
    scene.dns.setRecord(ENDPOINT, scene.b.host, 300);
    const ids = scene.clients.map((c) => c.clientId);
    const rate = 20;
    // A client id twice in a row (two sources listed it) is tried once.
    const deleteConnection = deleteConnectionAt(`https://${scene.plane.endpoint}`, scene.tls);
    const sentAt: number[] = [];
    const outcome = await disconnectClients([ids[0]!, ...ids, "never-connected"], {
      deleteConnection: (input, signal) => {
        sentAt.push(Date.now());
        return deleteConnection(input, signal);
      },
      ratePerSecond: rate,
      clock: { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
    });
    expect(outcome).toEqual({ disconnected: DEVICES, notConnected: 1, failed: 0, skipped: 0, duplicates: 1 });
    // Keep the session, no last will: the device moved, it did not die.
    expect(scene.plane.disconnects.every((d) => !d.cleanSession && d.preventWillMessage)).toBe(true);
    // Paced: DEVICES + 1 calls at `rate` per second, each sent at least one spacing after the one
    // before. Measured where the mover sends: arrival times at the data plane also carry each call's
    // latency, and the first (TLS handshake, SDK client's first request) is the slowest.
    expect(scene.plane.disconnects).toHaveLength(sentAt.length);
    for (let i = 1; i < sentAt.length; i++)
      expect(sentAt[i]! - sentAt[i - 1]!).toBeGreaterThanOrEqual(1000 / rate - 2);

    await waitFor("every device on the healthy region", () =>
      scene.clients.every((c) => c.target?.address === scene.b.host),
    );
    for (const c of scene.clients) expect(c.counters).toMatchObject({ moves: 1, disconnects: 1 });
  }, 60_000);

  it("stops when the failing region's data plane no longer answers, and says how many it could not try", async () => {
    scene.plane.setDown(true);
    try {
      const outcome = await disconnectClients(
        Array.from({ length: 10 }, (_, i) => `device-${i}`),
        {
          deleteConnection: deleteConnectionAt(`https://${scene.plane.endpoint}`, scene.tls),
          ratePerSecond: 1000,
          clock: { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
          maxConsecutiveFailures: 3,
        },
      );
      expect(outcome).toEqual({ disconnected: 0, notConnected: 0, failed: 3, skipped: 7, duplicates: 0 });
    } finally {
      scene.plane.setDown(false);
    }
  });

  it("refuses a rate that is not positive, naming the quota", async () => {
    await expect(
      disconnectClients(["x"], {
        deleteConnection: async () => ({}),
        ratePerSecond: 0,
        clock: { now: () => 0, sleep: async () => undefined },
      }),
    ).rejects.toThrow(/ratePerSecond must be > 0 \(the target region's connect quota\)/);
  });
});
