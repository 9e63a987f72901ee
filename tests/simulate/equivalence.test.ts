/**
 * The simulation's devices decide what real FailoverClients decide. The same small fleet fails over
 * twice: once in the simulation (simulate/engine.ts) and once as real FailoverClients against two
 * real MQTT brokers (aedes, regions A and B on loopback), on a virtual clock that fires their
 * timers in due order. Both runs share the world — the DNS flip and the recursive resolvers
 * (the same upstreamAnswer), the notice, the disconnect sweep's times, a connect quota per region
 * and virtual second enforced by the real brokers — and every device draws from the same random
 * stream. Each device's decisions (every timer it sets, the connects refused, the disconnects and
 * their reasons, the notice handling, the region and trigger of each connect) must be equal.
 */
import { afterEach, describe, expect, it } from "vitest";
import { FailoverClient, type Clock } from "../../device/client.js";
import { CachingResolver } from "../../device/resolver.js";
import { reresolvePeriodMs } from "../../device/policy.js";
import {
  HOST_ENDPOINT,
  NOTICE_ID,
  REGION_ENDPOINTS,
  resolverClassOf,
  resolverLivesMs,
  simulate,
  upstreamAnswer,
  worldDraws,
  type TraceEntry,
} from "../../simulate/engine.js";
import { defaultParams, parseResolverMix, type SimParams } from "../../simulate/params.js";
import { deviceStream } from "../../simulate/random.js";
import { startBrokerPair, type TestBroker } from "../../peers/mqtt.js";

const NOTICE_TOPIC = "dr/notice";

type Decision =
  | { t: number; what: "timer"; ms: number }
  | { t: number; what: "refused" }
  | { t: number; what: "disconnected"; reason: string }
  | { t: number; what: "notice"; action: string }
  | { t: number; what: "connected"; region: string; trigger: string };

/** The simulation's trace in the shape both runs are compared in. */
function fromSim(entries: TraceEntry[]): Decision[] {
  const out: Decision[] = [];
  for (const e of entries) {
    if (e.kind === "retry-wait" || e.kind === "reresolve-in")
      out.push({ t: e.t, what: "timer", ms: e.delayMs });
    else if (e.kind === "refused") out.push({ t: e.t, what: "refused" });
    else if (e.kind === "disconnected") out.push({ t: e.t, what: "disconnected", reason: e.reason });
    else if (e.kind === "notice") {
      out.push({ t: e.t, what: "notice", action: e.action });
      if (e.delayMs !== undefined) out.push({ t: e.t, what: "timer", ms: e.delayMs });
    } else if (e.kind === "connected")
      out.push({ t: e.t, what: "connected", region: e.region, trigger: e.trigger });
  }
  return out;
}

const round = (d: Decision[]) => d.map((x) => ({ ...x, t: Math.round(x.t) }));

/** Up to the device's arrival in B (the simulation stops following it there). */
function untilOnB(d: Decision[]): Decision[] {
  const i = d.findIndex((x) => x.what === "connected" && x.region === "b");
  return i < 0 ? d : d.slice(0, i + 1);
}

let brokers: TestBroker[] = [];
let clients: FailoverClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await Promise.all(brokers.map((b) => b.stop()));
  clients = [];
  brokers = [];
});

async function realRun(
  params: SimParams,
  simTrace: Map<number, TraceEntry[]>,
  flipAt: number,
  noticeAt: number,
) {
  const [a, b] = await startBrokerPair();
  brokers = [a, b];
  const address = { a: a.host, b: b.host };
  const N = params.devices;
  const world = worldDraws(params.seed);
  const lives = resolverLivesMs(params);
  const shares = params.resolverMix.map((c) => c.share);

  // the virtual clock: one timeline, timers fired in due order
  let now = -Infinity;
  let seq = 0;
  const timers = new Set<{ due: number; device: number; seq: number; fn: () => void }>();
  const decisions = new Map<number, Decision[]>();
  const record = (d: number, x: Decision) => {
    if (x.t >= 0) decisions.get(d)!.push(x);
  };
  const clockFor = (d: number): Clock => ({
    now: () => now,
    setTimeout: (fn, ms) => {
      record(d, { t: now, what: "timer", ms });
      const timer = { due: now + ms, device: d, seq: seq++, fn };
      timers.add(timer);
      return timer;
    },
    clearTimeout: (handle) => void timers.delete(handle as never),
  });

  // the connect quota per region and virtual second, as the simulation counts it
  const used = new Map<string, number>();
  for (const [region, broker] of [
    ["a", a],
    ["b", b],
  ] as const) {
    broker.aedes.preConnect = (_client, _packet, callback) => {
      if (now < 0) return callback(null, true);
      const key = `${region}:${Math.floor(now / 1000)}`;
      const n = used.get(key) ?? 0;
      if (n >= params.connectQuota) return callback(new Error("connect quota exceeded"), false);
      used.set(key, n + 1);
      callback(null, true);
    };
  }
  // a notice retained in both regions, as the notifier publishes it
  const notice = JSON.stringify({
    id: NOTICE_ID,
    region: "b",
    spreadMs: params.noticeSpreadMs ?? Math.ceil((N / params.connectQuota) * 1000),
  });

  const noticesSeen = new Map<number, number>();
  const byId = new Map<string, number>();
  for (let d = 0; d < N; d++) {
    decisions.set(d, []);
    noticesSeen.set(d, 0);
    const L = lives[resolverClassOf(shares, world, d)];
    const phase = L === 0 ? 0 : world(d, 1) * L;
    const resolver = new CachingResolver({
      now: () => now,
      minTtlSeconds: params.deviceMinTtlSeconds,
      maxTtlSeconds: params.deviceMaxTtlSeconds,
      query: async (host) => {
        if (host === REGION_ENDPOINTS.b) return { addresses: [address.b], ttlSeconds: 60 };
        const answer = upstreamAnswer(now, flipAt, L, phase, params.recordTtlSeconds);
        return { addresses: [answer.region === 1 ? address.b : address.a], ttlSeconds: answer.ttlSeconds };
      },
    });
    const client = new FailoverClient({
      endpoint: HOST_ENDPOINT,
      clientId: `sim-${d}`,
      port: a.port,
      resolver,
      noticeTopic: NOTICE_TOPIC,
      regionEndpoints: { ...REGION_ENDPOINTS },
      maxNoticeSpreadMs: params.maxNoticeSpreadMs,
      reresolveIntervalMs:
        params.trigger === "dns" || params.trigger === "mixed" ? params.reresolveIntervalMs : 0,
      backoff: params.backoff,
      random: deviceStream(params.seed, d),
      clock: clockFor(d),
    });
    byId.set(client.clientId, d);
    const region = (ip: string) => (ip === address.b ? "b" : "a");
    client.on("reconnected", (e) =>
      record(d, { t: now, what: "connected", region: region(e.target.address), trigger: e.trigger }),
    );
    client.on("disconnected", (e) => record(d, { t: now, what: "disconnected", reason: e.reason }));
    client.on("connectFailed", () => record(d, { t: now, what: "refused" }));
    client.on("notice", (e) => {
      noticesSeen.set(d, noticesSeen.get(d)! + 1);
      record(d, { t: now, what: "notice", action: e.action });
    });
    clients.push(client);
  }

  const state = (c: FailoverClient) => (c as unknown as { state: string }).state;
  const settle = async (also: () => boolean = () => true) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      if (clients.every((c) => ["idle", "connected", "waiting", "stopped"].includes(state(c))) && also())
        return;
      if (Date.now() > deadline)
        throw new Error(
          `real run did not settle at ${now} ms: ${clients.map(state).join(",")} ${JSON.stringify([...decisions.values()].map((x) => x.slice(-4)))}`,
        );
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  // Start each device so that its first re-resolution falls where the simulation has it.
  const starts = clients.map((_, d) => {
    const reresolve = params.trigger === "dns" || params.trigger === "mixed" ? params.reresolveIntervalMs : 0;
    if (reresolve === 0) return -1000;
    const draws = deviceStream(params.seed, d);
    draws(); // pickAddress at start
    const period = reresolvePeriodMs(reresolve, draws);
    const left = simTrace.get(d)!.find((e) => e.kind === "reresolve-left")!;
    return -(period - (left as { delayMs: number }).delayMs);
  });
  for (const d of [...clients.keys()].sort((x, y) => starts[x] - starts[y])) {
    now = starts[d];
    clients[d].start();
    await settle(() => clients[d].connected);
  }

  // the world's events from the simulation: notice publication and the sweep's disconnects
  const world_: { t: number; run: () => Promise<void> }[] = [];
  const noticeOn = params.trigger === "notice" || params.trigger === "mixed";
  if (noticeOn) {
    world_.push({
      t: noticeAt,
      run: async () => {
        const before = new Map(noticesSeen);
        const onA = clients.filter((c) => c.target?.address === address.a).map((c) => byId.get(c.clientId)!);
        await Promise.all([a, b].map((br) => br.publish(NOTICE_TOPIC, notice, { qos: 1, retain: true })));
        await settle(() => onA.every((d) => noticesSeen.get(d)! > before.get(d)!));
      },
    });
  }
  for (const [d, entries] of simTrace) {
    for (const e of entries) {
      if (e.kind !== "disconnected" || e.reason !== "connection-lost") continue;
      world_.push({
        t: e.t,
        run: async () => {
          a.closeClient(`sim-${d}`);
          await settle(() => !clients[d].connected || clients[d].target?.address !== address.a);
        },
      });
    }
  }
  world_.sort((x, y) => x.t - y.t);

  // run: the earliest of the next timer and the next world event, until every device is on B
  const onB = () => clients.every((c) => c.target?.address === address.b);
  for (let step = 0; step < 10_000 && !onB(); step++) {
    // the simulation's order (simulate/queue.ts): by time, then device; one device's timers as set
    const timer = [...timers].sort((x, y) => x.due - y.due || x.device - y.device || x.seq - y.seq)[0];
    const next = world_[0];
    if (next && (!timer || next.t <= timer.due)) {
      world_.shift();
      now = next.t;
      await next.run();
      continue;
    }
    if (!timer) break;
    timers.delete(timer);
    now = timer.due;
    // A device (re)connecting to A after the notice gets the retained notice: wait for it too.
    const expecting = clients.map((c, d) => (noticeOn && now >= noticeAt && c.target === undefined ? d : -1));
    const seen = new Map(noticesSeen);
    timer.fn();
    await settle(() =>
      expecting.every(
        (d) => d < 0 || clients[d].target?.address !== address.a || noticesSeen.get(d)! > seen.get(d)!,
      ),
    );
  }
  return { decisions, onB: onB() };
}

async function compare(params: SimParams) {
  const trace = new Map<number, TraceEntry[]>();
  for (let d = 0; d < params.devices; d++) trace.set(d, []);
  const outcome = simulate(params, {
    trace: new Set(trace.keys()),
    onTrace: (d, e) => trace.get(d)!.push(e),
  });
  const real = await realRun(params, trace, outcome.detectionMs, outcome.noticeAtMs);
  expect(real.onB).toBe(true);
  for (let d = 0; d < params.devices; d++) {
    const simulated = fromSim(trace.get(d)!);
    expect(simulated.at(-1), `device ${d} ends in B`).toMatchObject({ what: "connected", region: "b" });
    expect(round(untilOnB(real.decisions.get(d)!)), `device ${d}`).toEqual(round(simulated));
  }
  return { outcome, trace };
}

describe("simulated devices take the decisions real FailoverClients take", () => {
  it("mixed triggers: notice spread, sweep with backoff, refusals under a small quota, resolvers past their TTL", async () => {
    const params: SimParams = {
      ...defaultParams(6),
      connectQuota: 1,
      trigger: "mixed",
      resolverMix: parseResolverMix("honour=0.5,past120=0.5"),
      recordTtlSeconds: 10,
      noticeDelayMs: 5_000,
      noticeSpreadMs: 20_000,
      reresolveIntervalMs: 8_000,
      connectLatencyMs: 0,
      seed: 7,
    };
    const { outcome, trace } = await compare(params);
    // the run went through the paths it is meant to cover
    const kinds = new Set([...trace.values()].flat().map((e) => e.kind));
    expect(outcome.refusedConnects).toBeGreaterThan(0);
    expect([...kinds]).toEqual(
      expect.arrayContaining(["refused", "retry-wait", "notice", "reresolve-in", "disconnected"]),
    );
  }, 60_000);

  it("dns only: re-resolution through caching resolvers, reconnects refused by the quota", async () => {
    const params: SimParams = {
      ...defaultParams(5),
      connectQuota: 1,
      trigger: "dns",
      resolverMix: parseResolverMix("honour=0.6,clamp30=0.4"),
      recordTtlSeconds: 5,
      reresolveIntervalMs: 6_000,
      connectLatencyMs: 0,
      seed: 2,
    };
    const { outcome } = await compare(params);
    expect(outcome.byTrigger.reresolve).toBe(5);
    expect(outcome.refusedConnects).toBeGreaterThan(0);
  }, 60_000);

  it("disconnect sweep only: devices behind stale resolvers land in A again and are swept again", async () => {
    const params: SimParams = {
      ...defaultParams(4),
      connectQuota: 2,
      trigger: "disconnect",
      resolverMix: parseResolverMix("past60=1"),
      recordTtlSeconds: 5,
      noticeDelayMs: 0,
      connectLatencyMs: 0,
      seed: 11,
    };
    const { outcome } = await compare(params);
    expect(outcome.connectsToA).toBeGreaterThan(0);
  }, 60_000);
});
