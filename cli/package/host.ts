/**
 * Runs a function's archive the way Lambda would: its files copied into an empty folder (no
 * symlinks, no node_modules above it), on the Node major its runtime declares, the handler found
 * from the `handler` setting (`file.export`) and called with an event and a Lambda-shaped context.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import path from "node:path";
import { writeFiles, type ArchiveFiles } from "./archive.js";

const ROOT = path.resolve(__dirname, "..", "..");

/** What Lambda needs to start a function: its runtime (`nodejs22.x`) and handler (`__index.handler`). */
export interface FunctionShape {
  runtime: string;
  handler: string;
}

/** The Node major of a Lambda runtime name; throws for anything but `nodejsNN.x`. */
export function nodeMajorOf(runtime: string): number {
  const m = /^nodejs(\d+)\.x$/.exec(runtime);
  if (!m) throw new Error(`runtime '${runtime}' is not a Node.js Lambda runtime (nodejsNN.x)`);
  return Number(m[1]);
}

/** The `node` binary of that major: this process's own when it matches, else node@<major> in .tools/. */
export function nodeBinary(major: number): string {
  if (Number(process.versions.node.split(".")[0]) === major) return process.execPath;
  const bootstrap = createRequire(__filename)(path.join(ROOT, "scripts", "bootstrap.cjs")) as {
    nodeMajorBinDir(major: number, why: string): string;
  };
  return path.join(bootstrap.nodeMajorBinDir(major, "the Node major a function's runtime declares"), "node");
}

/** A fresh folder under the OS temp dir holding the files; refuses one with a node_modules above it. */
export function isolatedTaskRoot(files: ArchiveFiles): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-fn-"));
  const task = path.join(base, "task");
  fs.mkdirSync(task);
  for (let dir = path.dirname(task); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "node_modules"))) {
      fs.rmSync(base, { recursive: true, force: true });
      throw new Error(
        `${dir}/node_modules would let the function load packages its archive lacks: set TMPDIR to a folder without one above it`,
      );
    }
    if (dir === path.dirname(dir)) break;
  }
  writeFiles(files, task);
  return task;
}

export const removeTaskRoot = (task: string) =>
  fs.rmSync(path.dirname(task), { recursive: true, force: true });

const MARKER = "@@iot-dr-host@@";

/**
 * Loads the handler module as Lambda's Node runtime does (require of LAMBDA_TASK_ROOT/<file>,
 * then the named export), reports the load time, and with an event calls the handler once.
 */
const HOST = `
const { performance } = require("node:perf_hooks");
const path = require("node:path");
const done = (body) => process.stdout.write("\\n${MARKER}" + JSON.stringify({ ...body, maxRssKb: process.resourceUsage().maxRSS }) + "\\n");
const fail = (stage, e) => done({ ok: false, stage, error: { name: e && e.name, message: e && e.message, stack: e && e.stack } });
const handlerSetting = process.env._HANDLER;
const dot = handlerSetting.lastIndexOf(".");
let handler;
const start = performance.now();
try {
  const mod = require(path.join(process.env.LAMBDA_TASK_ROOT, handlerSetting.slice(0, dot)));
  handler = mod[handlerSetting.slice(dot + 1)];
  if (typeof handler !== "function") throw new Error(handlerSetting + " is not a function (" + typeof handler + ")");
} catch (e) { fail("init", e); process.exit(0); }
const initMs = performance.now() - start;
if (process.env.IOT_DR_HOST_EVENT === undefined) { done({ ok: true, initMs }); }
else {
  const event = JSON.parse(process.env.IOT_DR_HOST_EVENT);
  const deadline = Date.now() + Number(process.env.IOT_DR_HOST_TIMEOUT_MS);
  const context = {
    awsRequestId: "00000000-0000-4000-8000-000000000000", functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: "$LATEST", memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    invokedFunctionArn: "arn:aws:lambda:" + process.env.AWS_REGION + ":123456789012:function:" + process.env.AWS_LAMBDA_FUNCTION_NAME,
    logGroupName: "/aws/lambda/" + process.env.AWS_LAMBDA_FUNCTION_NAME, logStreamName: "host",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()), callbackWaitsForEmptyEventLoop: true,
  };
  new Promise((resolve, reject) => {
    const r = handler(event, context, (err, value) => (err ? reject(err) : resolve(value)));
    if (r && typeof r.then === "function") r.then(resolve, reject);
  }).then((result) => done({ ok: true, initMs, result }), (e) => fail("invoke", e));
}
`;

export interface HostResult {
  ok: boolean;
  /** Where it failed: loading the handler (`init`) or running it (`invoke`). */
  stage?: "init" | "invoke";
  initMs?: number;
  /** The process's peak resident memory (KB) when it answered: what Lambda reports as memory used, roughly. */
  maxRssKb?: number;
  result?: unknown;
  error?: { name: string; message: string; stack?: string };
  /** Every stdout line that is not the host's result (Powertools logs, EMF documents). */
  logLines: string[];
  stderr: string;
  exitCode: number | null;
}

export interface HostOptions {
  /** Environment of the function (its variables, endpoints, credentials). */
  env?: Record<string, string>;
  /** Calls the handler once with this event; without it, only loads the handler. */
  event?: unknown;
  /** The function's timeout for getRemainingTimeInMillis; default 30 s. */
  timeoutMs?: number;
}

/** Starts one fresh process of the declared Node major in an isolated task root already written. */
export async function runInTaskRoot(
  task: string,
  shape: FunctionShape,
  options: HostOptions = {},
): Promise<HostResult> {
  const node = nodeBinary(nodeMajorOf(shape.runtime));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: path.dirname(task),
    TZ: ":UTC",
    LAMBDA_TASK_ROOT: task,
    _HANDLER: shape.handler,
    AWS_LAMBDA_FUNCTION_NAME: "test-function",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "256",
    AWS_REGION: "us-east-1",
    ...options.env,
    IOT_DR_HOST_TIMEOUT_MS: String(options.timeoutMs ?? 30000),
  };
  if (options.event !== undefined) env.IOT_DR_HOST_EVENT = JSON.stringify(options.event);
  const child = spawn(node, ["-e", HOST], { cwd: task, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const lines = stdout.split("\n");
  const marked = lines.find((l) => l.startsWith(MARKER));
  const logLines = lines.filter((l) => l.trim() !== "" && !l.startsWith(MARKER));
  if (!marked) {
    return {
      ok: false,
      stage: "init",
      error: { name: "ProcessExit", message: `exited (${exitCode}) without a result: ${stderr || stdout}` },
      logLines,
      stderr,
      exitCode,
    };
  }
  const body = JSON.parse(marked.slice(MARKER.length)) as Omit<
    HostResult,
    "logLines" | "stderr" | "exitCode"
  >;
  return { ...body, logLines, stderr, exitCode };
}

/** Copies the archive into a fresh isolated folder, runs it once, and removes the folder. */
export async function runArchive(
  files: ArchiveFiles,
  shape: FunctionShape,
  options: HostOptions = {},
): Promise<HostResult> {
  const task = isolatedTaskRoot(files);
  try {
    return await runInTaskRoot(task, shape, options);
  } finally {
    removeTaskRoot(task);
  }
}
