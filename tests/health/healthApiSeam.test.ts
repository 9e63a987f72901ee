/**
 * The seam between an account's health API (functions/health/checkpoints.ts, as the function URL
 * answers it) and the health-check function that probes it (functions/health/aggregator.ts): real
 * producer over real HTTP into the real consumer, one type (HealthReport) on both sides.
 */
import * as crypto from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createHealthCheck, createSecretMatcher } from "../../functions/health/aggregator.js";
import { createHealthApi, type Checkpoint } from "../../functions/health/checkpoints.js";
import { silentLogger } from "../../functions/health/http.js";
import { memoryStore, policy, startServer, transport, type LoopbackServer } from "./support.js";

const SECRET = "a-route53-path-secret-of-32-chars";
const servers: LoopbackServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe("a health API's answer, read by the health-check function", () => {
  it("turns a failing critical checkpoint into a 503 naming the factor, and a failing non-critical one into nothing", async () => {
    const state = { dbUp: true, cacheUp: false };
    /** An application-services checkpoint that fails with `error` while `up()` is false. */
    const checkpoint = (name: string, critical: boolean, up: () => boolean, error: string): Checkpoint => ({
      name,
      factor: "applicationServices",
      critical,
      timeoutMs: 200,
      run: async () => {
        if (!up()) throw new Error(error);
      },
    });
    const checkpoints = [
      checkpoint("table", true, () => state.dbUp, "ResourceNotFoundException"),
      checkpoint("cache", false, () => state.cacheUp, "timeout"),
    ];
    const api = createHealthApi({ checkpoints, clock: () => Date.now(), logger: silentLogger });
    // As the health API's function URL adapter serves it: status, headers and body of ApiResponse.
    const server = await startServer((req, res) => {
      void api({ method: req.method ?? "", path: new URL(req.url ?? "/", "http://x").pathname }).then((r) => {
        res.writeHead(r.statusCode, r.headers);
        res.end(r.body);
      });
    });
    servers.push(server);
    const check = createHealthCheck({
      region: "eu-west-1",
      factors: [{ name: "applicationServices", url: `${server.url}/applicationServices` }],
      policy: policy({ criticalFactors: ["applicationServices"] }),
      transport,
      sign: async (request) => request,
      clock: () => Date.now(),
      logger: silentLogger,
      store: memoryStore(),
      getOverride: async () => "automatic",
      getReadiness: async () => ({ lagMs: 0, drift: 0 }),
      emit: () => undefined,
      secretMatches: createSecretMatcher(crypto, crypto.createHash("sha256").update(SECRET).digest("hex")),
      roundMs: 1,
    });

    const healthy = await check.evaluate();
    expect(healthy.decision).toMatchObject({ healthy: true, roundHealthy: true });

    state.dbUp = false;
    await new Promise((r) => setTimeout(r, 2)); // a new round (roundMs 1)
    const failing = await check.evaluate();
    expect(failing.decision).toMatchObject({ healthy: false, roundHealthy: false });
    expect(failing.decision.reason).toMatch(/critical factors failing: applicationServices/);
    const body = JSON.parse(failing.body) as {
      factors: Array<{ name: string; ok: boolean; status?: number }>;
    };
    expect(body.factors).toEqual([
      expect.objectContaining({ name: "applicationServices", ok: false, status: 503 }),
    ]);
  });
});
