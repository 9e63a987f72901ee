/**
 * The fail-over policy of one region, as a pure function: which factors count, consecutive-round
 * hysteresis in both directions, the readiness gate (never declare a stale or drifting region
 * ready) and the operator's manual override. The aggregator feeds it one round of probe results.
 */

export const OVERRIDE_MODES = ["automatic", "force-healthy", "force-unhealthy"] as const;
/** `force-unhealthy` forces fail-over away from the region, `force-healthy` forbids it. */
export type OverrideMode = (typeof OVERRIDE_MODES)[number];

/** Parses the operator's override value; anything unknown is rejected with the allowed values. */
export function parseOverride(value: string | undefined | null): OverrideMode {
  const v = (value ?? "").trim().toLowerCase();
  if (v === "" || v === "auto") return "automatic";
  if ((OVERRIDE_MODES as readonly string[]).includes(v)) return v as OverrideMode;
  throw new Error(`invalid health override '${value}': use one of ${OVERRIDE_MODES.join(", ")}`);
}

/** One factor's result in one round. */
export interface FactorResult {
  name: string;
  ok: boolean;
  latencyMs: number;
  /** The HTTP status the factor's health API answered, when it answered. */
  status?: number;
  error?: string;
}

/** What survives between rounds (kept in the state store). */
export interface HysteresisState {
  /** The hysteresis verdict before gate and override. */
  healthy: boolean;
  /** Consecutive failed rounds while healthy. */
  failures: number;
  /** Consecutive good rounds while unhealthy. */
  successes: number;
  /** The round these counters were last advanced in. */
  round: number;
  /**
   * Set (ms) when the region's probes recovered after it had been unhealthy: from then on it
   * reads healthy only once the reverse catch-up is proven (fail-back gate); cleared after.
   */
  catchUpSince?: number;
}

export const INITIAL_STATE: HysteresisState = { healthy: true, failures: 0, successes: 0, round: -1 };

/** Replication freshness of the region; a missing value means no datapoint in the window. */
export interface Readiness {
  lagMs?: number;
  drift?: number;
  /** When the newest drift datapoint was taken (ms): a reconciler pass that finished then. */
  driftAt?: number;
  /**
   * Age of the oldest record not yet read from this region's replication stream (the launcher's
   * IteratorAge, newest datapoint), and when it was measured: the backlog towards this region.
   */
  backlogAgeMs?: number;
  backlogAt?: number;
}

export interface PolicyConfig {
  /** Factors whose failure counts; the others are only reported. */
  criticalFactors: readonly string[];
  /** Consecutive failed rounds before a healthy region turns unhealthy (N >= 1). */
  failuresBeforeUnhealthy: number;
  /** Consecutive good rounds before an unhealthy region turns healthy again (M >= 1). */
  successesBeforeHealthy: number;
  /** Whether this region must be fresh to count as healthy (true for the standby). */
  readinessGate: boolean;
  maxLagMs: number;
  maxDrift: number;
  /** What no datapoint means: no replication traffic (`ready`) or unknown (`not-ready`). */
  missingReadinessData: "ready" | "not-ready";
  /**
   * Fail-back gate: after being unhealthy, the region reads healthy only once the changes made in
   * the other region meanwhile are applied to it (see failbackVerdict). Default false.
   */
  failbackGate?: boolean;
}

/** No stream read for this long (five 60 s periods) means nothing was left to read. */
export const BACKLOG_QUIET_MS = 300_000;
/** Metric datapoints are 60 s periods stamped with their start. */
const PERIOD_MS = 60_000;

/**
 * The reverse catch-up after the region was away, proven from data, never assumed:
 * - a reconciler pass finished after the probes recovered (its period ends after `since`) with
 *   drift at most `maxDrift` on decided keys — it compared both regions' live registries;
 * - the backlog towards the region drained: the newest stream read is at most `maxLagMs` old, or
 *   no read happened in the last BACKLOG_QUIET_MS (the launcher reads continuously while records
 *   wait, and its mapping advances only once replay took them).
 * No drift datapoint since recovery = not ready.
 */
export function failbackVerdict(
  readiness: Readiness | undefined,
  since: number,
  now: number,
  config: Pick<PolicyConfig, "maxDrift" | "maxLagMs">,
): { ready: boolean; why?: string } {
  if (
    readiness?.drift === undefined ||
    readiness.driftAt === undefined ||
    readiness.driftAt + PERIOD_MS <= since
  )
    return { ready: false, why: "reverse catch-up unproven: no reconciler pass since the region recovered" };
  if (readiness.drift > config.maxDrift)
    return { ready: false, why: `reverse catch-up: drift ${readiness.drift} above ${config.maxDrift}` };
  if (
    readiness.backlogAgeMs !== undefined &&
    readiness.backlogAt !== undefined &&
    now - readiness.backlogAt < BACKLOG_QUIET_MS &&
    readiness.backlogAgeMs > config.maxLagMs
  )
    return {
      ready: false,
      why: `reverse catch-up: replication backlog ${Math.round(readiness.backlogAgeMs)} ms old, above ${config.maxLagMs} ms`,
    };
  return { ready: true };
}

export interface Decision {
  /** The answer to Route 53: 200 when true. */
  healthy: boolean;
  /** This round alone: every critical factor passed. */
  roundHealthy: boolean;
  /** After hysteresis, before gate and override. */
  hysteresisHealthy: boolean;
  /** The readiness gate passed (always true when the gate is off). */
  ready: boolean;
  override: OverrideMode;
  /** One line for logs and the health body. */
  reason: string;
  state: HysteresisState;
}

/** Validates the policy config; throws naming the bad field and the allowed range. */
export function checkPolicyConfig(config: PolicyConfig, factorNames: readonly string[]): void {
  for (const key of ["failuresBeforeUnhealthy", "successesBeforeHealthy"] as const) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1 || v > 100)
      throw new Error(`health policy: ${key} must be an integer 1-100, got ${v}`);
  }
  for (const key of ["maxLagMs", "maxDrift"] as const) {
    const v = config[key];
    if (typeof v !== "number" || !(v >= 0))
      throw new Error(`health policy: ${key} must be a number >= 0, got ${v}`);
  }
  if (config.criticalFactors.length === 0) {
    throw new Error(
      "health policy: criticalFactors is empty; name at least one factor whose failure moves traffic",
    );
  }
  for (const name of config.criticalFactors) {
    if (!factorNames.includes(name)) {
      throw new Error(
        `health policy: critical factor '${name}' is not a configured factor (configured: ${factorNames.join(", ") || "none"})`,
      );
    }
  }
}

function readinessVerdict(
  readiness: Readiness | undefined,
  config: PolicyConfig,
): { ready: boolean; why?: string } {
  if (!config.readinessGate) return { ready: true };
  if (readiness === undefined) {
    return config.missingReadinessData === "ready"
      ? { ready: true }
      : { ready: false, why: "readiness unknown" };
  }
  const missingOk = config.missingReadinessData === "ready";
  if (readiness.lagMs === undefined ? !missingOk : readiness.lagMs > config.maxLagMs) {
    return {
      ready: false,
      why: `replication lag ${readiness.lagMs ?? "unknown"} ms above ${config.maxLagMs} ms`,
    };
  }
  if (readiness.drift === undefined ? !missingOk : readiness.drift > config.maxDrift) {
    return { ready: false, why: `drift ${readiness.drift ?? "unknown"} above ${config.maxDrift}` };
  }
  return { ready: true };
}

/**
 * Applies one round. A round that was already counted (same `round` as the state) does not
 * advance the counters again, so uncoordinated Route 53 checkers cannot speed up hysteresis.
 */
export function evaluatePolicy(input: {
  previous: HysteresisState | undefined;
  round: number;
  factors: readonly FactorResult[];
  readiness: Readiness | undefined;
  override: OverrideMode;
  config: PolicyConfig;
  /** Now, ms; the fail-back gate's clock. Default: the round's number (rounds of 1 s) × 1000. */
  now?: number;
  /** The stored state could not be read and none is in memory: the fail-back gate holds. */
  stateUnknown?: boolean;
}): Decision {
  const { config } = input;
  const previous = input.previous ?? INITIAL_STATE;
  const failed = input.factors
    .filter((f) => !f.ok && config.criticalFactors.includes(f.name))
    .map((f) => f.name);
  const missing = config.criticalFactors.filter((name) => !input.factors.some((f) => f.name === name));
  const roundHealthy = failed.length === 0 && missing.length === 0;

  let state: HysteresisState;
  if (input.round <= previous.round) {
    state = previous;
  } else if (previous.healthy) {
    const failures = roundHealthy ? 0 : previous.failures + 1;
    state =
      failures >= config.failuresBeforeUnhealthy
        ? { healthy: false, failures: 0, successes: 0, round: input.round }
        : { healthy: true, failures, successes: 0, round: input.round };
  } else {
    const successes = roundHealthy ? previous.successes + 1 : 0;
    state =
      successes >= config.successesBeforeHealthy
        ? { healthy: true, failures: 0, successes: 0, round: input.round }
        : { healthy: false, failures: 0, successes, round: input.round };
  }

  const now = input.now ?? input.round * 1000;
  if (config.failbackGate && state !== previous) {
    if (!state.healthy) {
      const { catchUpSince: _dropped, ...rest } = state;
      state = rest;
    } else if (!previous.healthy) state = { ...state, catchUpSince: now };
    else if (previous.catchUpSince !== undefined) state = { ...state, catchUpSince: previous.catchUpSince };
  }
  let gate = readinessVerdict(input.readiness, config);
  if (gate.ready && config.failbackGate && input.stateUnknown)
    gate = { ready: false, why: "hysteresis state unreadable: cannot tell a recovery from a steady state" };
  if (gate.ready && config.failbackGate && state.healthy && state.catchUpSince !== undefined) {
    gate = failbackVerdict(input.readiness, state.catchUpSince, now, config);
    if (gate.ready) {
      const { catchUpSince: _done, ...rest } = state;
      state = rest;
    }
  }
  const automatic = state.healthy && gate.ready;
  const healthy =
    input.override === "force-healthy" ? true : input.override === "force-unhealthy" ? false : automatic;

  const parts: string[] = [];
  if (input.override !== "automatic") parts.push(`override ${input.override}`);
  if (failed.length > 0) parts.push(`critical factors failing: ${failed.join(", ")}`);
  if (missing.length > 0) parts.push(`critical factors not probed: ${missing.join(", ")}`);
  if (!state.healthy && roundHealthy)
    parts.push(`recovering (${state.successes}/${config.successesBeforeHealthy})`);
  if (state.healthy && !roundHealthy)
    parts.push(`tolerating (${state.failures}/${config.failuresBeforeUnhealthy})`);
  if (!gate.ready) parts.push(`not ready: ${gate.why}`);
  if (parts.length === 0) parts.push("all critical factors healthy");

  return {
    healthy,
    roundHealthy,
    hysteresisHealthy: state.healthy,
    ready: gate.ready,
    override: input.override,
    reason: parts.join("; "),
    state,
  };
}
