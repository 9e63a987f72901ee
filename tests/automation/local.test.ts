import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, StackNotFoundError, type EngineEvent } from "@pulumi/pulumi/automation";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  LocalStackWorkspace,
  REPO_ROOT,
  type AutomationEntry,
  type AutomationStack,
} from "../../cli/automation/local.js";
import { StackNotFound, type ProgressEvent } from "../../cli/automation/workspace.js";
import { refreshPreviewWithDrift, upWithFailure } from "./engine-events.js";

interface StubCall {
  method: string;
  opts: Record<string, unknown> | undefined;
}

type Callbacks = { onOutput?: (out: string) => void; onEvent?: (event: EngineEvent) => void };

/** A stand-in for a Pulumi `Stack` that plays output chunks and engine events the way the CLI does. */
function stubStack(
  chunks: string[],
  events: EngineEvent[],
  calls: StubCall[],
  failUp = false,
): AutomationStack {
  const play = (method: string, opts: (Callbacks & Record<string, unknown>) | undefined) => {
    calls.push({ method, opts });
    for (const chunk of chunks) opts?.onOutput?.(chunk);
    for (const event of events) opts?.onEvent?.(event);
  };
  const summary = { resourceChanges: { update: 1, same: 2 } };
  const stack = {
    setConfig: async (key: string, value: unknown) =>
      void calls.push({ method: "setConfig", opts: { key, value } }),
    up: async (opts?: Callbacks & Record<string, unknown>) => {
      play("up", opts);
      if (failUp) throw new Error("code: 255\n stderr: error: update failed");
      return {
        outputs: { endpoint: { value: "a1.iot", secret: false }, key: { value: "s", secret: true } },
        summary,
      };
    },
    preview: async (opts?: Callbacks & Record<string, unknown>) => {
      play("preview", opts);
      return { changeSummary: { same: 3 } };
    },
    previewRefresh: async (opts?: Callbacks & Record<string, unknown>) => {
      play("previewRefresh", opts);
      return { changeSummary: { same: 2, update: 1, delete: 1 } };
    },
    destroy: async (opts?: Callbacks & Record<string, unknown>) => {
      play("destroy", opts);
      return { summary: { resourceChanges: { delete: 3 } } };
    },
    outputs: async () => ({ endpoint: { value: "a1.iot", secret: false } }),
  };
  return stack as unknown as AutomationStack;
}

function stubAutomation(stack: AutomationStack, selections: string[]): AutomationEntry {
  return {
    selectStack: async (args, opts) => {
      selections.push(`select ${args.stackName} in ${args.workDir} (opts.workDir ${opts?.workDir})`);
      return stack;
    },
    createOrSelectStack: async (args) => {
      selections.push(`createOrSelect ${args.stackName}`);
      return stack;
    },
  };
}

afterEach(() => vi.restoreAllMocks());

describe("the real workspace over LocalWorkspace", () => {
  it("targets the Pulumi project in the repository root and the three stack names, calling no CLI to construct", () => {
    const select = vi.spyOn(LocalWorkspace, "selectStack");
    const createOrSelect = vi.spyOn(LocalWorkspace, "createOrSelectStack");
    const workspace = new LocalStackWorkspace();
    expect(workspace.workDir).toBe(REPO_ROOT);
    expect(REPO_ROOT).toBe(path.resolve(__dirname, "..", ".."));
    expect(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).name).toBe("iot-dr");
    expect(["primary", "secondary", "global"].map((s) => workspace.qualifiedName(s as "primary"))).toEqual([
      "primary",
      "secondary",
      "global",
    ]);
    expect(workspace.programArgs("global")).toEqual({
      args: { stackName: "global", workDir: REPO_ROOT },
      opts: { workDir: REPO_ROOT },
    });
    expect(select).not.toHaveBeenCalled();
    expect(createOrSelect).not.toHaveBeenCalled();
  });

  it("addresses stacks as <org>/iot-dr/<stack> and passes the environment when an org is given", () => {
    const workspace = new LocalStackWorkspace({ org: "acme", envVars: { PULUMI_BACKEND_URL: "s3://state" } });
    expect(workspace.programArgs("primary")).toEqual({
      args: { stackName: "acme/iot-dr/primary", workDir: REPO_ROOT },
      opts: { workDir: REPO_ROOT, envVars: { PULUMI_BACKEND_URL: "s3://state" } },
    });
  });

  it("selects existing stacks, and creates only when asked to", async () => {
    const selections: string[] = [];
    const workspace = new LocalStackWorkspace({
      workDir: "/repo",
      automation: stubAutomation(stubStack([], [], []), selections),
    });
    const handle = await workspace.selectStack("secondary");
    await workspace.selectStack("global", { create: true });
    expect(handle.qualifiedName).toBe("secondary");
    expect(selections).toEqual(["select secondary in /repo (opts.workDir /repo)", "createOrSelect global"]);
  });

  it("turns the Automation API's stack-not-found error into StackNotFound and passes other failures on", async () => {
    // StackNotFoundError's constructor is internal to the Automation API: build one by its prototype.
    const commandError = (stderr: string) =>
      /no stack named/.test(stderr)
        ? Object.assign(Object.create(StackNotFoundError.prototype) as Error, { message: stderr })
        : new Error(`code: 255\n stderr: ${stderr}`);
    const failing = (stderr: string): AutomationEntry => ({
      selectStack: async () => {
        throw commandError(stderr);
      },
      createOrSelectStack: async () => {
        throw new Error("unused");
      },
    });
    const missing = new LocalStackWorkspace({
      org: "acme",
      automation: failing("error: no stack named 'acme/iot-dr/global' found"),
    });
    await expect(missing.selectStack("global")).rejects.toEqual(new StackNotFound("acme/iot-dr/global"));
    const loggedOut = new LocalStackWorkspace({
      automation: failing("error: PULUMI_ACCESS_TOKEN must be set"),
    });
    await expect(loggedOut.selectStack("global")).rejects.toThrow(/PULUMI_ACCESS_TOKEN must be set/);
  });

  it("cuts up's output into lines, maps its engine events, returns outputs and changes", async () => {
    const calls: StubCall[] = [];
    const workspace = new LocalStackWorkspace({
      automation: stubAutomation(stubStack(["Updating (prim", "ary)\nDone"], upWithFailure, calls), []),
    });
    const handle = await workspace.selectStack("primary", { create: true });
    const lines: string[] = [];
    const progress: ProgressEvent[] = [];
    const result = await handle.up({
      onOutputLine: (l) => lines.push(l),
      onProgress: (e) => progress.push(e),
    });
    expect(lines).toEqual(["Updating (primary)", "Done"]);
    expect(progress.map((e) => e.kind)).toEqual(["resource", "diagnostic", "resource"]);
    expect(progress.every((e) => e.stack === "primary")).toBe(true);
    expect(result).toEqual({
      outputs: { endpoint: { value: "a1.iot", secret: false }, key: { value: "s", secret: true } },
      changes: { update: 1, same: 2 },
    });
  });

  it("flushes the last output line even when the operation fails", async () => {
    const workspace = new LocalStackWorkspace({
      automation: stubAutomation(stubStack(["error: update failed"], [], [], true), []),
    });
    const handle = await workspace.selectStack("primary");
    const lines: string[] = [];
    await expect(handle.up({ onOutputLine: (l) => lines.push(l) })).rejects.toThrow(/update failed/);
    expect(lines).toEqual(["error: update failed"]);
  });

  it("runs drift as refresh --preview-only and a refreshing preview with preview({ refresh: true })", async () => {
    const calls: StubCall[] = [];
    const workspace = new LocalStackWorkspace({
      automation: stubAutomation(stubStack([], refreshPreviewWithDrift, calls), []),
    });
    const handle = await workspace.selectStack("primary");
    const progress: ProgressEvent[] = [];
    const drift = await handle.previewRefresh({ onProgress: (e) => progress.push(e) });
    expect(drift.changes).toEqual({ same: 2, update: 1, delete: 1 });
    expect(
      progress
        .filter((e) => e.kind === "resource" && e.phase === "done")
        .map((e) => e.kind === "resource" && e.op),
    ).toEqual(["same", "update", "delete", "same"]);
    await handle.preview({ refresh: true });
    expect(calls.find((c) => c.method === "preview")?.opts).toMatchObject({ refresh: true, diff: true });
    expect(calls.find((c) => c.method === "previewRefresh")?.opts).not.toHaveProperty("refresh");
  });

  it("sets config as plain values and reads outputs and destroy summaries", async () => {
    const calls: StubCall[] = [];
    const workspace = new LocalStackWorkspace({ automation: stubAutomation(stubStack([], [], calls), []) });
    const handle = await workspace.selectStack("global");
    await handle.setConfig("iot-dr:primaryStack", "acme/iot-dr/primary");
    expect(calls[0]).toEqual({
      method: "setConfig",
      opts: { key: "iot-dr:primaryStack", value: { value: "acme/iot-dr/primary", secret: false } },
    });
    expect(await handle.outputs()).toEqual({ endpoint: { value: "a1.iot", secret: false } });
    expect(await handle.destroy()).toEqual({ changes: { delete: 3 } });
  });
});
