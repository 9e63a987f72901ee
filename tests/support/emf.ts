/**
 * CloudWatch's extraction of metrics from an embedded-metric-format log line, as the EMF
 * specification documents it: `_aws.Timestamp` (ms since the epoch) and `_aws.CloudWatchMetrics`,
 * a list of directives, each with a `Namespace`, `Dimensions` (a list of dimension sets, each a list
 * of keys whose values are the root members of that name) and `Metrics` (`Name`, optional `Unit`;
 * the value is the root member of that name, a number or a list of numbers). One datapoint per
 * directive x dimension set x metric. A line CloudWatch would not extract from throws here, naming why.
 */
import * as powertoolsMetrics from "@aws-lambda-powertools/metrics";
import type { MetricDatum } from "@aws-sdk/client-cloudwatch";
import { reconcilerMetrics, type ReconcilerMetrics } from "../../functions/reconcile/metrics.js";

export interface ExtractedMetric {
  namespace: string;
  datum: MetricDatum & { MetricName: string; Dimensions: Array<{ Name: string; Value: string }> };
}

export function extractEmf(line: string): ExtractedMetric[] {
  const doc = JSON.parse(line) as Record<string, unknown> & {
    _aws?: {
      Timestamp?: unknown;
      CloudWatchMetrics?: Array<{
        Namespace?: unknown;
        Dimensions?: unknown;
        Metrics?: Array<{ Name?: unknown; Unit?: unknown }>;
      }>;
    };
  };
  const meta = doc._aws;
  if (!meta || typeof meta.Timestamp !== "number" || !Array.isArray(meta.CloudWatchMetrics))
    throw new Error(`not an EMF document (needs _aws.Timestamp and _aws.CloudWatchMetrics): ${line}`);
  const timestamp = new Date(meta.Timestamp);
  const out: ExtractedMetric[] = [];
  for (const directive of meta.CloudWatchMetrics) {
    if (typeof directive.Namespace !== "string" || directive.Namespace === "")
      throw new Error(`EMF directive without a Namespace: ${line}`);
    if (!Array.isArray(directive.Dimensions) || !Array.isArray(directive.Metrics))
      throw new Error(`EMF directive needs Dimensions and Metrics lists: ${line}`);
    for (const set of directive.Dimensions as unknown[]) {
      if (!Array.isArray(set) || set.length > 30)
        throw new Error(`bad EMF dimension set ${JSON.stringify(set)}`);
      const dimensions = (set as unknown[]).map((key) => {
        const value = typeof key === "string" ? doc[key] : undefined;
        if (typeof value !== "string")
          throw new Error(`EMF dimension '${String(key)}' has no string value at the root: ${line}`);
        return { Name: key as string, Value: value };
      });
      for (const metric of directive.Metrics) {
        const value = typeof metric.Name === "string" ? doc[metric.Name] : undefined;
        const values = Array.isArray(value) ? value : [value];
        if (values.length === 0 || !values.every((v) => typeof v === "number"))
          throw new Error(`EMF metric '${String(metric.Name)}' has no numeric value at the root: ${line}`);
        for (const v of values as number[])
          out.push({
            namespace: directive.Namespace,
            datum: {
              MetricName: metric.Name as string,
              Dimensions: dimensions,
              Value: v,
              Timestamp: timestamp,
              ...(typeof metric.Unit === "string" ? { Unit: metric.Unit as MetricDatum["Unit"] } : {}),
            },
          });
      }
    }
  }
  return out;
}

/** What `run` writes to stdout, where Lambda's log extraction reads EMF, one entry per line. */
export function stdoutLines(run: () => void): string[] {
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out.push(
      ...String(chunk)
        .split("\n")
        .filter((l) => l !== ""),
    );
    return true;
  }) as typeof process.stdout.write;
  try {
    run();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

/** The reconciler's deployed publisher (Powertools Metrics), its EMF documents collected in `lines`. */
export function emfLines(lines: string[]): ReconcilerMetrics {
  const real = reconcilerMetrics(powertoolsMetrics);
  return { publish: (at, counts) => void lines.push(...stdoutLines(() => real.publish(at, counts))) };
}
