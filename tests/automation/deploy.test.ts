import { describe, expect, it } from "vitest";
import { makeDeployCommand } from "../../cli/commands/deploy.js";
import { upWithFailure } from "./engine-events.js";
import { runCommand, type Scripts, type Terminal } from "./run-command.js";

const deploy = (argv: string[], scripts: Scripts = {}, terminal: Terminal = {}) =>
  runCommand(makeDeployCommand, ["deploy", ...argv], scripts, terminal);

const deployed = { outputs: { stackName: "existing" } };

describe("iot-dr deploy", () => {
  it("runs up on primary, then secondary, then global, whatever order --stacks lists them in", async () => {
    const run = await deploy(["--stacks", "global,primary,secondary", "--yes"]);
    expect(run.code).toBe(0);
    expect(run.workspace.calls.filter((call) => call.startsWith("up "))).toEqual([
      "up primary",
      "up secondary",
      "up global",
    ]);
  });

  it("points each stack's references at this deploy's stacks before its up, so later stacks read earlier outputs", async () => {
    const run = await deploy(["--yes"], {
      primary: { upOutputs: { iotEndpoint: "a1.iot.eu-west-1.amazonaws.com" } },
      secondary: { upOutputs: { iotEndpoint: "a1.iot.eu-central-1.amazonaws.com" } },
    });
    expect(run.code).toBe(0);
    expect(run.workspace.mutatingCalls()).toEqual([
      "up primary",
      "setConfig secondary iot-dr:primaryStack=primary",
      "up secondary",
      "setConfig global iot-dr:primaryStack=primary",
      "setConfig global iot-dr:secondaryStack=secondary",
      "up global",
    ]);
    expect(run.workspace.referencesRead.secondary?.primary).toEqual({
      iotEndpoint: "a1.iot.eu-west-1.amazonaws.com",
    });
    expect(run.workspace.referencesRead.global).toEqual({
      primary: { iotEndpoint: "a1.iot.eu-west-1.amazonaws.com" },
      secondary: { iotEndpoint: "a1.iot.eu-central-1.amazonaws.com" },
    });
  });

  it("with --org, addresses the stacks and their references as <org>/iot-dr/<stack>", async () => {
    const run = await deploy(["--yes", "--org", "acme", "--stacks", "primary,secondary"]);
    expect(run.code).toBe(0);
    expect(run.workspaceOrg).toBe("acme");
    expect(run.workspace.config("secondary")).toEqual({ "iot-dr:primaryStack": "acme/iot-dr/primary" });
    expect(run.stderr).toContain("==> up acme/iot-dr/secondary (iot-dr:primaryStack=acme/iot-dr/primary)");
  });

  it("creates a stack that does not exist yet instead of failing on its first deploy", async () => {
    const run = await deploy(["--yes"], { global: { exists: false } });
    expect(run.code).toBe(0);
    expect(run.workspace.calls).toContain("create global");
  });

  it("deploys global alone when primary and secondary are already deployed", async () => {
    const run = await deploy(["--stacks", "global", "--yes"], { primary: deployed, secondary: deployed });
    expect(run.code).toBe(0);
    expect(run.workspace.mutatingCalls()).toEqual([
      "setConfig global iot-dr:primaryStack=primary",
      "setConfig global iot-dr:secondaryStack=secondary",
      "up global",
    ]);
  });

  it("destroys in reverse order: global, then secondary, then primary", async () => {
    const run = await deploy(["--destroy", "--yes"], {
      primary: deployed,
      secondary: deployed,
      global: deployed,
    });
    expect(run.code).toBe(0);
    expect(run.workspace.mutatingCalls()).toEqual(["destroy global", "destroy secondary", "destroy primary"]);
    expect(run.stdout).toMatch(/destroy: 3 of 3 stacks done/);
  });

  it("stops at the first failing stack and reports deployed, failed and skipped stacks", async () => {
    const run = await deploy(["--yes", "--json"], {
      secondary: { fail: { up: "code: 255\n stderr: error: update failed" }, events: { up: upWithFailure } },
    });
    expect(run.code).toBe(1);
    expect(run.workspace.calls).not.toContain("up global");
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({
      action: "deploy",
      order: ["primary", "secondary", "global"],
      deployed: ["primary"],
      failed: "secondary",
      skipped: ["global"],
    });
    expect(report.stacks[1]).toEqual({
      stack: "secondary",
      status: "failed",
      error: "error: updating DynamoDB Table (ops): AccessDeniedException: not authorized",
    });
  });

  it("reports the CLI's error lines when the engine sent no error diagnostic", async () => {
    const run = await deploy(["--yes"], {
      primary: {
        fail: {
          up: "code: 255\n stdout: Updating (primary)\n stderr: error: no Pulumi.yaml project file found",
        },
      },
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("primary    failed     error: no Pulumi.yaml project file found");
    expect(run.stdout).toContain("secondary  skipped");
    expect(run.stdout).toMatch(/deploy: stopped at primary; 2 skipped/);
  });

  it("stops a destroy at the first failure and leaves the stacks it depends on in place", async () => {
    const run = await deploy(["--destroy", "--yes", "--json"], {
      primary: deployed,
      secondary: { ...deployed, fail: { destroy: "error: resource protected" } },
      global: deployed,
    });
    expect(run.code).toBe(1);
    expect(run.workspace.mutatingCalls()).toEqual(["destroy global", "destroy secondary"]);
    expect(JSON.parse(run.stdout)).toMatchObject({
      destroyed: ["global"],
      failed: "secondary",
      skipped: ["primary"],
    });
  });

  it("prints exactly one JSON document on stdout and streams engine output to stderr", async () => {
    const run = await deploy(["--yes", "--json", "--stacks", "primary"], {
      primary: { lines: { up: ["Updating (primary)", "+ aws:dynamodb:Table ops created"] } },
    });
    expect(run.code).toBe(0);
    expect(() => JSON.parse(run.stdout)).not.toThrow();
    expect(JSON.parse(run.stdout).stacks).toEqual([
      { stack: "primary", status: "deployed", changes: { same: 1 }, outputs: { stackName: "primary" } },
    ]);
    expect(run.stderr).toContain("[primary] + aws:dynamodb:Table ops created\n");
    expect(run.stdout).not.toContain("Updating");
  });

  it("asks a person at an interactive terminal and runs when they type yes", async () => {
    const run = await deploy(["--stacks", "primary"], {}, { interactive: true, answer: "yes" });
    expect(run.code).toBe(0);
    expect(run.prompts).toHaveLength(1);
    expect(run.workspace.mutatingCalls()).toEqual(["up primary"]);
  });

  it("asks for the word destroy before destroying, and changes nothing when it is not typed", async () => {
    const run = await deploy(["--destroy"], { primary: deployed }, { interactive: true, answer: "y" });
    expect(run.code).toBe(1);
    expect(run.prompts[0]).toContain('Type "destroy"');
    expect(run.stderr).toContain("not confirmed; nothing changed");
    expect(run.workspace.mutatingCalls()).toEqual([]);
  });
});

describe("iot-dr deploy refuses bad command lines and changes nothing", () => {
  const valid = "primary, secondary, global";

  it.each([
    [["--stacks", "primary,tertiary"], 'unknown stack "tertiary"'],
    [["--stacks", "primary,primary"], '"primary" given more than once'],
    [["--stacks", "primary,,global"], "has an empty entry"],
    [["--org", "acme/corp"], '--org "acme/corp" is not a Pulumi organization name'],
  ])("%j → exit 2: %s", async (argv, message) => {
    const run = await deploy([...argv, "--yes"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe("");
    expect(run.workspace.calls).toEqual([]);
  });

  it("names the valid stacks when a stack name is unknown", async () => {
    const run = await deploy(["--stacks", "dr", "--yes"]);
    expect(run.stderr).toContain(`valid stacks: ${valid}`);
  });

  it.each<[string, string[], Scripts, string, string]>([
    [
      "deploy global while its dependencies are neither selected nor deployed",
      ["--stacks", "global", "--yes"],
      { primary: deployed, secondary: { exists: false } },
      'global reads "secondary", which is not selected and does not exist',
      "--stacks secondary,global",
    ],
    [
      "deploy secondary alone when primary was never deployed",
      ["--stacks", "secondary", "--yes"],
      {},
      'secondary reads "primary", which is not selected and has no outputs',
      "--stacks primary,secondary",
    ],
    [
      "destroy primary while secondary and global still read it",
      ["--stacks", "primary", "--destroy", "--yes"],
      { primary: deployed, secondary: deployed, global: deployed },
      "secondary, global is deployed and reads it",
      "--stacks primary,secondary,global",
    ],
  ])("refuses to %s, naming the selection that would work", async (_, argv, stacks, why, selection) => {
    const run = await deploy(argv, stacks);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(why);
    expect(run.stderr).toContain(selection);
    expect(run.workspace.mutatingCalls()).toEqual([]);
  });

  it("exits 1 without running anything when a dependency cannot be read at all", async () => {
    const run = await deploy(["--stacks", "secondary", "--yes", "--json"], {
      primary: { fail: { select: "Command failed with ENOENT: pulumi version" } },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("cannot read stack primary: the Pulumi CLI is not installed or not on PATH");
    expect(JSON.parse(run.stdout)).toMatchObject({ action: "deploy", order: ["secondary"] });
    expect(run.workspace.mutatingCalls()).toEqual([]);
  });

  it("refuses --destroy without --yes on a non-interactive terminal", async () => {
    const run = await deploy(["--destroy"], { primary: deployed, secondary: deployed, global: deployed });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("refusing to destroy global → secondary → primary without confirmation");
    expect(run.stderr).toContain("Pass --yes");
    expect(run.workspace.calls).toEqual([]);
  });

  it("refuses an unattended deploy without --yes, as pulumi up does", async () => {
    const run = await deploy([]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("this terminal is not interactive");
    expect(run.workspace.calls).toEqual([]);
  });

  it("rejects an unknown option with exit 2", async () => {
    const run = await deploy(["--stack", "primary"]);
    expect(run.code).toBe(2);
    expect(run.workspace.calls).toEqual([]);
  });
});
