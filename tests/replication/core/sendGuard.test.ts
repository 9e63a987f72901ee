/**
 * Capture's quota where IoT counts it, at each request's arrival: a container's pacer spaces its
 * starts at 95 % of its share, but a request can reach the wire late and its successors on time, and
 * the wire can take one request longer than the next. These run the deployed capture IoT client
 * (captureRuntime.ts captureIot: the SDK client, its pacer, the send guard) in virtual time, with an
 * HTTP handler that notes when each request reaches it and answers after a chosen round trip. The
 * service may count a request anywhere from its send to its answer: `maxArrivableInSecond` lets an
 * adversary choose each arrival in that span.
 */
import { Readable } from "node:stream";
import * as iot from "@aws-sdk/client-iot";
import { describe, expect, it } from "vitest";
import { maxInSlidingSecond } from "../../../bench/captureBurst.js";
import { CAPTURE_UTILISATION, captureShareRates } from "../../../functions/replication/captureSizing.js";
import { captureIot } from "../../../functions/replication/captureRuntime.js";
import { createPacer, type Clock, type Pacer } from "../../../functions/replication/pacing.js";
import {
  CAPTURE_GUARD_WINDOW_MS,
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
 * (`wire`) and answers `roundTripMs(i)` later (`spans`: each request's send and answer); `lateMs(i)`
 * holds the i-th request that long before signing, as a busy event loop or the SDK's own steps
 * would. Nothing is noted or held until `arm()`: the warm-up request before it runs on the real
 * event loop.
 */
function onTheWire(
  client: Client,
  clock: Clock,
  lateMs: (i: number) => number,
  roundTripMs: (i: number) => number = () => 0,
) {
  const wire: number[] = [];
  const spans: { sent: number; answered: number }[] = [];
  let n = 0;
  let sentN = 0;
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
    if (armed) {
      const sent = clock.now();
      wire.push(sent);
      const rtt = roundTripMs(sentN++);
      if (rtt > 0) await clock.sleep(rtt);
      spans.push({ sent, answered: clock.now() });
    }
    return {
      response: {
        statusCode: 200,
        headers: { "content-type": "application/json" },
        body: Readable.from([Buffer.from(JSON.stringify({ principals: [] }))]),
      },
    };
  };
  return { wire, spans, arm: () => void (armed = true) };
}

/**
 * The most requests a service could count in one sliding second ([t, t + 1000), as
 * maxInSlidingSecond) if each arrived at the worst moment between its send and its answer: a window
 * that starts at some answer and holds every request answered from then on and sent before its end.
 */
function maxArrivableInSecond(spans: { sent: number; answered: number }[]): number {
  let most = 0;
  for (const { answered: t } of spans)
    most = Math.max(most, spans.filter((x) => x.answered >= t && x.sent < t + 1000).length);
  return most;
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
  roundTripMs?: (i: number) => number,
) {
  const { clock, runUntil } = virtualTime();
  const c = build(clock);
  const { wire, spans, arm } = onTheWire(c.client, clock, lateMs, roundTripMs);
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
  return { wire, spans, guard: c.guard };
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
    // Held only as long as needed: a window (1,002 ms) after the late one's answer, here at once.
    expect(now.wire[share]).toBe(now.wire[0] + CAPTURE_GUARD_WINDOW_MS);
    // Held 9 ms (from its start at 1,053 to 1,062), once: the next share's start (2,106) is past
    // 1,062 + 1,002, so the schedule does not move, the last request leaves at its own start and no
    // rate is lost.
    expect(now.guard!.stats()[api]).toEqual({ sends: 12, held: 1, heldMs: 9 });
    expect(now.wire.at(-1)).toBe(Math.ceil((11 * 1000) / (share * CAPTURE_UTILISATION)));
  });

  it("never holds a container on schedule whose answers come back within the 50 ms its pacing leaves: the rate stays the pacer's 95 % of the share", async () => {
    // `share` starts at 95 % span 1,052.6 ms: a 45 ms round trip plus the 1,002 ms window fit in it.
    const { wire, spans, guard } = await container(
      deployed,
      60,
      () => 0,
      () => 45,
    );
    expect(guard!.stats()[api]).toEqual({ sends: 60, held: 0, heldMs: 0 });
    // 60 starts at share x 0.95 per second, evenly spaced: the last at 59 intervals.
    expect(wire.at(-1)).toBe(Math.ceil((59 * 1000) / (share * CAPTURE_UTILISATION)));
    expect(maxArrivableInSecond(spans)).toBeLessThanOrEqual(share);
  });

  it("a share of requests with slow answers takes a window plus the round trip, and IoT could count no more than the share in any second", async () => {
    // 100 ms round trips (AWS_CAPTURE_LATENCIES.iotReadMs): a send-time guard let request `share`
    // go at its start, 1,053 ms after the first's, which IoT may count on arrival at 100 ms.
    const { wire, spans, guard } = await container(
      deployed,
      30,
      () => 0,
      () => 100,
    );
    expect(maxArrivableInSecond(spans)).toBeLessThanOrEqual(share);
    for (let i = share; i < wire.length; i++) expect(wire[i] - wire[i - share]).toBe(1002 + 100);
    expect(guard!.stats()[api].held).toBe(25);
  });

  it("IoT never counts more than a container's share in a sliding second, however long each request takes to arrive before its answer", async () => {
    const random = seeded(7);
    // One request in four answers up to 300 ms after it left (a slow front end, a retransmit),
    // the rest in 10-30 ms; one in four leaves up to 200 ms after its start.
    const late = () => (random() < 0.25 ? Math.floor(random() * 200) : 0);
    const roundTrip = () => (random() < 0.25 ? Math.floor(random() * 300) : 10 + Math.floor(random() * 20));
    const { spans, guard } = await container(deployed, 80, late, roundTrip);
    expect(spans).toHaveLength(80);
    // An adversary's choice of arrivals: a slow request counted at the last moment before its
    // answer, a fast one as it left.
    const arrivals = spans.map((x) => (x.answered - x.sent > 100 ? x.answered : x.sent));
    expect(maxInSlidingSecond(arrivals)).toBeLessThanOrEqual(share);
    // And every other choice.
    expect(maxArrivableInSecond(spans)).toBeLessThanOrEqual(share);
    expect(guard!.stats()[api].held).toBeGreaterThan(0);
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
        expect(sorted[i] - sorted[i - share]).toBeGreaterThanOrEqual(CAPTURE_GUARD_WINDOW_MS);
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
    // Answered as soon as sent: two a window.
    await runUntil(
      Promise.all(Array.from({ length: 5 }, async () => (await guard.admit("DescribeThing"))())),
    );
    expect(clock.now()).toBe(2000);
    expect(guard.stats().DescribeThing).toMatchObject({ sends: 5, held: 3 });
    expect(() => createSendGuard({ limits: { X: 4.75 }, windowMs: 1000, clock })).toThrow(
      /X needs a whole number/,
    );
  });

  it("holds a request while its API's share is in flight, until a window after an answer, failures included", async () => {
    const { clock, runUntil } = virtualTime();
    const guard = createSendGuard({ limits: { DescribeThing: 2 }, windowMs: 1000, clock });
    const sent: number[] = [];
    const request = async (answerMs: number, fails = false) => {
      const completed = await guard.admit("DescribeThing");
      sent.push(clock.now());
      try {
        await clock.sleep(answerMs);
        if (fails) throw new Error("socket hang up");
      } finally {
        completed();
        completed(); // a second call changes nothing
      }
    };
    const settled = Promise.allSettled([request(5000, true), request(3000), request(10), request(10)]);
    await runUntil(settled);
    // The third waits for the first answer (the failure at 3,000 ms counts) and a window after it;
    // the fourth for the third's answer (4,010; the second's at 5,000 is later) and a window.
    expect(sent).toEqual([0, 0, 4000, 5010]);
    expect(guard.stats().DescribeThing).toEqual({ sends: 4, held: 2, heldMs: 9010 });
  });
});
