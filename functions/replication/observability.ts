/**
 * What capture and replay need for logs and metrics, as narrow interfaces that Powertools Logger and
 * Metrics satisfy (infra/ passes those in Lambda); plus small stand-ins for the CLI and tests.
 */

/** Structured logger; Powertools `Logger` fits (message first, then objects merged into the JSON line). */
export interface Logger {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** Metrics sink; Powertools `Metrics` fits (`addMetric(name, unit, value)`, flushed as EMF by its middleware). */
export interface MetricsSink {
  addMetric(name: string, unit: "Milliseconds" | "Count", value: number): void;
}

export const METRICS_NAMESPACE = "iot-dr";
export const REPLICATION_LAG_METRIC = "ReplicationLagMs";
/**
 * Powertools service name of the replay function (infra/replayPipeline.ts): Powertools Metrics
 * publishes every metric, ReplicationLagMs included, with the one dimension `service` = this.
 */
export const REPLAY_SERVICE = "iot-dr-replay";
/** ReplicationLagMs as the fail-back gate (functions/health/aws.ts) and the dashboards read it. */
export const REPLICATION_LAG: {
  namespace: string;
  metricName: string;
  dimensions: Readonly<Record<string, string>>;
} = {
  namespace: METRICS_NAMESPACE,
  metricName: REPLICATION_LAG_METRIC,
  dimensions: { service: REPLAY_SERVICE },
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
export const noMetrics: MetricsSink = { addMetric() {} };

/** A logger writing one JSON document per line through `write` (e.g. to stderr in the CLI). */
export function jsonLogger(
  write: (line: string) => void,
  level: "debug" | "info" | "warn" | "error" = "info",
): Logger {
  const order = ["debug", "info", "warn", "error"];
  const at =
    (lvl: string) =>
    (message: string, ...extra: Record<string, unknown>[]) => {
      if (order.indexOf(lvl) < order.indexOf(level)) return;
      write(JSON.stringify(Object.assign({ level: lvl.toUpperCase(), message }, ...extra)));
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
