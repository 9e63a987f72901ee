import { afterEach, describe, expect, it } from "vitest";
import { FailoverClient, type Clock, type FailoverClientOptions } from "../../device/client.js";
import { parseNotice } from "../../device/notice.js";
import { freePortOn, startBroker, type TestBroker } from "../../peers/mqtt.js";
import { waitFor } from "./harness.js";

/** A clock whose timers fire only when the test says so. */
function manualClock() {
  let now = 0;
  const timers: { fn: () => void; ms: number }[] = [];
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const timer = { fn, ms };
      timers.push(timer);
      return timer;
    },
    clearTimeout: (handle) => {
      const i = timers.indexOf(handle as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  const fireNext = () => {
    const timer = timers.shift();
    if (!timer) throw new Error("no timer pending");
    now += timer.ms;
    timer.fn();
  };
  return { clock, fireNext, timers };
}

let client: FailoverClient | undefined;
let broker: TestBroker | undefined;
afterEach(async () => {
  await client?.stop();
  client = undefined;
  await broker?.stop();
  broker = undefined;
});

/** A client with a manual clock, connected to a broker on 127.0.0.2 and subscribed to `dr/notice`. */
async function listening(clientId: string, options: Partial<FailoverClientOptions> = {}) {
  const started = await startBroker({ host: "127.0.0.2" });
  broker = started;
  const { clock, timers } = manualClock();
  const listener = new FailoverClient({
    endpoint: "127.0.0.2",
    clientId,
    port: started.port,
    clock,
    random: () => 0.5,
    noticeTopic: "dr/notice",
    reresolveIntervalMs: 0,
    ...options,
  });
  client = listener;
  listener.start();
  await listener.whenConnected();
  await waitFor("notice subscription", () => started.subscriberCount("dr/notice") === 1);
  return { client: listener, broker: started, timers };
}

describe("FailoverClient with an injected clock and random source", () => {
  it("draws each reconnect delay from the random source over a window that doubles per failed attempt", async () => {
    const port = await freePortOn(["127.0.0.2"]); // nothing listens: every connect is refused
    const { clock, fireNext } = manualClock();
    client = new FailoverClient({
      endpoint: "127.0.0.2",
      clientId: "clocked",
      port,
      clock,
      random: () => 0.5,
      backoff: { minDelayMs: 1_000, maxDelayMs: 3_000 },
    });
    const delays: number[] = [];
    client.on("connectFailed", (e) => delays.push(e.nextDelayMs));
    client.start();
    for (let attempt = 1; attempt <= 4; attempt++) {
      await waitFor(`failed attempt ${attempt}`, () => delays.length === attempt);
      fireNext();
    }
    await waitFor("fifth failure", () => delays.length === 5);
    expect(delays).toEqual([500, 1_000, 1_500, 1_500, 1_500]);
    expect(client.counters.connectFailures).toBe(5);
  });

  it("spreads a notice's move over the notice's spreadMs, capped by maxNoticeSpreadMs", async () => {
    const { client, broker, timers } = await listening("noticed", { maxNoticeSpreadMs: 60_000 });
    const notices: string[] = [];
    client.on("notice", (e) => notices.push(e.detail));
    await broker.publish("dr/notice", JSON.stringify({ id: "a", spreadMs: 20_000 }));
    await waitFor("first notice", () => notices.length === 1);
    expect(timers.map((t) => t.ms)).toEqual([10_000]);
    await broker.publish("dr/notice", JSON.stringify({ id: "b", spreadMs: 200_000 }));
    await waitFor("second notice", () => notices.length === 2);
    // The second notice replaces the first one's timer; 200 s is capped at 60 s.
    expect(timers.map((t) => t.ms)).toEqual([30_000]);
    await broker.publish("dr/notice", JSON.stringify({ id: "b", spreadMs: 1 }));
    await waitFor("repeated notice", () => notices.length === 3);
    expect(notices[2]).toBe("notice b already handled");
    expect(timers.map((t) => t.ms)).toEqual([30_000]);
  });

  it("acts on the newest notice only: an older one arriving later (another region's copy) moves nothing", async () => {
    const { client, broker, timers } = await listening("ordered");
    const notices: Array<{ action: string; detail: string }> = [];
    client.on("notice", (e) => notices.push({ action: e.action, detail: e.detail }));
    const v1 = (id: string, type: string, at: string) =>
      JSON.stringify({ version: 1, id, type, targetRegion: "us-east-1", at, spreadMs: 2_000 });
    await broker.publish("dr/notice", v1("recovered-1", "recovered", "2026-12-03T18:00:00.000Z"));
    await waitFor("first notice", () => notices.length === 1);
    await broker.publish("dr/notice", v1("failover-1", "failover", "2026-12-03T17:00:00.000Z"));
    await waitFor("older notice", () => notices.length === 2);
    expect(notices[1]).toEqual({
      action: "none",
      detail: "notice failover-1 of 2026-12-03T17:00:00.000Z is older than the last one acted on",
    });
    expect(client.counters.notices).toBe(1);
    expect(timers.map((t) => t.ms)).toEqual([1_000]);
  });

  it("rejects options that cannot work, naming them", () => {
    const base = { endpoint: "iot.example.test", clientId: "d" };
    expect(() => new FailoverClient({ ...base, endpoint: "" })).toThrow(/endpoint is required/);
    expect(() => new FailoverClient({ ...base, port: 70_000 })).toThrow(/port must be at most 65535/);
    expect(() => new FailoverClient({ ...base, maxQueued: -1 })).toThrow(
      /maxQueued must be a non-negative integer/,
    );
    expect(() => new FailoverClient({ ...base, dropPolicy: "random" as never })).toThrow(
      /dropPolicy must be/,
    );
    expect(() => new FailoverClient({ ...base, dnsServers: ["localhost"] })).toThrow(
      /'localhost' is not of the form/,
    );
  });
});

describe("fail-over notices", () => {
  it("accepts the documented fields and rejects malformed notices with a reason", () => {
    // v0 (no version): `region` is where to move.
    expect(parseNotice('{"id":"n1","region":"eu-west-1","spreadMs":200000}')).toEqual({
      ok: true,
      notice: { version: 0, id: "n1", targetRegion: "eu-west-1", spreadMs: 200_000 },
    });
    expect(parseNotice("{}")).toEqual({ ok: true, notice: { version: 0 } });
    expect(parseNotice("move!")).toEqual({ ok: false, reason: "payload is not JSON" });
    expect(parseNotice("[1]")).toEqual({ ok: false, reason: "payload is not a JSON object" });
    expect(parseNotice('{"region":""}')).toEqual({ ok: false, reason: "region must be a non-empty string" });
    expect(parseNotice('{"spreadMs":-5}')).toEqual({ ok: false, reason: "spreadMs must be a number >= 0" });
    expect(parseNotice('{"id":7}')).toEqual({ ok: false, reason: "id must be a string" });
  });
});
