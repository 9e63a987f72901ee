#!/usr/bin/env node
// Brings a supported Node (>= 22) and the locked packages before running a project command, so
// that `npx iot-dr ...` and `npm test` work on a fresh clone even where the machine ships Node 20.
// Setup chatter goes to stderr: stdout stays clean for `--json`.
"use strict";
const { spawnSync, spawn } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const MIN_MAJOR = 22;
const TOOLS_NODE_MAJOR = 24;

function say(message) {
  process.stderr.write(`[iot-dr setup] ${message}\n`);
}

function run(command, args, env) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: ["ignore", 2, 2], env });
  if (result.status !== 0) {
    say(`'${command} ${args.join(" ")}' failed (exit ${result.status}); fix the error above and run again.`);
    process.exit(result.status || 1);
  }
}

/**
 * The bin folder of Node `major` from the npm registry's `node@<major>` package, installed into
 * .tools/node<major> on first use. Functions are loaded on the Node major their runtime declares.
 */
function nodeMajorBinDir(major, why) {
  if (!/^[0-9]+$/.test(String(major))) {
    say(`'${major}' is not a Node major version: give a number such as 22`);
    process.exit(2);
  }
  const dir = path.join(ROOT, ".tools", `node${major}`);
  const bin = path.join(dir, "node_modules", "node", "bin");
  if (!fs.existsSync(path.join(bin, "node"))) {
    say(`installing node@${major} into .tools/node${major} (${why})`);
    fs.mkdirSync(dir, { recursive: true });
    run("npm", [
      "install",
      "--no-save",
      "--no-package-lock",
      "--no-audit",
      "--no-fund",
      "--prefix",
      dir,
      `node@${major}`,
    ]);
  }
  return bin;
}

/** The bin folder of a Node >= 22: this process's own, or Node 24 installed from the npm registry. */
function nodeBinDir() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= MIN_MAJOR) return path.dirname(process.execPath);
  return nodeMajorBinDir(TOOLS_NODE_MAJOR, `Node ${process.versions.node} is older than ${MIN_MAJOR}`);
}

function envWithNode(binDir) {
  return { ...process.env, PATH: `${binDir}${path.delimiter}${process.env.PATH || ""}` };
}

/** Runs `npm ci` when node_modules does not match package-lock.json. */
function ensurePackages(env) {
  const lock = fs.readFileSync(path.join(ROOT, "package-lock.json"));
  const digest = crypto.createHash("sha256").update(lock).digest("hex");
  const stamp = path.join(ROOT, "node_modules", ".iot-dr-lock-sha256");
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === digest) return;
  say("installing the locked packages (npm ci)");
  run("npm", ["ci", "--no-audit", "--no-fund"], env);
  fs.writeFileSync(stamp, digest);
}

/** Debian packages some tests use; installed when missing and we may (root with apt-get). */
const SYSTEM_PACKAGES = [
  { pkg: "chromium", bins: ["/usr/bin/chromium"], why: "renders the drill's HTML report" },
  {
    pkg: "mosquitto",
    bins: ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"],
    why: "MQTT broker of the device load tests",
  },
  { pkg: "openssl", bins: ["/usr/bin/openssl"], why: "makes throwaway TLS certificates in tests" },
];

function ensureSystemPackages() {
  const missing = SYSTEM_PACKAGES.filter((p) => !p.bins.some((b) => fs.existsSync(b)));
  if (missing.length === 0) return;
  const names = missing.map((p) => p.pkg);
  const canInstall = process.getuid && process.getuid() === 0 && fs.existsSync("/usr/bin/apt-get");
  if (!canInstall) {
    say(
      `missing ${missing.map((p) => `${p.pkg} (${p.why})`).join(", ")}: install with 'sudo apt-get install ${names.join(" ")}'; tests that need them will fail`,
    );
    return;
  }
  say(`installing ${names.join(", ")} with apt-get`);
  run("apt-get", ["update", "-qq"]);
  run("apt-get", ["install", "-y", "-qq", ...names], { ...process.env, DEBIAN_FRONTEND: "noninteractive" });
}

function setup() {
  const binDir = nodeBinDir();
  const env = envWithNode(binDir);
  ensurePackages(env);
  return { node: path.join(binDir, "node"), env, binDir };
}

function exec(node, args, env) {
  const child = spawn(node, args, { cwd: process.cwd(), stdio: "inherit", env });
  // The child shares our process group, so Ctrl-C reaches it directly; we only wait for it.
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}

function main(argv) {
  const [command, ...rest] = argv;
  switch (command) {
    case "setup": {
      setup();
      return;
    }
    case "node-bin-dir": {
      process.stdout.write(`${nodeBinDir()}\n`);
      return;
    }
    case "node-major-bin-dir": {
      process.stdout.write(`${nodeMajorBinDir(rest[0], "the Node major a function's runtime declares")}\n`);
      return;
    }
    case "test": {
      const { node, env } = setup();
      ensureSystemPackages();
      exec(node, [path.join(ROOT, "node_modules", "vitest", "vitest.mjs"), "run", ...rest], env);
      return;
    }
    case "cli": {
      const { node, env } = setup();
      exec(node, ["--import", "tsx", path.join(ROOT, "cli", "main.ts"), ...rest], env);
      return;
    }
    default:
      process.stderr.write(
        "usage: bootstrap.cjs setup|node-bin-dir|node-major-bin-dir <major>|test [vitest args]|cli [iot-dr args]\n",
      );
      process.exit(2);
  }
}

module.exports = { main, nodeMajorBinDir };
if (require.main === module) main(process.argv.slice(2));
