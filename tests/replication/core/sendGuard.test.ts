/**
 * Capture's quota at the wire: a container's pacer spaces its starts at 95 % of its share, but a
 * request can reach the wire late and its successors on time. These run the deployed capture IoT
 * client (captureRuntime.ts captureIot: the SDK client, its pacer, the send guard) in virtual time,
 * with an HTTP handler that notes when each request reaches it.
 */
import { Readable } from "node:stream";
import * as iot from "@aws-sdk/client-iot";
import { describe, expect, it } from "vitest";
import { maxInSlidingSecond } from "../../../bench/captureBurst.js";
import { CAPTURE_UTILISATION, captureShareRates } from "../../../functions/replication/captureSizing.js";
import { captureIot } from "../../../functions/replication/captureRuntime.js";
import { createPacer, type Clock, type Pacer } from "../../../functions/replication/pacing.js";
import {
  CAPTURE_SEND_MARGIN_MS,
  createSendGuard,
  type SendGuard,
} from "../../../functions/replication/sendGuard.js";
import { seeded } from "../../support/random.js";
import { virtualTime } from "../../support/virtualTime.js";

const api = "ListThingPrincipals";
// AWS's default quota (10 TPS) over the 2 containers captureSizing deploys: 5 each.
const shares = captureShareRates({}, 2);
const share = shares[api];

type Client = iot.IoTClient;

/**
 * Wires a client to virtual time: its HTTP handler notes the (virtual) time each request reaches it
 * and answers at once; `lateMs(i)` holds the i-th request that long before signing, as a busy event
 * loop or the SDK's own steps would. Nothing is noted or held until `arm()`: the warm-up request
 * before it runs on the real event loop.
 */
function onTheWire(client: Client, clock: Clock, lateMs: (i: number) => number) {
  const wire: number[] = [];
  let n = 0;
  let armed = false;
  client.middlewareStack.add(
    (next) => async (args) => {
      const late = armed ? lateMs(n++) : 0;
      if (late > 0) await clock.sleep(late);
      return next(args);
    },
    { step: "build", name: "testLate" },
  );
  const handler = client.config.requestHandler as unknown as { handle: (...a: unknown[]) => unknown };
  handler.handle = async () => {
    if (armed) wire.push(clock.now());
    return {
      response: {
        statusCode: 200,
        headers: { "content-type": "application/json" },
        body: Readable.from([Buffer.from(JSON.stringify({ principals: [] }))]),
      },
    };
  };
  return { wire, arm: () => void (armed = true) };
}

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
process.env.AWS_REGION ??= "eu-west-1";

/** The deployed container: captureIot's client, pacer and guard, on `clock`. */
function deployed(clock: Clock): { client: Client; pacer: Pacer; guard?: SendGuard } {
  const sdk = {
    ...iot,
    IoTClient: class extends iot.IoTClient {
      constructor(config: iot.IoTClientConfig) {
        super({ ...config, credentials });
      }
    },
  };
  return captureIot(sdk, {}, shares, clock);
}

/** The container as deployed before the guard: the same client and pacer, nothing at the wire. */
function unguarded(clock: Clock): { client: Client; pacer: Pacer; guard?: SendGuard } {
  const client = new iot.IoTClient({ credentials, maxAttempts: 1 });
  const pacer = createPacer({
    rates: shares,
    utilisation: CAPTURE_UTILISATION,
    maxLateMs: 25,
    transientAttempts: 2,
    clock,
  });
  return { client, pacer };
}

/** `calls` reads of one container, all waiting on its pacer at once (a batch's chains). */
async function container(
  build: (clock: Clock) => { client: Client; pacer: Pacer; guard?: SendGuard },
  calls: number,
  lateMs: (i: number) => number,
) {
  const { clock, runUntil } = virtualTime();
  const c = build(clock);
  const { wire, arm } = onTheWire(c.client, clock, lateMs);
  // The client's first request loads its configuration (files, credentials, endpoint rules) with
  // real I/O, which virtual time does not wait for: the requests of a cold client reached the
  // handler together at one virtual instant on a loaded CI machine (11 in a second). One request
  // of an API the guard does not limit, on the real event loop, loads it first.
  await c.client.send(new iot.ListThingsCommand({}));
  arm();
  await runUntil(
    Promise.all(
      Array.from({ length: calls }, (_, i) =>
        c.pacer.run(api, () => c.client.send(new iot.ListThingPrincipalsCommand({ thingName: `t${i}` }))),
      ),
    ),
  );
  return { wire, guard: c.guard };
}

describe("capture's share at the wire", () => {
  it("a request that reaches the wire late does not let its successors put one more than the share in a sliding second", async () => {
    // The first request leaves 60 ms after its start (past the 52.6 ms a share at 95 % leaves);
    // the next five go out on time.
    const late = (i: number) => (i === 0 ? 60 : 0);
    const before = await container(unguarded, 12, late);
    expect(maxInSlidingSecond(before.wire)).toBe(share + 1);
    const now = await container(deployed, 12, late);
    expect(now.wire).toHaveLength(12);
    expect(maxInSlidingSecond(now.wire)).toBeLessThanOrEqual(share);
    // Held only as long as needed: a window and the margin after the late one.
    expect(now.wire[share]).toBe(now.wire[0] + 1000 + CAPTURE_SEND_MARGIN_MS);
    // Held 57 ms (to 1,110) and, a window on, the next 54 ms (to 2,160), 2.6 ms less each window
    // (the slack a share at 95 % leaves); the schedule does not move, so the last request leaves
    // at its own start and no rate is lost.
    expect(now.guard!.stats()[api]).toEqual({ sends: 12, held: 2, heldMs: 111 });
    expect(now.wire.at(-1)).toBe(Math.ceil((11 * 1000) / (share * CAPTURE_UTILISATION)));
  });

  it("never holds a container that sends on schedule: the rate stays the pacer's 95 % of the share", async () => {
    const { wire, guard } = await container(deployed, 60, () => 0);
    expect(guard!.stats()[api]).toEqual({ sends: 60, held: 0, heldMs: 0 });
    // 60 starts at share x 0.95 per second, evenly spaced: the last at 59 intervals.
    expect(wire.at(-1)).toBe(Math.ceil((59 * 1000) / (share * CAPTURE_UTILISATION)));
  });

  it("two containers with requests leaving at random delays never send the account more than its quota in any sliding second", async () => {
    const random = seeded(20);
    // Up to 200 ms late, one request in four: a container on a busy machine.
    const late = () => (random() < 0.25 ? Math.floor(random() * 200) : 0);
    const a = await container(deployed, 80, late);
    const b = await container(deployed, 80, late);
    // Both containers' virtual clocks start at 0: the worst alignment of their seconds.
    expect(maxInSlidingSecond([...a.wire, ...b.wire])).toBeLessThanOrEqual(2 * share);
    for (const c of [a, b]) {
      const sorted = [...c.wire].sort((x, y) => x - y);
      for (let i = share; i < sorted.length; i++)
        expect(sorted[i] - sorted[i - share]).toBeGreaterThanOrEqual(1000 + CAPTURE_SEND_MARGIN_MS);
    }
    // Without the guard the same delays put more than the quota into a second.
    const random2 = seeded(20);
    const late2 = () => (random2() < 0.25 ? Math.floor(random2() * 200) : 0);
    const a2 = await container(unguarded, 80, late2);
    const b2 = await container(unguarded, 80, late2);
    expect(maxInSlidingSecond([...a2.wire, ...b2.wire])).toBeGreaterThan(2 * share);
  });
});

describe("send guard", () => {
  it("lets APIs it has no limit for pass, and refuses limits that are not whole numbers", async () => {
    const { clock, runUntil } = virtualTime();
    const guard = createSendGuard({ limits: { DescribeThing: 2 }, windowMs: 1000, clock });
    await runUntil(Promise.all(Array.from({ length: 50 }, () => guard.admit("GetPolicy"))));
    expect(clock.now()).toBe(0);
    await runUntil(Promise.all(Array.from({ length: 5 }, () => guard.admit("DescribeThing"))));
    expect(clock.now()).toBe(2000);
    expect(guard.stats().DescribeThing).toMatchObject({ sends: 5, held: 3 });
    expect(() => createSendGuard({ limits: { X: 4.75 }, windowMs: 1000, clock })).toThrow(
      /X needs a whole number/,
    );
  });
});
