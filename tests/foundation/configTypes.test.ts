/**
 * Every key's value is checked for its declared type before use: a list or mapping for a text key
 * is refused naming the key, whether it comes from a stack file (YAML values) or from `pulumi up`
 * (where Pulumi hands the program a list or mapping as its JSON text).
 */
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { checkKnownKeys, ConfigError, parseConfig } from "../../stacks/config.js";
import { VALID_CONFIG } from "../support/config.js";

const valid = VALID_CONFIG;

function messageOf(extra: Record<string, unknown>): string {
  try {
    parseConfig({ ...valid, ...extra }, { stack: "primary", dryRun: true });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("config types", () => {
  it.each([
    ["environment", ["x", "y"], "a list"],
    ["hostedZoneId", { a: 1 }, "a mapping"],
    ["primaryStack", { a: 1 }, "a mapping"],
    ["secondaryStack", ["a"], "a list"],
    ["notificationEmail", { to: "x@example.com" }, "a mapping"],
    ["iotRoleArn", ["arn:aws:iam::111111111111:role/x"], "a list"],
  ])("refuses a YAML list or mapping for the text key %s, naming the key", (key, value, kind) => {
    const message = messageOf({ [key]: value });
    expect(message).toContain(`Invalid config iot-dr:${key}: must be text, got ${kind}`);
  });

  it("refuses the JSON text Pulumi passes for a list or mapping under `pulumi up`", () => {
    expect(messageOf({ environment: '["x","y"]' })).toContain("iot-dr:environment: must be text, got a list");
    expect(messageOf({ hostedZoneId: '{"a":1}' })).toContain(
      "iot-dr:hostedZoneId: must be text, got a mapping",
    );
    expect(messageOf({ primaryStack: '{"a":1}' })).toContain("iot-dr:primaryStack: must be text");
  });

  it("still takes plain text and unquoted scalars for text keys", () => {
    const config = parseConfig(
      { ...valid, environment: 2026, hostedZoneId: "Z123ABC", primaryStack: "acme/iot-dr/primary" },
      { stack: "primary", dryRun: true },
    );
    expect(config.environment).toBe("2026");
    expect(config.dns.hostedZoneId).toBe("Z123ABC");
    expect(config.primaryStack).toBe("acme/iot-dr/primary");
  });

  it("an unquoted account id with a leading zero is refused with the reason and the quoted fix", () => {
    const raw = parseYaml("iotAccountId: 012345678901\n") as { iotAccountId: unknown };
    expect(raw.iotAccountId).toBe(12345678901);
    const message = messageOf({ iotAccountId: raw.iotAccountId });
    expect(message).toContain("iot-dr:iotAccountId: reads as the number 12345678901");
    expect(message).toContain("YAML drops the leading zero of an unquoted 012345678901; quote it");
    expect(message).toContain("pulumi config set iot-dr:iotAccountId '012345678901'");
  });

  it("the misspelt-key hint says to remove the wrong key and set the right one", () => {
    expect(() => checkKnownKeys(["primaryRegon"])).toThrow(
      "Invalid config iot-dr:primaryRegon: is not a known key (did you mean iot-dr:primaryRegion?); see Pulumi.yaml. Fix: pulumi config rm iot-dr:primaryRegon && pulumi config set iot-dr:primaryRegion <value>",
    );
    expect(() => checkKnownKeys(["zzzzzzzz"])).toThrow(
      "Fix: pulumi config rm iot-dr:zzzzzzzz (the known keys are listed in Pulumi.yaml)",
    );
  });
});

describe("stack file shapes", () => {
  it("a value that refers to itself through a YAML alias is refused naming the key", async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const { readStackFile } = await import("../../cli/plan/stackFile.js");
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-alias-")), "Pulumi.primary.yaml");
    fs.writeFileSync(file, "config:\n  iot-dr:role: primary\n  iot-dr:healthCheckpoints: &x {iot: [*x]}\n");
    expect(() => readStackFile(file)).toThrow(
      `config file ${file}: iot-dr:healthCheckpoints refers to itself through a YAML alias (&name ... *name); write the value out`,
    );
  });
});
