/**
 * The HTTP vocabulary of the health path: a transport that every probe uses (injected, so tests
 * and the bench run against loopback servers), deadlines that cannot be missed, and the plain
 * request/response shapes the function-URL adapters translate from and to.
 */
import type * as NodeHttp from "node:http";
import type * as NodeHttps from "node:https";

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Aborts the request: the socket is destroyed and the promise rejects. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends one request; rejects on connection errors and when `signal` aborts. */
export type HttpTransport = (request: HttpRequest) => Promise<HttpResponse>;

export type { Logger } from "../shared/observability.js";
export { silentLogger } from "../shared/observability.js";

/** Raised when a step did not finish inside its budget. */
export interface DeadlineExceeded extends Error {
  name: "DeadlineExceeded";
  what: string;
  budgetMs: number;
}

/**
 * A named plain Error, not a subclass: Pulumi's closure serializer does not keep `class X extends
 * Error` intact in deployed functions (functions/replication/errors.ts).
 */
export function deadlineExceeded(what: string, budgetMs: number): DeadlineExceeded {
  return Object.assign(new Error(`${what} did not finish within ${budgetMs} ms`), {
    name: "DeadlineExceeded" as const,
    what,
    budgetMs,
  });
}

export function isDeadlineExceeded(err: unknown): err is DeadlineExceeded {
  return err instanceof Error && err.name === "DeadlineExceeded";
}

/**
 * Runs `work` with an abort signal and settles no later than `budgetMs`: on time-out the signal
 * aborts (so sockets close) and the promise rejects with DeadlineExceeded, whatever `work` does.
 */
export function withDeadline<T>(
  what: string,
  budgetMs: number,
  work: (signal: AbortSignal) => Promise<T>,
  parent?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  const onParentAbort = () => controller.abort(parent?.reason);
  if (parent) {
    if (parent.aborted) controller.abort(parent.reason);
    else parent.addEventListener("abort", onParentAbort, { once: true });
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => {
        const error = deadlineExceeded(what, budgetMs);
        controller.abort(error);
        reject(error);
      },
      Math.max(0, budgetMs),
    );
    const settle = () => {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onParentAbort);
    };
    if (controller.signal.aborted) {
      settle();
      reject(controller.signal.reason ?? deadlineExceeded(what, budgetMs));
      return;
    }
    controller.signal.addEventListener(
      "abort",
      () => {
        settle();
        reject(controller.signal.reason ?? deadlineExceeded(what, budgetMs));
      },
      { once: true },
    );
    let started: Promise<T>;
    try {
      started = work(controller.signal);
    } catch (err) {
      started = Promise.reject(err);
    }
    started.then(
      (value) => {
        settle();
        resolve(value);
      },
      (err: unknown) => {
        settle();
        reject(err);
      },
    );
  });
}

/** A short, detail-free reason for a failure, safe to put in a health body or a log. */
export function describeError(err: unknown): string {
  if (isDeadlineExceeded(err)) return `timeout after ${err.budgetMs} ms`;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? `${err.name}: ${code}` : `${err.name}: ${err.message}`.slice(0, 200);
  }
  return String(err).slice(0, 200);
}

/** Bodies above this size are cut off: a health answer is small, anything larger is garbage. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The transport over node:http / node:https. The modules are passed in because deployed
 * closures must not capture top-level imports (DESIGN.md §8).
 */
export function createNodeTransport(modules: {
  http: typeof NodeHttp;
  https: typeof NodeHttps;
}): HttpTransport {
  return (request) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const url = new URL(request.url);
      const client = url.protocol === "https:" ? modules.https : modules.http;
      if (request.signal?.aborted) {
        reject(request.signal.reason ?? new Error("aborted"));
        return;
      }
      const req = client.request(
        url,
        { method: request.method, headers: request.headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size <= MAX_BODY_BYTES) chunks.push(chunk);
          });
          res.on("end", () => {
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (typeof value === "string") headers[name] = value;
              else if (Array.isArray(value)) headers[name] = value.join(", ");
            }
            resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString("utf8") });
          });
          res.on("error", reject);
        },
      );
      const onAbort = () =>
        req.destroy(request.signal?.reason instanceof Error ? request.signal.reason : undefined);
      request.signal?.addEventListener("abort", onAbort, { once: true });
      req.on("close", () => request.signal?.removeEventListener("abort", onAbort));
      req.on("error", reject);
      if (request.body !== undefined) req.write(request.body);
      req.end();
    });
}
