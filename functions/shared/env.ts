/**
 * Reading a deployed function's environment, for every `*FromEnv(env, modules)` adapter: each
 * helper names the variable that is missing or wrong and what it should hold.
 */
export type Env = Record<string, string | undefined>;

export function required(env: Env, name: string, hint: string): string {
  const value = env[name];
  if (value === undefined || value === "")
    throw new Error(`environment variable ${name} is not set: ${hint}`);
  return value;
}

export function json<T>(env: Env, name: string, hint: string): T {
  const text = required(env, name, hint);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`environment variable ${name} is not valid JSON: ${hint}`);
  }
}

/** JSON when set, `fallback` when unset or empty. */
export function optionalJson<T>(env: Env, name: string, hint: string, fallback: T): T {
  const text = env[name];
  return text === undefined || text === "" ? fallback : json<T>(env, name, hint);
}

export function integer(env: Env, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`environment variable ${name} must be a positive whole number, got '${text}'`);
  return n;
}

/** A number in [min, max] (e.g. a share of a quota), or `fallback` when unset. */
export function numberIn(env: Env, name: string, min: number, max: number, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`environment variable ${name} must be a number from ${min} to ${max}, got '${text}'`);
  return n;
}

/** `true` only for the text "true"; anything else but unset/"false" is refused. */
export function flag(env: Env, name: string): boolean {
  const text = env[name];
  if (text === undefined || text === "" || text === "false") return false;
  if (text === "true") return true;
  throw new Error(`environment variable ${name} must be true or false, got '${text}'`);
}

/** The SDK's standard endpoint override for a service (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`), if any. */
export function endpointOverride(env: Env, service: string): string | undefined {
  return env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`] ?? env.AWS_ENDPOINT_URL;
}

/** The override (loopback emulators), else `https://<service>.<region>.amazonaws.com`. */
export function serviceEndpoint(env: Env, service: string, region: string): string {
  return endpointOverride(env, service) ?? `https://${service}.${region}.amazonaws.com`;
}
