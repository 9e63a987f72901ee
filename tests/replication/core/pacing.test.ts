import { describe, expect, it } from "vitest";
import { createPacer, DEFAULT_IOT_QUOTAS, type Clock } from "../../../functions/replication/pacing.js";

/** A clock that only moves when someone sleeps, so limits are checked without real time. */
function fakeClock(): Clock & { t: number; sleeps: number[] } {
  const c = {
    t: 0,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += ms;
    },
  };
  return c;
}
const throttle = () => Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });

describe("pacer", () => {
  it("uses the AWS default quotas of DESIGN §7", () => {
    expect(DEFAULT_IOT_QUOTAS).toMatchObject({
      CreateThing: 100,
      UpdateThing: 100,
      DeleteThing: 100,
      AttachThingPrincipal: 100,
      AddThingToThingGroup: 100,
      CreateThingGroup: 25,
      AttachPolicy: 15,
      RegisterCertificateWithoutCA: 10,
      CreatePolicy: 10,
      DescribeCertificate: 10,
      DescribeThing: 350,
      ListThingPrincipals: 10,
      ListThingGroupsForThing: 100,
      UpdateCertificate: 10,
      ListThings: 10,
    });
  });

  it("never starts more calls of an API in a second than its rate", async () => {
    const clock = fakeClock();
    const pacer = createPacer({ clock, rates: { AttachPolicy: 15 } });
    const starts: number[] = [];
    for (let i = 0; i < 60; i++) await pacer.run("AttachPolicy", async () => starts.push(clock.now()));
    // Timers sleep whole milliseconds, so a start may come up to 1 ms after its reserved time.
    for (const s of starts)
      expect(starts.filter((x) => x >= s && x < s + 999).length).toBeLessThanOrEqual(15);
    // 60 calls at 15/s, evenly spaced (no burst): the last starts at 59/15 s, so the rate is used fully.
    expect(starts.at(-1)).toBe(Math.ceil((59 * 1000) / 15));
    expect(Math.min(...starts.slice(1).map((s, i) => s - starts[i]))).toBeGreaterThanOrEqual(66);
  });

  it("gives up a start its timer fired late when maxLateMs is set, so that the late call does not go out next to its successor", async () => {
    const clock = fakeClock();
    let late = 40;
    // The first sleep of each call overruns by `late` ms (a busy event loop), then timers are on time.
    const sleep = clock.sleep;
    clock.sleep = async (ms: number) => {
      await sleep(ms + late);
      late = 0;
    };
    const pacer = createPacer({ clock, rates: { ListThingPrincipals: 5 }, maxLateMs: 25 });
    const starts: number[] = [];
    for (let i = 0; i < 3; i++) {
      late = i === 1 ? 40 : 0;
      await pacer.run("ListThingPrincipals", async () => starts.push(clock.now()));
    }
    expect(pacer.stats().ListThingPrincipals.lateStarts).toBe(1);
    for (let i = 1; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(200);
    // Without maxLateMs the late call keeps its slot: the next call starts less than an interval after it.
    const clock2 = fakeClock();
    const sleep2 = clock2.sleep;
    let late2 = 0;
    clock2.sleep = async (ms: number) => {
      await sleep2(ms + late2);
      late2 = 0;
    };
    const plain = createPacer({ clock: clock2, rates: { ListThingPrincipals: 5 } });
    const starts2: number[] = [];
    for (let i = 0; i < 3; i++) {
      late2 = i === 1 ? 40 : 0;
      await plain.run("ListThingPrincipals", async () => starts2.push(clock2.now()));
    }
    expect(starts2[2] - starts2[1]).toBeLessThan(200);
  });

  it("keeps separate buckets per API", async () => {
    const clock = fakeClock();
    const pacer = createPacer({ clock, rates: { CreatePolicy: 1, CreateThing: 100 } });
    await pacer.run("CreatePolicy", async () => 1);
    for (let i = 0; i < 50; i++) await pacer.run("CreateThing", async () => 1);
    // 50 CreateThing at their own 100/s (10 ms apart), not held back by CreatePolicy's 1/s.
    expect(clock.t).toBe(490);
  });

  it("backs off with full jitter on throttling and still performs the call", async () => {
    const clock = fakeClock();
    const pacer = createPacer({ clock, random: () => 0.5, baseDelayMs: 100, rates: { CreateThing: 1000 } });
    let n = 0;
    const result = await pacer.run("CreateThing", async () => {
      if (n++ < 3) throw throttle();
      return "done";
    });
    expect(result).toBe("done");
    // ceilings 100, 200, 400 ms × random 0.5
    expect(clock.sleeps).toEqual([50, 100, 200]);
    expect(pacer.stats().CreateThing).toMatchObject({ calls: 4, throttles: 3, retries: 3 });
  });

  it("gives up after maxAttempts with a Throttled error the state machine retries", async () => {
    const clock = fakeClock();
    const pacer = createPacer({ clock, maxAttempts: 3, random: () => 0 });
    await expect(pacer.run("UpdateThing", async () => Promise.reject(throttle()))).rejects.toMatchObject({
      name: "Throttled",
      api: "UpdateThing",
    });
    expect(pacer.stats().UpdateThing.calls).toBe(3);
  });

  it("passes other errors through at once without retrying", async () => {
    const pacer = createPacer({ clock: fakeClock() });
    const boom = Object.assign(new Error("nope"), { name: "InvalidRequestException" });
    await expect(pacer.run("CreateThing", async () => Promise.reject(boom))).rejects.toBe(boom);
    expect(pacer.stats().CreateThing).toMatchObject({ calls: 1, retries: 0 });
  });

  it("rejects a configuration that cannot pace", () => {
    expect(() => createPacer({ rates: { CreateThing: 0 } })).toThrow(/CreateThing must be a positive number/);
    expect(() => createPacer({ utilisation: 2 })).toThrow(/utilisation/);
    expect(() => createPacer({ maxAttempts: 0 })).toThrow(/maxAttempts/);
  });

  it("applies a utilisation below 1 to every quota", () => {
    const pacer = createPacer({ utilisation: 0.5 });
    expect(pacer.rateOf("CreateThingGroup")).toBe(12.5);
  });
});
