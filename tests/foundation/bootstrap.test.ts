/**
 * The bootstrap under concurrency: two invocations on a checkout without node_modules take turns
 * around the install instead of racing (two real `npm ci` at once fail and can leave node_modules
 * empty). Runs the real scripts/bootstrap.cjs in a temporary copy of the checkout, with a stand-in
 * npm that fails the way overlapping installs do, so the test is quick and offline.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir, hostname } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(__dirname, "..", "..");

/** A checkout with the bootstrap and the lockfile, no node_modules, and a stand-in npm. */
function checkout(npmExit = 0) {
  const dir = fs.mkdtempSync(join(tmpdir(), "iot-dr-bootstrap-"));
  fs.mkdirSync(join(dir, "scripts"));
  fs.copyFileSync(join(ROOT, "scripts", "bootstrap.cjs"), join(dir, "scripts", "bootstrap.cjs"));
  fs.copyFileSync(join(ROOT, "package-lock.json"), join(dir, "package-lock.json"));
  const npm = join(dir, "fake-npm");
  fs.writeFileSync(
    npm,
    `#!/bin/sh
# Like npm ci: empties node_modules, takes a while, fills it. Two at once fail (as npm's do).
[ "$1" = "ci" ] || exit 1
if ! mkdir "${dir}/.npm-running" 2>/dev/null; then echo "overlapping npm ci" >&2; exit 217; fi
echo ci >> "${dir}/npm-calls.log"
rm -rf "${dir}/node_modules"; sleep 1; mkdir -p "${dir}/node_modules/pkg"
rmdir "${dir}/.npm-running"
exit ${npmExit}
`,
    { mode: 0o755 },
  );
  return { dir, npm };
}

function setup(dir: string, npm: string, extraEnv: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = spawn(process.execPath, [join(dir, "scripts", "bootstrap.cjs"), "setup"], {
      cwd: dir,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, IOT_DR_NPM: npm, ...extraEnv },
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("exit", (code) => done({ code, stderr }));
  });
}

const calls = (dir: string) =>
  fs.existsSync(join(dir, "npm-calls.log"))
    ? fs.readFileSync(join(dir, "npm-calls.log"), "utf8").trim().split("\n")
    : [];

describe("bootstrap: setup under concurrency", () => {
  it("two invocations started together on a checkout without node_modules both succeed; npm ci runs once", async () => {
    const { dir, npm } = checkout();
    const [a, b] = await Promise.all([setup(dir, npm), setup(dir, npm)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(calls(dir)).toEqual(["ci"]);
    expect(a.stderr + b.stderr).toMatch(/waiting for it/);
    expect(fs.existsSync(join(dir, "node_modules", "pkg"))).toBe(true);
    expect(fs.existsSync(join(dir, "node_modules", ".iot-dr-lock-sha256"))).toBe(true);
    expect(fs.existsSync(join(dir, ".iot-dr-install.lock"))).toBe(false);
  });

  it("a lock left by a process that is gone is taken over", async () => {
    const { dir, npm } = checkout();
    fs.mkdirSync(join(dir, ".iot-dr-install.lock"));
    // A pid far above pid_max on Linux: no such process.
    fs.writeFileSync(
      join(dir, ".iot-dr-install.lock", "owner.json"),
      JSON.stringify({ pid: 2 ** 22 + 1, host: hostname(), since: Date.now() }),
    );
    const run = await setup(dir, npm);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/taking over the install lock .*owner \(pid \d+\) is gone/);
    expect(calls(dir)).toEqual(["ci"]);
  });

  it("a lock held by a live process past IOT_DR_INSTALL_WAIT_S: exit 12 naming the lock, nothing installed", async () => {
    const { dir, npm } = checkout();
    fs.mkdirSync(join(dir, ".iot-dr-install.lock"));
    fs.writeFileSync(
      join(dir, ".iot-dr-install.lock", "owner.json"),
      JSON.stringify({ pid: process.pid, host: hostname(), since: Date.now() }),
    );
    const run = await setup(dir, npm, { IOT_DR_INSTALL_WAIT_S: "1" });
    expect(run.code).toBe(12);
    expect(run.stderr).toContain(join(dir, ".iot-dr-install.lock"));
    expect(calls(dir)).toEqual([]);
  });

  it("a failed npm ci exits 11 and releases the lock; the next invocation installs again", async () => {
    const { dir, npm } = checkout(1);
    const run = await setup(dir, npm);
    expect(run.code).toBe(11);
    expect(run.stderr).toMatch(/npm.* ci .*failed \(exit 1\)/);
    expect(fs.existsSync(join(dir, ".iot-dr-install.lock"))).toBe(false);
    expect(fs.existsSync(join(dir, "node_modules", ".iot-dr-lock-sha256"))).toBe(false);
  });
});
