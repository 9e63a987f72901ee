/** The regional dashboard and its alarms (infra/dashboards.ts), built under Pulumi mocks. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { CANNED_INVOKES } from "../../cli/plan/invokes";
import { MockRecorder, type PlannedResource } from "../../cli/plan/recorder";
import { DASHBOARD_NAMESPACES, RegionalDashboard, type RegionalDashboardArgs } from "../../infra/dashboards";
import { checkResources, fromPlanned } from "../../policy/run";

const TOPIC = "arn:aws:sns:us-east-1:444444444444:alarms-primary";

async function build(overrides: Partial<RegionalDashboardArgs> = {}): Promise<PlannedResource[]> {
  const recorder = new MockRecorder({ stackOutputs: {}, invokes: CANNED_INVOKES });
  await pulumi.runtime.setMocks(recorder, "iot-dr", "primary", true);
  recorder.attach(pulumi.runtime.getMonitor());
  await pulumi.runtime.runInPulumiStack(async () => {
    const shared = new aws.Provider("sharedServices-primary", {
      region: "us-east-1",
      allowedAccountIds: ["444444444444"],
    });
    const iot = new aws.Provider("iot-primary", { region: "us-east-1", allowedAccountIds: ["111111111111"] });
    const cc = new aws.Provider("commandControl-primary", {
      region: "us-east-1",
      allowedAccountIds: ["222222222222"],
    });
    const analytics = new aws.Provider("analytics-primary", {
      region: "us-east-1",
      allowedAccountIds: ["333333333333"],
    });
    new RegionalDashboard(
      "dashboard-primary",
      {
        region: "us-east-1",
        peerRegion: "us-west-2",
        alarmTopicArn: TOPIC,
        iotProvider: iot,
        iotAccountId: "111111111111",
        dashboardAccountId: "444444444444",
        commandControl: { accountId: "222222222222", provider: cc },
        analytics: { accountId: "333333333333", provider: analytics },
        deadLetterQueues: [
          { label: "replay dead letters", queueName: "replay-dlq-1" },
          {
            label: "capture dead letters",
            queueName: "https://sqs.us-east-1.amazonaws.com/111111111111/capture-dlq-1",
            alarm: true,
          },
        ],
        healthFactors: ["iotBroker", "commandControl"],
        ...overrides,
      },
      { provider: shared },
    );
    return {};
  });
  await pulumi.runtime.disconnect();
  expect(recorder.errors).toEqual([]);
  return recorder.resources;
}

type Widget = { type: string; properties: { title?: string; region?: string; metrics?: unknown[][] } };
type Options = { accountId?: string; expression?: string };

function widgets(resources: PlannedResource[]): Widget[] {
  const dashboard = resources.find((r) => r.type === "aws:cloudwatch/dashboard:Dashboard")!;
  return (JSON.parse(String(dashboard.inputs.dashboardBody)) as { widgets: Widget[] }).widgets;
}

const titled = (ws: Widget[], title: RegExp) => ws.find((w) => title.test(w.properties.title ?? ""))!;
const alarms = (resources: PlannedResource[]) =>
  resources.filter((r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm");
const ofType = (resources: PlannedResource[], type: string) => resources.filter((r) => r.type === type);
const optionsOf = (m: unknown[]) => m.find((p): p is Options => typeof p === "object" && p !== null) ?? {};
/** The namespace a metric array reads: its first element, or the one its SEARCH or SELECT names. */
function namespaceOf(m: unknown[], previous: string | undefined): string | undefined {
  if (typeof m[0] === "string") return m[0] === "." ? previous : m[0];
  const expression = optionsOf(m).expression ?? "";
  return /\{([^,}]+)[,}]|Namespace="([^"]+)"|FROM "([^"]+)"/.exec(expression)?.slice(1).find(Boolean);
}

describe("the regional dashboard", () => {
  it("shows lag, dead letters (by name or URL), drift, health per factor, connects in both regions and fail-over state", async () => {
    const ws = widgets(await build());
    const lag = titled(ws, /Replication lag/);
    expect(lag.properties.metrics![0]).toEqual([
      "iot-dr",
      "ReplicationLagMs",
      "service",
      "iot-dr-replay",
      { stat: "p99", label: "p99", accountId: "111111111111" },
    ]);
    const dlq = titled(ws, /Dead letters/);
    expect(dlq.properties.metrics!.map((m) => m[3])).toEqual(["replay-dlq-1", "capture-dlq-1"]);
    expect(dlq.properties.metrics![0].slice(0, 2)).toEqual(["AWS/SQS", "ApproximateNumberOfMessagesVisible"]);
    expect(JSON.stringify(titled(ws, /drift/i))).toContain('MetricName=\\"DriftCount\\"');
    const health = JSON.stringify(titled(ws, /Health per factor/));
    expect(health).toContain('MetricName=\\"FactorHealthy\\" Region=\\"us-east-1\\"');
    expect(health).toContain("RegionReady");
    const connects = titled(ws, /Device connects/);
    expect(connects.properties.metrics!.map((m) => [m[1], (m[4] as { region: string }).region])).toEqual([
      ["Connect.Success", "us-east-1"],
      ["Connect.Success", "us-west-2"],
    ]);
    const failover = titled(ws, /Fail-over state/);
    expect(failover.properties.region).toBe("us-east-1");
    expect(JSON.stringify(failover)).toContain("HealthCheckStatus");
  });

  it("alarms on each factor, readiness, drift and flagged dead-letter queues, notifying the alarm topic", async () => {
    const resources = await build();
    const all = alarms(resources);
    expect(all.map((a) => a.name)).toEqual([
      "dashboard-primary-iotbroker-unhealthy-alarm",
      "dashboard-primary-commandcontrol-unhealthy-alarm",
      "dashboard-primary-not-ready-alarm",
      "dashboard-primary-drift-alarm",
      "dashboard-primary-dead-letter-1-alarm",
    ]);
    for (const a of all) {
      expect(a.inputs.alarmActions).toEqual([TOPIC]);
      expect(a.inputs.okActions).toEqual([TOPIC]);
    }
    const broker = all[0].inputs.metricQueries as { expression: string }[];
    expect(broker[0].expression).toBe(
      `SELECT MIN(FactorHealthy) FROM "iot-dr" WHERE Region = 'us-east-1' AND Factor = 'iotBroker'`,
    );
    // Health alarms live with the health metrics (shared services), replication alarms in the IoT account.
    expect(all[0].provider).toBe("sharedServices-primary");
    expect(all[3].provider).toBe("iot-primary");
    expect(all[4].inputs.dimensions).toEqual({ QueueName: "capture-dlq-1" });
  });

  it("leaves metrics unqualified when every account is the dashboard's own", async () => {
    const ws = widgets(
      await build({ iotAccountId: "444444444444", commandControl: undefined, analytics: undefined }),
    );
    expect(JSON.stringify(ws)).not.toContain("accountId");
  });

  it("shows a note instead of an empty dead-letter widget when there are no queues", async () => {
    const ws = widgets(await build({ deadLetterQueues: [] }));
    expect(JSON.stringify(ws)).toContain("No dead-letter queues in this region.");
  });

  it("passes the policy pack", async () => {
    expect(checkResources(fromPlanned(await build()))).toEqual([]);
  });

  it("refuses to build without its providers or alarm topic, naming what is missing", () => {
    const provider = new aws.Provider("p", { region: "us-east-1" });
    const args: RegionalDashboardArgs = {
      region: "us-east-1",
      peerRegion: "us-west-2",
      alarmTopicArn: TOPIC,
      iotProvider: provider,
      iotAccountId: "111111111111",
      dashboardAccountId: "444444444444",
    };
    expect(() => new RegionalDashboard("d", args, {})).toThrow(
      /RegionalDashboard must be given the aws.Provider of the shared-services account/,
    );
    expect(
      () =>
        new RegionalDashboard(
          "d",
          { ...args, iotProvider: undefined as unknown as aws.Provider },
          { provider },
        ),
    ).toThrow(/iotProvider must be given the aws.Provider of the IoT services account/);
    expect(() => new RegionalDashboard("d", { ...args, alarmTopicArn: "" }, { provider })).toThrow(
      /needs args.alarmTopicArn/,
    );
  });
  it("links the IoT, C&C and analytics accounts to a sink in its own account that admits exactly them, metrics only", async () => {
    const resources = await build();
    const [sink] = ofType(resources, "aws:oam/sink:Sink");
    expect(sink.provider).toBe("sharedServices-primary");
    const [policy] = ofType(resources, "aws:oam/sinkPolicy:SinkPolicy");
    expect(policy.provider).toBe("sharedServices-primary");
    expect(policy.inputs.sinkIdentifier).toMatch(/^arn:aws:oam:us-east-1:444444444444:/);
    const doc = JSON.parse(String(policy.inputs.policy)) as {
      Statement: { Effect: string; Principal: { AWS: string[] }; Action: string[]; Condition: unknown }[];
    };
    expect(doc.Statement).toHaveLength(1);
    expect(doc.Statement[0].Principal.AWS).toEqual(["111111111111", "222222222222", "333333333333"]);
    expect(doc.Statement[0].Action).toEqual(["oam:CreateLink", "oam:UpdateLink"]);
    expect(doc.Statement[0].Condition).toEqual({
      "ForAllValues:StringEquals": { "oam:ResourceTypes": ["AWS::CloudWatch::Metric"] },
    });

    const links = ofType(resources, "aws:oam/link:Link");
    expect(links.map((l) => l.provider)).toEqual([
      "iot-primary",
      "commandControl-primary",
      "analytics-primary",
    ]);
    for (const l of links) {
      expect(l.inputs.sinkIdentifier).toBe(policy.inputs.sinkIdentifier);
      expect(l.inputs.resourceTypes).toEqual(["AWS::CloudWatch::Metric"]);
      // Created only once the sink policy admits the account.
      expect(l.dependsOn).toContain(policy.name);
    }
    const filter = (provider: string) =>
      (
        links.find((l) => l.provider === provider)!.inputs.linkConfiguration as {
          metricConfiguration: { filter: string };
        }
      ).metricConfiguration.filter;
    expect(filter("iot-primary")).toBe("Namespace IN ('AWS/IoT', 'AWS/SQS', 'iot-dr')");
    expect(filter("commandControl-primary")).toBe("Namespace IN ('AWS/ApiGateway')");

    // The dashboard waits for every link, so a fresh `up` shows data as soon as it exists.
    const dashboard = ofType(resources, "aws:cloudwatch/dashboard:Dashboard")[0];
    expect(dashboard.dependsOn).toEqual(expect.arrayContaining(links.map((l) => l.name)));
  });

  it("names the source account of every metric of another account, and that account's link shares its namespace", async () => {
    const resources = await build();
    const ws = widgets(resources);
    const shared: Record<string, readonly string[]> = {
      "111111111111": DASHBOARD_NAMESPACES.iot,
      "222222222222": DASHBOARD_NAMESPACES.commandControl,
      "333333333333": DASHBOARD_NAMESPACES.analytics,
    };
    const seen = new Set<string>();
    for (const w of ws.filter((x) => x.type === "metric")) {
      let previous: string | undefined;
      for (const m of w.properties.metrics ?? []) {
        const namespace = namespaceOf(m, previous);
        previous = namespace;
        const account = optionsOf(m).accountId;
        // Health and Route 53 metrics are the dashboard's own (shared services); everything else names its account.
        if (namespace === "AWS/Route53" || /Factor|Region(Healthy|Ready)/.test(JSON.stringify(m))) {
          expect(account, JSON.stringify(m)).toBeUndefined();
          continue;
        }
        expect(Object.keys(shared), JSON.stringify(m)).toContain(account);
        expect(shared[account!], JSON.stringify(m)).toContain(namespace);
        seen.add(account!);
      }
    }
    expect([...seen].sort()).toEqual(["111111111111", "222222222222", "333333333333"]);
    const ccWidget = titled(ws, /Command & control/);
    expect(ccWidget.properties.metrics!.map((m) => optionsOf(m).accountId)).toEqual([
      "222222222222",
      "333333333333",
      "333333333333",
    ]);
  });

  it("keeps every alarm in the account that publishes its metric, so no alarm depends on a link", async () => {
    const resources = await build();
    for (const a of alarms(resources)) {
      for (const q of (a.inputs.metricQueries ?? []) as { accountId?: string; expression?: string }[]) {
        expect(q.accountId).toBeUndefined();
        expect(q.expression ?? "").not.toMatch(/AccountId/i);
      }
      const iotMetric = /DriftCount|AWS\/SQS/.test(JSON.stringify(a.inputs));
      expect(a.provider, a.name).toBe(iotMetric ? "iot-primary" : "sharedServices-primary");
    }
  });

  it("shares one link when an account plays two roles, and links nothing when every account is the dashboard's own", async () => {
    const twoRoles = await build({ analytics: undefined, iotAccountId: "222222222222" });
    const links = ofType(twoRoles, "aws:oam/link:Link");
    expect(links).toHaveLength(1);
    expect(links[0].inputs.linkConfiguration).toEqual({
      metricConfiguration: { filter: "Namespace IN ('AWS/ApiGateway', 'AWS/IoT', 'AWS/SQS', 'iot-dr')" },
    });
    const oneAccount = await build({
      iotAccountId: "444444444444",
      commandControl: undefined,
      analytics: undefined,
    });
    expect(oneAccount.filter((r) => r.type.startsWith("aws:oam/"))).toEqual([]);
  });

  it("without its links, the policy pack finds the dashboard reading accounts it cannot see", async () => {
    const resources = await build({ linkAccounts: false });
    expect(resources.filter((r) => r.type.startsWith("aws:oam/"))).toEqual([]);
    const findings = checkResources(fromPlanned(resources)).filter(
      (v) => v.policy === "cross-account-metrics-linked",
    );
    expect(findings.map((v) => v.message)).toEqual([
      expect.stringContaining("reads metrics of account 111111111111"),
      expect.stringContaining("reads metrics of account 222222222222"),
      expect.stringContaining("reads metrics of account 333333333333"),
    ]);
  });
});
