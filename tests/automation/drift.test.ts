import { describe, expect, it } from "vitest";
import { makeDriftCommand } from "../../cli/commands/drift.js";
import { QUEUE_URN, THING_URN, refreshPreviewClean, refreshPreviewWithDrift } from "./engine-events.js";
import { runCommand, type Scripts } from "./run-command.js";

const drift = (argv: string[], scripts: Scripts = {}) =>
  runCommand(makeDriftCommand, ["drift", ...argv], scripts);

const clean = { events: { previewRefresh: refreshPreviewClean }, changes: { previewRefresh: { same: 1 } } };
const drifted = {
  events: { previewRefresh: refreshPreviewWithDrift },
  changes: { previewRefresh: { same: 2, update: 1, delete: 1 } },
};

describe("iot-dr drift", () => {
  it("exits 0 and says so when no stack drifted, having only previewed", async () => {
    const run = await drift([], { primary: clean, secondary: clean, global: clean });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("drift: none");
    expect(run.workspace.calls.filter((call) => call.startsWith("previewRefresh"))).toEqual([
      "previewRefresh primary",
      "previewRefresh secondary",
      "previewRefresh global",
    ]);
    expect(run.workspace.mutatingCalls()).toEqual([]);
  });

  it("exits 3 and lists every drifted resource with its operation and changed properties", async () => {
    const run = await drift([], { primary: drifted, secondary: clean, global: clean });
    expect(run.code).toBe(3);
    expect(run.stdout).toContain("primary: 2 drifted resources");
    expect(run.stdout).toContain(
      "update  aws:iot/thing:Thing  canary  [attributes.firmware, attributes.site]",
    );
    expect(run.stdout).toContain("delete  aws:sqs/queue:Queue  replay-dlq");
    expect(run.stdout).toContain("secondary: no drift");
    expect(run.stdout).toContain("drift: 2 resources in 1 stack");
  });

  it("prints the drift report as one JSON document", async () => {
    const run = await drift(["--json", "--stacks", "primary,secondary"], {
      primary: drifted,
      secondary: clean,
    });
    expect(run.code).toBe(3);
    const report = JSON.parse(run.stdout);
    expect(report.driftCount).toBe(2);
    expect(report.stacks.map((s: { stack: string }) => s.stack)).toEqual(["primary", "secondary"]);
    expect(report.stacks[0].drift).toEqual([
      {
        urn: THING_URN,
        type: "aws:iot/thing:Thing",
        name: "canary",
        op: "update",
        diffs: ["attributes.firmware", "attributes.site"],
      },
      { urn: QUEUE_URN, type: "aws:sqs/queue:Queue", name: "replay-dlq", op: "delete", diffs: [] },
    ]);
    expect(report.stacks[1].drift).toEqual([]);
  });

  it("counts drift the engine summarised without naming the resources, rather than reporting none", async () => {
    const run = await drift(["--json", "--stacks", "secondary"], {
      secondary: { changes: { previewRefresh: { same: 4, update: 2 } } },
    });
    expect(run.code).toBe(3);
    const report = JSON.parse(run.stdout);
    expect(report.stacks[0]).toMatchObject({ stack: "secondary", drift: [], unattributed: 2 });
    expect(report.driftCount).toBe(2);
  });

  it("exits 1 when a stack cannot be previewed, still previews the others and reports the error", async () => {
    const run = await drift(["--json"], {
      primary: drifted,
      secondary: { fail: { previewRefresh: "code: 255\n stderr: error: failed to decrypt configuration" } },
      global: clean,
    });
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.errorCount).toBe(1);
    expect(report.stacks[1]).toEqual({
      stack: "secondary",
      drift: [],
      error: "error: failed to decrypt configuration",
    });
    expect(report.stacks[2].drift).toEqual([]);
    expect(run.workspace.calls).toContain("previewRefresh global");
  });

  it("exits 1 when a stack does not exist, without creating it", async () => {
    const run = await drift(["--stacks", "global"], { global: { exists: false } });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("global: error: no stack named 'global' found");
    expect(run.workspace.calls).not.toContain("create global");
  });

  it("streams the engine's output to stderr, keeping stdout for the report", async () => {
    const run = await drift(["--json", "--stacks", "primary"], {
      primary: { ...clean, lines: { previewRefresh: ["Previewing refresh (primary)"] } },
    });
    expect(run.stderr).toContain("[primary] Previewing refresh (primary)\n");
    expect(run.stdout).not.toContain("Previewing");
  });

  it.each([
    [["--stacks", "west"], 'unknown stack "west"'],
    [["--stacks", "global,global"], '"global" given more than once'],
  ])("%j → exit 2 before any stack is touched: %s", async (argv, message) => {
    const run = await drift(argv);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.workspace.calls).toEqual([]);
  });
});
