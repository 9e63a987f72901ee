import { describe, expect, it } from "vitest";
import { DeviceEndpoint } from "../../../infra/deviceEndpoint.js";
import { FailoverDns } from "../../../infra/failoverDns.js";
import { HealthCheck } from "../../../infra/healthCheck.js";
import { doc, IOT_ACCOUNT, named, ofType, provider, SHARED_ACCOUNT, underMocks } from "../mocks.js";
import { collectThrown } from "../../support/mocks.js";
import { policy } from "../support.js";

describe("fail-over DNS, device endpoints and alarm-mode health checks under mocks", async () => {
  const { attempt, messages: thrown } = collectThrown();
  const run = await underMocks(() => {
    const shared = provider("shared-primary", "us-east-1", SHARED_ACCOUNT);
    const iotPrimary = provider("iot-primary", "us-east-1", IOT_ACCOUNT);
    const iotSecondary = provider("iot-secondary", "us-west-2", IOT_ACCOUNT);
    const sharedSecondary = provider("shared-secondary", "us-west-2", SHARED_ACCOUNT);

    const devicesPrimary = new DeviceEndpoint(
      "devices-primary",
      {
        domainName: "devices.iot.example.com",
        validation: { zoneId: "Z123", provider: shared },
        noticeTopic: "dr/failover/notice",
        noticePublisherAccountId: SHARED_ACCOUNT,
        noticeExternalId: "ext-health",
      },
      { provider: iotPrimary },
    );
    const devicesSecondary = new DeviceEndpoint(
      "devices-secondary",
      {
        domainName: "devices.iot.example.com",
        certificateArn: "arn:aws:acm:us-west-2:111111111111:certificate/existing",
        noticeTopic: "dr/failover/notice",
        noticePublisherAccountId: SHARED_ACCOUNT,
        noticeExternalId: "ext-health",
      },
      { provider: iotSecondary },
    );
    const alarmCheck = new HealthCheck(
      "health-check-secondary",
      {
        region: "us-west-2",
        routingMode: "alarm",
        alarmIntervalSeconds: 30,
        alarmEvaluationPeriods: 2,
        factors: [
          {
            name: "iotBroker",
            url: "https://x.lambda-url.us-west-2.on.aws/iotBroker",
            functionArn: "arn:aws:lambda:us-west-2:111111111111:function:h",
          },
        ],
        policy: policy({ criticalFactors: ["iotBroker"] }),
      },
      { provider: sharedSecondary },
    );
    const dns = new FailoverDns(
      "failover",
      {
        zone: { zoneName: "iot.example.com", zoneId: "Z123" },
        records: [
          {
            name: "devices",
            primary: { cname: devicesPrimary.target },
            secondary: { cname: devicesSecondary.target },
          },
          {
            name: "cc",
            primary: { alias: { name: "d-1.execute-api.us-east-1.amazonaws.com", zoneId: "Z1UJRXOUMOOFQ8" } },
            secondary: {
              alias: { name: "d-2.execute-api.us-west-2.amazonaws.com", zoneId: "Z2OJLYMUO9EFXC" },
            },
          },
        ],
        health: {
          primary: {
            mode: "endpoint",
            region: "us-east-1",
            host: "abc.lambda-url.us-east-1.on.aws",
            resourcePath: "/the-secret-path-segment-0123456789",
          },
          secondary: { mode: "alarm", region: "us-west-2", alarmName: alarmCheck.alarmName! },
        },
        intervalSeconds: 30,
        failureThreshold: 4,
        ttlSeconds: 15,
        alarmProvider: shared,
        extraAlarmActions: ["arn:aws:sns:us-east-1:444444444444:operators"],
        notice: {
          topic: "dr/failover/notice",
          externalId: "ext-health",
          targets: [
            {
              region: "us-east-1",
              dataEndpoint: devicesPrimary.target,
              roleArn: devicesPrimary.noticePublisherRoleArn,
            },
            {
              region: "us-west-2",
              dataEndpoint: devicesSecondary.target,
              roleArn: devicesSecondary.noticePublisherRoleArn,
            },
          ],
        },
      },
      { provider: shared },
    );

    const base = {
      zone: { zoneName: "iot.example.com" },
      records: [{ name: "devices", primary: { cname: "a" }, secondary: { cname: "b" } }],
      health: {
        primary: { mode: "alarm" as const, region: "us-east-1", alarmName: "a" },
        secondary: { mode: "alarm" as const, region: "us-west-2", alarmName: "b" },
      },
      alarmProvider: shared,
    };
    attempt(
      () => new FailoverDns("bad-interval", { ...base, intervalSeconds: 20 as 10 }, { provider: shared }),
    );
    attempt(() => new FailoverDns("bad-threshold", { ...base, failureThreshold: 11 }, { provider: shared }));
    attempt(() => new FailoverDns("no-provider", base, {}));
    attempt(
      () =>
        new DeviceEndpoint(
          "no-cert",
          {
            domainName: "devices.iot.example.com",
            noticeTopic: "t",
            noticePublisherAccountId: SHARED_ACCOUNT,
            noticeExternalId: "ext-health",
          },
          { provider: iotPrimary },
        ),
    );
    attempt(
      () =>
        new HealthCheck(
          "no-secret",
          {
            region: "us-east-1",
            factors: alarmCheck ? [{ name: "iotBroker", url: "u", functionArn: "f" }] : [],
            policy: policy({ criticalFactors: ["iotBroker"] }),
          },
          { provider: shared },
        ),
    );
    return dns;
  });

  it("registers without errors", () => {
    expect(run.errors).toEqual([]);
  });

  it("creates PRIMARY and SECONDARY records for the device endpoint and the C&C API, each with its region's health check", () => {
    const records = ofType(run.resources, "aws:route53/record:Record").filter((r) =>
      r.name.startsWith("failover-"),
    );
    expect(
      records
        .map((r) => [
          r.inputs.name,
          (r.inputs.failoverRoutingPolicies as Array<{ type: string }>)[0]!.type,
          r.inputs.setIdentifier,
        ])
        .sort(),
    ).toEqual([
      ["cc.iot.example.com", "PRIMARY", "cc-primary"],
      ["cc.iot.example.com", "SECONDARY", "cc-secondary"],
      ["devices.iot.example.com", "PRIMARY", "devices-primary"],
      ["devices.iot.example.com", "SECONDARY", "devices-secondary"],
    ]);
    for (const r of records)
      expect(r.inputs.healthCheckId).toBe(
        r.name.endsWith("primary") && !r.name.endsWith("secondary")
          ? "failover-primary-health-id"
          : "failover-secondary-health-id",
      );
    expect(
      named(run.resources, "aws:route53/record:Record", "failover-devices-primary").inputs,
    ).toMatchObject({ type: "CNAME", ttl: 15, zoneId: "Z123" });
    expect(named(run.resources, "aws:route53/record:Record", "failover-cc-secondary").inputs).toMatchObject({
      type: "A",
      aliases: [{ name: "d-2.execute-api.us-west-2.amazonaws.com", evaluateTargetHealth: false }],
    });
  });

  it("takes interval, threshold and TTL from the arguments", () => {
    const endpoint = named(run.resources, "aws:route53/healthCheck:HealthCheck", "failover-primary-health");
    expect(endpoint.inputs).toMatchObject({
      type: "HTTPS",
      fqdn: "abc.lambda-url.us-east-1.on.aws",
      port: 443,
      resourcePath: "/the-secret-path-segment-0123456789",
      requestInterval: 30,
      failureThreshold: 4,
      enableSni: true,
    });
    const alarm = named(run.resources, "aws:route53/healthCheck:HealthCheck", "failover-secondary-health");
    expect(alarm.inputs).toMatchObject({
      type: "CLOUDWATCH_METRIC",
      cloudwatchAlarmRegion: "us-west-2",
      insufficientDataHealthStatus: "Unhealthy",
    });
  });

  it("alarms on each health check's status in us-east-1 and notifies SNS on alarm and recovery", () => {
    const alarms = ofType(run.resources, "aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) =>
      a.name.startsWith("failover-"),
    );
    expect(alarms).toHaveLength(2);
    for (const a of alarms) {
      expect(a.provider).toBe("shared-primary");
      expect(a.inputs).toMatchObject({
        namespace: "AWS/Route53",
        metricName: "HealthCheckStatus",
        comparisonOperator: "LessThanThreshold",
        threshold: 1,
      });
      expect(a.inputs.alarmActions).toEqual(a.inputs.okActions);
      expect((a.inputs.alarmActions as string[])[1]).toBe("arn:aws:sns:us-east-1:444444444444:operators");
    }
  });

  it("notifies devices in both regions through roles that may only publish the notice topic", () => {
    const fn = named(run.resources, "aws:lambda/function:Function", "failover-notifier-fn");
    const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    expect(JSON.parse(env.NOTICE_TARGETS!).map((t: { region: string }) => t.region)).toEqual([
      "us-east-1",
      "us-west-2",
    ]);
    expect(env.NOTICE_TOPIC).toBe("dr/failover/notice");
    expect(
      ofType(run.resources, "aws:sns/topicSubscription:TopicSubscription").map((s) => s.inputs.protocol),
    ).toEqual(["lambda"]);
    const notifierPolicy = doc(
      named(run.resources, "aws:iam/rolePolicy:RolePolicy", "failover-notifier-policy").inputs.policy,
    );
    expect(notifierPolicy.Statement.find((s) => s.Sid === "AssumePublisherRoles")!.Action).toEqual([
      "sts:AssumeRole",
    ]);
    const publish = doc(
      named(run.resources, "aws:iam/rolePolicy:RolePolicy", "devices-primary-notice-publish").inputs.policy,
    );
    expect(publish.Statement).toEqual([
      {
        Effect: "Allow",
        Action: ["iot:Publish", "iot:RetainPublish"],
        Resource: `arn:aws:iot:us-east-1:${IOT_ACCOUNT}:topic/dr/failover/notice`,
      },
    ]);
    const trust = doc(
      named(run.resources, "aws:iam/role:Role", "devices-primary-notice-publisher").inputs.assumeRolePolicy,
    );
    expect(trust.Statement[0]!.Principal).toEqual({ AWS: `arn:aws:iam::${SHARED_ACCOUNT}:root` });
    expect(trust.Statement[0]!.Condition).toEqual({ StringEquals: { "sts:ExternalId": "ext-health" } });
    expect(env.NOTICE_EXTERNAL_ID).toBe("ext-health");
  });

  it("serves the device domain from an IoT domain configuration with its ACM certificate in each region", () => {
    const domains = ofType(run.resources, "aws:iot/domainConfiguration:DomainConfiguration").sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    expect(domains.map((d) => [d.name, d.provider, d.inputs.domainName, d.inputs.serviceType])).toEqual([
      ["devices-primary-domain", "iot-primary", "devices.iot.example.com", "DATA"],
      ["devices-secondary-domain", "iot-secondary", "devices.iot.example.com", "DATA"],
    ]);
    expect(domains[1]!.inputs.serverCertificateArns).toEqual([
      "arn:aws:acm:us-west-2:111111111111:certificate/existing",
    ]);
    expect(
      named(run.resources, "aws:route53/record:Record", "devices-primary-cert-validation").provider,
    ).toBe("shared-primary");
    expect(ofType(run.resources, "aws:acm/certificateValidation:CertificateValidation")).toHaveLength(1);
  });

  it("in alarm mode runs the health check on a schedule and alarms on RegionHealthy with missing data as unhealthy", () => {
    const alarm = named(
      run.resources,
      "aws:cloudwatch/metricAlarm:MetricAlarm",
      "health-check-secondary-region-unhealthy",
    );
    expect(alarm.inputs).toMatchObject({
      namespace: "iot-dr",
      metricName: "RegionHealthy",
      // Route 53 follows standard-resolution alarms only: one-minute periods even with 30 s rounds.
      period: 60,
      evaluationPeriods: 2,
      treatMissingData: "breaching",
      dimensions: { Region: "us-west-2" },
    });
    expect(
      named(run.resources, "aws:cloudwatch/eventRule:EventRule", "health-check-secondary-schedule").inputs
        .scheduleExpression,
    ).toBe("rate(1 minute)");
    expect(
      ofType(run.resources, "aws:lambda/functionUrl:FunctionUrl").filter((u) =>
        u.name.startsWith("health-check-secondary"),
      ),
    ).toEqual([]);
  });

  it("refuses bad arguments with messages that say what to fix", () => {
    expect(thrown).toHaveLength(5);
    expect(thrown[0]).toMatch(/intervalSeconds must be 10 or 30/);
    expect(thrown[1]).toMatch(/failureThreshold must be a whole number 1-10/);
    expect(thrown[2]).toMatch(/FailoverDns must be given the aws.Provider/);
    expect(thrown[3]).toMatch(/give certificateArn .* or validation/);
    expect(thrown[4]).toMatch(/pulumi config set --secret iot-dr:healthCheckPathSecret/);
  });
});
