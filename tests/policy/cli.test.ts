import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { PlannedResource } from "../../cli/plan/recorder";
import { iotDr, ROOT } from "../support/cli.js";

function tempFile(name: string, text: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-policy-")), name);
  fs.writeFileSync(file, text);
  return file;
}

// The plan itself is replaced by injected resources for the exit-3 cases: the command's wiring is under test.
const injected: { resources: PlannedResource[] } = { resources: [] };
vi.mock("../../cli/plan/run.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../cli/plan/run.js")>();
  return {
    ...original,
    planStack: async ({ stack }: { stack: string }) => ({
      stack,
      config: { primaryRegion: "us-east-1", secondaryRegion: "us-west-2" },
      resources: injected.resources,
      outputs: {},
      notices: [],
    }),
  };
});

const provider: PlannedResource = {
  type: "pulumi:providers:aws",
  name: "iot-primary",
  custom: true,
  urn: "root/pulumi:providers:aws::iot-primary",
  inputs: { region: "us-east-1", allowedAccountIds: ["111111111111"] },
};
const publicUrl: PlannedResource = {
  type: "aws:lambda/functionUrl:FunctionUrl",
  name: "health-iot-url",
  provider: "iot-primary",
  custom: true,
  urn: "root/aws:lambda/functionUrl:FunctionUrl::health-iot-url",
  inputs: { functionName: "health-iot", authorizationType: "NONE" },
};

async function runInProcess(args: string[]) {
  const { runCli } = await import("../../cli/main.js");
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await runCli(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe("iot-dr plan --policy", () => {
  it.each(["primary", "secondary", "global"])(
    "exits 0 on the shipped %s config and reports an empty violations list in the JSON document",
    (stack) => {
      const run = iotDr("plan", "--stack", stack, "--policy", "--json");
      // A warning on stderr (e.g. Pulumi's packager dropping a dependency) is a finding.
      expect(run.stderr).toBe("");
      expect(run.code, run.stderr).toBe(0);
      const doc = JSON.parse(run.stdout) as { stack: string; resources: unknown[]; violations: unknown[] };
      expect(doc.stack).toBe(stack);
      expect(doc.resources.length).toBeGreaterThan(0);
      expect(doc.violations).toEqual([]);
    },
    // --policy also builds and loads every function archive in fresh processes.
    300_000,
  );

  it("prints 'no violations' after the inventory in text mode", async () => {
    injected.resources = [provider];
    const run = await runInProcess(["plan", "--stack", "primary", "--policy"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Outputs:\n(.*\n)*Policy iot-dr: no violations\n$/);
  });

  it("exits 3 on the real global plan when the stack file sets a fail-over TTL above the pack's bound", () => {
    const text = fs
      .readFileSync(path.join(ROOT, "Pulumi.global.yaml"), "utf8")
      .replace(/iot-dr:failoverRecordTtlSeconds: \d+/, "iot-dr:failoverRecordTtlSeconds: 600");
    const run = iotDr(
      "plan",
      "--stack",
      "global",
      "--config",
      tempFile("Pulumi.global.yaml", text),
      "--policy",
      "--json",
    );
    expect(run.code, run.stderr).toBe(3);
    const doc = JSON.parse(run.stdout) as { violations: { policy: string; message: string }[] };
    expect(doc.violations.length).toBeGreaterThan(0);
    for (const v of doc.violations) {
      expect(v.policy).toBe("failover-record-ttl");
      expect(v.message).toMatch(
        /TTL is 600 s, above the bound of 300 s.*failoverRecordTtlSeconds to 300 or less/,
      );
    }
  });

  it("exits 3 and lists policy, resource and message when a resource violates the pack", async () => {
    injected.resources = [provider, publicUrl];
    const run = await runInProcess(["plan", "--stack", "primary", "--policy", "--json"]);
    expect(run.code).toBe(3);
    const doc = JSON.parse(run.stdout) as { violations: object[] };
    expect(doc.violations).toEqual([
      {
        policy: "health-api-not-public",
        resource: "health-iot-url",
        type: "aws:lambda/functionUrl:FunctionUrl",
        message: expect.stringMatching(/authorizationType: "AWS_IAM"/),
        enforcementLevel: "mandatory",
      },
    ]);
    const text = await runInProcess(["plan", "--stack", "primary", "--policy"]);
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(
      /Policy iot-dr: 1 violation\n {2}\[health-api-not-public\] aws:lambda\/functionUrl:FunctionUrl health-iot-url: /,
    );
  });

  it("honours the policy config: an empty exception list refuses the Route 53 endpoint, an advisory level reports without exit 3", async () => {
    const route53Url: PlannedResource = {
      ...publicUrl,
      name: "health-check-primary-url",
      urn: "urn:pulumi:primary::iot-dr::iot-dr:health:HealthCheck::health-check-primary/aws:lambda/functionUrl:FunctionUrl::health-check-primary-url",
    };
    injected.resources = [provider, route53Url];
    expect((await runInProcess(["plan", "--stack", "primary", "--policy"])).code).toBe(0);
    const none = tempFile(
      "none.json",
      JSON.stringify({ "health-api-not-public": { route53EndpointNames: [] } }),
    );
    expect(
      (await runInProcess(["plan", "--stack", "primary", "--policy", "--policy-config", none])).code,
    ).toBe(3);
    injected.resources = [provider, publicUrl];
    const advisory = tempFile("advisory.json", JSON.stringify({ "health-api-not-public": "advisory" }));
    const run = await runInProcess([
      "plan",
      "--stack",
      "primary",
      "--policy",
      "--policy-config",
      advisory,
      "--json",
    ]);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { violations: unknown[] }).violations).toHaveLength(1);
  });

  it("leaves plans without --policy untouched: no violations key, exit 0", async () => {
    injected.resources = [provider, publicUrl];
    const run = await runInProcess(["plan", "--stack", "primary", "--json"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).not.toHaveProperty("violations");
  });

  it("exits 1 naming the problem for an unreadable, non-JSON or invalid policy config", async () => {
    injected.resources = [provider, publicUrl];
    const plan = (file: string) =>
      runInProcess(["plan", "--stack", "primary", "--policy", "--policy-config", file]);
    const missing = await plan("/nonexistent/policy.json");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read policy config file \/nonexistent\/policy\.json/);
    const notJson = await plan(tempFile("bad.json", "{"));
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toMatch(/is not valid JSON/);
    const ttl = await plan(
      tempFile("ttl.json", JSON.stringify({ "failover-record-ttl": { maxFailoverTtlSeconds: -5 } })),
    );
    expect(ttl.code).toBe(1);
    expect(ttl.stdout).toBe("");
    expect(ttl.stderr).toMatch(
      /maxFailoverTtlSeconds' must be a whole number of seconds from 1 to 86400, got -5/,
    );
  });

  it("exits 2 for --policy-config without --policy", async () => {
    const run = await runInProcess(["plan", "--stack", "primary", "--policy-config", "x.json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--policy-config needs --policy/);
  });
});
