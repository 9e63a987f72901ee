#!/usr/bin/env node
// Brings a supported Node (>= 22) and the locked packages before running a project command, so
// that `npx iot-dr ...` and `npm test` work on a fresh clone even where the machine ships Node 20.
// Setup chatter goes to stderr: stdout stays clean for `--json`.
//
// Several invocations at once (two terminals, `npm test` beside `npx iot-dr`) take turns: the
// install runs under an exclusive lock (a directory, .iot-dr-install.lock, made atomically by
// mkdir); the others wait for it and then find the packages installed. A lock whose owner process
// is gone (same host) or that is older than an install could take is stale and is taken over.
//
// Exit codes of setup failures (the command's own codes are 0-3):
//   10  Node 24 could not be installed into .tools/node24
//   11  npm ci failed (node_modules is left for the next invocation to reinstall)
//   12  another invocation held the install lock longer than IOT_DR_INSTALL_WAIT_S (default 900)
//   13  apt-get could not install the system packages `npm test` needs
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

const EXIT = { node: 10, npm: 11, lock: 12, apt: 13 };

function run(command, args, env, exitCode) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: ["ignore", 2, 2], env });
  if (result.status !== 0) {
    const why = result.error ? result.error.message : `exit ${result.status}`;
    say(`'${command} ${args.join(" ")}' failed (${why}); fix the error above and run again.`);
    return exitCode;
  }
  return 0;
}

const LOCK_DIR = path.join(ROOT, ".iot-dr-install.lock");
const OWNER_FILE = path.join(LOCK_DIR, "owner.json");
// An install never takes this long; a lock older than this is left over (e.g. a killed machine).
const STALE_LOCK_MS = 60 * 60 * 1000;

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

/** Why the lock is stale (its owner is gone), or undefined while its owner may still be working. */
function staleReason() {
  let owner;
  try {
    owner = JSON.parse(fs.readFileSync(OWNER_FILE, "utf8"));
  } catch {
    // Made by mkdir but owner.json not written yet: give its maker a moment, then judge by age.
    const age = Date.now() - fs.statSync(LOCK_DIR, { throwIfNoEntry: false })?.mtimeMs;
    return age > 10_000 ? "it names no owner" : undefined;
  }
  if (owner.host === require("node:os").hostname() && !alive(owner.pid))
    return `its owner (pid ${owner.pid}) is gone`;
  if (Date.now() - owner.since > STALE_LOCK_MS) return `it is older than ${STALE_LOCK_MS / 60000} minutes`;
  return undefined;
}

/** Runs `work` holding the install lock; waits while another invocation holds it. */
function withInstallLock(work) {
  const waitMs = Number(process.env.IOT_DR_INSTALL_WAIT_S || 900) * 1000;
  const started = Date.now();
  let told = false;
  for (;;) {
    try {
      fs.mkdirSync(LOCK_DIR);
      break;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
    }
    const stale = staleReason();
    if (stale) {
      say(`taking over the install lock ${LOCK_DIR}: ${stale}`);
      fs.rmSync(LOCK_DIR, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > waitMs) {
      say(
        `another invocation still holds the install lock ${LOCK_DIR} after ${waitMs / 1000} s; ` +
          `if no install is running, remove that directory and run again`,
      );
      process.exit(EXIT.lock);
    }
    if (!told) say("another invocation is installing the packages; waiting for it");
    told = true;
    sleepMs(250);
  }
  fs.writeFileSync(
    OWNER_FILE,
    JSON.stringify({ pid: process.pid, host: require("node:os").hostname(), since: Date.now() }),
  );
  try {
    return work();
  } finally {
    fs.rmSync(LOCK_DIR, { recursive: true, force: true });
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
  const present = () => fs.existsSync(path.join(bin, "node"));
  if (present()) return bin;
  // Test workers ask for the same Node at once: one installs, the others wait for it.
  const code = withInstallLock(() => {
    if (present()) return 0;
    say(`installing node@${major} into .tools/node${major} (${why})`);
    fs.mkdirSync(dir, { recursive: true });
    return run(
      "npm",
      [
        "install",
        "--no-save",
        "--no-package-lock",
        "--no-audit",
        "--no-fund",
        "--prefix",
        dir,
        `node@${major}`,
      ],
      process.env,
      EXIT.node,
    );
  });
  if (code !== 0) process.exit(code);
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
  const installed = () => fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === digest;
  if (installed()) return;
  const code = withInstallLock(() => {
    // Whoever held the lock before us may have installed them.
    if (installed()) return 0;
    say("installing the locked packages (npm ci)");
    // IOT_DR_NPM: another npm (the bootstrap's own tests use a stand-in that detects overlap).
    const status = run(process.env.IOT_DR_NPM || "npm", ["ci", "--no-audit", "--no-fund"], env, EXIT.npm);
    if (status === 0) fs.writeFileSync(stamp, digest);
    return status;
  });
  if (code !== 0) process.exit(code);
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
  const code =
    run("apt-get", ["update", "-qq"], process.env, EXIT.apt) ||
    run(
      "apt-get",
      ["install", "-y", "-qq", ...names],
      { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      EXIT.apt,
    );
  if (code !== 0) process.exit(code);
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
