/**
 * Secret stack outputs (`pulumi.secret`, reported by the Automation API with `secret: true`) are
 * shown masked in every output of `iot-dr deploy`, and `iot-dr drift` prints no resource values at
 * all (only names, operations and changed property paths), so an engine event carrying a secret
 * value in its state never reaches its report.
 */
import { describe, expect, it } from "vitest";
import { makeDeployCommand } from "../../cli/commands/deploy.js";
import { makeDriftCommand } from "../../cli/commands/drift.js";
import { refreshPreviewWithDrift } from "./engine-events.js";
import { runCommand } from "./run-command.js";

const SECRET = "s3cr3t-health-path-abcdefghijklmnopqrstuvwxyz";

describe("secrets in deploy and drift output", () => {
  it("deploy shows a secret output as [secret] in its JSON report and prints the value nowhere", async () => {
    const run = await runCommand(makeDeployCommand, ["deploy", "--yes", "--json", "--stacks", "primary"], {
      primary: {
        upOutputs: { region: "eu-west-1", healthCheckResourcePath: `/health/${SECRET}` },
        secretOutputs: ["healthCheckResourcePath"],
      },
    });
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { stacks: { outputs?: Record<string, unknown> }[] };
    expect(report.stacks[0]?.outputs).toEqual({ region: "eu-west-1", healthCheckResourcePath: "[secret]" });
    expect(run.stdout + run.stderr).not.toContain(SECRET);
  });

  it("drift reports drifted resources without their values, secret or not", async () => {
    // The recorded refresh events carry the resource's old and new state; put a secret in it.
    const events = JSON.parse(JSON.stringify(refreshPreviewWithDrift).split("1.3").join(SECRET));
    expect(JSON.stringify(events)).toContain(SECRET);
    const run = await runCommand(makeDriftCommand, ["drift", "--json", "--stacks", "primary"], {
      primary: { events: { previewRefresh: events }, changes: { previewRefresh: { update: 1, delete: 1 } } },
    });
    expect(run.code).toBe(3);
    expect(run.stdout).toContain("aws:iot/thing:Thing");
    expect(run.stdout + run.stderr).not.toContain(SECRET);
  });
});
