/**
 * Fault injection for replay tests: a port whose calls fail with ThrottlingException (or a
 * transient 5xx) at a given rate, decided by a seeded random source so failures are reproducible.
 */
import { PORT_API, type IotRegistryPort } from "../../../functions/registry/iotPort.js";

export interface FaultCounts {
  throttled: number;
  transient: number;
  calls: number;
}

/** Wraps a port: before the real call, throws ThrottlingException with `throttleRate`, InternalFailure with `transientRate`. */
export function flakyPort(
  port: IotRegistryPort,
  random: () => number,
  rates: { throttleRate: number; transientRate?: number },
): { port: IotRegistryPort; counts: FaultCounts } {
  const counts: FaultCounts = { throttled: 0, transient: 0, calls: 0 };
  const out: Record<string, unknown> = {};
  for (const method of Object.keys(PORT_API) as (keyof IotRegistryPort)[]) {
    const fn = port[method] as (...args: unknown[]) => Promise<unknown>;
    out[method] = async (...args: unknown[]) => {
      counts.calls++;
      const r = random();
      if (r < rates.throttleRate) {
        counts.throttled++;
        throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
      }
      if (r < rates.throttleRate + (rates.transientRate ?? 0)) {
        counts.transient++;
        throw Object.assign(new Error("We encountered an internal error"), {
          name: "InternalFailureException",
        });
      }
      return fn.apply(port, args);
    };
  }
  return { port: out as unknown as IotRegistryPort, counts };
}

/** A clock whose sleeps return at once but advance its time, so backoff costs no wall time. */
export function instantClock(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number } {
  const c = {
    offset: 0,
    slept: 0,
    now: () => Date.now() + c.offset,
    sleep: async (ms: number) => {
      c.offset += ms;
      c.slept += ms;
    },
  };
  return c;
}
