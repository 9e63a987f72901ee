/**
 * A scheduled reconcile pass over several invocations: a 10,000-thing region on a virtual clock at
 * AWS's default quotas and quota share 0.5, split into principal shards that fit each invocation's
 * budget, continued with the running totals, DriftCount published once at the end; and what a
 * peer lost or a failure in this region mid-pass does.
 */
import { describe, expect, it } from "vitest";
import {
  principalShardPlan,
  runScheduledReconcile,
  STALE_START_MS,
  type ContinuationEvent,
  type ScheduledOutcome,
  type ScheduledReconcileDeps,
} from "../../functions/reconcile/scheduled.js";
import { shardOf, snapshotRegion, type SnapshotDeps } from "../../functions/reconcile/snapshot.js";
import type { ResourceKind } from "../../functions/registry/records.js";
import type { IotRegistryPort } from "../../functions/registry/iotPort.js";
import { memoryOpsTable } from "../../functions/registry/table.js";
import { createPacer, type Clock } from "../../functions/replication/pacing.js";
import { fastPacer, scheduledDeps } from "./support.js";
import { expectedKeys, stubPorts, stubRegistry, type StubRegistry } from "./stubRegistry.js";

const THINGS = 10_000;
const TIMEOUT_MS = 900_000;
const RESERVE_MS = 90_000;

/** Sleeping advances virtual time. */
function virtualClock(): Clock {
  let t = Date.parse("2026-11-27T05:00:00Z");
  return {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
  };
}

/** A few of every kind, and THINGS things each with a certificate, in one of two groups. */
function bigRegistry(): StubRegistry {
  const r = stubRegistry(4);
  for (let i = r.things.length; i < THINGS; i++) {
    const id = `b${i}`.padStart(64, "d");
    r.certs.push({ certificateId: id, pem: `PEM-${i}`, status: "ACTIVE" });
    r.things.push({ name: `thing-${i}`, attributes: { n: String(i) } });
    r.memberships.push([`group-${i % 2}`, `thing-${i}`]);
    r.principals.push([`thing-${i}`, id]);
  }
  return r;
}

/** The target lacks 10 thing–certificate attachments and has 5 things with other attributes. */
function divergedCopy(source: StubRegistry): StubRegistry {
  const target = structuredClone(source);
  const detached = new Set(target.principals.slice(100, 110).map(([t]) => t));
  target.principals = target.principals.filter(([t]) => !detached.has(t));
  for (const t of target.things.slice(200, 205)) t.attributes = { changed: "yes" };
  return target;
}
const DRIFT = 15;

interface Harness {
  clock: Clock;
  deps: (invocationStart: number) => ScheduledReconcileDeps;
  /** The counts each publish got (a virtual clock: no EMF, whose timestamps Powertools checks against now). */
  emitted: Record<string, number>[];
  continuations: ContinuationEvent[];
  ownCalls: string[];
  ownBroken: { on: boolean };
}

function harness(peerOptions: { failFromCall?: number } = {}): Harness {
  const clock = virtualClock();
  const source = bigRegistry();
  const peerPorts = stubPorts(source, { pageSize: 250, ...peerOptions });
  const ownPorts = stubPorts(divergedCopy(source), { pageSize: 250 });
  const ownBroken = { on: false };
  const breakable = <T extends object>(port: T): T =>
    new Proxy(port, {
      get(target, prop, receiver) {
        const fn = Reflect.get(target, prop, receiver) as unknown;
        if (typeof fn !== "function") return fn;
        return (...args: unknown[]) => {
          if (ownBroken.on) throw Object.assign(new Error("own region failed"), { name: "InjectedFailure" });
          return (fn as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  // A plain object: the reconciler wraps the peer's methods by enumerating them.
  const reads = (iot: IotRegistryPort) =>
    ({
      describeThingGroup: (n: string) => iot.describeThingGroup(n),
      getPolicy: (n: string) => iot.getPolicy(n),
      describeCertificate: (id: string) => iot.describeCertificate(id),
    }) as unknown as IotRegistryPort;
  const side = (ports: ReturnType<typeof stubPorts>, own: boolean): SnapshotDeps => ({
    list: own ? breakable(ports.list) : ports.list,
    iot: own ? breakable(reads(ports.iot)) : reads(ports.iot),
    // Regions are read at once, each under its own quota: the peer's waits overlap this region's,
    // so only this region's pacer moves virtual time.
    pacer: createPacer({ clock: own ? clock : { now: clock.now, sleep: async () => {} }, utilisation: 0.5 }),
  });
  const own = side(ownPorts, true);
  const peer = side(peerPorts, false);
  const table = memoryOpsTable();
  const emitted: Record<string, number>[] = [];
  const continuations: ContinuationEvent[] = [];
  return {
    clock,
    emitted,
    continuations,
    ownCalls: ownPorts.calls,
    ownBroken,
    deps: (invocationStart) =>
      scheduledDeps({ ...own, name: "eu-west-1" }, { ...peer, name: "us-east-1" }, table, {
        clock,
        // Without the active region the pass's drift is all undecided: what this test counts.
        activeRegion: async () => ({ how: "not asked in this test" }),
        metrics: { publish: (_at, counts) => void emitted.push(counts) },
        pass: {
          remainingMs: () => invocationStart + TIMEOUT_MS - clock.now() - RESERVE_MS,
          continueWith: async (event) => void continuations.push(structuredClone(event)),
          scheduleMinutes: 60,
        },
      }),
  };
}

/** Runs invocations as Lambda would: the scheduled start, then each continuation the last one sent. */
async function runPass(h: Harness, maxInvocations = 20) {
  const invocations: { outcome: ScheduledOutcome; tookMs: number }[] = [];
  let event: unknown = {
    source: "aws.events",
    "detail-type": "Scheduled Event",
    time: new Date(h.clock.now()).toISOString(),
  };
  for (let i = 0; i < maxInvocations; i++) {
    const start = h.clock.now();
    const sent = h.continuations.length;
    const outcome = await runScheduledReconcile(h.deps(start), event);
    invocations.push({ outcome, tookMs: h.clock.now() - start });
    if (outcome.status !== "continued") break;
    expect(h.continuations.length).toBe(sent + 1);
    event = h.continuations.at(-1);
  }
  return invocations;
}

const drifts = (published: Record<string, number>[]) => published.filter((d) => "DriftCount" in d);

describe("a scheduled reconcile pass over several invocations", () => {
  it("plans principal shards from the thing count and the paced rate so that about three fit one invocation", () => {
    // ListThingPrincipals and ListThings at 10 TPS, half of it: 5 calls/s per region.
    const plan = principalShardPlan(THINGS, TIMEOUT_MS - RESERVE_MS, {
      listThingPrincipals: 5,
      listThings: 5,
    });
    expect(plan.shardCount).toBe(9);
    expect(plan.shardMs).toBeLessThanOrEqual((TIMEOUT_MS - RESERVE_MS) / 3);
    expect(principalShardPlan(100, 810_000, { listThingPrincipals: 5, listThings: 5 }).shardCount).toBe(1);
    expect(principalShardPlan(0, 810_000, { listThingPrincipals: 5, listThings: 5 }).shardCount).toBe(1);
    // A budget too small for one thing: one shard per thing (the continuation still does one each).
    expect(principalShardPlan(3, 10, { listThingPrincipals: 5, listThings: 5 }).shardCount).toBe(3);
  });

  it("shards things by a stable hash of the name", () => {
    expect(shardOf("thing-42", 9)).toBe(shardOf("thing-42", 9));
    const sizes = Array.from({ length: 9 }, () => 0);
    for (let i = 0; i < THINGS; i++) sizes[shardOf(`thing-${i}`, 9)]++;
    expect(Math.max(...sizes)).toBeLessThan((THINGS / 9) * 1.1);
  });

  it("principal shards partition the attachments: each exactly once, and other kinds unfiltered", async () => {
    const reg = stubRegistry(50);
    const keysOf = async (kinds: ResourceKind[], shard?: { index: number; count: number }) => {
      const ports = stubPorts(reg, { pageSize: 7 });
      const keys: string[] = [];
      const deps = { list: ports.list, iot: ports.iot, pacer: fastPacer() };
      for await (const page of snapshotRegion(deps, { kinds, principalShard: shard, pageSize: 5 }))
        keys.push(...page.entries.map((e) => e.key));
      return { keys, principalCalls: ports.calls.filter((c) => c === "ListThingPrincipals").length };
    };
    const all = await keysOf(["principal"]);
    const shards = await Promise.all([0, 1, 2, 3].map((index) => keysOf(["principal"], { index, count: 4 })));
    expect(shards.flatMap((x) => x.keys).sort()).toEqual([...all.keys].sort());
    expect(shards.every((x) => x.keys.length > 0 && x.principalCalls === x.keys.length)).toBe(true);
    expect((await keysOf(["thing", "membership"], { index: 1, count: 4 })).keys).toHaveLength(100);
    await expect(keysOf(["principal"], { index: 4, count: 4 })).rejects.toThrow(/outside 0..3/);
  });

  it("compares a 10,000-thing region in 3 invocations within budget and publishes DriftCount once, with the pass's total", async () => {
    const h = harness();
    const invocations = await runPass(h);
    console.log(
      JSON.stringify(invocations.map((i) => [i.tookMs, i.outcome.next?.nextShard, i.outcome.next?.shardMs])),
    );
    expect(invocations.map((i) => i.outcome.status)).toEqual(["continued", "continued", "drift"]);
    // Each invocation ends before the function's timeout, inside most of its reserve.
    for (const i of invocations) expect(i.tookMs).toBeLessThan(TIMEOUT_MS - RESERVE_MS / 2);
    // Every thing's principals were read exactly once in this region over all shards.
    expect(h.ownCalls.filter((c) => c === "ListThingPrincipals")).toHaveLength(THINGS);
    // The continuations carry the pass, the next shard and running totals.
    const passes = h.continuations.map((c) => c.reconcilePass);
    expect(new Set(passes.map((p) => p.passId)).size).toBe(1);
    expect(passes.map((p) => p.shardCount)).toEqual([9, 9]);
    expect(passes.map((p) => p.nextShard)).toEqual([3, 6]);
    expect(passes[0].totals.compared).toBeLessThan(passes[1].totals.compared);
    expect(passes[0].totals.found).toBeLessThanOrEqual(passes[1].totals.found);
    const last = invocations.at(-1)!.outcome;
    const allKeys = new Set([...expectedKeys(bigRegistry()), ...expectedKeys(divergedCopy(bigRegistry()))]);
    expect(last).toMatchObject({ found: DRIFT, undecided: DRIFT, remaining: DRIFT, compared: allKeys.size });
    expect(last.passId).toBe(passes[0].passId);
    expect(drifts(h.emitted)).toEqual([
      expect.objectContaining({ DriftCount: DRIFT, ReconcilePeerUnreachable: 0 }),
    ]);
  });

  it("a peer region lost mid-pass ends the pass: ReconcilePeerUnreachable, no DriftCount, no continuation", async () => {
    // Call 5,000 of the peer falls in the fourth shard, i.e. in the second invocation.
    const h = harness({ failFromCall: 5_000 });
    const invocations = await runPass(h);
    expect(invocations.map((i) => i.outcome.status)).toEqual(["continued", "peer-unreachable"]);
    expect(h.continuations).toHaveLength(1);
    expect(drifts(h.emitted)).toEqual([]);
    expect(h.emitted).toEqual([expect.objectContaining({ ReconcilePeerUnreachable: 1 })]);
  });

  it("a failure in this region mid-pass fails that invocation; Lambda's retry of the same event finishes with the same totals", async () => {
    const h = harness();
    const start = h.clock.now();
    const first = await runScheduledReconcile(h.deps(start), {});
    expect(first.status).toBe("continued");
    const event = h.continuations[0];
    h.ownBroken.on = true;
    await expect(runScheduledReconcile(h.deps(h.clock.now()), event)).rejects.toThrow(/own region failed/);
    expect(h.continuations).toHaveLength(1);
    expect(drifts(h.emitted)).toEqual([]);
    h.ownBroken.on = false;
    let outcome = await runScheduledReconcile(h.deps(h.clock.now()), event);
    while (outcome.status === "continued")
      outcome = await runScheduledReconcile(h.deps(h.clock.now()), h.continuations.at(-1));
    expect(outcome).toMatchObject({ status: "drift", found: DRIFT, remaining: DRIFT });
    expect(drifts(h.emitted)).toEqual([expect.objectContaining({ DriftCount: DRIFT })]);
  });

  it("drops a scheduled start that Lambda held back while a pass was running", async () => {
    const h = harness();
    const late = new Date(h.clock.now() - STALE_START_MS - 60_000).toISOString();
    const outcome = await runScheduledReconcile(h.deps(h.clock.now()), {
      source: "aws.events",
      "detail-type": "Scheduled Event",
      time: late,
    });
    expect(outcome.status).toBe("skipped");
    expect(h.ownCalls).toEqual([]);
    expect(h.emitted).toEqual([]);
  });
});
