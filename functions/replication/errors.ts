/**
 * Errors of the replication path. The state machine matches them by `name` (ErrorEquals), so the
 * names are part of the contract with infra/: `Throttled` and `DependencyNotReady` are retried,
 * `InvalidRecord` never is (it goes straight to the dead-letter queue).
 */

/** The IoT API kept throttling after the pacer's own bounded retries; retry the whole record later. */
export class Throttled extends Error {
  override name = "Throttled" as const;
  constructor(
    message: string,
    readonly api?: string,
  ) {
    super(message);
  }
}

/** Something the record needs in the target region (type, group, parent, policy, certificate, thing) is not there yet. */
export class DependencyNotReady extends Error {
  override name = "DependencyNotReady" as const;
  constructor(
    message: string,
    readonly dependency?: string,
  ) {
    super(message);
  }
}

/** The input cannot be a registry record or registry event; retrying cannot help. */
export class InvalidRecord extends Error {
  override name = "InvalidRecord" as const;
}

/** True for the errors an IoT API (or moto) raises when a caller exceeds its rate. */
export function isThrottlingError(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === "ThrottlingException" || name === "TooManyRequestsException";
}

/** One line for logs and dead letters: `Name: message`. */
export function describeError(err: unknown): { name: string; message: string } {
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: "Error", message: String(err) };
}
