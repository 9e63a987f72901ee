/**
 * The pack passes on the plan of every stack with the shipped config. When a component violates
 * it, this fails and names the resource and the fix; weakening the pack is not the remedy.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../cli/plan/recorder";
import { planStack } from "../../cli/plan/run";
import { checkResources, fromPlanned } from "../../policy/run";

const STACKS = ["primary", "secondary", "global"] as const;
const plans = new Map<string, PlannedResource[]>();

beforeAll(async () => {
  // Planned one after the other in this process, as `iot-dr plan` would.
  for (const stack of STACKS) plans.set(stack, (await planStack({ stack })).resources);
}, 180_000);

describe("the shipped stacks under the policy pack", () => {
  it.each(STACKS)("the %s stack has no violations", (stack) => {
    const resources = plans.get(stack)!;
    const aws = resources.filter((r) => r.custom && r.type.startsWith("aws:"));
    // The pack judged real resources, each with its provider's account known.
    expect(aws.length).toBeGreaterThan(0);
    const checked = fromPlanned(resources);
    for (const r of checked.filter((x) => x.type.startsWith("aws:")))
      expect(r.provider, r.name).toBeDefined();
    const violations = checkResources(checked).map(
      (v) => `${v.policy}: ${v.type} ${v.resource}: ${v.message}`,
    );
    expect(violations).toEqual([]);
  });

  it.each(["primary", "secondary"])(
    "the %s stack has its regional dashboard, showing the replication queues and alarming to its alarm topic",
    (stack) => {
      const resources = plans.get(stack)!;
      const dashboard = resources.find((r) => r.type === "aws:cloudwatch/dashboard:Dashboard");
      expect(dashboard?.parent).toBe(`dashboard-${stack}`);
      const body = String(dashboard!.inputs.dashboardBody);
      for (const queue of ["capture-dlq", "replay-dlq", "replay-stream-failures"])
        expect(body).toContain(queue);
      const topic = resources.find(
        (r) => r.type === "aws:sns/topic:Topic" && r.parent === `alarms-${stack}`,
      )!;
      const alarms = resources.filter(
        (r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm" && r.parent === `dashboard-${stack}`,
      );
      expect(alarms.length).toBeGreaterThanOrEqual(3);
      for (const a of alarms) expect(a.inputs.alarmActions).toEqual([expect.stringContaining(topic.name)]);
    },
  );
  it.each(["primary", "secondary"] as const)(
    "the %s stack links the IoT, C&C and analytics accounts to an OAM sink in shared services, and its dashboard names their accounts",
    (stack) => {
      const resources = plans.get(stack)!;
      const accounts = { iot: "111111111111", commandControl: "222222222222", analytics: "333333333333" };
      const region = stack === "primary" ? "us-east-1" : "us-west-2";
      const sinks = resources.filter((r) => r.type === "aws:oam/sink:Sink");
      expect(sinks.map((s) => s.provider)).toEqual([`sharedServices-${stack}`]);
      const policies = resources.filter((r) => r.type === "aws:oam/sinkPolicy:SinkPolicy");
      expect(policies).toHaveLength(1);
      const sinkArn = String(policies[0].inputs.sinkIdentifier);
      expect(sinkArn).toMatch(new RegExp(`^arn:aws:oam:${region}:444444444444:`));
      const doc = JSON.parse(String(policies[0].inputs.policy)) as {
        Statement: { Principal: { AWS: string[] }; Condition: Record<string, Record<string, string[]>> }[];
      };
      // Exactly this deployment's source accounts, and only metrics.
      expect(doc.Statement.flatMap((st) => st.Principal.AWS).sort()).toEqual(Object.values(accounts));
      for (const st of doc.Statement)
        expect(st.Condition["ForAllValues:StringEquals"]["oam:ResourceTypes"]).toEqual([
          "AWS::CloudWatch::Metric",
        ]);

      const links = resources.filter((r) => r.type === "aws:oam/link:Link");
      expect(links.map((l) => l.provider).sort()).toEqual(
        Object.keys(accounts)
          .map((a) => `${a}-${stack}`)
          .sort(),
      );
      for (const l of links) {
        expect(l.inputs.sinkIdentifier).toBe(sinkArn);
        expect(l.dependsOn).toContain(policies[0].name);
      }
      const dashboard = resources.find((r) => r.type === "aws:cloudwatch/dashboard:Dashboard")!;
      expect(dashboard.provider).toBe(`sharedServices-${stack}`);
      expect(dashboard.dependsOn).toEqual(expect.arrayContaining(links.map((l) => l.name)));
      const body = String(dashboard.inputs.dashboardBody);
      for (const id of Object.values(accounts)) expect(body).toContain(`"accountId":"${id}"`);
      expect(body).not.toContain('"accountId":"444444444444"');
    },
  );

  it.each(["primary", "secondary"] as const)(
    "the %s stack's alarm topic takes alarms of every account: topic policy and its own KMS key admit CloudWatch",
    (stack) => {
      const resources = plans.get(stack)!;
      const ids = ["111111111111", "222222222222", "333333333333", "444444444444"];
      const topic = resources.find(
        (r) => r.type === "aws:sns/topic:Topic" && r.parent === `alarms-${stack}`,
      )!;
      const key = resources.find((r) => r.type === "aws:kms/key:Key" && r.parent === `alarms-${stack}`)!;
      // The AWS-managed alias/aws/sns key cannot be opened to CloudWatch: alarm actions would fail.
      expect(topic.inputs.kmsMasterKeyId).toMatch(/^arn:aws:kms:[a-z0-9-]+:444444444444:key\//);
      expect(topic.dependsOn).toContain(key.name);
      const statements = (doc: unknown) =>
        (JSON.parse(String(doc)) as { Statement: Record<string, unknown>[] }).Statement.filter(
          (st) => JSON.stringify(st.Principal) === JSON.stringify({ Service: "cloudwatch.amazonaws.com" }),
        );
      const [keyGrant] = statements(key.inputs.policy);
      expect(keyGrant.Action).toEqual(["kms:Decrypt", "kms:GenerateDataKey*"]);
      expect(keyGrant.Condition).toEqual({ StringEquals: { "aws:SourceAccount": ids } });
      const topicPolicy = resources.find(
        (r) => r.type === "aws:sns/topicPolicy:TopicPolicy" && r.parent === `alarms-${stack}`,
      )!;
      const [publish] = statements(topicPolicy.inputs.policy);
      expect(publish.Action).toBe("sns:Publish");
      expect(publish.Condition).toEqual({ StringEquals: { "aws:SourceAccount": ids } });
    },
  );
});
