import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  if: string;
  steps: Step[];
}

const workflowPath = path.resolve(__dirname, "..", "..", ".github", "workflows", "deploy.yml");
const workflow = parse(fs.readFileSync(workflowPath, "utf8")) as {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-workflow-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("the example CI workflow", () => {
  it("deploys on merge to main and previews drift on a schedule, with OIDC credentials", () => {
    expect(workflow.on.push).toEqual({ branches: ["main"] });
    expect(workflow.on.schedule).toHaveLength(1);
    expect(workflow.permissions["id-token"]).toBe("write");
    expect(workflow.jobs.deploy.if).toContain("github.event_name == 'push'");
    expect(workflow.jobs.drift.if).toContain("github.event_name == 'schedule'");
    for (const job of [workflow.jobs.deploy, workflow.jobs.drift]) {
      const uses = job.steps.map((step) => step.uses ?? "");
      expect(job.steps.find((s) => s.uses?.startsWith("actions/setup-node"))?.with?.["node-version"]).toBe(
        24,
      );
      expect(uses.some((u) => u.startsWith("pulumi/actions@"))).toBe(true);
      expect(uses.some((u) => u.startsWith("pulumi/auth-actions@"))).toBe(true);
      expect(uses.some((u) => u.startsWith("aws-actions/configure-aws-credentials@"))).toBe(true);
    }
    expect(workflow.jobs.deploy.steps.some((s) => s.run?.includes("npx iot-dr deploy --yes"))).toBe(true);
  });

  it.each([
    [0, "drift: none"],
    [3, "resources drifted"],
    [1, "preview failed (exit 1)"],
  ])("the drift step exits %i when iot-dr drift does, and summarises it", (code, summary) => {
    const script = workflow.jobs.drift.steps.find((s) => s.name === "Drift preview")?.run ?? "";
    expect(script).toContain("npx iot-dr drift");
    const bin = path.join(tmp, `bin-${code}`);
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, "npx"), `#!/bin/sh\necho '{"driftCount":0}'\nexit ${code}\n`, {
      mode: 0o755,
    });
    const summaryFile = path.join(tmp, `summary-${code}.md`);
    const result = spawnSync("bash", ["-e", "-c", script.replaceAll("${{ vars.PULUMI_ORG }}", "acme")], {
      cwd: tmp,
      env: {
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        GITHUB_STEP_SUMMARY: summaryFile,
      },
    });
    expect(result.status).toBe(code);
    expect(fs.readFileSync(summaryFile, "utf8")).toContain(summary);
  });
});
