/**
 * The policy-pack rules of issue #17 ("first deploy into real accounts"), each on crafted
 * resources: what AWS refuses or quietly gets wrong is refused with its fix named.
 */
import { describe, expect, it } from "vitest";
import { T } from "../../policy/rules";
import { resource, violationsOf } from "../policy/support";

const urnIn = (component: string, type: string, name: string) =>
  `urn:pulumi:global::iot-dr::pulumi:pulumi:Stack$${component}$${type}::${name}`;
const policiesOf = (...rs: ReturnType<typeof resource>[]) => violationsOf(rs);

describe("s3-replicates-kms-objects", () => {
  const replication = (rule: Record<string, unknown>) =>
    resource("aws:s3/bucketReplicationConfig:BucketReplicationConfig", {
      bucket: "b",
      role: "r",
      rules: [{ id: "to-other-region", status: "Enabled", filter: {}, ...rule }],
    });
  it("refuses a replication rule that skips SSE-KMS objects or names no replica key", () => {
    const v = policiesOf(replication({ destination: { bucket: "arn:aws:s3:::c" } })).map((x) => x.message);
    expect(v).toEqual([
      expect.stringMatching(/skips every object encrypted with KMS.*sseKmsEncryptedObjects/),
      expect.stringMatching(/no replica key.*replicaKmsKeyId/),
    ]);
  });
  it("accepts a rule that selects SSE-KMS objects with a replica key, and ignores disabled rules", () => {
    const good = replication({
      sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
      destination: {
        bucket: "arn:aws:s3:::c",
        encryptionConfiguration: { replicaKmsKeyId: "arn:aws:kms:us-west-2:1:alias/a" },
      },
    });
    expect(policiesOf(good)).toEqual([]);
    expect(policiesOf(replication({ status: "Disabled", destination: { bucket: "x" } }))).toEqual([]);
  });
});

describe("lambda-no-reserved-concurrency", () => {
  const fn = (extra: Record<string, unknown>) =>
    resource(T.fn, { role: "arn:aws:iam::1:role/r", runtime: "nodejs22.x", timeout: 30, ...extra });
  it("refuses a function that reserves concurrency, naming the lease as the fix", () => {
    expect(policiesOf(fn({ reservedConcurrentExecutions: 1 })).map((v) => v.message)).toContainEqual(
      expect.stringMatching(/reserves 1 concurrent executions.*functions\/reconcile\/lock\.ts/),
    );
  });
  it("accepts a function without a reservation (-1 is AWS's 'unreserved')", () => {
    const ok = (v: { policy: string }[]) => v.filter((x) => x.policy === "lambda-no-reserved-concurrency");
    expect(ok(policiesOf(fn({})))).toEqual([]);
    expect(ok(policiesOf(fn({ reservedConcurrentExecutions: -1 })))).toEqual([]);
  });
});

describe("sigv4-api-serving-region-published", () => {
  const alias = (name: string, region: string, slot: string) =>
    resource(
      T.record,
      {
        name,
        type: "A",
        failoverRoutingPolicies: [{ type: slot }],
        healthCheckId: `hc-${slot}`,
        aliases: [
          { name: `d-abc.execute-api.${region}.amazonaws.com`, zoneId: "Z", evaluateTargetHealth: false },
        ],
      },
      { name: `${name}-${slot}` },
    );
  const txt = (name: string, region: string, slot: string) =>
    resource(
      T.record,
      {
        name: `_region.${name}`,
        type: "TXT",
        ttl: 60,
        records: [region],
        failoverRoutingPolicies: [{ type: slot }],
      },
      { name: `${name}-region-${slot}` },
    );
  it("refuses an API Gateway failover pair without its serving-region TXT records, once", () => {
    const v = policiesOf(
      alias("cc.example.com", "us-east-1", "PRIMARY"),
      alias("cc.example.com", "us-west-2", "SECONDARY"),
    );
    expect(v).toEqual([
      {
        policy: "sigv4-api-serving-region-published",
        message: expect.stringMatching(/_region\.cc\.example\.com.*servingRegionTxt: true/),
      },
    ]);
  });
  it("accepts the pair with its TXT records", () => {
    expect(
      policiesOf(
        alias("cc.example.com", "us-east-1", "PRIMARY"),
        alias("cc.example.com", "us-west-2", "SECONDARY"),
        txt("cc.example.com", "us-east-1", "PRIMARY"),
        txt("cc.example.com", "us-west-2", "SECONDARY"),
      ).filter((x) => x.policy === "sigv4-api-serving-region-published"),
    ).toEqual([]);
  });
});

describe("route53-alarms-fail-over", () => {
  const followed = (props: Record<string, unknown>) =>
    resource(T.metricAlarm, props, {
      name: "analytics-endpoint-primary-latency",
      urn: urnIn(
        "iot-dr:analytics:AnalyticsGlobalEndpoint",
        T.metricAlarm,
        "analytics-endpoint-primary-latency",
      ),
    });

  it("refuses an alarm Route 53 follows that treats missing data as not breaching, naming the fix", () => {
    const v = policiesOf(followed({ period: 60, treatMissingData: "notBreaching" }));
    expect(v).toContainEqual({
      policy: "route53-alarms-fail-over",
      message: expect.stringMatching(/treatMissingData: "breaching"/),
    });
    expect(policiesOf(followed({ period: 60, treatMissingData: "breaching" }))).toEqual([]);
  });

  it("refuses an alarm-based health check that counts insufficient data as healthy", () => {
    const check = (status: string) =>
      resource("aws:route53/healthCheck:HealthCheck", {
        type: "CLOUDWATCH_METRIC",
        cloudwatchAlarmName: "a",
        cloudwatchAlarmRegion: "us-east-1",
        insufficientDataHealthStatus: status,
      });
    expect(policiesOf(check("Healthy"))).toContainEqual({
      policy: "route53-alarms-fail-over",
      message: expect.stringMatching(/insufficientDataHealthStatus: "Unhealthy"/),
    });
    expect(policiesOf(check("Unhealthy"))).toEqual([]);
  });

  it("refuses high-resolution alarm periods (10 s, 30 s), which Route 53 cannot follow, on any alarm", () => {
    for (const period of [10, 30, 90]) {
      const v = policiesOf(resource(T.metricAlarm, { period, treatMissingData: "breaching" }));
      expect(v.map((x) => x.message)).toContainEqual(
        expect.stringMatching(new RegExp(`period is ${period} s.*standard-resolution`)),
      );
    }
    const query = resource(T.metricAlarm, {
      metricQueries: [
        {
          id: "m",
          returnData: true,
          metric: { metricName: "x", namespace: "y", period: 10, stat: "Minimum" },
        },
      ],
    });
    expect(policiesOf(query).map((x) => x.policy)).toContain("route53-alarms-fail-over");
    expect(policiesOf(resource(T.metricAlarm, { period: 300 }))).toEqual([]);
  });
});
