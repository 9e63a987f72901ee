/**
 * What an emulator observing an IoTClient hands out: what it recorded so far, what is new since
 * the last look, and a way to stop observing (the middleware it added under `name` is removed).
 */
import type { IoTClient } from "@aws-sdk/client-iot";

export interface Observed<T> {
  /** Returns what was recorded since the last call. */
  take(): T[];
  /** Stops observing the client. */
  detach(): void;
}

/** take() and detach() over `recorded`, which the middleware named `name` on `client` appends to. */
export function observed<T>(client: IoTClient, name: string, recorded: T[]): Observed<T> {
  let taken = 0;
  return {
    take() {
      const out = recorded.slice(taken);
      taken = recorded.length;
      return out;
    },
    detach() {
      client.middlewareStack.remove(name);
    },
  };
}
