import { describe, expect, it } from "vitest";
import { packConfig } from "../../policy/run";

describe("policy pack config", () => {
  it("defaults to a 300 s fail-over TTL bound, the health check's Route 53 endpoint only and every policy mandatory", () => {
    expect(packConfig(undefined)).toEqual({
      config: {
        maxFailoverTtlSeconds: 300,
        route53EndpointNames: [
          "health-check-primary-url",
          "health-check-primary-invoke-url",
          "health-check-secondary-url",
          "health-check-secondary-invoke-url",
        ],
      },
      levels: {},
    });
  });

  it("reads settings and enforcement levels in Pulumi's --policy-pack-config format", () => {
    const resolved = packConfig({
      "failover-record-ttl": { enforcementLevel: "advisory", maxFailoverTtlSeconds: 60 },
      "health-api-not-public": { route53EndpointNames: ["health-check-url"] },
      "encryption-at-rest": "disabled",
    });
    expect(resolved.config).toEqual({
      maxFailoverTtlSeconds: 60,
      route53EndpointNames: ["health-check-url"],
    });
    expect(resolved.levels).toEqual({ "failover-record-ttl": "advisory", "encryption-at-rest": "disabled" });
  });

  it("applies 'all' to every policy", () => {
    const { levels } = packConfig({ all: "advisory" });
    // 14 policies, 4 of issue #17 (first deploy into real accounts), 1 of #14 (function archives)
    // and 1 of #16 (server-side move).
    expect(Object.values(levels)).toHaveLength(20);
    expect(new Set(Object.values(levels))).toEqual(new Set(["advisory"]));
  });

  it.each([
    [[], /must be a JSON object keyed by policy name/],
    [{ "no-such-policy": "mandatory" }, /unknown policy 'no-such-policy': use one of ops-table-durability/],
    [
      { "failover-record-ttl": "strict" },
      /enforcement level 'strict' is not one of advisory, mandatory, disabled/,
    ],
    [{ "failover-record-ttl": { enforcementLevel: 1 } }, /enforcementLevel' must be one of/],
    [
      { "failover-record-ttl": { maxTtl: 5 } },
      /'failover-record-ttl.maxTtl' is not a setting of that policy \(it has: maxFailoverTtlSeconds\)/,
    ],
    [{ "encryption-at-rest": { kms: true } }, /it has only enforcementLevel/],
    [{ "failover-record-ttl": { maxFailoverTtlSeconds: "60" } }, /must be a whole number of seconds/],
    [
      { "health-api-not-public": { route53EndpointNames: "url" } },
      /must be a list of logical resource names/,
    ],
    [{ "failover-record-ttl": 5 }, /must be an enforcement level or an object of settings/],
  ])("refuses %j naming what is wrong", (doc, message) => {
    expect(() => packConfig(doc)).toThrow(message);
  });
});
