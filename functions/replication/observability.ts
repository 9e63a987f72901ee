/**
 * The names capture and replay publish their metrics under. The logger and metrics interfaces are
 * functions/shared/observability.ts's.
 */
import type { Env } from "../shared/env.js";
import type { Logger } from "../shared/observability.js";

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

/**
 * How much capture, replay and the launcher log (config `replicationLogLevel`, environment
 * REPLICATION_LOG_LEVEL). WARN, the default, keeps errors, warnings and the lag metric (EMF, written
 * by Powertools Metrics, not the logger) and drops the per-record INFO lines: CloudWatch Logs bills
 * every ingested byte, and the ops table already holds every record with its version. INFO brings
 * the per-record trail back.
 */
export const REPLICATION_LOG_LEVELS = ["INFO", "WARN"] as const;
export type ReplicationLogLevel = (typeof REPLICATION_LOG_LEVELS)[number];
export const DEFAULT_REPLICATION_LOG_LEVEL: ReplicationLogLevel = "WARN";

/**
 * `logger` without its info lines at WARN. Filtered here, not by Lambda's application log level:
 * Lambda takes a line without a `level` key (the EMF metric document) as INFO and would drop the
 * lag metric with the per-record lines.
 */
export function atReplicationLogLevel(logger: Logger, level: ReplicationLogLevel): Logger {
  if (level === "INFO") return logger;
  return {
    info() {},
    warn: (message, ...extra) => logger.warn(message, ...extra),
    error: (message, ...extra) => logger.error(message, ...extra),
  };
}

/** REPLICATION_LOG_LEVEL of a replication function's environment; unset means the default. */
export function replicationLogLevelFromEnv(env: Env): ReplicationLogLevel {
  const text = env.REPLICATION_LOG_LEVEL;
  if (text === undefined || text === "") return DEFAULT_REPLICATION_LOG_LEVEL;
  if (!(REPLICATION_LOG_LEVELS as readonly string[]).includes(text))
    throw new Error(
      `environment variable REPLICATION_LOG_LEVEL must be one of ${REPLICATION_LOG_LEVELS.join(", ")}, got '${text}'`,
    );
  return text as ReplicationLogLevel;
}
