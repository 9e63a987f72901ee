/**
 * `iot-dr deploy` and `iot-dr drift` when the state backend or a provider stops answering: every
 * stack operation ends within its deadline (cli/automation/deadlines.ts) naming the stack and the
 * operation, exits 1, starts no later stack, and leaves no Pulumi process running; Ctrl-C does the
 * same with exit 130. Two layers: the commands over the fake workspace, and the real Automation API
 * (`LocalWorkspace`) driving a stand-in `pulumi` executable that never answers, killed by signal.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";
import { makeDeployCommand } from "../../cli/commands/deploy.js";
import { makeDriftCommand } from "../../cli/commands/drift.js";
import { LocalStackWorkspace } from "../../cli/automation/local.js";
import { runDeploy, runDrift } from "../../cli/automation/operations.js";
import { resolveStackDeadlines, STACK_DEADLINES_S } from "../../cli/automation/deadlines.js";
import { runCommand, type Scripts, type Terminal } from "./run-command.js";
import { alive } from "../support/process.js";

const deploy = (argv: string[], scripts: Scripts = {}, terminal: Terminal = {}) =>
  runCommand(makeDeployCommand, ["deploy", "--yes", ...argv], scripts, terminal);
const drift = (argv: string[], scripts: Scripts = {}, terminal: Terminal = {}) =>
  runCommand(makeDriftCommand, ["drift", ...argv], scripts, terminal);

describe("deploy and drift against a backend that never answers (fake workspace)", () => {
  it("a pulumi up that never ends is cut at --op-timeout, names the stack and operation, exits 1 and runs nothing after it", async () => {
    const started = Date.now();
    const run = await deploy(["--op-timeout", "0.3"], { primary: { hang: { up: true } } });
    expect(run.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.stdout).toMatch(/primary\s+failed\s+pulumi up on stack primary gave no result within 0.3 s/);
    expect(run.stdout).toContain("--op-timeout");
    expect(run.stdout).toMatch(/secondary\s+skipped/);
    expect(run.workspace.calls).toContain("aborted up primary");
    expect(run.workspace.hanging).toBe(0);
    expect(run.workspace.calls.some((c) => /^(up|setConfig) (secondary|global)/.test(c))).toBe(false);
  });

  it("a stack select that never answers is cut at the read deadline (IOT_DR_STACK_READ_TIMEOUT) before any up", async () => {
    process.env.IOT_DR_STACK_READ_TIMEOUT = "0.3";
    try {
      const run = await deploy(["--json", "--stacks", "global"], { primary: { hang: { select: true } } });
      expect(run.code).toBe(1);
      const report = JSON.parse(run.stdout) as { error: string };
      expect(report.error).toContain("pulumi stack select on stack primary gave no result within 0.3 s");
      expect(report.error).toContain("IOT_DR_STACK_READ_TIMEOUT");
      expect(run.workspace.mutatingCalls()).toEqual([]);
      expect(run.workspace.hanging).toBe(0);
    } finally {
      delete process.env.IOT_DR_STACK_READ_TIMEOUT;
    }
  });

  it("a refresh preview that never ends is cut, names the stack, exits 1, and the later stacks say why they were not previewed", async () => {
    const run = await drift(["--op-timeout", "0.3", "--json"], {
      secondary: { hang: { previewRefresh: true } },
    });
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { stacks: { stack: string; error?: string }[] };
    expect(report.stacks.find((s) => s.stack === "primary")?.error).toBeUndefined();
    expect(report.stacks.find((s) => s.stack === "secondary")?.error).toContain(
      "pulumi refresh --preview-only on stack secondary gave no result within 0.3 s",
    );
    expect(report.stacks.find((s) => s.stack === "global")?.error).toBe(
      "not previewed: secondary ran out of time",
    );
    expect(run.workspace.calls).not.toContain("previewRefresh global");
    expect(run.workspace.hanging).toBe(0);
  });

  it("Ctrl-C during an up interrupts it, starts nothing after it and exits 130", async () => {
    let press: ((signal: string) => void) | undefined;
    const pending = deploy(
      [],
      { secondary: { hang: { up: true } } },
      {
        onInterrupt: (handler) => {
          press = handler;
          return () => (press = undefined);
        },
      },
    );
    // Press Ctrl-C once the up of secondary is waiting.
    for (let i = 0; i < 200 && !press; i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 50));
    press?.("SIGINT");
    const run = await pending;
    expect(run.code).toBe(130);
    expect(run.stderr).toContain("SIGINT: interrupting the stack operation in flight");
    expect(run.stdout).toMatch(/secondary\s+failed\s+pulumi up on stack secondary was interrupted/);
    expect(run.workspace.calls).toContain("aborted up secondary");
    expect(run.workspace.calls).not.toContain("up global");
    expect(run.workspace.hanging).toBe(0);
    expect(press).toBeUndefined(); // the handler is removed once the command ends
  });

  it("refuses a bad --op-timeout before touching any stack", async () => {
    const run = await deploy(["--op-timeout", "soon"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--op-timeout must be a positive number of seconds");
    expect(run.workspace.calls).toEqual([]);
  });

  it("documents its defaults: reads 120 s, up and destroy an hour, refresh preview 30 minutes", () => {
    expect(STACK_DEADLINES_S).toEqual({ read: 120, up: 3600, destroy: 3600, refreshPreview: 1800 });
    expect(resolveStackDeadlines(undefined, { IOT_DR_STACK_TIMEOUT: "60" }).ms.up).toBe(60_000);
  });
});

/** A `pulumi` executable that answers `version` and hangs on the operation named in FAKE_PULUMI_HANG. */
function fakePulumi(root: string): void {
  fs.mkdirSync(path.join(root, "bin"), { recursive: true });
  const script = path.join(root, "pulumi.cjs");
  fs.writeFileSync(
    script,
    `const fs = require("node:fs");
const args = process.argv.slice(2);
const op = args[0] === "stack" ? "stack " + args[1] : args[0];
fs.appendFileSync(${JSON.stringify(path.join(root, "calls"))}, process.pid + " " + op + "\\n");
if (op === "version") { process.stdout.write("v3.276.0\\n"); process.exit(0); }
if (op === process.env.FAKE_PULUMI_HANG) {
  // The backend never answers: wait forever; on SIGINT cancel and exit as pulumi does.
  process.on("SIGINT", () => process.exit(255));
  setInterval(() => undefined, 1 << 30);
} else if (op === "stack output") { process.stdout.write("{}\\n"); }
`,
  );
  fs.writeFileSync(
    path.join(root, "bin", "pulumi"),
    `#!/bin/sh\nexec "${process.execPath}" "${script}" "$@"\n`,
    {
      mode: 0o755,
    },
  );
}

describe("the real Automation API driving a pulumi process that never answers", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-fake-pulumi-"));
  const project = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-project-"));
  let workspace: LocalStackWorkspace;
  beforeAll(async () => {
    fakePulumi(root);
    fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: iot-dr\nruntime: nodejs\n");
    const pulumiCommand = await PulumiCommand.get({ root, skipVersionCheck: true });
    workspace = new LocalStackWorkspace({ workDir: project, pulumiCommand });
  });
  afterAll(() => {
    delete process.env.FAKE_PULUMI_HANG;
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(project, { recursive: true, force: true });
  });
  const pidsOf = (op: string) =>
    fs
      .readFileSync(path.join(root, "calls"), "utf8")
      .split("\n")
      .filter((line) => line.endsWith(` ${op}`))
      .map((line) => Number(line.split(" ")[0]));

  it("pulumi up: the deadline interrupts the process, the report names the stack, and no process is left", async () => {
    process.env.FAKE_PULUMI_HANG = "up";
    const deadlines = resolveStackDeadlines("1", {});
    const started = Date.now();
    const report = await runDeploy(workspace, ["primary", "secondary"], "deploy", { deadlines });
    expect(Date.now() - started).toBeLessThan(1_000 + 10_000);
    expect(report.failed).toBe("primary");
    expect(report.skipped).toEqual(["secondary"]);
    expect(report.stacks[0]?.error).toContain("pulumi up on stack primary gave no result within 1 s");
    const ups = pidsOf("up");
    expect(ups).toHaveLength(1);
    expect(alive(ups[0]!)).toBe(false);
  });

  it("stack select (no signal in the Automation API) is interrupted too, and no process is left", async () => {
    process.env.FAKE_PULUMI_HANG = "stack select";
    const deadlines = resolveStackDeadlines(undefined, { IOT_DR_STACK_READ_TIMEOUT: "1" });
    const report = await runDrift(workspace, ["primary", "global"], { deadlines });
    expect(report.errorCount).toBe(2);
    expect(report.stacks[0]?.error).toContain(
      "pulumi stack select on stack primary gave no result within 1 s",
    );
    const selects = pidsOf("stack select");
    expect(selects.length).toBeGreaterThan(0);
    for (const pid of selects) expect(alive(pid)).toBe(false);
  });
});
