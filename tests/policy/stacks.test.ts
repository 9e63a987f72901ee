/**
 * The pack passes on the plan of every stack with the shipped config. When a component violates
 * it, this fails and names the resource and the fix; weakening the pack is not the remedy.
 */
import { describe, expect, it } from "vitest";
import { planStack } from "../../cli/plan/run";
import { checkResources, fromPlanned } from "../../policy/run";

describe("the shipped stacks under the policy pack", () => {
  it.each(["primary", "secondary", "global"])("the %s stack has no violations", async (stack) => {
    const { resources } = await planStack({ stack });
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
});
