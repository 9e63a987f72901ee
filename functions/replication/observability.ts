/**
 * The names capture and replay publish their metrics under. The logger and metrics interfaces are
 * functions/shared/observability.ts's.
 */

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
