/**
 * How the stacks wire the parts of DESIGN.md §4-§5 together (`iot-dr plan` under mocks): the C&C
 * API behind a fail-over record on its custom domain, every account's health API running the
 * checkpoints its components plug in, the application services from config in both regions, and
 * forwarders through the analytics global endpoint once its id is configured.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../cli/plan/recorder.js";
import type { PlanResult } from "../../cli/plan/run.js";
import { planIsolated } from "../support/plan.js";

const plan = (stack: string, overrides?: Record<string, unknown>): PlanResult => {
  const run = planIsolated({ stack, ...(overrides ? { overrides } : {}) });
  if (!run.ok) throw new Error(run.error);
  return run.result;
};
const named = (r: PlanResult, type: string, name: string): PlannedResource => {
  const found = r.resources.find((x) => x.type === type && x.name === name);
  if (!found) throw new Error(`no ${type} named ${name} in the ${r.stack} plan`);
  return found;
};
const env = (r: PlanResult, fnName: string) =>
  (
    named(r, "aws:lambda/function:Function", fnName).inputs.environment as {
      variables: Record<string, string>;
    }
  ).variables;
const checkpointNames = (r: PlanResult, fnName: string) =>
  (JSON.parse(env(r, fnName).HEALTH_CHECKPOINTS) as Array<{ name: string; factor: string }>).map(
    (c) => `${c.factor}/${c.name}`,
  );

const APP = {
  appName: "orders",
  functions: { api: { codePath: "tests/fixtures/app", handler: "index.handler", memoryMb: 512 } },
};

describe("stack wiring of C&C, analytics and application services", () => {
  let primary: PlanResult;
  let global: PlanResult;
  let primaryApp: PlanResult;
  let secondaryApp: PlanResult;
  let globalApp: PlanResult;

  beforeAll(() => {
    primary = plan("primary");
    global = plan("global");
    const overrides = {
      applicationServices: APP,
      analyticsGlobalEndpointId: "abcde.veo",
      hostedZoneId: "Z0123MOCK",
    };
    primaryApp = plan("primary", overrides);
    secondaryApp = plan("secondary", overrides);
    globalApp = plan("global", { applicationServices: APP });
  }, 600_000);

  it("serves the C&C API on its custom domain in each region and exports what the record aliases", () => {
    const domain = named(primary, "aws:apigatewayv2/domainName:DomainName", "cc-primary-domain");
    expect(domain.provider).toBe("commandControl-primary");
    expect(domain.inputs).toMatchObject({
      domainName: "cc.iot.example.com",
      domainNameConfiguration: { endpointType: "REGIONAL", securityPolicy: "TLS_1_2" },
    });
    expect(
      named(primary, "aws:apigatewayv2/apiMapping:ApiMapping", "cc-primary-mapping").inputs.domainName,
    ).toBe("cc.iot.example.com");
    expect(primary.outputs.ccDomainTarget).toMatch(/^d-\w+\.execute-api\.us-east-1\.amazonaws\.com$/);
    expect(primary.outputs.ccDomainZoneId).toMatch(/^Z\w+$/);
  });

  it("requests and validates the C&C certificate in the hosted zone when no certificate ARN is configured", () => {
    const cert = named(primaryApp, "aws:acm/certificate:Certificate", "cc-primary-domain-cert");
    expect(cert.provider).toBe("commandControl-primary");
    expect(cert.inputs).toMatchObject({ domainName: "cc.iot.example.com", validationMethod: "DNS" });
    const record = named(primaryApp, "aws:route53/record:Record", "cc-primary-domain-cert-validation");
    expect(record.provider).toBe("sharedServices-primary");
    expect(record.inputs.zoneId).toBe("Z0123MOCK");
  });

  it("fails C&C over with PRIMARY and SECONDARY alias records on the regions' health checks", () => {
    for (const [slot, region] of [
      ["primary", "us-east-1"],
      ["secondary", "us-west-2"],
    ] as const) {
      const record = named(global, "aws:route53/record:Record", `failover-cc-${slot}`);
      expect(record.inputs).toMatchObject({
        name: "cc.iot.example.com",
        type: "A",
        setIdentifier: `cc-${slot}`,
        failoverRoutingPolicies: [{ type: slot.toUpperCase() }],
        healthCheckId: `failover-${slot}-health-id`,
        aliases: [{ name: `d-mock.execute-api.${region}.amazonaws.com`, evaluateTargetHealth: false }],
      });
    }
    expect(global.outputs.failoverRecordNames).toEqual(["devices.iot.example.com", "cc.iot.example.com"]);
  });

  it("runs the C&C and analytics checkpoints in their accounts' health APIs", () => {
    expect(checkpointNames(primary, "health-cc-primary-fn")).toEqual([
      "commandControl/cc-idempotency-table",
      "commandControl/cc-function",
    ]);
    expect(checkpointNames(primary, "health-analytics-primary-fn")).toEqual([
      "analytics/analytics-bus",
      "analytics/analytics-ingest",
      "analytics/analytics-stream",
      "analytics/analytics-dead-letters",
    ]);
    expect(JSON.parse(env(primary, "health-cc-primary-fn").CC_PROBE_CONFIG).functionName).toMatch(
      /^arn:aws:lambda:us-east-1:222222222222:function:cc-primary-fn/,
    );
    // Without application services the IoT account's API runs the broker canary only.
    expect(checkpointNames(primary, "health-iot-primary-fn")).toEqual(["iotBroker/iot-broker-canary"]);
  });

  it("deploys the configured application in both regions with one global table and plugs in its checkpoints", () => {
    const table = named(primaryApp, "aws:dynamodb/table:Table", "app-primary-table");
    expect(table.provider).toBe("iot-primary");
    expect(table.inputs).toMatchObject({
      name: "orders-production",
      replicas: [{ regionName: "us-west-2" }],
    });
    expect(
      secondaryApp.resources.filter(
        (r) => r.type === "aws:dynamodb/table:Table" && r.name.startsWith("app-"),
      ),
    ).toEqual([]);
    for (const [run, slot] of [
      [primaryApp, "primary"],
      [secondaryApp, "secondary"],
    ] as const) {
      const fn = named(run, "aws:lambda/function:Function", `app-${slot}-api-fn`);
      expect(fn.inputs).toMatchObject({ handler: "index.handler", memorySize: 512, runtime: "nodejs22.x" });
      expect(checkpointNames(run, `health-iot-${slot}-fn`)).toEqual([
        "applicationServices/app-table",
        "applicationServices/app-table-replica",
        "applicationServices/app-bucket",
        "applicationServices/app-functions",
        "iotBroker/iot-broker-canary",
      ]);
    }
    const probe = JSON.parse(env(secondaryApp, "health-iot-secondary-fn").APP_PROBE_CONFIG);
    expect(probe).toMatchObject({
      tableName: "orders-production",
      bucketName: "orders-111111111111-us-west-2",
      peerRegion: "us-east-1",
    });
  });

  it("puts the multi-region access point over both regions' buckets in the global stack", () => {
    const mrap = named(globalApp, "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint", "app-mrap");
    expect(mrap.provider).toBe("iot-primary");
    expect((mrap.inputs.details as { regions: unknown }).regions).toEqual([
      { bucket: "orders-111111111111-us-east-1" },
      { bucket: "orders-111111111111-us-west-2" },
    ]);
    expect(global.resources.some((r) => r.type.startsWith("aws:s3control/"))).toBe(false);
  });

  it("forwards device data through the global endpoint once its id is configured", () => {
    const forwarder = (r: PlanResult) =>
      r.resources.find(
        (x) => x.type === "aws:lambda/function:Function" && x.name.startsWith("analytics-primary-forwarder"),
      )!;
    const vars = (r: PlanResult) =>
      (forwarder(r).inputs.environment as { variables: Record<string, string> }).variables;
    expect(vars(primaryApp).GLOBAL_ENDPOINT_ID).toBe("abcde.veo");
    expect(vars(primary).GLOBAL_ENDPOINT_ID).toBeUndefined();
  });

  it("keeps every Route 53 alarm's actions in us-east-1, with the alarms, when neither region is us-east-1", () => {
    const run = plan("global", { primaryRegion: "eu-west-1", secondaryRegion: "eu-central-1" });
    const alarms = run.resources.filter(
      (r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm" && r.inputs.namespace === "AWS/Route53",
    );
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      expect(alarm.provider).toBe("sharedServices-route53-metrics");
      for (const action of [
        ...(alarm.inputs.alarmActions as string[]),
        ...(alarm.inputs.okActions as string[]),
      ]) {
        expect(action).toMatch(/^arn:aws:sns:us-east-1:/);
      }
    }
    // Under their own keys: CloudWatch cannot publish to a topic under alias/aws/sns.
    for (const topic of run.resources.filter((r) => r.type === "aws:sns/topic:Topic")) {
      expect(topic.inputs.kmsMasterKeyId).not.toBe("alias/aws/sns");
    }
  }, 300_000);

  it("gives capture and the C&C journal the configured tombstone retention and the region's marker table", () => {
    const run = plan("primary", {
      tombstoneRetentionDays: 7,
      reconcileRepair: true,
      replicationLogLevel: "INFO",
    });
    expect(env(run, "capture-capture-fn").TOMBSTONE_RETENTION_DAYS).toBe("7");
    // The per-record trail, when an operator asks for it, reaches every replication function.
    for (const fn of ["capture-capture-fn", "replay-replay-fn", "replay-launcher-fn"])
      expect(env(run, fn).REPLICATION_LOG_LEVEL, fn).toBe("INFO");
    const cc = env(run, "cc-primary-fn");
    expect(cc.TOMBSTONE_RETENTION_DAYS).toBe("7");
    expect(cc.MARKER_TABLE).toBe(run.outputs.markerTableNameInRegion);
    const operator = named(run, "aws:iam/rolePolicy:RolePolicy", "cc-primary-operator-policy");
    const statements = (
      JSON.parse(operator.inputs.policy as string) as { Statement: Array<Record<string, unknown>> }
    ).Statement;
    expect(statements.find((st) => st.Sid === "JournalMarkers")).toEqual({
      Sid: "JournalMarkers",
      Effect: "Allow",
      Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
      Resource: `arn:aws:dynamodb:us-east-1:111111111111:table/${String(run.outputs.markerTableNameInRegion)}`,
    });
    // The reconciler's repairs record their markers there too, so that capture does not re-capture them.
    expect(env(run, "reconciler-reconcile-fn").MARKER_TABLE).toBe(run.outputs.markerTableNameInRegion);
    const reconciler = named(run, "aws:iam/rolePolicy:RolePolicy", "reconciler-reconcile-policy");
    const grants = (
      JSON.parse(reconciler.inputs.policy as string) as { Statement: Array<Record<string, unknown>> }
    ).Statement;
    expect(grants.find((st) => st.Sid === "RepairMarkers")?.Resource).toBe(
      `arn:aws:dynamodb:us-east-1:111111111111:table/${String(run.outputs.markerTableNameInRegion)}`,
    );
  }, 300_000);

  it("alarms on the dashboard when the reconciler stops reporting drift", () => {
    const drift = primary.resources.filter(
      (r) =>
        r.type === "aws:cloudwatch/metricAlarm:MetricAlarm" &&
        r.name.startsWith("dashboard-") &&
        JSON.stringify(r.inputs).includes("DriftCount"),
    );
    expect(drift.length).toBe(1);
    expect(drift[0].inputs.treatMissingData).toBe("breaching");
  });

  it("refuses an application whose code directory does not exist, naming the key and the path", () => {
    const run = planIsolated({
      stack: "primary",
      overrides: {
        applicationServices: {
          appName: "orders",
          functions: { api: { codePath: "no/such/dir", handler: "index.handler" } },
        },
      },
    });
    expect(run.ok).toBe(false);
    expect(!run.ok && run.error).toContain(
      "Invalid config iot-dr:applicationServices: functions.api.codePath 'no/such/dir' does not exist",
    );
  });
});
