/**
 * The code Pulumi serializes for a callback function, extracted from a mocked
 * aws:lambda/function:Function's `code` AssetArchive, and run in a fresh Node process laid out
 * like a Lambda package: `__index.js` next to a node_modules that holds only the archived packages.
 */
import { spawn } from "node:child_process";
import { builtinModules } from "node:module";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface SerializedCallback {
  /** The serialized module; exports `handler`. */
  indexJs: string;
  /** Archive paths besides __index.js, e.g. `node_modules/@aws-sdk/client-iot`. */
  packagedPaths: string[];
}

interface ArchiveLike {
  assets: Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** Extracts `__index.js` and the packaged paths from a function's `code` input (an AssetArchive). */
export async function serializedCallback(code: unknown): Promise<SerializedCallback> {
  const archive = code as ArchiveLike | undefined;
  if (!archive || typeof archive !== "object" || !("assets" in archive)) {
    throw new Error("the function's code input is not an AssetArchive (is it a CallbackFunction?)");
  }
  const assets = await archive.assets;
  const index = assets["__index.js"] as { text?: string | Promise<string> } | undefined;
  if (!index || index.text === undefined) throw new Error("the code archive has no __index.js StringAsset");
  return {
    indexJs: await index.text,
    packagedPaths: Object.keys(assets).filter((k) => k !== "__index.js"),
  };
}

const BUILTINS = new Set(builtinModules);

/** Package names the module text `require`s, builtins excluded (`@scope/name` or `name`). */
export function requiredPackages(indexJs: string): string[] {
  const names = new Set<string>();
  for (const m of indexJs.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) {
    const spec = m[1];
    if (spec.startsWith("node:") || spec.startsWith(".") || spec.startsWith("/")) continue;
    const parts = spec.split("/");
    const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
    if (BUILTINS.has(name)) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** The `dependencies` of the repository's package.json (what every function package may contain). */
export function runtimeDependencies(repoRoot = path.resolve(__dirname, "..", "..")): string[] {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  return Object.keys(pkg.dependencies ?? {}).sort();
}

export interface InvokeResult {
  ok: boolean;
  result?: unknown;
  error?: { name: string; message: string };
  /** Every stdout line that is not the result marker (Powertools logs, EMF documents). */
  logLines: string[];
  stderr: string;
}

const MARKER = "@@iot-dr-invoke-result@@";

const RUNNER = `
const mod = require(process.argv[1]);
const event = JSON.parse(process.env.IOT_DR_TEST_EVENT);
const context = {
  awsRequestId: "test-request", functionName: "test-function", functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:" + process.env.AWS_REGION + ":123456789012:function:test-function",
  memoryLimitInMB: "256", logGroupName: "/test", logStreamName: "test",
  getRemainingTimeInMillis: () => 60000, callbackWaitsForEmptyEventLoop: true,
};
const done = (body) => { process.stdout.write("\\n${MARKER}" + JSON.stringify(body) + "\\n"); };
Promise.resolve()
  .then(() => mod.handler(event, context, () => {}))
  .then((result) => done({ ok: true, result }), (e) => done({ ok: false, error: { name: e && e.name, message: e && e.message } }));
`;

/**
 * Runs a serialized handler once in a fresh `node` process, with `env` (e.g. moto's settings) and a
 * package directory whose node_modules links only the archived packages, as Lambda would see it.
 */
export async function invokeSerialized(
  callback: SerializedCallback,
  event: unknown,
  env: Record<string, string>,
  repoRoot = path.resolve(__dirname, "..", ".."),
): Promise<InvokeResult> {
  const dir = mkdtempSync(path.join(tmpdir(), "iot-dr-fn-"));
  try {
    writeFileSync(path.join(dir, "__index.js"), callback.indexJs);
    for (const p of callback.packagedPaths) {
      if (!p.startsWith("node_modules/")) continue;
      const target = path.join(dir, p);
      mkdirSync(path.dirname(target), { recursive: true });
      symlinkSync(path.join(repoRoot, p), target, "dir");
    }
    const child = spawn(process.execPath, ["-e", RUNNER, path.join(dir, "__index.js")], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", HOME: dir, ...env, IOT_DR_TEST_EVENT: JSON.stringify(event) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    const lines = stdout.split("\n");
    const marked = lines.find((l) => l.startsWith(MARKER));
    if (!marked)
      throw new Error(`serialized handler exited (${code}) without a result:\n${stderr || stdout}`);
    const body = JSON.parse(marked.slice(MARKER.length)) as Omit<InvokeResult, "logLines" | "stderr">;
    return { ...body, logLines: lines.filter((l) => l.trim() !== "" && !l.startsWith(MARKER)), stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const WARM_RUNNER = `
const mod = require(process.argv[1]);
const readline = require("node:readline");
const context = {
  awsRequestId: "test-request", functionName: "test-function", functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:" + process.env.AWS_REGION + ":123456789012:function:test-function",
  memoryLimitInMB: "256", logGroupName: "/test", logStreamName: "test",
  getRemainingTimeInMillis: () => 60000, callbackWaitsForEmptyEventLoop: true,
};
const done = (body) => { process.stdout.write("\\n${MARKER}" + JSON.stringify(body) + "\\n"); };
let chain = Promise.resolve();
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const event = JSON.parse(line);
  chain = chain
    .then(() => mod.handler(event, context, () => {}))
    .then((result) => done({ ok: true, result }), (e) => done({ ok: false, error: { name: e && e.name, message: e && e.message } }));
});
`;

export interface WarmFunction {
  /** One invocation in the same process (a warm Lambda container): module state survives. */
  invoke(event: unknown): Promise<InvokeResult>;
  stop(): Promise<void>;
}

/** Loads a serialized handler once in a fresh Node process laid out like a Lambda package and keeps it warm. */
export async function startSerialized(
  callback: SerializedCallback,
  env: Record<string, string>,
  repoRoot = path.resolve(__dirname, "..", ".."),
): Promise<WarmFunction> {
  const dir = mkdtempSync(path.join(tmpdir(), "iot-dr-fn-"));
  writeFileSync(path.join(dir, "__index.js"), callback.indexJs);
  for (const p of callback.packagedPaths) {
    if (!p.startsWith("node_modules/")) continue;
    const target = path.join(dir, p);
    mkdirSync(path.dirname(target), { recursive: true });
    symlinkSync(path.join(repoRoot, p), target, "dir");
  }
  const child = spawn(process.execPath, ["-e", WARM_RUNNER, path.join(dir, "__index.js")], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: dir, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let waiting: ((line: string) => void) | undefined;
  let exited = false;
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
    const at = stdout.indexOf(MARKER);
    const end = at >= 0 ? stdout.indexOf("\n", at) : -1;
    if (end >= 0 && waiting) {
      const before = stdout.slice(0, at);
      const marked = stdout.slice(at + MARKER.length, end);
      stdout = stdout.slice(end + 1);
      const resolve = waiting;
      waiting = undefined;
      resolve(`${before}\u0000${marked}`);
    }
  });
  const closed = new Promise<void>((resolve) =>
    child.on("close", () => {
      exited = true;
      resolve();
    }),
  );
  return {
    async invoke(event) {
      if (exited) throw new Error(`the warm function exited:\n${stderr}`);
      const text = await new Promise<string>((resolve, reject) => {
        waiting = resolve;
        child.stdin.write(`${JSON.stringify(event)}\n`);
        void closed.then(() => reject(new Error(`the warm function exited:\n${stderr}`)));
      });
      const [logs, marked] = text.split("\u0000") as [string, string];
      const body = JSON.parse(marked) as Omit<InvokeResult, "logLines" | "stderr">;
      const out = { ...body, logLines: logs.split("\n").filter((l) => l.trim() !== ""), stderr };
      stderr = "";
      return out;
    },
    async stop() {
      child.stdin.end();
      child.kill();
      await closed;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
