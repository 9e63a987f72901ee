/**
 * Two environments in the same accounts and regions (issue #17, item 9; acceptance): the shipped
 * stacks and a second environment planned next to them pass the policy pack, and no name the
 * program sets itself (rule, bus, endpoint, role, table, parameter, dashboard, domain) is shared.
 * Auto-named resources get a random suffix from Pulumi and cannot collide.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../cli/plan/recorder";
import { planStack } from "../../cli/plan/run";
import { checkResources, fromPlanned } from "../../policy/run";

const STACKS = ["primary", "secondary", "global"] as const;
/** The second environment differs only where an operator must: its name, its DNS zone and its stacks' names. */
const STAGING = {
  environment: "staging",
  hostedZoneName: "staging.iot.example.com",
  primaryStack: "staging-primary",
  secondaryStack: "staging-secondary",
};
const plans: Record<string, PlannedResource[]> = {};

beforeAll(async () => {
  for (const stack of STACKS) {
    plans[`production/${stack}`] = (await planStack({ stack })).resources;
    plans[`staging/${stack}`] = (await planStack({ stack, overrides: STAGING })).resources;
  }
}, 400_000);

/** Inputs that name the resource itself in its account and region (not references to others). */
const OWN_NAME_KEYS = ["name", "bucket", "dashboardName", "domainName", "functionName", "queueName"];
/** Names scoped inside their parent (an API's stage), or references, not account-wide names. */
const SCOPED: Record<string, string[]> = {
  "aws:apigatewayv2/stage:Stage": ["name"],
  "aws:apigatewayv2/apiMapping:ApiMapping": ["domainName"],
  "aws:lambda/functionUrl:FunctionUrl": ["functionName"],
  "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": ["functionName"],
  "aws:lambda/eventSourceMapping:EventSourceMapping": ["functionName"],
  "aws:lambda/permission:Permission": ["function"],
  "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig": ["functionName"],
};

function physicalNames(resources: PlannedResource[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const r of resources) {
    if (!r.custom || !r.type.startsWith("aws:")) continue;
    for (const key of OWN_NAME_KEYS) {
      if ((SCOPED[r.type] ?? []).includes(key)) continue;
      const value = r.inputs[key];
      // A provider and region qualify the name: the same name in another region does not collide.
      if (typeof value === "string") names.set(`${r.type} ${r.provider ?? ""} ${value}`, r.name);
    }
  }
  return names;
}

describe("two environments in the same accounts", () => {
  it.each(STACKS)("the %s stack of each environment passes the policy pack", (stack) => {
    for (const env of ["production", "staging"]) {
      const violations = checkResources(fromPlanned(plans[`${env}/${stack}`]!)).map(
        (v) => `${env}: ${v.policy}: ${v.type} ${v.resource}: ${v.message}`,
      );
      expect(violations).toEqual([]);
    }
  });

  it("share no physical name in any account and region", () => {
    const production = new Map<string, string>();
    const staging = new Map<string, string>();
    for (const stack of STACKS) {
      for (const [k, v] of physicalNames(plans[`production/${stack}`]!)) production.set(k, v);
      for (const [k, v] of physicalNames(plans[`staging/${stack}`]!)) staging.set(k, v);
    }
    // The check has something to judge: the names the program sets.
    expect(production.size).toBeGreaterThan(15);
    const shared = [...production.keys()].filter((k) => staging.has(k));
    expect(shared).toEqual([]);
  });
});
