/**
 * The reconciler's counts (DriftCount ...) as CloudWatch embedded metric format, written by
 * Powertools Metrics to stdout, where Lambda's log extraction reads them. Every datapoint goes out
 * under RECONCILER_METRICS (driftMetric.ts): with the `service` dimension and with none.
 */
import type * as PowertoolsMetrics from "@aws-lambda-powertools/metrics";
import { RECONCILER_METRICS, RECONCILER_SERVICE } from "./driftMetric.js";

/** Publishes the counts of one moment (ms since the epoch) as one EMF document. */
export interface ReconcilerMetrics {
  publish(at: number, counts: Record<string, number>): void;
}

export function reconcilerMetrics(powertools: typeof PowertoolsMetrics): ReconcilerMetrics {
  const metrics = new powertools.Metrics({
    namespace: RECONCILER_METRICS.namespace,
    serviceName: RECONCILER_SERVICE,
  });
  // Powertools adds its default dimensions to every dimension set, and one of the reconciler's sets
  // is empty: so there are none, and each document names its sets (cleared when it is published).
  metrics.clearDefaultDimensions();
  return {
    publish(at, counts) {
      for (const set of RECONCILER_METRICS.dimensionSets)
        metrics.addDimensions(
          Object.fromEntries(set.map((name) => [name, RECONCILER_METRICS.dimensions[name]])),
        );
      metrics.setTimestamp(at);
      for (const [name, value] of Object.entries(counts))
        metrics.addMetric(name, powertools.MetricUnit.Count, value);
      metrics.publishStoredMetrics();
    },
  };
}
