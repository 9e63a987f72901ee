/**
 * Errors of the replication path. The state machine matches them by `name` (ErrorEquals), so the
 * names are part of the contract with infra/: `Throttled` and `DependencyNotReady` are retried,
 * `InvalidRecord` never is (it goes straight to the dead-letter queue).
 */

// These are plain Errors with a `name`, built by constructible functions rather than classes:
// Pulumi's closure serializer rewrites `class X extends Error` so that name and message are lost
// in the deployed Lambda, and the state machine's Retry/Catch would no longer match them.

/** The IoT API kept throttling after the pacer's own bounded retries; retry the whole record later. */
export type Throttled = Error & { name: "Throttled"; api?: string };
export const Throttled = function Throttled(message: string, api?: string): Throttled {
  return Object.assign(new Error(message), { name: "Throttled" as const, api });
} as unknown as {
  new (message: string, api?: string): Throttled;
  (message: string, api?: string): Throttled;
};

/**
 * The record cannot apply yet. `waitsFor` says why: "creation" (default) when something it needs
 * in the target region (type, group, parent, policy, certificate, thing) is not there yet,
 * "removal" when something still there must go first (a child group, a type's 5-minute wait),
 * "capture" when the resource holds a local change this region's capture has not recorded yet.
 */
export type DependencyNotReady = Error & {
  name: "DependencyNotReady";
  dependency?: string;
  waitsFor: "creation" | "removal" | "capture";
};
export const DependencyNotReady = function DependencyNotReady(
  message: string,
  dependency?: string,
  waitsFor: "creation" | "removal" | "capture" = "creation",
): DependencyNotReady {
  return Object.assign(new Error(message), { name: "DependencyNotReady" as const, dependency, waitsFor });
} as unknown as {
  new (
    message: string,
    dependency?: string,
    waitsFor?: "creation" | "removal" | "capture",
  ): DependencyNotReady;
  (message: string, dependency?: string, waitsFor?: "creation" | "removal" | "capture"): DependencyNotReady;
};

/** The input cannot be a registry record or registry event; retrying cannot help. */
export type InvalidRecord = Error & { name: "InvalidRecord" };
export const InvalidRecord = function InvalidRecord(message: string): InvalidRecord {
  return Object.assign(new Error(message), { name: "InvalidRecord" as const });
} as unknown as { new (message: string): InvalidRecord; (message: string): InvalidRecord };

/** True for the errors the state machine matches by name. */
export function isReplicationError(err: unknown): err is Throttled | DependencyNotReady | InvalidRecord {
  const name = (err as { name?: unknown } | null)?.name;
  return name === "Throttled" || name === "DependencyNotReady" || name === "InvalidRecord";
}

/** True for the errors an IoT API (or moto) raises when a caller exceeds its rate. */
export function isThrottlingError(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === "ThrottlingException" || name === "TooManyRequestsException";
}

/**
 * True for a failure a later attempt may not meet: the attempt's deadline (`TimeoutError`), a
 * dropped connection, or a 5xx from the service. The SDK's standard retry strategy retries the
 * same ones; paced calls make one SDK attempt, so the pacer retries them instead.
 */
export function isTransientError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } } | null;
  if (!e) return false;
  if (e.name === "TimeoutError" || e.name === "RequestTimeout" || e.name === "RequestTimeoutException")
    return true;
  if (e.code !== undefined && ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"].includes(e.code))
    return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && [500, 502, 503, 504].includes(status);
}

/** One line for logs and dead letters: `Name: message`. */
export function describeError(err: unknown): { name: string; message: string } {
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: "Error", message: String(err) };
}

/** Longest error message a replay Task hands to Step Functions (the execution's state is capped at 256 KB). */
export const MAX_TASK_ERROR_MESSAGE_CHARS = 800;

/**
 * The error to throw out of a Lambda Task: same name (the state machine matches it), message cut to
 * `maxChars`, stack reduced to the name. Lambda's error cause carries message and stack trace into
 * the execution's state, where every dead-lettered or retried record's outcome keeps it.
 */
export function boundedTaskError(err: unknown, maxChars = MAX_TASK_ERROR_MESSAGE_CHARS): Error {
  const { name, message } = describeError(err);
  const cut =
    message.length <= maxChars
      ? message
      : `${message.slice(0, maxChars)}… (${message.length - maxChars} more characters in the function's log)`;
  const bounded = Object.assign(new Error(cut), err !== null && typeof err === "object" ? err : {}, {
    name,
    message: cut,
  });
  bounded.stack = name;
  return bounded;
}
