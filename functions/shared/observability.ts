/**
 * The one logger and metrics vocabulary of every deployed function: narrow interfaces the cores
 * write to, Powertools Logger and Metrics behind them in Lambda (the infra/ callbacks pass the
 * `require()`d modules in), and small stand-ins for the CLI and tests.
 */
import type * as PowertoolsLogger from "@aws-lambda-powertools/logger";

/** Structured logger: message first, then objects merged into the JSON line (Powertools `Logger`). */
export interface Logger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** Metrics sink; Powertools `Metrics` fits (`addMetric(name, unit, value)`). */
export interface MetricsSink {
  addMetric(name: string, unit: "Milliseconds" | "Count", value: number): void;
}

/** A sink that is flushed as one EMF document per invocation (Powertools `Metrics`). */
export type PublishingMetrics = MetricsSink & { publishStoredMetrics(): void };

export const silentLogger: Logger & { debug(): void } = { debug() {}, info() {}, warn() {}, error() {} };
export const noMetrics: MetricsSink = { addMetric() {} };

/** A logger writing one JSON document per line through `write` (e.g. to stderr in the CLI). */
export function jsonLogger(
  write: (line: string) => void,
  level: "debug" | "info" | "warn" | "error" = "info",
): Logger & { debug: Logger["info"] } {
  const order = ["debug", "info", "warn", "error"];
  const at =
    (lvl: string) =>
    (message: string, ...extra: Record<string, unknown>[]) => {
      if (order.indexOf(lvl) < order.indexOf(level)) return;
      write(JSON.stringify(Object.assign({ level: lvl.toUpperCase(), message }, ...extra)));
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Powertools Logger for one service (its JSON lines carry `service`). */
export function powertoolsLogger(powertools: typeof PowertoolsLogger, serviceName: string): Logger {
  // Powertools' Logger accepts the cores' calls; its typings ask for index-signature objects.
  return new powertools.Logger({ serviceName }) as unknown as Logger;
}
