/**
 * The metrics of one health round, named once here: the adapter writes them as CloudWatch
 * embedded metric format (namespace `iot-dr`), alarm mode alarms on RegionHealthy.
 */
import type { RoundMetrics } from "./aggregator.js";

export const HEALTH_NAMESPACE = "iot-dr";

/**
 * The period of the alarm Route 53 follows in alarm mode. Route 53 alarm-based health checks take
 * standard-resolution metrics only, and the health metrics are written at standard resolution.
 */
export const ROUTE53_ALARM_PERIOD_SECONDS = 60;

export interface MetricPoint {
  name: "FactorHealthy" | "FactorLatencyMs" | "RegionHealthy" | "RegionReady";
  value: number;
  unit: "Count" | "Milliseconds";
  dimensions: Record<string, string>;
}

/** One datapoint per factor (health and latency) plus the region's verdict and readiness. */
export function roundMetricPoints(round: RoundMetrics): MetricPoint[] {
  const points: MetricPoint[] = [];
  for (const factor of round.factors) {
    const dimensions = { Region: round.region, Factor: factor.name };
    points.push({ name: "FactorHealthy", value: factor.ok ? 1 : 0, unit: "Count", dimensions });
    points.push({
      name: "FactorLatencyMs",
      value: Math.round(factor.latencyMs),
      unit: "Milliseconds",
      dimensions,
    });
  }
  points.push({
    name: "RegionHealthy",
    value: round.decision.healthy ? 1 : 0,
    unit: "Count",
    dimensions: { Region: round.region },
  });
  points.push({
    name: "RegionReady",
    value: round.decision.ready ? 1 : 0,
    unit: "Count",
    dimensions: { Region: round.region },
  });
  return points;
}
