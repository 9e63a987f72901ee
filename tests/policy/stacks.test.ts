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
});
