/**
 * The health path of the local drill, built from the deployed cores in functions/health: per
 * region, one loopback HTTP health API (createHealthApi) answering for the four factors (the IoT
 * broker canary against that region's broker, and one checkpoint each for application services,
 * C&C and analytics, which the drill can make fail), and the region's health-check function
 * (createHealthCheck: parallel probes over HTTP, hysteresis, readiness gate, override). Route 53's
 * requests to it are made in-process by the Route53Emulator.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as mqtt from "mqtt";
import { createHealthCheck, type HealthCheck, type StoredRound } from "../functions/health/aggregator.js";
import { canaryCheckpoint, createCanary } from "../functions/health/canary.js";
import { createHealthApi, type Checkpoint } from "../functions/health/checkpoints.js";
import { createNodeTransport, silentLogger } from "../functions/health/http.js";
import type { FactorResult, OverrideMode, PolicyConfig, Readiness } from "../functions/health/policy.js";

export const FACTORS = ["iotBroker", "applicationServices", "commandControl", "analytics"] as const;
export type FactorName = (typeof FACTORS)[number];
const PATH_SECRET = "drill-route53";

export interface RegionHealthOptions {
  region: string;
  brokerUrl: string;
  policy: PolicyConfig;
  deadlineMs: number;
  roundMs: number;
  /** Called with each evaluated round's factor results and verdict. */
  onRound?: (region: string, factors: readonly FactorResult[], healthy: boolean, reason: string) => void;
}

export interface RegionHealth {
  readonly region: string;
  readonly url: string;
  readonly check: HealthCheck;
  /** Factors whose checkpoint the drill makes fail. */
  readonly failing: Set<FactorName>;
  override: OverrideMode;
  readiness: Readiness | undefined;
  /** What Route 53 gets: true on HTTP 200. */
  routeCheck(): Promise<boolean>;
  stop(): Promise<void>;
}

function memoryStore(): {
  get(): Promise<StoredRound | undefined>;
  put(next: StoredRound, expected: number | undefined): Promise<boolean>;
} {
  let value: StoredRound | undefined;
  return {
    get: async () => value,
    put: async (next, expected) => {
      if (value?.state.round !== expected) return false;
      value = next;
      return true;
    },
  };
}

export async function startRegionHealth(options: RegionHealthOptions): Promise<RegionHealth> {
  const failing = new Set<FactorName>();
  const dependency = (factor: FactorName): Checkpoint => ({
    name: `${factor}-dependency`,
    factor,
    timeoutMs: 500,
    critical: true,
    run: async () => {
      if (failing.has(factor)) throw new Error(`${factor} made unhealthy by the drill`);
    },
  });
  const canaryOptions = {
    brokerUrl: options.brokerUrl,
    clientId: `iot-dr-canary-${options.region}`,
    getIdentity: async () => null,
    timeoutMs: Math.max(300, options.deadlineMs - 300),
  };
  // One canary for the region, as one warm Lambda container keeps one: its connection is kept
  // across rounds and closed when the drill stops.
  const canary = createCanary(mqtt, canaryOptions);
  const checkpoints: Checkpoint[] = [
    canaryCheckpoint(mqtt, canaryOptions, canary),
    dependency("applicationServices"),
    dependency("commandControl"),
    dependency("analytics"),
  ];
  const api = createHealthApi({ checkpoints, factors: [...FACTORS], clock: Date.now, logger: silentLogger });
  const server = http.createServer((req, res) => {
    void api({ method: req.method ?? "", path: (req.url ?? "/").split("?")[0]! }).then((answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const state: { override: OverrideMode; readiness: Readiness | undefined } = {
    override: "automatic",
    readiness: { lagMs: 0, drift: 0 },
  };
  const check = createHealthCheck({
    region: options.region,
    factors: FACTORS.map((name) => ({ name, url: `${url}/${name}` })),
    policy: options.policy,
    transport: createNodeTransport({ http, https }),
    sign: async (request) => request,
    clock: Date.now,
    logger: silentLogger,
    store: memoryStore(),
    getOverride: async () => state.override,
    getReadiness: async () => state.readiness,
    emit: (round) =>
      options.onRound?.(options.region, round.factors, round.decision.healthy, round.decision.reason),
    secretMatches: (segment) => segment === PATH_SECRET,
    deadlineMs: options.deadlineMs,
    roundMs: options.roundMs,
  });
  return {
    region: options.region,
    url,
    check,
    failing,
    get override() {
      return state.override;
    },
    set override(mode: OverrideMode) {
      state.override = mode;
    },
    get readiness() {
      return state.readiness;
    },
    set readiness(value: Readiness | undefined) {
      state.readiness = value;
    },
    async routeCheck() {
      const answer = await check.handle({ method: "GET", path: `/${PATH_SECRET}` });
      return answer.statusCode === 200;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        canary.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
