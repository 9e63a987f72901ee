import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { checkKnownKeys, ConfigError, CONFIG_KEYS, DEFAULTS, parseConfig } from "../../stacks/config.js";
import {
  CONFIG_TABLE,
  renderConfigTable,
  type ConfigKey,
  type ConfigKeySpec,
} from "../../stacks/configKeys.js";
import { VALID_CONFIG } from "../support/config.js";

const SPECS = CONFIG_TABLE as Record<ConfigKey, ConfigKeySpec>;

const valid = VALID_CONFIG;

function errorOf(raw: Record<string, unknown>, dryRun = true): ConfigError {
  try {
    parseConfig(raw, { stack: String(raw.role ?? "primary"), dryRun });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("stack configuration", () => {
  it("accepts the shipped example values in previews and fills every default", () => {
    const config = parseConfig(valid, { stack: "primary", dryRun: true });
    expect(config.accounts.iot).toEqual({ id: "111111111111" });
    expect(config.replication.batchSize).toBe(100);
    expect(config.health.checkIntervalSeconds).toBe(10);
    expect(config.health.criticalFactors).toEqual([
      "iotBroker",
      "applicationServices",
      "commandControl",
      "analytics",
    ]);
    expect(config.dns.failoverRecordTtlSeconds).toBe(60);
  });

  it.each([
    [{ ...valid, iotAccountId: undefined }, "iot-dr:iotAccountId", "is required", "111111111111"],
    [{ ...valid, analyticsAccountId: "12345" }, "iot-dr:analyticsAccountId", "12-digit", "333333333333"],
    [
      { ...valid, secondaryRegion: "us-east-1" },
      "iot-dr:secondaryRegion",
      "must differ from iot-dr:primaryRegion",
      "us-west-2",
    ],
    [
      { ...valid, primaryRegion: "mars-north-1" },
      "iot-dr:primaryRegion",
      "not a region where AWS IoT Core is available",
      "us-east-1",
    ],
    [{ ...valid, failoverRecordTtlSeconds: "0" }, "iot-dr:failoverRecordTtlSeconds", "from 1 to 3600", "60"],
    [
      { ...valid, failoverRecordTtlSeconds: 86400 },
      "iot-dr:failoverRecordTtlSeconds",
      "from 1 to 3600",
      "60",
    ],
    [{ ...valid, healthCheckIntervalSeconds: "20" }, "iot-dr:healthCheckIntervalSeconds", "10 or 30", "10"],
    [{ ...valid, healthCheckIntervalSeconds: 5 }, "iot-dr:healthCheckIntervalSeconds", "from 10 to 30", "10"],
    [
      { ...valid, healthCheckFailureThreshold: 11 },
      "iot-dr:healthCheckFailureThreshold",
      "from 1 to 10",
      "3",
    ],
    [{ ...valid, role: "tertiary" }, "iot-dr:role", "must be one of primary, secondary, global", "primary"],
    [
      { ...valid, iotRoleArn: "arn:aws:iam::111111111111:role/deployer" },
      "iot-dr:assumeRoleExternalId",
      "is required when",
      "--secret",
    ],
    [
      { ...valid, iotRoleArn: "arn:aws:iam::999999999999:role/deployer", assumeRoleExternalId: "x" },
      "iot-dr:iotRoleArn",
      "names account 999999999999",
      "arn:aws:iam::111111111111:role/iot-dr-deployer",
    ],
    [
      { ...valid, criticalFactors: '["iotBroker","weather"]' },
      "iot-dr:criticalFactors",
      "unknown factor 'weather'",
      "iotBroker",
    ],
    [
      { ...valid, iotApiRates: ["CreateThing=fast"] },
      "iot-dr:iotApiRates",
      "<IotApiName>=<calls per second>",
      "CreateThing=50",
    ],
    [{ ...valid, logRetentionDays: 8 }, "iot-dr:logRetentionDays", "retention periods", "30"],
    [
      { ...valid, hostedZoneName: "not a domain" },
      "iot-dr:hostedZoneName",
      "DNS domain name",
      "iot.example.com",
    ],
    [
      { ...valid, failoverNoticeTopic: "dr/#" },
      "iot-dr:failoverNoticeTopic",
      "without wildcards",
      "dr/failover/notice",
    ],
  ])(
    "refuses %o with one message naming the key, the problem and an example",
    (raw, key, problem, example) => {
      const err = errorOf(raw);
      expect(err.message).toContain(`Invalid config ${key}:`);
      expect(err.message).toContain(problem);
      expect(err.message).toContain(`Example: pulumi config set ${key} `);
      expect(err.message).toContain(example);
    },
  );

  it("accepts placeholder account ids in previews but refuses them in `up`", () => {
    expect(() => parseConfig(valid, { stack: "primary", dryRun: true })).not.toThrow();
    const err = errorOf(valid, false);
    expect(err.message).toContain("iot-dr:iotAccountId");
    expect(err.message).toContain("placeholder");
    const real = {
      ...valid,
      iotAccountId: "518293746501",
      commandControlAccountId: "518293746502",
      analyticsAccountId: "518293746503",
      sharedServicesAccountId: "518293746504",
    };
    expect(parseConfig(real, { stack: "primary", dryRun: false }).accounts.iot.id).toBe("518293746501");
  });

  it("names a misspelt key and suggests the known one", () => {
    expect(() => checkKnownKeys(["primaryRegon"])).toThrow(
      /iot-dr:primaryRegon: is not a known key \(did you mean iot-dr:primaryRegion\?\)/,
    );
  });

  it("declares every key in Pulumi.yaml exactly as the config table does (type, default, description)", () => {
    const project = parseYaml(fs.readFileSync("Pulumi.yaml", "utf8")) as {
      config: Record<string, { type: string; description: string; default?: unknown }>;
    };
    expect(Object.keys(project.config).sort()).toEqual([...CONFIG_KEYS].sort());
    for (const [key, decl] of Object.entries(project.config)) {
      const spec = SPECS[key as ConfigKey];
      expect(decl.type, key).toBe(spec.type);
      expect(decl.description, key).toBe(spec.description);
      expect(decl.default, key).toEqual(spec.default);
      expect(decl.default, key).toEqual(DEFAULTS[key]);
    }
  });

  it("shows in the README the key table rendered from the config table", () => {
    const readme = fs.readFileSync("README.md", "utf8");
    const m = /<!-- config-keys:start[^>]*-->\s*\n([\s\S]*?)\n\s*<!-- config-keys:end -->/.exec(readme);
    expect(m, "README.md has the config-keys markers").toBeTruthy();
    // On a difference: npm run config:readme (writes renderConfigTable()'s output between the markers), then prettier README.md.
    const squash = (t: string) =>
      t.split("\n").map((l) =>
        l
          .split("|")
          .map((c) => c.trim().replace(/^-+$/, "-"))
          .join("|"),
      );
    expect(squash(m![1]!)).toEqual(squash(renderConfigTable()));
  });

  it("refuses each integer key just outside the bounds the table declares, naming them, and takes the bounds", () => {
    const ints = (Object.entries(SPECS) as [ConfigKey, ConfigKeySpec][]).filter(
      ([, s]) => s.type === "integer",
    );
    expect(ints.length).toBeGreaterThan(15);
    // serverSideMove on: its rate is read (and must stay within the connect rate, 100000 here).
    const base = {
      ...valid,
      serverSideMove: true,
      deviceConnectRatePerSecond: 100_000,
      serverSideMoveRatePerSecond: 1,
    };
    for (const [key, spec] of ints) {
      for (const outside of [spec.min! - 1, spec.max! + 1]) {
        const err = errorOf({ ...base, [key]: outside });
        expect(err.key, key).toBe(key);
        expect(err.message, key).toContain(`from ${spec.min} to ${spec.max}`);
      }
      if (key === "logRetentionDays") continue; // 1 and 3653 are CloudWatch periods; checked below too
      const lowest = parseConfig({ ...base, [key]: spec.min }, { stack: "primary", dryRun: true });
      expect(lowest, key).toBeTruthy();
    }
    expect(() =>
      parseConfig({ ...base, logRetentionDays: 3653 }, { stack: "primary", dryRun: true }),
    ).not.toThrow();
  });
});

describe("health and device endpoint configuration", () => {
  it("reads extra checkpoints per account and refuses a bad one naming the entry", () => {
    const config = parseConfig(
      {
        ...valid,
        healthCheckpoints:
          '{"iot":[{"name":"orders-api","type":"http","url":"https://orders.internal/health"}]}',
      },
      { stack: "primary", dryRun: true },
    );
    expect(config.health.checkpoints.iot?.[0]).toMatchObject({ name: "orders-api", type: "http" });
    const err = errorOf({ ...valid, healthCheckpoints: '{"iot":[{"name":"orders-api","type":"http"}]}' });
    expect(err.message).toContain("Invalid config iot-dr:healthCheckpoints: iot: health checkpoint #1");
    expect(err.message).toContain("'url'");
    expect(errorOf({ ...valid, healthCheckpoints: '{"weather":[]}' }).message).toContain(
      "unknown account 'weather'",
    );
  });

  it("refuses a short health-check path secret and a malformed certificate ARN", () => {
    expect(errorOf({ ...valid, healthCheckPathSecret: "short" }).message).toContain(
      "iot-dr:healthCheckPathSecret",
    );
    expect(errorOf({ ...valid, deviceCertificateArn: "arn:aws:s3:::bucket" }).message).toContain(
      "iot-dr:deviceCertificateArn",
    );
    const ok = parseConfig(
      {
        ...valid,
        healthCheckPathSecret: "a".repeat(32),
        deviceCertificateArn: "arn:aws:acm:us-east-1:111111111111:certificate/0a1b",
      },
      { stack: "primary", dryRun: true },
    );
    expect(ok.health.pathSecret).toBe("a".repeat(32));
    expect(ok.dns.deviceCertificateArn).toBe("arn:aws:acm:us-east-1:111111111111:certificate/0a1b");
  });
});

describe("C&C domain, analytics endpoint and application services configuration", () => {
  const parse = (extra: Record<string, unknown>) =>
    parseConfig({ ...valid, ...extra }, { stack: "primary", dryRun: true });

  it("reads the C&C certificate and the global endpoint id, and refuses malformed ones naming the key", () => {
    const ok = parse({
      ccCertificateArn: "arn:aws:acm:us-east-1:222222222222:certificate/0a1b",
      analyticsGlobalEndpointId: "abcde.veo",
    });
    expect(ok.dns.ccCertificateArn).toBe("arn:aws:acm:us-east-1:222222222222:certificate/0a1b");
    expect(ok.analytics.globalEndpointId).toBe("abcde.veo");
    expect(parse({}).analytics).toEqual({});
    expect(errorOf({ ...valid, ccCertificateArn: "cc-cert" }).message).toContain(
      "Invalid config iot-dr:ccCertificateArn: must be an ACM certificate ARN, got 'cc-cert'",
    );
    expect(errorOf({ ...valid, analyticsGlobalEndpointId: "https://x" }).message).toContain(
      "Invalid config iot-dr:analyticsGlobalEndpointId",
    );
  });

  it("reads the application from JSON and names the field that is wrong", () => {
    const app = {
      appName: "orders",
      functions: { api: { codePath: "app/dist", handler: "index.handler", memoryMb: 512 } },
    };
    expect(parse({ applicationServices: JSON.stringify(app) }).applicationServices).toEqual(app);
    expect(parse({}).applicationServices).toBeUndefined();
    const bad = (value: unknown) => errorOf({ ...valid, applicationServices: JSON.stringify(value) }).message;
    expect(bad({ ...app, appName: "Orders!" })).toContain(
      "Invalid config iot-dr:applicationServices: appName: must be 2-32 lower-case letters, digits or '-'",
    );
    expect(bad({ ...app, functions: { api: { codePath: "app/dist", handler: "index" } } })).toContain(
      "functions.api.handler: must look like index.handler",
    );
    expect(bad({ ...app, functions: { api: { ...app.functions.api, memoryMb: 64 } } })).toContain(
      "functions.api.memoryMb",
    );
    expect(bad({ ...app, extra: true })).toContain("applicationServices");
    expect(errorOf({ ...valid, applicationServices: "{not json" }).message).toContain(
      "must be a JSON object",
    );
  });
});
