import * as crypto from "node:crypto";
import * as http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createHealthCheck,
  createSecretMatcher,
  runRounds,
  type Factor,
  type HealthCheck,
  type HealthCheckDeps,
  type RoundMetrics,
} from "../../functions/health/aggregator.js";
import { silentLogger } from "../../functions/health/http.js";
import { roundMetricPoints } from "../../functions/health/metrics.js";
import {
  factorHandler,
  memoryStore,
  policy,
  refusedPort,
  startServer,
  timedGet,
  transport,
  type FactorBehaviour,
  type LoopbackServer,
} from "./support.js";

const DEADLINE_MS = 1500;
// Generous bound for "answers on time": the deadline plus scheduling slack on a shared machine.
const ON_TIME_MS = DEADLINE_MS + 250;
const SECRET = "s3cr3t-path-segment-for-route53";
const SECRET_SHA256 = crypto.createHash("sha256").update(SECRET).digest("hex");
const FACTOR_NAMES = ["iotBroker", "applicationServices", "commandControl", "analytics"] as const;

const servers: LoopbackServer[] = [];
const serverFor = new Map<FactorBehaviour, LoopbackServer>();
let refusedUrl: string;

beforeAll(async () => {
  for (const behaviour of ["healthy", "unhealthy-503", "slow", "hanging", "invalid-json"] as const) {
    const server = await startServer(factorHandler(behaviour, DEADLINE_MS + 1500));
    servers.push(server);
    serverFor.set(behaviour, server);
  }
  refusedUrl = `http://127.0.0.1:${await refusedPort()}/`;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

function urlOf(behaviour: FactorBehaviour | "refused"): string {
  return behaviour === "refused" ? refusedUrl : `${serverFor.get(behaviour)!.url}/`;
}

/** Four factors, all healthy except the named one, which behaves as given. */
function factorsWith(name: (typeof FACTOR_NAMES)[number], behaviour: FactorBehaviour | "refused"): Factor[] {
  return FACTOR_NAMES.map((n) => ({ name: n, url: n === name ? urlOf(behaviour) : urlOf("healthy") }));
}

function makeCheck(factors: Factor[], overrides: Partial<HealthCheckDeps> = {}) {
  const emitted: RoundMetrics[] = [];
  const store = memoryStore();
  const check = createHealthCheck({
    region: "eu-west-1",
    factors,
    policy: policy(),
    transport,
    sign: async (request) => ({
      ...request,
      headers: { ...request.headers, authorization: "AWS4-HMAC-SHA256 test" },
    }),
    clock: () => performance.timeOrigin + performance.now(),
    logger: silentLogger,
    store,
    getOverride: async () => "automatic",
    getReadiness: async () => ({ lagMs: 10, drift: 0 }),
    emit: (m) => emitted.push(m),
    secretMatches: createSecretMatcher(crypto, SECRET_SHA256),
    deadlineMs: DEADLINE_MS,
    roundMs: 1,
    ...overrides,
  });
  return { check, emitted, store };
}

/** Serves a health check the way a function URL does: method and raw path in, status and body out. */
async function serve(check: HealthCheck): Promise<LoopbackServer> {
  const server = await startServer((req, res) => {
    void check.handle({ method: req.method ?? "", path: (req.url ?? "").split("?")[0]! }).then((r) => {
      res.writeHead(r.statusCode, r.headers);
      res.end(r.body);
    });
  });
  servers.push(server);
  return server;
}

describe("the health-check function judges its region from every factor, on time", () => {
  it("answers 200 with each factor's result when every health API is healthy", async () => {
    const { check, emitted } = makeCheck(factorsWith("analytics", "healthy"));
    const endpoint = await serve(check);
    const answer = await timedGet(`${endpoint.url}/${SECRET}`);
    expect(answer.status).toBe(200);
    expect(answer.ms).toBeLessThan(ON_TIME_MS);
    const body = JSON.parse(answer.body);
    expect(body).toMatchObject({ region: "eu-west-1", healthy: true, override: "automatic", ready: true });
    expect(body.factors.map((f: { name: string; ok: boolean }) => [f.name, f.ok])).toEqual(
      FACTOR_NAMES.map((n) => [n, true]),
    );
    expect(emitted).toHaveLength(1);
  });

  it("signs every call to a health API", async () => {
    const healthy = serverFor.get("healthy")!;
    const before = healthy.requests.length;
    const { check } = makeCheck(factorsWith("analytics", "healthy"));
    await check.evaluate();
    const seen = healthy.requests.slice(before);
    expect(seen).toHaveLength(4);
    expect(seen.every((r) => r.headers.authorization === "AWS4-HMAC-SHA256 test")).toBe(true);
  });

  const failing: Array<[FactorBehaviour | "refused", string]> = [
    ["unhealthy-503", "HTTP 503"],
    ["slow", "timeout"],
    ["hanging", "timeout"],
    ["invalid-json", "not a healthy JSON report"],
    ["refused", "ECONNREFUSED"],
  ];
  for (const [behaviour, error] of failing) {
    it(`answers 503 on time when a critical factor's health API is ${behaviour}`, async () => {
      const { check } = makeCheck(factorsWith("commandControl", behaviour));
      const endpoint = await serve(check);
      const answer = await timedGet(`${endpoint.url}/${SECRET}`);
      expect(answer.status).toBe(503);
      expect(answer.ms).toBeLessThan(ON_TIME_MS);
      const body = JSON.parse(answer.body);
      const cc = body.factors.find((f: { name: string }) => f.name === "commandControl");
      expect(cc.ok).toBe(false);
      expect(cc.error).toContain(error);
      expect(body.factors.filter((f: { ok: boolean }) => f.ok)).toHaveLength(3);
      expect(body.reason).toContain("commandControl");
    });
  }

  it("stays 200 when only a non-critical factor hangs, and still reports it", async () => {
    const { check, emitted } = makeCheck(factorsWith("analytics", "hanging"), {
      policy: policy({ criticalFactors: ["iotBroker", "applicationServices", "commandControl"] }),
    });
    const started = performance.now();
    const response = await check.handle({ method: "GET", path: `/${SECRET}` });
    expect(performance.now() - started).toBeLessThan(ON_TIME_MS);
    expect(response.statusCode).toBe(200);
    const points = roundMetricPoints(emitted[0]!);
    expect(points).toContainEqual({
      name: "FactorHealthy",
      value: 0,
      unit: "Count",
      dimensions: { Region: "eu-west-1", Factor: "analytics" },
    });
    expect(points).toContainEqual({
      name: "RegionHealthy",
      value: 1,
      unit: "Count",
      dimensions: { Region: "eu-west-1" },
    });
  });

  it("answers 503 on time even when every factor hangs and the state store never answers", async () => {
    const never = new Promise<never>(() => undefined);
    const { check } = makeCheck(
      FACTOR_NAMES.map((name) => ({ name, url: urlOf("hanging") })),
      {
        store: { get: () => never, put: () => never },
        getOverride: () => never,
        getReadiness: () => never,
      },
    );
    const started = performance.now();
    const response = await check.handle({ method: "GET", path: `/${SECRET}` });
    expect(performance.now() - started).toBeLessThan(ON_TIME_MS);
    expect(response.statusCode).toBe(503);
  });

  it("answers within the deadline when a signer rejects, and counts the factor as failed", async () => {
    const { check } = makeCheck(factorsWith("iotBroker", "healthy"), {
      sign: async () => {
        throw new Error("no credentials");
      },
    });
    const response = await check.handle({ method: "GET", path: `/${SECRET}` });
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body).factors[0].error).toContain("no credentials");
  });

  it("answers the last verdict when an evaluation runs late, and 503 once N evaluations in a row ran late", async () => {
    let starve = false;
    let blocked = false;
    const store = memoryStore();
    const { check } = makeCheck(factorsWith("analytics", "healthy"), {
      policy: policy({ failuresBeforeUnhealthy: 2 }),
      // The state write is still on its way when the starved event loop comes back.
      store: {
        get: store.get,
        put: async (next, expected, signal) => {
          await new Promise((r) => setTimeout(r, 100));
          return store.put(next, expected, signal);
        },
      },
      // A starved CPU: the event loop is blocked past the deadline while the probes are signed.
      sign: async (request) => {
        if (starve && !blocked) {
          blocked = true;
          const until = performance.now() + DEADLINE_MS + 100;
          while (performance.now() < until);
        }
        return request;
      },
    });
    const first = await check.handle({ method: "GET", path: `/${SECRET}` });
    expect(first.statusCode).toBe(200);
    starve = true;
    blocked = false;
    const late = await check.handle({ method: "GET", path: `/${SECRET}` });
    expect(late.statusCode).toBe(200);
    expect(JSON.parse(late.body).reason).toBe("evaluation late (1/2): last verdict");
    blocked = false;
    const lateAgain = await check.handle({ method: "GET", path: `/${SECRET}` });
    expect(lateAgain.statusCode).toBe(503);
    expect(JSON.parse(lateAgain.body).reason).toBe(`no verdict within ${DEADLINE_MS} ms`);
    starve = false;
    expect((await check.handle({ method: "GET", path: `/${SECRET}` })).statusCode).toBe(200);
  });

  it("re-uses a round already evaluated by another checker instead of probing again", async () => {
    const healthy = serverFor.get("healthy")!;
    const { check, store } = makeCheck(factorsWith("analytics", "healthy"), { roundMs: 60_000 });
    await check.evaluate();
    const afterFirst = healthy.requests.length;
    const second = await check.handle({ method: "GET", path: `/${SECRET}` });
    expect(second.statusCode).toBe(200);
    expect(healthy.requests.length).toBe(afterFirst);
    expect(store.writes).toBe(1);
  });
});

describe("the health-check endpoint tells bad callers nothing", () => {
  let endpoint: LoopbackServer;
  beforeAll(async () => {
    endpoint = await serve(makeCheck(factorsWith("analytics", "healthy")).check);
  });

  const bad: Array<[string, string, string, number]> = [
    ["no secret", "GET", "/", 404],
    ["a wrong secret", "GET", "/not-the-secret", 404],
    ["the secret with a different case", "GET", `/${SECRET.toUpperCase()}`, 404],
    ["the secret plus extra segments", "GET", `/${SECRET}/extra`, 404],
    ["garbage bytes in the path", "GET", "/%00%ff%fe..%2f..%2fetc", 404],
    ["a very long path", "GET", `/${"x".repeat(4000)}`, 404],
    ["the right secret with POST", "POST", `/${SECRET}`, 405],
    ["the right secret with DELETE", "DELETE", `/${SECRET}`, 405],
  ];
  for (const [what, method, path, status] of bad) {
    it(`answers ${status} with an empty body to ${what}`, async () => {
      const answer = await timedGet(`${endpoint.url}${path}`, method);
      expect(answer.status).toBe(status);
      expect(answer.body).toBe("");
    });
  }

  it("answers a HEAD with the secret with the verdict's status and no body", async () => {
    const answer = await timedGet(`${endpoint.url}/${SECRET}`, "HEAD");
    expect(answer.status).toBe(200);
    expect(answer.body).toBe("");
  });

  it("never throws on a malformed request object", async () => {
    const { check } = makeCheck(factorsWith("analytics", "healthy"));
    const response = await check.handle({ method: "GET", path: undefined as unknown as string });
    expect(response.statusCode).toBe(404);
    expect(response.body).toBe("");
  });

  it("refuses a secret digest that is not a SHA-256 hex string", () => {
    expect(() => createSecretMatcher(crypto, "plain-secret")).toThrow(/64 lowercase hex/);
  });
});

describe("the health-check function refuses a configuration it cannot honour", () => {
  const base = () => factorsWith("analytics", "healthy");
  it("refuses no factors", () => {
    expect(() => makeCheck([])).toThrow(/no factors/);
  });
  it("refuses a critical factor that is not configured", () => {
    expect(() =>
      makeCheck(base(), { policy: policy({ criticalFactors: ["iotBroker", "billing"] }) }),
    ).toThrow(/critical factor 'billing' is not a configured factor/);
  });
  it("refuses a deadline Route 53 would not wait for", () => {
    expect(() => makeCheck(base(), { deadlineMs: 2500 })).toThrow(/300-2000 ms/);
  });
  it("refuses repeated factor names", () => {
    expect(() => makeCheck([...base(), { name: "analytics", url: urlOf("healthy") }])).toThrow(/repeat/);
  });
});

describe("alarm mode evaluates on a schedule", () => {
  it("runs one round per interval over the invocation and emits a metric each round", async () => {
    const { check, emitted } = makeCheck(factorsWith("analytics", "healthy"));
    let now = 0;
    const decisions = await runRounds(check, {
      durationMs: 55_000,
      intervalMs: 10_000,
      clock: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    expect(decisions).toHaveLength(6);
    expect(emitted).toHaveLength(6);
    expect(decisions.every((d) => d.healthy)).toBe(true);
  });
});

// Keeps node:http referenced for readers: the factor servers above are real HTTP servers.
void http;
