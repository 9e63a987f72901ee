/**
 * The harness of `iot-dr bench health` (cli/commands/bench-health.ts): how fast the health-check function answers, on this machine. Four
 * factor health APIs run as loopback HTTP servers; in the main scenario one of them hangs. The
 * real aggregator (functions/health/aggregator.ts) answers Route 53-style requests over HTTP,
 * `--concurrency` at a time (Route 53's checkers are not coordinated). The answer must come within
 * the deadline + 50 ms; exit 1 when the p99 does not.
 */
import * as crypto from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { createHealthCheck, createSecretMatcher, type StoredRound } from "../functions/health/aggregator.js";
import { createNodeTransport, silentLogger } from "../functions/health/http.js";

export interface HealthBenchOptions {
  rounds: number;
  concurrency: number;
  deadlineMs: number;
}

export interface ScenarioResult {
  scenario: string;
  rounds: number;
  status: Record<string, number>;
  latencyMs: { p50: number; p99: number; max: number; mean: number };
}

export interface HealthBenchResult {
  date: string;
  node: string;
  cpus: number;
  loadAverage: number;
  deadlineMs: number;
  boundMs: number;
  concurrency: number;
  scenarios: ScenarioResult[];
  /** The p99 of every scenario is within deadline + 50 ms. */
  withinBound: boolean;
}

const FACTORS = ["iotBroker", "applicationServices", "commandControl", "analytics"];
const SECRET = "bench-secret-path-segment-0123456789";

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
const r1 = (n: number) => Math.round(n * 10) / 10;

async function scenario(
  name: string,
  hanging: string | null,
  options: HealthBenchOptions,
): Promise<ScenarioResult> {
  const servers: http.Server[] = [];
  const factors = [];
  for (const factor of FACTORS) {
    const server = http.createServer((_req, res) => {
      if (factor === hanging) return; // accepts and never answers
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"healthy":true,"checkpoints":[]}');
    });
    servers.push(server);
    factors.push({ name: factor, url: `${await listen(server)}/${factor}` });
  }
  let stored: StoredRound | undefined;
  const check = createHealthCheck({
    region: "bench-1",
    factors,
    policy: {
      criticalFactors: FACTORS.filter((f) => f !== "analytics"),
      failuresBeforeUnhealthy: 1,
      successesBeforeHealthy: 1,
      readinessGate: true,
      maxLagMs: 60_000,
      maxDrift: 0,
      missingReadinessData: "ready",
    },
    transport: createNodeTransport({ http, https }),
    sign: async (request) => request,
    clock: () => Date.now(),
    logger: silentLogger,
    store: {
      get: async () => stored,
      put: async (next, expected) => {
        if (stored?.state.round !== expected) return false;
        stored = next;
        return true;
      },
    },
    getOverride: async () => "automatic",
    getReadiness: async () => ({ lagMs: 500, drift: 0 }),
    emit: () => undefined,
    secretMatches: createSecretMatcher(crypto, crypto.createHash("sha256").update(SECRET).digest("hex")),
    deadlineMs: options.deadlineMs,
    // Every request is its own round here: the bench measures probing, not the round cache.
    roundMs: 1,
  });
  const endpoint = http.createServer((req, res) => {
    void check.handle({ method: req.method ?? "", path: req.url ?? "" }).then((answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      res.end(answer.body);
    });
  });
  const base = await listen(endpoint);
  const transport = createNodeTransport({ http, https });
  const latencies: number[] = [];
  const status: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < options.rounds) {
      next++;
      const started = performance.now();
      const response = await transport({ method: "GET", url: `${base}/${SECRET}` });
      latencies.push(performance.now() - started);
      status[response.status] = (status[response.status] ?? 0) + 1;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.concurrency, options.rounds) }, worker));
  } finally {
    await close(endpoint);
    await Promise.all(servers.map(close));
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    scenario: name,
    rounds: latencies.length,
    status,
    latencyMs: {
      p50: r1(quantile(sorted, 0.5)),
      p99: r1(quantile(sorted, 0.99)),
      max: r1(sorted[sorted.length - 1] ?? 0),
      mean: r1(latencies.reduce((s, x) => s + x, 0) / Math.max(1, latencies.length)),
    },
  };
}

export async function runHealthBench(options: HealthBenchOptions): Promise<HealthBenchResult> {
  const scenarios = [
    await scenario("all four factors healthy", null, options),
    await scenario("one critical factor hanging (commandControl)", "commandControl", options),
    await scenario("the non-critical factor hanging (analytics)", "analytics", options),
  ];
  const boundMs = options.deadlineMs + 50;
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    loadAverage: r1(os.loadavg()[0]!),
    deadlineMs: options.deadlineMs,
    boundMs,
    concurrency: options.concurrency,
    scenarios,
    withinBound: scenarios.every((s) => s.latencyMs.p99 <= boundMs),
  };
}
