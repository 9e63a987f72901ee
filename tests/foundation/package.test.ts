import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { nodeBinary } from "../../cli/package/host.js";
import { packageFunction, packageProblems } from "../../cli/package/build.js";
import type { PlannedResource } from "../../cli/plan/recorder.js";
import { planViolations } from "../../cli/plan/policy.js";
import { loadPolicyConfig } from "../../cli/plan/policy.js";
import { functionArchiveDeployable, T } from "../../policy/rules";
import { DEFAULT_PACK_CONFIG } from "../../policy/types";
import { iotDr } from "../support/cli.js";

/** A planned function whose code is the given files (as a Pulumi AssetArchive). */
function plannedFunction(name: string, files: Record<string, string>): PlannedResource {
  const assets: Record<string, pulumi.asset.Asset> = {};
  for (const [k, v] of Object.entries(files)) assets[k] = new pulumi.asset.StringAsset(v);
  return {
    type: T.fn,
    name,
    custom: true,
    urn: `root/${T.fn}::${name}`,
    inputs: {
      code: new pulumi.asset.AssetArchive(assets),
      runtime: "nodejs22.x",
      handler: "__index.handler",
      role: "arn:aws:iam::123456789012:role/r",
      timeout: 3,
    },
  };
}

describe("function archives", () => {
  it("an archive that needs a package it does not hold fails the policy check, naming the function", async () => {
    // What Pulumi's packager built for mqtt: the code requires a package the archive lacks.
    const fn = plannedFunction("broken-fn", {
      "__index.js": `const mqtt = require("mqtt"); exports.handler = async () => mqtt.connect;`,
    });
    const report = await packageFunction(fn, { coldStarts: 1 });
    expect(report.loads).toBe(false);
    expect(report.loadError).toContain("Cannot find module 'mqtt'");
    const violations = planViolations([fn], loadPolicyConfig(undefined), new Map([[fn.name, report]])).filter(
      (v) => v.policy === "function-archive-deployable",
    );
    expect(violations).toEqual([
      expect.objectContaining({
        resource: "broken-fn",
        enforcementLevel: "mandatory",
        message: expect.stringContaining("does not load on nodejs22.x: Cannot find module 'mqtt'"),
      }),
    ]);
  });

  it("a handler setting that names no function export is reported, not loaded", async () => {
    const report = await packageFunction(
      plannedFunction("wrong-export-fn", { "__index.js": "exports.main = () => 1;" }),
      {
        coldStarts: 1,
      },
    );
    expect(report.loads).toBe(false);
    expect(report.loadError).toContain("__index.handler is not a function");
  });

  it("an archive over Lambda's zipped or unzipped limit fails the policy check", () => {
    const check = (zippedBytes: number, unzippedBytes: number) =>
      functionArchiveDeployable.check(
        {
          type: T.fn,
          name: "big-fn",
          urn: "big-fn",
          props: {},
          archive: { zippedBytes, unzippedBytes, loads: true, runtime: "nodejs22.x" },
        },
        { config: DEFAULT_PACK_CONFIG },
      );
    expect(check(50 * 1024 * 1024, 250 * 1024 * 1024)).toEqual([]);
    expect(check(50 * 1024 * 1024 + 1, 1)).toEqual([expect.stringContaining("over Lambda's 50 MB limit")]);
    expect(check(1, 250 * 1024 * 1024 + 1)).toEqual([expect.stringContaining("over Lambda's 250 MB limit")]);
  });

  it("a loading, small archive has no problems and reports its init time", async () => {
    const report = await packageFunction(
      plannedFunction("ok-fn", { "__index.js": "exports.handler = async () => 1;" }),
      { coldStarts: 3 },
    );
    expect(report).toMatchObject({ name: "ok-fn", files: 1, loads: true });
    expect(report.coldInitMs).toBeGreaterThanOrEqual(0);
    expect(packageProblems(report)).toEqual([]);
  });

  it("iot-dr package writes zips that export their handler when unzipped alone and required on Node 22", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-package-"));
    // Each function's environment as planned: its factory reads it when the module loads.
    const plan = JSON.parse(iotDr("plan", "--stack", "global", "--json").stdout) as {
      resources: { name: string; inputs: { environment?: { variables?: Record<string, string> } } }[];
    };
    const envOf = (name: string) =>
      plan.resources.find((r) => r.name === name)?.inputs.environment?.variables;
    try {
      const run = iotDr("package", "--stack", "global", "--json", "--out", out);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const doc = JSON.parse(run.stdout) as {
        stack: string;
        functions: { name: string; loads: boolean; zipPath: string; runtime: string; coldInitMs: number }[];
        problems: string[];
      };
      expect(doc.stack).toBe("global");
      expect(doc.problems).toEqual([]);
      expect(doc.functions.map((f) => f.name)).toEqual(["failover-notifier-fn"]);
      for (const f of doc.functions) {
        expect(f.loads, f.name).toBe(true);
        expect(f.runtime).toBe("nodejs22.x");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-unzip-"));
        try {
          for (const [name, data] of Object.entries(unzipSync(fs.readFileSync(f.zipPath)))) {
            fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
            fs.writeFileSync(path.join(dir, name), data);
          }
          const probe = spawnSync(
            nodeBinary(22),
            ["-e", `process.stdout.write(process.version + " " + typeof require("./__index.js").handler)`],
            {
              cwd: dir,
              encoding: "utf8",
              env: { PATH: process.env.PATH ?? "", AWS_REGION: "us-east-1", ...envOf(f.name) },
            },
          );
          expect(probe.stdout, probe.stderr).toMatch(/^v22\.\d+\.\d+ function$/);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});
