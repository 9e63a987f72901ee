/**
 * The pacer owns every retry of a paced IoT call: the deployed replay and capture clients make one
 * SDK attempt, so a throttled or timed-out call never goes out again outside the pacer's schedule
 * (where it would be one call over the quota in that second).
 */
import * as iot from "@aws-sdk/client-iot";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as libDynamodb from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CALL_DEADLINES } from "../../../functions/deadlines.js";
import { captureFromEnv } from "../../../functions/replication/captureRuntime.js";
import { silentLogger } from "../../../functions/shared/observability.js";
import { createPacer, type Clock } from "../../../functions/replication/pacing.js";
import { replayFromEnv } from "../../../functions/replication/replayRuntime.js";
import { memorySlotStore } from "../../../functions/replication/sharedPacing.js";
import { startFaultPeer, type FaultPeer } from "../../../peers/faults.js";

const env = { AWS_REGION: "eu-west-1", OPS_TABLE: "ops", MARKER_TABLE: "markers" };
const credentials = { accessKeyId: "x", secretAccessKey: "y" };

/** The SDK's IoT module, every client the runtime builds pointed at `endpoint` and kept in `built`. */
function iotAt(endpoint: () => string, built: iot.IoTClient[]): typeof iot {
  return {
    ...iot,
    IoTClient: class extends iot.IoTClient {
      constructor(config: iot.IoTClientConfig) {
        super({ ...config, region: "eu-west-1", endpoint: endpoint(), credentials });
        built.push(this);
      }
    },
  };
}

function fakeClock(): Clock & { t: number } {
  const c = { t: 0, now: () => c.t, sleep: async (ms: number) => void (c.t += ms) };
  return c;
}

describe("paced IoT calls: one SDK attempt, the pacer owns the retries", () => {
  let peer: FaultPeer;
  beforeAll(async () => {
    peer = await startFaultPeer("http://127.0.0.1:9");
    await peer.set("throttle");
  });
  afterAll(() => peer.stop());

  const runtimes = {
    replay: (m: typeof iot) =>
      replayFromEnv(env, {
        iot: m,
        dynamodb,
        libDynamodb,
        logger: silentLogger,
        metrics: { addMetric() {}, publishStoredMetrics() {} },
      }),
    capture: (m: typeof iot) => captureFromEnv(env, { iot: m, dynamodb, libDynamodb, logger: silentLogger }),
  };
  for (const [name, build] of Object.entries(runtimes)) {
    it(`${name}: a throttled call goes out once from the deployed client; the SDK does not retry it on its own`, async () => {
      const built: iot.IoTClient[] = [];
      build(iotAt(() => peer.endpoint, built));
      expect(built).toHaveLength(1);
      const before = peer.faulted;
      const err = await built[0].send(new iot.ListThingPrincipalsCommand({ thingName: "t" })).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.name).toBe("ThrottlingException");
      expect(peer.faulted - before).toBe(1);
      built[0].destroy();
    });
  }

  it("retries a throttled or transiently failed call at a new start of the schedule each time, up to its bounds", async () => {
    const clock = fakeClock();
    const store = memorySlotStore();
    const reserved: number[] = [];
    const slots = {
      reserve: async (api: string, intervalMs: number, now: number) => {
        const start = await store.reserve(api, intervalMs, now);
        reserved.push(start);
        return start;
      },
    };
    const pacer = createPacer({
      rates: { DescribeThing: 10 },
      slots,
      clock,
      random: () => 0,
      transientAttempts: CALL_DEADLINES.replayIot.pacedAttempts,
    });
    const timeout = () => Object.assign(new Error("timed out"), { name: "TimeoutError" });
    const throttle = () => Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    const outcomes = [throttle(), timeout(), throttle(), timeout()];
    let calls = 0;
    await expect(
      pacer.run("DescribeThing", async () => {
        calls++;
        const next = outcomes.shift();
        if (next) throw next;
        return "ok";
      }),
    ).resolves.toBe("ok");
    // Two timeouts are inside replay's 3 paced attempts; every attempt had its own start, 100 ms apart.
    expect(calls).toBe(5);
    expect(reserved).toEqual([0, 100, 200, 300, 400]);
    expect(pacer.stats().DescribeThing).toMatchObject({ calls: 5, throttles: 2, retries: 4 });

    // A third timeout is one too many; an error that is neither throttling nor transient is not retried.
    const failing = [timeout(), timeout(), timeout()];
    await expect(
      pacer.run("DescribeThing", async () => {
        throw failing.shift() ?? new Error("unexpected");
      }),
    ).rejects.toThrow("timed out");
    expect(failing).toHaveLength(0);
    let invalid = 0;
    await expect(
      pacer.run("DescribeThing", async () => {
        invalid++;
        throw Object.assign(new Error("no such thing"), { name: "ResourceNotFoundException" });
      }),
    ).rejects.toThrow("no such thing");
    expect(invalid).toBe(1);
    expect(() => createPacer({ transientAttempts: 0 })).toThrow(/transientAttempts/);
  });
});
