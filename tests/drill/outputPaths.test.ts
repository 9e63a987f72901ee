/**
 * Output paths are checked before any work: `drill --report` under a file exits 2 before a single
 * peer starts, and a report that cannot be written after the drill ran never costs its figures.
 * Backfill's checkpoint path is checked the same way before any AWS call.
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command, CommanderError } from "commander";
import { makeDrillCommand, type DrillCommandDeps } from "../../cli/commands/drill.js";
import { UsageError } from "../../cli/errors.js";
import { checkOutputFile, checkOutputFolder } from "../../cli/outputPath.js";
import type { DrillResult } from "../../drill/local.js";

const FIGURES = { scenario: "region-down", target: "local", rtoSeconds: 3.1 } as unknown as DrillResult;

function drill(argv: string[], writeReport: DrillCommandDeps["writeReport"], figures = FIGURES) {
  const run = { code: 0, stdout: "", stderr: "", drills: 0 };
  const deps: DrillCommandDeps = {
    runLocal: async () => {
      run.drills++;
      return figures;
    },
    awsDeps: () => {
      throw new Error("not used");
    },
    writeReport,
    stdout: (t) => (run.stdout += t),
    stderr: (t) => (run.stderr += t),
    onInterrupt: () => () => {},
  };
  const program = new Command("iot-dr").exitOverride();
  makeDrillCommand(() => deps)(program, (code) => (run.code = code));
  return program.parseAsync(["drill", ...argv], { from: "user" }).then(
    () => run,
    (err: unknown) => {
      if (err instanceof UsageError) {
        run.stderr += err.message;
        run.code = 2;
      } else if (err instanceof CommanderError) run.code = 2;
      else throw err;
      return run;
    },
  );
}

describe("output paths are checked before any work", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-out-"));
  const aFile = path.join(tmp, "notes.txt");
  fs.writeFileSync(aFile, "x");

  it("drill --report under a file exits 2 naming the file, before any peer starts", async () => {
    const run = await drill(["--json", "--report", path.join(aFile, "report")], () => "never");
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${aFile} is a file, not a folder`);
    expect(run.drills).toBe(0);
    expect(run.stdout).toBe("");
  });

  it("drill --report whose parent folder is missing exits 2 and creates nothing (not even as root)", async () => {
    const typo = path.join(tmp, "reprots", "game-day");
    const run = await drill(["--report", typo], () => "never");
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("does not exist; create it first");
    expect(fs.existsSync(path.join(tmp, "reprots"))).toBe(false);
    expect(run.drills).toBe(0);
  });

  it("the drill prints its JSON even when the report cannot be written afterwards, and exits 1", async () => {
    const run = await drill(["--json", "--report", path.join(tmp, "fresh")], () => {
      throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    });
    expect(run.drills).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual(FIGURES);
    expect(run.stderr).toMatch(/the drill ran \(figures above\) but the report could not be written.*ENOSPC/);
    expect(run.code).toBe(1);
  });

  it("a drill that found a loss prints its figures and its report, then exits 1 naming what it found", async () => {
    const found = {
      ...FIGURES,
      lostRegistryOps: 2,
      lostTelemetry: 0,
      driftAtEnd: 0,
      failback: { driftAtEnd: 1, caughtUpBeforeHealthy: true, gate: { drift: 1, fallback: true } },
    } as unknown as DrillResult;
    const run = await drill(["--json", "--report", path.join(tmp, "found")], () => "report.html", found);
    expect(JSON.parse(run.stdout)).toEqual(found);
    expect(run.stderr).toContain("report written to report.html");
    expect(run.stderr).toContain(
      "the drill found 2 registry operation(s) lost; drift 1 between the regions after the fail-back; the fail-back gate never saw drift 0 (drift 1) and was forced open",
    );
    expect(run.code).toBe(1);
    expect((await drill(["--json"], () => "never")).code).toBe(0);
  });

  it("a report folder that does not exist yet is fine when its parent does", () => {
    expect(checkOutputFolder("--report", path.join(tmp, "new"))).toBe(path.join(tmp, "new"));
    expect(() => checkOutputFolder("--report", aFile)).toThrow(/is a file, not a folder/);
  });

  it("a checkpoint file: its folder must exist, nothing on the way may be a file, and it must not be a folder", () => {
    expect(checkOutputFile("--checkpoint", path.join(tmp, "cp.json"))).toBe(path.join(tmp, "cp.json"));
    expect(() => checkOutputFile("--checkpoint", path.join(aFile, "cp.json"))).toThrow(
      `${aFile} is a file, not a folder`,
    );
    expect(() => checkOutputFile("--checkpoint", path.join(tmp, "nope", "cp.json"))).toThrow(
      /does not exist/,
    );
    expect(() => checkOutputFile("--checkpoint", tmp)).toThrow(/is not a file/);
  });
});
