/**
 * Test doubles for the health path: loopback HTTP servers that play a factor's health API, an
 * in-memory state store with the same compare-and-set as the DynamoDB one, and a policy config.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { StateStore, StoredRound } from "../../functions/health/aggregator.js";
import { createNodeTransport } from "../../functions/health/http.js";
import type { PolicyConfig } from "../../functions/health/policy.js";
import { closeHttpServer } from "../../peers/ports.js";

export const transport = createNodeTransport({ http, https });

export interface LoopbackServer {
  url: string;
  port: number;
  requests: http.IncomingMessage[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 and a free port; `close` also drops hanging connections. */
export async function startServer(handler: http.RequestListener): Promise<LoopbackServer> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => closeHttpServer(server),
  };
}

/** A loopback port with nothing listening on it (connections are refused). */
export async function refusedPort(): Promise<number> {
  const server = await startServer(() => undefined);
  await server.close();
  return server.port;
}

/** How a factor's health API behaves in a test. */
export type FactorBehaviour = "healthy" | "unhealthy-503" | "slow" | "hanging" | "invalid-json";

export function factorHandler(behaviour: FactorBehaviour, slowMs = 3000): http.RequestListener {
  return (_req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    switch (behaviour) {
      case "healthy":
        return json(200, { healthy: true, checkpoints: [] });
      case "unhealthy-503":
        return json(503, { healthy: false, checkpoints: [{ name: "db", ok: false }] });
      case "slow": {
        const timer = setTimeout(() => json(200, { healthy: true, checkpoints: [] }), slowMs);
        res.on("close", () => clearTimeout(timer));
        return;
      }
      case "hanging":
        return; // accepts the request and never answers
      case "invalid-json":
        res.writeHead(200, { "content-type": "application/json" });
        return res.end("{ this is not json");
    }
  };
}

/** The state store of the aggregator, in memory, with the DynamoDB store's compare-and-set. */
export function memoryStore(
  initial?: StoredRound,
): StateStore & { current(): StoredRound | undefined; writes: number } {
  let value = initial;
  const store = {
    writes: 0,
    current: () => value,
    get: async () => value,
    put: async (next: StoredRound, expectedRound: number | undefined) => {
      if (value?.state.round !== expectedRound) return false;
      value = next;
      store.writes++;
      return true;
    },
  };
  return store;
}

export function policy(overrides: Partial<PolicyConfig> = {}): PolicyConfig {
  return {
    criticalFactors: ["iotBroker", "applicationServices", "commandControl", "analytics"],
    failuresBeforeUnhealthy: 1,
    successesBeforeHealthy: 1,
    readinessGate: false,
    maxLagMs: 60_000,
    maxDrift: 0,
    missingReadinessData: "ready",
    ...overrides,
  };
}

/** Sends one request to a loopback URL and returns status, body and elapsed milliseconds. */
export async function timedGet(
  url: string,
  method = "GET",
): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  const response = await transport({ method, url });
  return { status: response.status, body: response.body, ms: performance.now() - started };
}
