/** The regional dashboard and its alarms (infra/dashboards.ts), built under Pulumi mocks. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { CANNED_INVOKES } from "../../cli/plan/invokes";
import { MockRecorder, type PlannedResource } from "../../cli/plan/recorder";
import { RegionalDashboard, type RegionalDashboardArgs } from "../../infra/dashboards";
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
    new RegionalDashboard(
      "dashboard-primary",
      {
        region: "us-east-1",
        peerRegion: "us-west-2",
        alarmTopicArn: TOPIC,
        iotProvider: iot,
        iotAccountId: "111111111111",
        dashboardAccountId: "444444444444",
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

function widgets(resources: PlannedResource[]): Widget[] {
  const dashboard = resources.find((r) => r.type === "aws:cloudwatch/dashboard:Dashboard")!;
  return (JSON.parse(String(dashboard.inputs.dashboardBody)) as { widgets: Widget[] }).widgets;
}

const titled = (ws: Widget[], title: RegExp) => ws.find((w) => title.test(w.properties.title ?? ""))!;
const alarms = (resources: PlannedResource[]) =>
  resources.filter((r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm");

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

  it("leaves metrics unqualified when the IoT account is the dashboard's own", async () => {
    const ws = widgets(await build({ iotAccountId: "444444444444" }));
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
});
