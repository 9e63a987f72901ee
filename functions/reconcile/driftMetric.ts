/**
 * The readiness metrics the fail-back gate reads, defined once for their producers and their
 * reader: the reconciler's `DriftCount` (written as CloudWatch embedded metric format by
 * Powertools Metrics in functions/reconcile/metrics.ts, read by functions/health/aws.ts
 * `cloudWatchReadinessGetter`) and the replication launcher's `AWS/Lambda IteratorAge` (written by
 * Lambda for the launcher's stream mapping, read by the same gate). tests/health/driftMetricSeam.test.ts
 * turns the reconciler's real EMF output into datapoints as CloudWatch extracts them and reads them
 * with the gate's real query. Kept free of imports beyond constants: the health-check function's
 * serialized code carries it.
 */
import { METRICS_NAMESPACE } from "../replication/observability.js";

/** The reconciler's `service` dimension value (Powertools' serviceName). */
export const RECONCILER_SERVICE = "iot-dr-reconciler";

/**
 * Namespace and EMF dimension sets of every metric the reconciler publishes: each datapoint goes
 * out with `{ service }` and with no dimension, so a reader needs no dimensions.
 */
export const RECONCILER_METRICS: {
  namespace: string;
  dimensions: { service: string };
  dimensionSets: Array<Array<"service">>;
} = {
  namespace: METRICS_NAMESPACE,
  dimensions: { service: RECONCILER_SERVICE },
  dimensionSets: [["service"], []],
};

export const DRIFT_METRIC = "DriftCount";

/** A CloudWatch metric as GetMetricData names it. */
export interface MetricId {
  namespace: string;
  metricName: string;
  dimensions: Readonly<Record<string, string>>;
}

/** The DriftCount the gate reads: the reconciler's namespace, under its dimension-less set. */
export const DRIFT_COUNT: MetricId = {
  namespace: RECONCILER_METRICS.namespace,
  metricName: DRIFT_METRIC,
  dimensions: {},
};

/** The launcher's backlog: Lambda's IteratorAge of its stream mapping, by its function name. */
export const LAUNCHER_ITERATOR_AGE = {
  namespace: "AWS/Lambda",
  metricName: "IteratorAge",
  /** The one dimension the gate reads it by; its value is the launcher's function name. */
  dimension: "FunctionName",
} as const;
