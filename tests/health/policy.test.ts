import { describe, expect, it } from "vitest";
import {
  evaluatePolicy,
  INITIAL_STATE,
  parseOverride,
  type FactorResult,
  type HysteresisState,
  type OverrideMode,
  type PolicyConfig,
  type Readiness,
} from "../../functions/health/policy.js";
import { policy } from "./support.js";

const ALL = ["iotBroker", "applicationServices", "commandControl", "analytics"];
const good = (): FactorResult[] => ALL.map((name) => ({ name, ok: true, latencyMs: 5 }));
const bad = (failing = "iotBroker"): FactorResult[] =>
  ALL.map((name) => ({ name, ok: name !== failing, latencyMs: 5 }));

/** Feeds rounds 0, 1, 2 ... and returns the answer after each. */
function run(
  rounds: Array<"G" | "B">,
  config: PolicyConfig,
  start: HysteresisState = INITIAL_STATE,
): boolean[] {
  let state: HysteresisState | undefined = start;
  return rounds.map((r, i) => {
    const d = evaluatePolicy({
      previous: state,
      round: start.round + 1 + i,
      factors: r === "G" ? good() : bad(),
      readiness: undefined,
      override: "automatic",
      config,
    });
    state = d.state;
    return d.healthy;
  });
}

describe("hysteresis: a healthy region turns unhealthy only after N consecutive failed rounds", () => {
  const table: Array<[number, Array<"G" | "B">, boolean[]]> = [
    [1, ["B"], [false]],
    [2, ["B", "B"], [true, false]],
    [3, ["B", "B", "G", "B", "B", "B"], [true, true, true, true, true, false]],
    [3, ["B", "G", "B", "G", "B", "G"], [true, true, true, true, true, true]],
  ];
  for (const [n, rounds, expected] of table) {
    it(`N=${n}: ${rounds.join("")} answers ${expected.map((h) => (h ? "H" : "U")).join("")}`, () => {
      expect(run(rounds, policy({ failuresBeforeUnhealthy: n, successesBeforeHealthy: 1 }))).toEqual(
        expected,
      );
    });
  }
});

describe("hysteresis: an unhealthy region turns healthy again only after M consecutive good rounds", () => {
  const unhealthy: HysteresisState = { healthy: false, failures: 0, successes: 0, round: 10 };
  const table: Array<[number, Array<"G" | "B">, boolean[]]> = [
    [1, ["G"], [true]],
    [3, ["G", "G", "G"], [false, false, true]],
    [3, ["G", "G", "B", "G", "G", "G"], [false, false, false, false, false, true]],
    [2, ["G", "G", "B"], [false, true, true]],
  ];
  for (const [m, rounds, expected] of table) {
    it(`M=${m}: ${rounds.join("")} answers ${expected.map((h) => (h ? "H" : "U")).join("")}`, () => {
      expect(
        run(rounds, policy({ failuresBeforeUnhealthy: 2, successesBeforeHealthy: m }), unhealthy),
      ).toEqual(expected);
    });
  }
});

describe("rounds and factors", () => {
  it("does not advance the counters twice in one round (uncoordinated checkers)", () => {
    const config = policy({ failuresBeforeUnhealthy: 2 });
    const first = evaluatePolicy({
      previous: undefined,
      round: 5,
      factors: bad(),
      readiness: undefined,
      override: "automatic",
      config,
    });
    const again = evaluatePolicy({
      previous: first.state,
      round: 5,
      factors: bad(),
      readiness: undefined,
      override: "automatic",
      config,
    });
    expect(again.state).toEqual(first.state);
    expect(again.healthy).toBe(true);
  });

  it("ignores a failing factor that is not critical", () => {
    const d = evaluatePolicy({
      previous: undefined,
      round: 0,
      factors: bad("analytics"),
      readiness: undefined,
      override: "automatic",
      config: policy({ criticalFactors: ["iotBroker"] }),
    });
    expect(d.healthy).toBe(true);
    expect(d.roundHealthy).toBe(true);
  });

  it("counts a critical factor that was not probed at all as failed", () => {
    const d = evaluatePolicy({
      previous: undefined,
      round: 0,
      factors: good().slice(1),
      readiness: undefined,
      override: "automatic",
      config: policy(),
    });
    expect(d.healthy).toBe(false);
    expect(d.reason).toContain("not probed: iotBroker");
  });
});

describe("the manual override wins over the probes, and the probes keep counting underneath", () => {
  const table: Array<[OverrideMode, "G" | "B", boolean]> = [
    ["automatic", "G", true],
    ["automatic", "B", false],
    ["force-healthy", "G", true],
    ["force-healthy", "B", true],
    ["force-unhealthy", "G", false],
    ["force-unhealthy", "B", false],
  ];
  for (const [override, round, expected] of table) {
    it(`${override} with a ${round === "G" ? "good" : "bad"} round answers ${expected ? "healthy" : "unhealthy"}`, () => {
      const d = evaluatePolicy({
        previous: undefined,
        round: 0,
        factors: round === "G" ? good() : bad(),
        readiness: undefined,
        override,
        config: policy(),
      });
      expect(d.healthy).toBe(expected);
      expect(d.hysteresisHealthy).toBe(round === "G");
      if (override !== "automatic") expect(d.reason).toContain(`override ${override}`);
    });
  }

  it("parses the operator's values and rejects anything else with the allowed values", () => {
    expect(parseOverride(undefined)).toBe("automatic");
    expect(parseOverride(" Force-Unhealthy\n")).toBe("force-unhealthy");
    expect(parseOverride("auto")).toBe("automatic");
    expect(() => parseOverride("failover-now")).toThrow(
      /use one of automatic, force-healthy, force-unhealthy/,
    );
  });
});

describe("the readiness gate never declares a stale or drifting standby ready", () => {
  const gated = (extra: Partial<PolicyConfig> = {}) =>
    policy({ readinessGate: true, maxLagMs: 5000, maxDrift: 2, ...extra });
  const table: Array<[string, Readiness | undefined, Partial<PolicyConfig>, boolean]> = [
    ["fresh and in sync", { lagMs: 800, drift: 0 }, {}, true],
    ["lag exactly at the bound", { lagMs: 5000, drift: 2 }, {}, true],
    ["lag above the bound", { lagMs: 5001, drift: 0 }, {}, false],
    ["drift above the bound", { lagMs: 10, drift: 3 }, {}, false],
    ["no datapoints, missing means ready", {}, {}, true],
    ["no datapoints, missing means not ready", {}, { missingReadinessData: "not-ready" }, false],
    [
      "readiness unreadable, missing means not ready",
      undefined,
      { missingReadinessData: "not-ready" },
      false,
    ],
    ["lag far above the bound with the gate off", { lagMs: 1e9, drift: 1e6 }, { readinessGate: false }, true],
  ];
  for (const [what, readiness, extra, expected] of table) {
    it(`${what}: ${expected ? "ready" : "not ready"}`, () => {
      const d = evaluatePolicy({
        previous: undefined,
        round: 0,
        factors: good(),
        readiness,
        override: "automatic",
        config: gated(extra),
      });
      expect(d.ready).toBe(expected);
      expect(d.healthy).toBe(expected);
      if (!expected) expect(d.reason).toMatch(/not ready/);
    });
  }

  it("lets force-healthy move traffic to a standby the gate holds back (operator's call)", () => {
    const d = evaluatePolicy({
      previous: undefined,
      round: 0,
      factors: good(),
      readiness: { lagMs: 1e6, drift: 0 },
      override: "force-healthy",
      config: gated(),
    });
    expect(d.ready).toBe(false);
    expect(d.healthy).toBe(true);
  });
});

describe("the fail-back gate", () => {
  const config = policy({ failbackGate: true, maxLagMs: 60_000, maxDrift: 0 });
  const factors = (ok: boolean) => config.criticalFactors.map((name) => ({ name, ok, latencyMs: 1 }));
  // Rounds of 1 s: round 1000 is t = 1,000,000 ms.
  const step = (
    previous: HysteresisState | undefined,
    round: number,
    ok: boolean,
    readiness?: Readiness,
    extra: Partial<Parameters<typeof evaluatePolicy>[0]> = {},
  ) =>
    evaluatePolicy({
      previous,
      round,
      now: round * 1000,
      factors: factors(ok),
      readiness,
      override: "automatic",
      config,
      ...extra,
    });

  it("a region that was never down is not held; a recovered one is, until a pass after recovery finds no drift", () => {
    expect(step(undefined, 1000, true).healthy).toBe(true);
    const down = step(undefined, 1000, false);
    // A pass from before the outage proves nothing.
    const back = step(down.state, 1002, true, { drift: 0, driftAt: 900_000 });
    expect(back).toMatchObject({ healthy: false, hysteresisHealthy: true });
    expect(back.state.catchUpSince).toBe(1_002_000);
    expect(back.reason).toMatch(/no reconciler pass since the region recovered/);
    const drifting = step(back.state, 1003, true, { drift: 2, driftAt: 1_002_500 });
    expect(drifting.reason).toMatch(/drift 2 above 0/);
    const pass = { drift: 0, driftAt: 1_002_500 };
    const draining = step(drifting.state, 1004, true, {
      ...pass,
      backlogAgeMs: 90_000,
      backlogAt: 1_003_000,
    });
    expect(draining.reason).toMatch(/backlog 90000 ms old/);
    const caughtUp = step(draining.state, 1005, true, { ...pass, backlogAgeMs: 500, backlogAt: 1_004_000 });
    expect(caughtUp.healthy).toBe(true);
    expect(caughtUp.state.catchUpSince).toBeUndefined();
    // Once caught up, losing the metrics later does not take the region out again.
    expect(step(caughtUp.state, 1006, true, undefined).healthy).toBe(true);
  });

  it("counts a backlog nobody has read for five minutes as drained, and holds when the state is unreadable", () => {
    const down = step(undefined, 1000, false);
    const back = step(down.state, 1002, true);
    const stale = { drift: 0, driftAt: 1_003_000, backlogAgeMs: 600_000, backlogAt: 1_003_000 };
    expect(step(back.state, 1100, true, stale).healthy).toBe(false);
    expect(step(back.state, 1400, true, stale).healthy).toBe(true);
    const blind = step(undefined, 1000, true, { drift: 0, driftAt: 1_000_000 }, { stateUnknown: true });
    expect(blind.healthy).toBe(false);
    expect(blind.reason).toMatch(/hysteresis state unreadable/);
    const forced = step(undefined, 1000, true, undefined, { stateUnknown: true, override: "force-healthy" });
    expect(forced.healthy).toBe(true);
  });
});
