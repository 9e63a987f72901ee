import * as mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import {
  canaryCheckpoint,
  createCanary,
  parseCanaryIdentity,
  type Canary,
  type CanaryOptions,
} from "../../functions/health/canary.js";
import { createHealthApi, runCheckpoints } from "../../functions/health/checkpoints.js";
import { silentLogger, withDeadline } from "../../functions/health/http.js";
import { startConnectGate, tokenBucket } from "../../peers/connectGate.js";
import { freePortOn, startBroker, type TestBroker } from "../../peers/mqtt.js";
import { refusedPort } from "./support.js";

const TIMEOUT_MS = 800;
const ON_TIME_MS = TIMEOUT_MS + 250;

let broker: TestBroker | undefined;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await broker?.stop();
  broker = undefined;
});

function options(url: string, extra: Partial<CanaryOptions> = {}): CanaryOptions {
  return { brokerUrl: url, clientId: "iot-dr-canary-test", getIdentity: async () => null, ...extra };
}

/** A canary as one Lambda container holds it; closed after the test. */
function canaryFor(url: string, extra: Partial<CanaryOptions> = {}): Canary {
  const canary = createCanary(mqtt, options(url, extra));
  cleanups.push(() => canary.close());
  return canary;
}

/** One round of `canary` (a fresh one, as a cold container has, when none is given) as a checkpoint. */
async function runCanary(url: string, extra: Partial<CanaryOptions> = {}, canary = canaryFor(url, extra)) {
  const checkpoint = canaryCheckpoint(mqtt, { ...options(url, extra), timeoutMs: TIMEOUT_MS }, canary);
  const started = performance.now();
  const report = await runCheckpoints([checkpoint], () => performance.now());
  return { result: report.checkpoints[0]!, ms: performance.now() - started, report, canary };
}

async function waitForNoClients(b: TestBroker): Promise<number> {
  for (let i = 0; i < 100 && b.connectedClients() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  return b.connectedClients();
}

describe("the broker canary against a real MQTT broker", () => {
  it("passes when the broker is up: connect, subscribe, publish and receive its own nonce", async () => {
    broker = await startBroker();
    const published: string[] = [];
    broker.aedes.authorizePublish = (_client, packet, done) => {
      published.push(`${packet.topic}=${packet.payload.toString()}`);
      done(null);
    };
    const { result, ms } = await runCanary(broker.url, { nonce: () => "nonce-1" });
    expect(result).toMatchObject({
      name: "iot-broker-canary",
      factor: "iotBroker",
      critical: true,
      ok: true,
    });
    expect(ms).toBeLessThan(ON_TIME_MS);
    expect(published).toEqual(["iot-dr/canary/iot-dr-canary-test=nonce-1"]);
    // The connection is kept for the next round, and closed with the canary.
    expect(broker.connectedClients()).toBe(1);
    cleanups.splice(0).forEach((cleanup) => cleanup());
    expect(await waitForNoClients(broker)).toBe(0);
  });

  it("lets two containers' overlapping rounds both pass, each under its own client id within the policy's prefix", async () => {
    broker = await startBroker();
    const ids: string[] = [];
    broker.aedes.on("client", (client) => ids.push(client.id));
    // Hold each publish until both probes are connected: with one shared client id the broker
    // would close the first connection when the second arrives (MQTT 3.1.1, 3.1.4-2).
    let waiting: (() => void)[] = [];
    broker.aedes.authorizePublish = (_client, _packet, done) => {
      waiting.push(() => done(null));
      if (waiting.length === 2) {
        for (const release of waiting) release();
        waiting = [];
      }
    };
    const [a, b] = await Promise.all([runCanary(broker.url), runCanary(broker.url)]);
    expect([a.result.ok, b.result.ok]).toEqual([true, true]);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(id).toMatch(/^iot-dr-canary-test-[a-z0-9]{10}$/);
  });

  it("fails fast when the broker is down (connection refused)", async () => {
    const { result, ms } = await runCanary(`mqtt://127.0.0.1:${await refusedPort()}`);
    expect(result.ok).toBe(false);
    expect(result.error).toContain("ECONNREFUSED");
    expect(ms).toBeLessThan(ON_TIME_MS);
  });

  it("fails on time when the broker is slower than the checkpoint's budget", async () => {
    broker = await startBroker();
    broker.aedes.authorizePublish = (_client, _packet, done) => setTimeout(() => done(null), TIMEOUT_MS * 3);
    const { result, ms } = await runCanary(broker.url);
    expect(result.ok).toBe(false);
    expect(result.error).toBe(`timeout after ${TIMEOUT_MS} ms`);
    expect(ms).toBeLessThan(ON_TIME_MS);
    expect(await waitForNoClients(broker)).toBe(0);
  });

  it("fails on time when the broker drops messages instead of delivering them", async () => {
    broker = await startBroker();
    broker.aedes.authorizeForward = () => null;
    const { result, ms } = await runCanary(broker.url);
    expect(result.ok).toBe(false);
    expect(result.error).toContain("timeout");
    expect(ms).toBeLessThan(ON_TIME_MS);
  });

  it("fails when the broker refuses the canary's subscription", async () => {
    broker = await startBroker();
    broker.aedes.authorizeSubscribe = (_client, _sub, done) => done(new Error("not allowed"), null);
    const { result } = await runCanary(broker.url);
    expect(result.ok).toBe(false);
    // aedes, like IoT Core, closes the connection of a client that subscribes where it may not
    expect(result.error).toMatch(/closed the canary connection|refused the canary subscription/);
  });

  it("fails when the broker goes away in the middle of the round trip", async () => {
    broker = await startBroker();
    const b = broker;
    b.aedes.authorizePublish = () => void b.kill();
    const { result, ms } = await runCanary(b.url);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/ECONNRESET|closed the canary connection/);
    expect(ms).toBeLessThan(ON_TIME_MS);
  });

  it("ignores other clients' messages on its topic and waits for its own nonce", async () => {
    broker = await startBroker();
    const b = broker;
    let injected = false;
    b.aedes.authorizePublish = (_client, packet, done) => {
      if (!injected) {
        injected = true;
        b.aedes.publish(
          {
            cmd: "publish",
            topic: packet.topic,
            payload: Buffer.from("someone-else"),
            qos: 0,
            retain: false,
            dup: false,
          },
          () => undefined,
        );
      }
      done(null);
    };
    const { result } = await runCanary(b.url);
    expect(result.ok).toBe(true);
  });

  it("fails without connecting when the identity cannot be read", async () => {
    broker = await startBroker();
    let connects = 0;
    broker.aedes.on("client", () => connects++);
    const { result } = await runCanary(broker.url, {
      getIdentity: async () => {
        throw new Error("AccessDeniedException");
      },
    });
    expect(result.ok).toBe(false);
    expect(result.error).toContain("AccessDeniedException");
    expect(connects).toBe(0);
  });

  it("closes its connection when aborted from outside", async () => {
    broker = await startBroker();
    broker.aedes.authorizeForward = () => null;
    await expect(
      withDeadline("canary", 300, (signal) => canaryFor(broker!.url).roundTrip(signal)),
    ).rejects.toThrow(/300 ms/);
    expect(await waitForNoClients(broker)).toBe(0);
  });
});

describe("the canary keeps its connection across rounds", () => {
  it("makes one connect for many rounds, each round a fresh nonce delivered back", async () => {
    broker = await startBroker();
    let connects = 0;
    broker.aedes.on("client", () => connects++);
    const published: string[] = [];
    broker.aedes.authorizePublish = (_client, packet, done) => {
      published.push(packet.payload.toString());
      done(null);
    };
    let n = 0;
    const canary = canaryFor(broker.url, { nonce: () => `n${++n}` });
    for (let i = 0; i < 5; i++) expect((await runCanary(broker.url, {}, canary)).result.ok).toBe(true);
    expect(published).toEqual(["n1", "n2", "n3", "n4", "n5"]);
    expect([connects, canary.connects]).toEqual([1, 1]);
  });

  it("shares the connection between overlapping rounds of one container", async () => {
    broker = await startBroker();
    const canary = canaryFor(broker.url);
    const rounds = await Promise.all([1, 2, 3].map(() => runCanary(broker!.url, {}, canary)));
    expect(rounds.map((r) => r.result.ok)).toEqual([true, true, true]);
    expect(canary.connects).toBe(1);
    expect(broker.connectedClients()).toBe(1);
  });

  it("drops the connection after a failed round and connects afresh for the next", async () => {
    broker = await startBroker();
    const canary = canaryFor(broker.url);
    expect((await runCanary(broker.url, {}, canary)).result.ok).toBe(true);
    broker.aedes.authorizeForward = () => null;
    const failed = await runCanary(broker.url, {}, canary);
    expect(failed.result.ok).toBe(false);
    expect(failed.result.error).toBe(`timeout after ${TIMEOUT_MS} ms`);
    expect(await waitForNoClients(broker)).toBe(0);
    broker.aedes.authorizeForward = (_client, packet) => packet;
    expect((await runCanary(broker.url, {}, canary)).result.ok).toBe(true);
    expect(canary.connects).toBe(2);
  });

  it("fails the next round at once when the broker dies between rounds", async () => {
    broker = await startBroker();
    const canary = canaryFor(broker.url);
    expect((await runCanary(broker.url, {}, canary)).result.ok).toBe(true);
    await broker.kill();
    const { result, ms } = await runCanary(broker.url, {}, canary);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/ECONNREFUSED|closed the canary connection/);
    expect(ms).toBeLessThan(TIMEOUT_MS);
  });

  it("opens a new connection when the kept one has been idle past reuseWithinMs (a frozen container)", async () => {
    broker = await startBroker();
    let now = 0;
    const canary = canaryFor(broker.url, { reuseWithinMs: 45_000, clock: () => now });
    expect((await runCanary(broker.url, {}, canary)).result.ok).toBe(true);
    now = 45_000;
    expect((await runCanary(broker.url, {}, canary)).result.ok).toBe(true);
    expect(canary.connects).toBe(1);
    now = 90_001;
    expect((await runCanary(broker.url, {}, canary)).result.ok).toBe(true);
    expect(canary.connects).toBe(2);
    // The idle connection was closed, not left beside the new one.
    for (let i = 0; i < 100 && broker.connectedClients() > 1; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(broker.connectedClients()).toBe(1);
  });

  it("stays healthy while the account's connect quota is spent by a fleet, where a cold canary fails", async () => {
    // IoT Core's connect quota in front of the broker (peers/connectGate.ts, as the drill runs it):
    // one token, and a clock that does not refill it, so every later connect is refused as IoT
    // Core refuses a throttled MQTT 3.1.1 connect: closed before CONNACK.
    broker = await startBroker();
    const port = await freePortOn(["127.0.0.1"]);
    const gate = await startConnectGate({
      host: "127.0.0.1",
      port,
      target: { host: "127.0.0.1", port: broker.port },
      bucket: tokenBucket({ ratePerSecond: 1, burst: 1, now: () => 0 }),
    });
    cleanups.push(() => gate.stop());
    const url = `mqtt://127.0.0.1:${port}`;
    const warm = canaryFor(url);
    expect((await runCanary(url, {}, warm)).result.ok).toBe(true);
    for (let i = 0; i < 5; i++) expect((await runCanary(url, {}, warm)).result.ok).toBe(true);
    const cold = await runCanary(url);
    expect(cold.result.ok).toBe(false);
    expect(cold.result.error).toMatch(/closed|CONNACK/);
    expect(gate.counts).toEqual({ admitted: 1, refused: 1 });
  });
});

describe("the IoT account's health API runs the canary with the other checkpoints", () => {
  it("answers 503 listing the canary's failure when the broker is down, 200 when it is up", async () => {
    broker = await startBroker();
    const api = createHealthApi({
      checkpoints: [
        canaryCheckpoint(mqtt, { ...options(broker.url), timeoutMs: TIMEOUT_MS }),
        {
          name: "registry-table",
          factor: "applicationServices",
          timeoutMs: 100,
          critical: true,
          run: async () => {},
        },
      ],
      clock: () => performance.now(),
      logger: silentLogger,
    });
    const up = await api({ method: "GET", path: "/" });
    expect(up.statusCode).toBe(200);
    await broker.kill();
    const down = await api({ method: "GET", path: "/iotBroker" });
    expect(down.statusCode).toBe(503);
    const body = JSON.parse(down.body);
    expect(body.checkpoints).toHaveLength(1);
    expect(body.checkpoints[0]).toMatchObject({ name: "iot-broker-canary", ok: false });
    expect(typeof body.checkpoints[0].latencyMs).toBe("number");
  });
});

describe("the canary identity comes from a secret and bad secrets say what is wrong", () => {
  it("reads certificate, key and optional CA", () => {
    expect(
      parseCanaryIdentity(JSON.stringify({ certificatePem: "C", privateKeyPem: "K", caPem: "A" })),
    ).toEqual({
      certificatePem: "C",
      privateKeyPem: "K",
      caPem: "A",
    });
  });
  it("names a missing key", () => {
    expect(() => parseCanaryIdentity(JSON.stringify({ certificatePem: "C" }))).toThrow(/no 'privateKeyPem'/);
  });
  it("names a secret that is not JSON", () => {
    expect(() => parseCanaryIdentity("-----BEGIN CERTIFICATE-----")).toThrow(/not JSON/);
  });
});
