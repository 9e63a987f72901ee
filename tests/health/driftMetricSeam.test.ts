/**
 * The readiness metrics across their seam (issue #16 item 1): the reconciler's real EMF output
 * (runScheduledReconcile against moto's IoT) becomes the CloudWatch datapoints CloudWatch extracts
 * from it (tests/support/emf.ts, the EMF specification), they are written to moto's CloudWatch, and
 * the fail-back gate's real query (functions/health/aws.ts cloudWatchReadinessGetter, with the
 * options the planned primary stack gives the health-check function) reads them back. Both sides
 * name the metric through functions/reconcile/driftMetric.ts. The launcher's IteratorAge: the
 * health-check function is pointed at the function the replay stream mapping invokes.
 */
import { CloudWatchClient, GetMetricDataCommand, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { beforeAll, describe, expect, it } from "vitest";
import { planStack, type PlanResult } from "../../cli/plan/run.js";
import { cloudWatchReadinessGetter } from "../../functions/health/aws.js";
import {
  DRIFT_COUNT,
  LAUNCHER_ITERATOR_AGE,
  RECONCILER_METRICS,
} from "../../functions/reconcile/driftMetric.js";
import { runScheduledReconcile } from "../../functions/reconcile/scheduled.js";
import { memoryOpsTable } from "../../functions/registry/table.js";
import {
  METRICS_NAMESPACE,
  REPLAY_SERVICE,
  REPLICATION_LAG,
  REPLICATION_LAG_METRIC,
} from "../../functions/replication/observability.js";
import { type MetricsSink } from "../../functions/shared/observability.js";
import { extractEmf, type ExtractedMetric } from "../support/emf.js";
import { useMoto } from "../support/useMoto.js";
import { region, scheduledDeps } from "../reconcile/support.js";

const OWN = "us-east-1";
const PEER = "us-west-2";

const moto = useMoto();
let plan: PlanResult;
let healthEnv: Record<string, string>;

beforeAll(async () => {
  plan = await planStack({ stack: "primary" });
  const fn = plan.resources.find(
    (r) => r.type === "aws:lambda/function:Function" && r.name.startsWith("health-check-"),
  );
  healthEnv = (fn?.inputs.environment as { variables: Record<string, string> }).variables;
}, 600_000);

type Query = Parameters<Parameters<typeof cloudWatchReadinessGetter>[0]["getMetricData"]>[0];

/** The gate as the planned health-check function configures it, reading moto's CloudWatch; records its queries. */
function gate(cloudwatch: CloudWatchClient, queries: Query[]) {
  const dims = (key: string) =>
    healthEnv[key] ? (JSON.parse(healthEnv[key]) as Record<string, string>) : undefined;
  const drift = dims("HEALTH_DRIFT_DIMENSIONS");
  const lag = dims("HEALTH_LAG_DIMENSIONS");
  const backlog = dims("HEALTH_BACKLOG_DIMENSIONS");
  return cloudWatchReadinessGetter({
    // The gate reads a little later than the datapoints were written (moto leaves out the current second).
    clock: () => Date.now() + 2_000,
    ...(drift ? { driftDimensions: drift } : {}),
    ...(lag ? { lagDimensions: lag } : {}),
    ...(backlog ? { backlogDimensions: backlog } : {}),
    getMetricData: (input, signal) => {
      queries.push(input);
      return cloudwatch.send(new GetMetricDataCommand(input), { abortSignal: signal });
    },
  });
}

const identity = (m: {
  Namespace?: string;
  MetricName?: string;
  Dimensions?: Array<{ Name?: string; Value?: string }>;
}) =>
  JSON.stringify([
    m.Namespace,
    m.MetricName,
    [...(m.Dimensions ?? [])].sort((a, b) => (a.Name! < b.Name! ? -1 : 1)),
  ]);

const identities = (points: ExtractedMetric[]) =>
  points.map((m) => identity({ Namespace: m.namespace, ...m.datum }));

/**
 * Writes the datapoints to moto's CloudWatch and reads them back through the gate; `queried(id)` is
 * the identity of the metric the gate's query `id` names.
 */
async function throughGate(extracted: ExtractedMetric[]) {
  const cloudwatch = new CloudWatchClient(moto.clientConfig(OWN));
  for (const m of extracted)
    await cloudwatch.send(new PutMetricDataCommand({ Namespace: m.namespace, MetricData: [m.datum] }));
  const queries: Query[] = [];
  const readiness = await gate(cloudwatch, queries)(AbortSignal.timeout(10_000));
  const queried = (id: string) =>
    identity(queries[0]!.MetricDataQueries.find((q) => q.Id === id)!.MetricStat.Metric);
  return { readiness, queried };
}

describe("DriftCount from the reconciler to the fail-back gate", () => {
  it("the gate reads exactly a metric the reconciler's EMF output defines, with its value", async () => {
    const own = region(moto, OWN);
    const peer = region(moto, PEER);
    // The active peer has two things this standby lacks; without repair they stay drift.
    await peer.iot.createThing({ name: "only-in-peer-1", attributes: {} });
    await peer.iot.createThing({ name: "only-in-peer-2", attributes: {} });
    const table = memoryOpsTable();
    const lines: string[] = [];
    // Wired as the deployed reconciler, its metrics through the deployed Powertools publisher.
    const outcome = await runScheduledReconcile(scheduledDeps(own, peer, table, { lines }));
    expect(outcome).toMatchObject({ remaining: 2 });

    // What CloudWatch extracts from what the reconciler printed.
    const extracted: ExtractedMetric[] = lines.flatMap(extractEmf);
    const driftPoints = extracted.filter((m) => m.datum.MetricName === DRIFT_COUNT.metricName);
    expect(driftPoints.map((m) => [m.namespace, m.datum.Dimensions, m.datum.Value])).toEqual(
      RECONCILER_METRICS.dimensionSets.map((set) => [
        RECONCILER_METRICS.namespace,
        set.map((Name) => ({ Name, Value: RECONCILER_METRICS.dimensions[Name] })),
        2,
      ]),
    );
    const { readiness, queried } = await throughGate(extracted);
    expect(readiness.drift).toBe(2);
    expect(readiness.driftAt).toBeGreaterThan(Date.now() - 120_000);
    // CloudWatch matches a query's dimensions exactly (moto is laxer): the gate's DriftCount query
    // must name one of the extracted datapoints' namespace, name and full dimension set.
    expect(identities(driftPoints)).toContain(queried("drift"));
  }, 120_000);

  it("a datapoint under another namespace or name is not read as drift", async () => {
    const cloudwatch = new CloudWatchClient(moto.clientConfig(OWN));
    const at = new Date(Date.now() - 1_000);
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: "iot-dr-old",
        MetricData: [{ MetricName: DRIFT_COUNT.metricName, Value: 5, Timestamp: at }],
      }),
    );
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: DRIFT_COUNT.namespace,
        MetricData: [{ MetricName: "Drift", Value: 5, Timestamp: at }],
      }),
    );
    const readiness = await gate(cloudwatch, [])(AbortSignal.timeout(10_000));
    expect(readiness.drift).toBeUndefined();
  }, 60_000);
});

describe("ReplicationLagMs from replay to the fail-back gate", () => {
  it("the gate reads exactly the metric replay's Powertools Metrics publishes, with its value", async () => {
    // The sink the deployed replay function passes (infra/replayPipeline.ts), fed as applyRecord
    // feeds it (functions/replication/apply.ts; tests/replication/core/replay.test.ts runs that).
    const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: REPLAY_SERVICE });
    const sink: MetricsSink = metrics;
    sink.addMetric(REPLICATION_LAG_METRIC, "Milliseconds", 1_234);
    // The EMF document Powertools prints when it flushes (publishStoredMetrics prints this object).
    const line = JSON.stringify(metrics.serializeMetrics());
    const extracted = extractEmf(line);
    const lagPoints = extracted.filter((m) => m.datum.MetricName === REPLICATION_LAG.metricName);
    expect(lagPoints.map((m) => [m.namespace, m.datum.Dimensions, m.datum.Value])).toEqual([
      [REPLICATION_LAG.namespace, [{ Name: "service", Value: REPLAY_SERVICE }], 1_234],
    ]);
    const { readiness, queried } = await throughGate(extracted);
    expect(readiness.lagMs).toBe(1_234);
    // CloudWatch matches dimensions exactly: the gate's query names the datapoint's full identity.
    expect(identities(lagPoints)).toContain(queried("lag"));
  }, 60_000);

  it("a lag datapoint under another service dimension is not read as replay's lag", async () => {
    const cloudwatch = new CloudWatchClient(moto.clientConfig(OWN));
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: REPLICATION_LAG.namespace,
        MetricData: [
          {
            MetricName: REPLICATION_LAG.metricName,
            Dimensions: [{ Name: "service", Value: "replay" }],
            Value: 9_999,
            Timestamp: new Date(Date.now() - 1_000),
          },
        ],
      }),
    );
    const readiness = await gate(cloudwatch, [])(AbortSignal.timeout(10_000));
    expect(readiness.lagMs).toBeUndefined();
  }, 60_000);
});

describe("the launcher's IteratorAge to the fail-back gate", () => {
  it("the health-check function reads IteratorAge of the function the replay stream mapping invokes", async () => {
    const backlog = JSON.parse(healthEnv.HEALTH_BACKLOG_DIMENSIONS!) as Record<string, string>;
    expect(Object.keys(backlog)).toEqual([LAUNCHER_ITERATOR_AGE.dimension]);
    const launcherName = backlog[LAUNCHER_ITERATOR_AGE.dimension]!;
    const mappings = plan.resources.filter(
      (r) => r.type === "aws:lambda/eventSourceMapping:EventSourceMapping",
    );
    const launcherMapping = mappings.filter((r) =>
      String(r.inputs.functionName).endsWith(`:function:${launcherName}`),
    );
    // Exactly one stream feeds that function: the ops-table stream of the replay pipeline.
    expect(launcherMapping.map((r) => r.name)).toEqual(["replay-stream-mapping"]);
    expect(String(launcherMapping[0]!.inputs.eventSourceArn)).toMatch(/:dynamodb:.*\/stream\//);
    expect(
      plan.resources.some(
        (r) => r.type === "aws:lambda/function:Function" && r.name === "replay-launcher-fn",
      ),
    ).toBe(true);

    // Lambda publishes IteratorAge (AWS/Lambda) by FunctionName; the gate reads that datapoint.
    const cloudwatch = new CloudWatchClient(moto.clientConfig(OWN));
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: "AWS/Lambda",
        MetricData: [
          {
            MetricName: "IteratorAge",
            Dimensions: [{ Name: "FunctionName", Value: launcherName }],
            Value: 4_000,
            Unit: "Milliseconds",
            Timestamp: new Date(Date.now() - 1_000),
          },
        ],
      }),
    );
    const queries: Query[] = [];
    const readiness = await gate(cloudwatch, queries)(AbortSignal.timeout(10_000));
    expect(readiness.backlogAgeMs).toBe(4_000);
    expect(queries[0]!.MetricDataQueries.find((q) => q.Id === "backlog")!.MetricStat.Metric).toEqual({
      Namespace: "AWS/Lambda",
      MetricName: "IteratorAge",
      Dimensions: [{ Name: "FunctionName", Value: launcherName }],
    });
  }, 60_000);
});
