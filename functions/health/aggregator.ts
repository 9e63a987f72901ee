/**
 * The health-check function of one region (shared-services account): calls every account's
 * health API in that region in parallel, SigV4-signed, under hard deadlines; applies the policy
 * (critical factors, hysteresis, readiness gate, override); answers Route 53 on a secret path
 * within its deadline, and never throws. In alarm mode the same evaluation runs on a schedule
 * and only publishes metrics.
 */
import type * as NodeCrypto from "node:crypto";
import { bareStatus, type ApiResponse, type HealthReport } from "./checkpoints.js";
import { describeError, withDeadline, type HttpRequest, type HttpTransport, type Logger } from "./http.js";
import type { Now } from "../shared/clock.js";
import {
  checkPolicyConfig,
  evaluatePolicy,
  type Decision,
  type FactorResult,
  type HysteresisState,
  type OverrideMode,
  type PolicyConfig,
  type Readiness,
} from "./policy.js";

/** One account's health API (or one factor path of it) in this region. */
export interface Factor {
  name: string;
  /** The function URL (plus factor path) of the health API, e.g. `https://abc.lambda-url.eu-west-1.on.aws/iotBroker`. */
  url: string;
}

/** Adds SigV4 headers for the health API's account; identity in tests. */
export type RequestSigner = (request: HttpRequest) => Promise<HttpRequest>;

/** What the state store keeps per region: hysteresis counters plus the last verdict. */
export interface StoredRound {
  state: HysteresisState;
  healthy: boolean;
  body: string;
}

/** Hysteresis state in a small store (a DynamoDB item in AWS). */
export interface StateStore {
  get(signal: AbortSignal): Promise<StoredRound | undefined>;
  /** Writes when the stored round is still `expectedRound` (or absent); false when another checker won. */
  put(next: StoredRound, expectedRound: number | undefined, signal: AbortSignal): Promise<boolean>;
}

/** One round's metrics; the adapter writes them as CloudWatch embedded metric format. */
export interface RoundMetrics {
  region: string;
  factors: readonly FactorResult[];
  decision: Decision;
}

export interface HealthCheckDeps {
  region: string;
  factors: readonly Factor[];
  policy: PolicyConfig;
  transport: HttpTransport;
  sign: RequestSigner;
  clock: Now;
  logger: Logger;
  store: StateStore;
  /** The operator's override (an SSM parameter in AWS). */
  getOverride: (signal: AbortSignal) => Promise<OverrideMode>;
  /** Replication lag and drift of this region (CloudWatch `iot-dr` metrics in AWS). */
  getReadiness: (signal: AbortSignal) => Promise<Readiness | undefined>;
  emit: (metrics: RoundMetrics) => void;
  /** Checks the secret path segment of a Route 53 request; see createSecretMatcher. */
  secretMatches: (segment: string) => boolean;
  /** The answer always comes within this; default 1500 ms (Route 53 allows 2 s after connect). */
  deadlineMs?: number;
  /** Hysteresis advances at most once per round of this length; default 1000 ms. */
  roundMs?: number;
}

/** A constant-time comparison of the path segment's SHA-256 with the configured digest. */
export function createSecretMatcher(
  crypto: typeof NodeCrypto,
  secretSha256Hex: string,
): (segment: string) => boolean {
  if (!/^[0-9a-f]{64}$/.test(secretSha256Hex)) {
    throw new Error(
      "the health-check path secret digest must be 64 lowercase hex characters (SHA-256 of the secret)",
    );
  }
  const expected = Buffer.from(secretSha256Hex, "hex");
  return (segment) =>
    crypto.timingSafeEqual(crypto.createHash("sha256").update(segment, "utf8").digest(), expected);
}

export interface HealthCheckRequest {
  method: string;
  path: string;
}

export interface HealthCheck {
  /** Answers one Route 53 request; never rejects and settles within the deadline. */
  handle(request: HealthCheckRequest): Promise<ApiResponse>;
  /** Runs one evaluation (probes, policy, store, metrics); never rejects. */
  evaluate(): Promise<{ decision: Decision; body: string }>;
}

const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

function isHealthyBody(body: string): boolean {
  try {
    // The health API's own type (checkpoints.ts); a factor is healthy only when it says so.
    const parsed = JSON.parse(body) as Partial<HealthReport> | null;
    return typeof parsed === "object" && parsed !== null && parsed.healthy === true;
  } catch {
    return false;
  }
}

export function createHealthCheck(deps: HealthCheckDeps): HealthCheck {
  const deadlineMs = deps.deadlineMs ?? 1500;
  const roundMs = deps.roundMs ?? 1000;
  if (!(deadlineMs >= 300 && deadlineMs <= 2000)) {
    throw new Error(
      `health-check deadline ${deadlineMs} ms is out of range: use 300-2000 ms (Route 53 waits 2 s)`,
    );
  }
  if (deps.factors.length === 0)
    throw new Error("the health check has no factors: configure at least one health API");
  const names = deps.factors.map((f) => f.name);
  if (new Set(names).size !== names.length)
    throw new Error(`health-check factor names repeat: ${names.join(", ")}`);
  checkPolicyConfig(deps.policy, names);

  // Budgets inside the deadline: reads, then probes, then the state write, then a margin to answer.
  // Shares of the deadline (225 and 150 ms of the default 1,500).
  const readBudget = Math.floor(deadlineMs * 0.15);
  const writeBudget = Math.floor(deadlineMs * 0.1);
  const answerMargin = 50;

  // Last known values, used when a store or getter fails in this round.
  let memory: StoredRound | undefined;
  let lastOverride: OverrideMode = "automatic";
  let lastReadiness: Readiness | undefined;

  async function probe(factor: Factor, budgetMs: number): Promise<FactorResult> {
    const started = deps.clock();
    try {
      const response = await withDeadline(`factor ${factor.name}`, budgetMs, async (signal) => {
        const signed = await deps.sign({
          method: "GET",
          url: factor.url,
          headers: { accept: "application/json" },
          signal,
        });
        return deps.transport({ ...signed, signal });
      });
      const latencyMs = deps.clock() - started;
      if (response.status !== 200)
        return {
          name: factor.name,
          ok: false,
          latencyMs,
          status: response.status,
          error: `HTTP ${response.status}`,
        };
      if (!isHealthyBody(response.body)) {
        return {
          name: factor.name,
          ok: false,
          latencyMs,
          status: 200,
          error: "answer is not a healthy JSON report",
        };
      }
      return { name: factor.name, ok: true, latencyMs, status: 200 };
    } catch (err) {
      return { name: factor.name, ok: false, latencyMs: deps.clock() - started, error: describeError(err) };
    }
  }

  async function settleWithin<T>(
    what: string,
    budgetMs: number,
    work: (signal: AbortSignal) => Promise<T>,
    fallback: T,
  ): Promise<T> {
    try {
      return await withDeadline(what, budgetMs, work);
    } catch (err) {
      deps.logger.warn(`${what} failed; using the last known value`, { error: describeError(err) });
      return fallback;
    }
  }

  async function evaluate(): Promise<{ decision: Decision; body: string; cached: boolean }> {
    const started = deps.clock();
    const round = Math.floor(started / roundMs);
    const overrideP = settleWithin("override read", readBudget, deps.getOverride, lastOverride);
    const readinessP = settleWithin("readiness read", readBudget, deps.getReadiness, lastReadiness);
    // A failed read with nothing in memory (a cold start) leaves the fail-back gate blind.
    let stateUnknown = false;
    const stored = await withDeadline("state read", readBudget, (s) => deps.store.get(s)).catch(
      (err: unknown) => {
        deps.logger.warn("state read failed; using the last known value", { error: describeError(err) });
        stateUnknown = memory === undefined;
        return memory;
      },
    );
    if (stored && stored.state.round === round) {
      // Another checker already evaluated this round: answer the same, probe nothing.
      memory = stored;
      return { decision: decisionOf(stored), body: stored.body, cached: true };
    }
    // 150 ms of slack for a busy event loop (Route 53's checkers arrive together).
    const probeBudget = Math.max(
      50,
      deadlineMs - (deps.clock() - started) - writeBudget - answerMargin - 150,
    );
    const [factors, override, readiness] = await Promise.all([
      Promise.all(deps.factors.map((f) => probe(f, probeBudget))),
      overrideP,
      readinessP,
    ]);
    lastOverride = override;
    lastReadiness = readiness;
    const decision = evaluatePolicy({
      previous: stored?.state,
      round,
      now: started,
      stateUnknown,
      factors,
      readiness,
      override,
      config: deps.policy,
    });
    const body = JSON.stringify({
      region: deps.region,
      healthy: decision.healthy,
      reason: decision.reason,
      override: decision.override,
      ready: decision.ready,
      round,
      factors: factors.map((f) => ({
        name: f.name,
        ok: f.ok,
        latencyMs: Math.round(f.latencyMs),
        status: f.status,
        error: f.error,
      })),
    });
    const next: StoredRound = { state: decision.state, healthy: decision.healthy, body };
    // A state computed from an unknown start is no memory to fall back on.
    if (!stateUnknown) memory = next;
    const remaining = deadlineMs - answerMargin - (deps.clock() - started);
    const written = await settleWithin(
      "state write",
      Math.max(0, Math.min(writeBudget, remaining)),
      (s) => deps.store.put(next, stored?.state.round, s),
      false,
    );
    if (!written)
      deps.logger.info("state not written (another checker won the round or the store failed)", { round });
    try {
      deps.emit({ region: deps.region, factors, decision });
    } catch (err) {
      deps.logger.warn("metrics failed", { error: describeError(err) });
    }
    deps.logger.info("health round", {
      region: deps.region,
      round,
      healthy: decision.healthy,
      reason: decision.reason,
    });
    return { decision, body, cached: false };
  }

  function decisionOf(stored: StoredRound): Decision {
    let reason = "cached";
    let override: OverrideMode = "automatic";
    let ready = true;
    try {
      const parsed = JSON.parse(stored.body) as { reason?: string; override?: OverrideMode; ready?: boolean };
      reason = parsed.reason ?? reason;
      override = parsed.override ?? override;
      ready = parsed.ready ?? ready;
    } catch {
      // a body we did not write: the counters still hold
    }
    return {
      healthy: stored.healthy,
      roundHealthy: stored.state.healthy,
      hysteresisHealthy: stored.state.healthy,
      ready,
      override,
      reason,
      state: stored.state,
    };
  }

  const timeoutBody = (): ApiResponse => ({
    statusCode: 503,
    headers: JSON_HEADERS,
    body: JSON.stringify({
      region: deps.region,
      healthy: false,
      reason: `no verdict within ${deadlineMs} ms`,
    }),
  });

  // Evaluations that missed the deadline in a row (CPU starvation): like failed rounds, they turn
  // the answer unhealthy only after failuresBeforeUnhealthy of them; until then the last verdict stands.
  let lateInARow = 0;
  const lateAnswer = (): ApiResponse => {
    lateInARow++;
    deps.logger.warn("health evaluation missed the deadline", { lateInARow });
    if (!memory || lateInARow >= deps.policy.failuresBeforeUnhealthy) return timeoutBody();
    return {
      statusCode: memory.healthy ? 200 : 503,
      headers: JSON_HEADERS,
      body: JSON.stringify({
        region: deps.region,
        healthy: memory.healthy,
        reason: `evaluation late (${lateInARow}/${deps.policy.failuresBeforeUnhealthy}): last verdict`,
      }),
    };
  };

  return {
    async handle(request) {
      try {
        if (request.method !== "GET" && request.method !== "HEAD") return bareStatus(405);
        const segments = (typeof request.path === "string" ? request.path : "")
          .split("/")
          .filter((s) => s.length > 0);
        if (segments.length !== 1 || !deps.secretMatches(segments[0]!)) return bareStatus(404);
        let timer: ReturnType<typeof setTimeout> | undefined;
        let answered = false;
        const late = new Promise<ApiResponse>((resolve) => {
          timer = setTimeout(() => {
            if (answered) return;
            answered = true;
            resolve(lateAnswer());
          }, deadlineMs - answerMargin);
        });
        const answer = evaluate().then(
          ({ decision, body }): ApiResponse => {
            // Only an evaluation that answered in time ends a run of late ones.
            if (!answered) lateInARow = 0;
            answered = true;
            return {
              statusCode: decision.healthy ? 200 : 503,
              headers: JSON_HEADERS,
              body: request.method === "HEAD" ? "" : body,
            };
          },
          (err: unknown): ApiResponse => {
            deps.logger.error("health evaluation failed", { error: describeError(err) });
            return timeoutBody();
          },
        );
        const response = await Promise.race([answer, late]);
        clearTimeout(timer);
        return response;
      } catch (err) {
        deps.logger.error("health request failed", { error: describeError(err) });
        return bareStatus(400);
      }
    },
    async evaluate() {
      try {
        const { decision, body } = await evaluate();
        return { decision, body };
      } catch (err) {
        deps.logger.error("health evaluation failed", { error: describeError(err) });
        const decision = evaluatePolicy({
          previous: memory?.state,
          round: -1,
          factors: [],
          readiness: undefined,
          override: lastOverride,
          config: deps.policy,
        });
        return { decision, body: timeoutBody().body };
      }
    },
  };
}

/**
 * Alarm mode: evaluates every `intervalMs` for `durationMs` (one scheduled invocation a minute
 * covers the minute), so that the RegionHealthy metric has a datapoint per alarm period.
 */
export async function runRounds(
  check: HealthCheck,
  options: { durationMs: number; intervalMs: number; clock: Now; sleep: (ms: number) => Promise<void> },
): Promise<Decision[]> {
  const decisions: Decision[] = [];
  const end = options.clock() + options.durationMs;
  for (;;) {
    const started = options.clock();
    decisions.push((await check.evaluate()).decision);
    const next = started + options.intervalMs;
    if (next >= end) return decisions;
    await options.sleep(Math.max(0, next - options.clock()));
  }
}
