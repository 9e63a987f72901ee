/**
 * The checkpoint framework of every account's health API: each checkpoint has a name, a time
 * budget and a criticality; the API runs them in parallel and answers 200 when every critical
 * checkpoint passed, 503 otherwise, with a JSON body listing each result and its latency.
 */
import { describeError, withDeadline, type Logger } from "./http.js";
import type { Now } from "../shared/clock.js";

export interface Checkpoint {
  name: string;
  /** The factor the checkpoint belongs to (`iotBroker`, `applications` ...); selects it by path. */
  factor: string;
  timeoutMs: number;
  /** A failed critical checkpoint makes the API answer 503; a non-critical one is only reported. */
  critical: boolean;
  /** Resolves when the dependency works; rejects (or is aborted through `signal`) when it does not. */
  run(signal: AbortSignal): Promise<void>;
}

export interface CheckpointResult {
  name: string;
  factor: string;
  critical: boolean;
  ok: boolean;
  latencyMs: number;
  /** Why it failed (error class and code, never a payload). */
  error?: string;
}

export interface HealthReport {
  healthy: boolean;
  checkpoints: CheckpointResult[];
}

/** Runs the checkpoints in parallel, each under its own deadline; never rejects. */
export async function runCheckpoints(checkpoints: readonly Checkpoint[], clock: Now): Promise<HealthReport> {
  const results = await Promise.all(
    checkpoints.map(async (checkpoint): Promise<CheckpointResult> => {
      const started = clock();
      const base = { name: checkpoint.name, factor: checkpoint.factor, critical: checkpoint.critical };
      try {
        await withDeadline(`checkpoint ${checkpoint.name}`, checkpoint.timeoutMs, (signal) =>
          checkpoint.run(signal),
        );
        return { ...base, ok: true, latencyMs: clock() - started };
      } catch (err) {
        return { ...base, ok: false, latencyMs: clock() - started, error: describeError(err) };
      }
    }),
  );
  return { healthy: results.every((r) => r.ok || !r.critical), checkpoints: results };
}

/** What a health API answers: the function-URL adapter copies it into the Lambda response. */
export interface ApiResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

/** A 4xx that says nothing about the service: bad callers learn nothing. */
export function bareStatus(statusCode: number): ApiResponse {
  return { statusCode, headers: { "cache-control": "no-store" }, body: "" };
}

export interface HealthApiRequest {
  method: string;
  /** The raw path, e.g. `/` (every checkpoint) or `/iotBroker` (one factor's checkpoints). */
  path: string;
}

/**
 * The health API handler: GET (or HEAD) `/` runs every checkpoint, GET `/<factor>` runs that
 * factor's checkpoints; any other method or path gets a bare 4xx. Never rejects.
 */
export function createHealthApi(deps: {
  checkpoints: readonly Checkpoint[];
  /** Factors this API answers for even without checkpoints of their own (an empty factor is healthy). */
  factors?: readonly string[];
  clock: Now;
  logger: Logger;
}): (request: HealthApiRequest) => Promise<ApiResponse> {
  const factors = new Set([...(deps.factors ?? []), ...deps.checkpoints.map((c) => c.factor)]);
  return async (request) => {
    try {
      if (request.method !== "GET" && request.method !== "HEAD") return bareStatus(405);
      const segments = request.path.split("/").filter((s) => s.length > 0);
      if (segments.length > 1) return bareStatus(404);
      const factor = segments[0];
      if (factor !== undefined && !factors.has(factor)) return bareStatus(404);
      const selected =
        factor === undefined ? deps.checkpoints : deps.checkpoints.filter((c) => c.factor === factor);
      const report = await runCheckpoints(selected, deps.clock);
      deps.logger.info("health report", { healthy: report.healthy, checkpoints: report.checkpoints });
      return {
        statusCode: report.healthy ? 200 : 503,
        headers: JSON_HEADERS,
        body: request.method === "HEAD" ? "" : JSON.stringify(report),
      };
    } catch (err) {
      deps.logger.error("health API failed", { error: describeError(err) });
      return bareStatus(500);
    }
  };
}
