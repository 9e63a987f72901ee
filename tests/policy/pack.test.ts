/**
 * The CrossGuard policies (policy/pack.ts) are thin adapters over the pure checks: called the way
 * the policy host calls them, they report what the pure functions report.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { policies } from "../../policy/pack";
import { RULES, T } from "../../policy/rules";
import { allow } from "./support";

const ROOT = path.resolve(__dirname, "..", "..");

/** Calls a resource policy as the policy host does; returns the reported messages. */
async function validate(
  policy: ResourceValidationPolicy,
  r: { type: string; name?: string; props: Record<string, unknown>; account?: string },
  config: object = {},
): Promise<string[]> {
  const reported: string[] = [];
  const validations = [policy.validateResource!].flat();
  for (const v of validations) {
    await v(
      {
        type: r.type,
        name: r.name ?? "x",
        urn: `urn:pulumi:s::iot-dr::${r.type}::${r.name ?? "x"}`,
        props: r.props,
        getConfig: <T extends object>() => config as T,
        ...(r.account
          ? {
              provider: {
                type: "pulumi:providers:aws",
                name: "p",
                urn: "u",
                props: { allowedAccountIds: [r.account] },
              },
            }
          : {}),
      } as unknown as Parameters<typeof v>[0],
      (message: string) => reported.push(message),
    );
  }
  return reported;
}

const byName = (name: string) => policies.find((p) => p.name === name)!;

describe("the CrossGuard pack", () => {
  it("has one mandatory policy per rule, named after it, each with a description and remediation", () => {
    expect(policies.map((p) => p.name)).toEqual(RULES.map((r) => r.name));
    expect(new Set(policies.map((p) => p.name)).size).toBe(policies.length);
    for (const p of policies) {
      expect(p.enforcementLevel).toBe("mandatory");
      expect(p.description.length).toBeGreaterThan(20);
      expect(p.remediationSteps?.length ?? 0).toBeGreaterThan(20);
    }
  });

  it("reports through validateResource exactly what the pure check returns", async () => {
    const policy = byName("iam-least-privilege") as ResourceValidationPolicy;
    const bad = { type: T.rolePolicy, props: { role: "r", policy: JSON.stringify(allow("*", "*")) } };
    const pure = RULES.find((r) => r.name === "iam-least-privilege")!;
    const expected =
      pure.kind === "resource"
        ? pure.check(
            { ...bad, name: "x", urn: "u" },
            { config: { maxFailoverTtlSeconds: 300, route53EndpointNames: [] } },
          )
        : [];
    expect(expected.length).toBeGreaterThan(0);
    expect(await validate(policy, bad)).toEqual(expected);
  });

  it("skips resources of other types", async () => {
    const policy = byName("encryption-at-rest") as ResourceValidationPolicy;
    expect(await validate(policy, { type: T.fn, props: {} })).toEqual([]);
  });

  it("takes the account from the provider for cross-account trust", async () => {
    const policy = byName("cross-account-external-id") as ResourceValidationPolicy;
    const role = {
      type: T.role,
      props: {
        assumeRolePolicy: JSON.stringify({
          Statement: [
            {
              Effect: "Allow",
              Action: "sts:AssumeRole",
              Principal: { AWS: "arn:aws:iam::111111111111:root" },
            },
          ],
        }),
      },
    };
    expect(await validate(policy, { ...role, account: "111111111111" })).toEqual([]);
    expect(await validate(policy, { ...role, account: "222222222222" })).toHaveLength(1);
  });

  it("reads maxFailoverTtlSeconds from the policy's config, with 300 as the schema default", async () => {
    const policy = byName("failover-record-ttl") as ResourceValidationPolicy;
    expect(policy.configSchema?.properties.maxFailoverTtlSeconds).toMatchObject({
      type: "integer",
      default: 300,
    });
    const record = {
      type: T.record,
      props: { ttl: 120, failoverRoutingPolicies: [{ type: "SECONDARY" }] },
    };
    expect(await validate(policy, record, { maxFailoverTtlSeconds: 300 })).toEqual([]);
    expect(await validate(policy, record, { maxFailoverTtlSeconds: 60 })).toEqual([
      expect.stringMatching(/TTL is 120 s, above the bound of 60 s/),
    ]);
  });

  it("runs the log-group check as a stack policy, reporting the function's URN", async () => {
    const policy = byName("lambda-log-group") as StackValidationPolicy;
    const reported: { message: string; urn?: string }[] = [];
    const fn = { type: T.fn, name: "f", urn: "urn:f", props: { name: "f" } };
    await policy.validateStack(
      { resources: [fn], getConfig: () => ({}) } as unknown as Parameters<typeof policy.validateStack>[0],
      (message: string, urn?: string) => reported.push({ message, urn }),
    );
    expect(reported).toEqual([{ message: expect.stringMatching(/loggingConfig/), urn: "urn:f" }]);
  });

  it("is laid out as a Pulumi policy pack folder", () => {
    const yaml = parseYaml(fs.readFileSync(path.join(ROOT, "policy/PulumiPolicy.yaml"), "utf8")) as {
      runtime: { name: string };
    };
    expect(yaml.runtime.name).toBe("nodejs");
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "policy/package.json"), "utf8")) as {
      version: string;
      dependencies: Record<string, string>;
    };
    // PolicyPack refuses to start without a version in the pack's package.json.
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(Object.keys(pkg.dependencies)).toContain("@pulumi/policy");
    const index = fs.readFileSync(path.join(ROOT, "policy/index.ts"), "utf8");
    expect(index).toMatch(/new PolicyPack\("iot-dr"/);
  });
});
