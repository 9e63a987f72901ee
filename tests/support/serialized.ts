/**
 * The archive Pulumi would upload for a callback function, taken from a mocked
 * aws:lambda/function:Function's inputs, and run as Lambda would run it: files copied into an
 * isolated folder, on the Node major the function's runtime declares, through its handler setting
 * (cli/package/host.ts, the same host `iot-dr package` loads archives with).
 */
import { builtinModules } from "node:module";
import { archiveFiles, type ArchiveFiles } from "../../cli/package/archive.js";
import { spawn } from "node:child_process";
import path from "node:path";
import {
  isolatedTaskRoot,
  nodeBinary,
  nodeMajorOf,
  removeTaskRoot,
  runArchive,
} from "../../cli/package/host.js";

export interface SerializedCallback {
  /** The serialized module's text; exports `handler`. */
  indexJs: string;
  /** Every file of the archive by its path inside it. */
  files: ArchiveFiles;
  /** Lambda runtime the function declares, e.g. nodejs22.x. */
  runtime: string;
  /** Lambda handler setting, e.g. __index.handler. */
  handler: string;
}

interface FunctionInputsLike {
  code?: unknown;
  runtime?: unknown;
  handler?: unknown;
}

/** The archive, runtime and handler of a planned function's inputs (`fn.inputs`). */
export async function serializedCallback(inputs: unknown): Promise<SerializedCallback> {
  const fn = (inputs ?? {}) as FunctionInputsLike;
  if (typeof fn !== "object" || typeof fn.runtime !== "string" || typeof fn.handler !== "string") {
    throw new Error(
      "give the function's inputs (code, runtime, handler), e.g. serializedCallback(fn.inputs)",
    );
  }
  const files = await archiveFiles(fn.code);
  const entry = `${fn.handler.slice(0, fn.handler.lastIndexOf("."))}.js`;
  const index = files.get(entry);
  if (!index) throw new Error(`the code archive has no ${entry}, the handler's module`);
  return { indexJs: index.toString("utf8"), files, runtime: fn.runtime, handler: fn.handler };
}

const BUILTINS = new Set(builtinModules);

/** Package names the module text `require`s, builtins excluded (`@scope/name` or `name`). */
export function requiredPackages(indexJs: string): string[] {
  const names = new Set<string>();
  // `[require("x")]` is the SDK's advice inside an error message (signature-v4-multi-region), not a call.
  for (const m of indexJs.matchAll(/(?<![\w$.[])require\(\s*["']([^"']+)["']\s*\)/g)) {
    const spec = m[1];
    if (spec.startsWith("node:") || spec.startsWith(".") || spec.startsWith("/")) continue;
    const parts = spec.split("/");
    const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
    if (BUILTINS.has(name)) continue;
    names.add(name);
  }
  return [...names].sort();
}

export interface InvokeResult {
  ok: boolean;
  result?: unknown;
  error?: { name: string; message: string };
  /** Every stdout line that is not the result marker (Powertools logs, EMF documents). */
  logLines: string[];
  stderr: string;
  /** Peak resident memory of the fresh process (KB), when the host reported it. */
  maxRssKb?: number;
}

/**
 * Runs the archive's handler once in a fresh process, with `env` (e.g. moto's settings), as
 * Lambda would. A handler that cannot even load throws: that function would never start on AWS.
 */
export async function invokeSerialized(
  callback: SerializedCallback,
  event: unknown,
  env: Record<string, string>,
): Promise<InvokeResult> {
  const out = await runArchive(callback.files, callback, { env, event });
  if (out.stage === "init") {
    throw new Error(
      `the archive's handler ${callback.handler} did not load on ${callback.runtime}: ${out.error?.message}\n${out.stderr}`,
    );
  }
  return {
    ok: out.ok,
    ...(out.ok ? { result: out.result } : {}),
    ...(out.error ? { error: { name: out.error.name, message: out.error.message } } : {}),
    logLines: out.logLines,
    stderr: out.stderr,
    ...(out.maxRssKb !== undefined ? { maxRssKb: out.maxRssKb } : {}),
  };
}

const WARM_MARKER = "@@iot-dr-warm@@";

/** Loads the handler as Lambda does (LAMBDA_TASK_ROOT/<file>, named export) and calls it once per stdin line. */
const WARM_HOST = `
const path = require("node:path");
const readline = require("node:readline");
const setting = process.env._HANDLER;
const dot = setting.lastIndexOf(".");
const handler = require(path.join(process.env.LAMBDA_TASK_ROOT, setting.slice(0, dot)))[setting.slice(dot + 1)];
const context = () => {
  const deadline = Date.now() + Number(process.env.IOT_DR_HOST_TIMEOUT_MS);
  return {
    awsRequestId: "00000000-0000-4000-8000-000000000000", functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: "$LATEST", memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    invokedFunctionArn: "arn:aws:lambda:" + process.env.AWS_REGION + ":123456789012:function:" + process.env.AWS_LAMBDA_FUNCTION_NAME,
    logGroupName: "/aws/lambda/" + process.env.AWS_LAMBDA_FUNCTION_NAME, logStreamName: "warm",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()), callbackWaitsForEmptyEventLoop: true,
  };
};
const done = (body) => process.stdout.write("\\n${WARM_MARKER}" + JSON.stringify(body) + "\\n");
let chain = Promise.resolve();
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const event = JSON.parse(line);
  chain = chain
    .then(() => new Promise((resolve, reject) => {
      const r = handler(event, context(), (err, value) => (err ? reject(err) : resolve(value)));
      if (r && typeof r.then === "function") r.then(resolve, reject);
    }))
    .then((result) => done({ ok: true, result }), (e) => done({ ok: false, error: { name: e && e.name, message: e && e.message } }));
});
`;

export interface WarmFunction {
  /** One invocation in the same process (a warm Lambda container): module state survives. */
  invoke(event: unknown): Promise<InvokeResult>;
  stop(): Promise<void>;
}

/**
 * Loads the archive's handler once, as `invokeSerialized` does (copied, isolated, on the declared
 * Node major), and keeps the process warm between invocations like a Lambda container.
 */
export async function startSerialized(
  callback: SerializedCallback,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<WarmFunction> {
  const task = isolatedTaskRoot(callback.files);
  const child = spawn(nodeBinary(nodeMajorOf(callback.runtime)), ["-e", WARM_HOST], {
    cwd: task,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: path.dirname(task),
      TZ: ":UTC",
      LAMBDA_TASK_ROOT: task,
      _HANDLER: callback.handler,
      AWS_LAMBDA_FUNCTION_NAME: "test-function",
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "256",
      AWS_REGION: "us-east-1",
      ...env,
      IOT_DR_HOST_TIMEOUT_MS: String(timeoutMs),
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let waiting: ((line: string) => void) | undefined;
  let exited = false;
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
    const at = stdout.indexOf(WARM_MARKER);
    const end = at >= 0 ? stdout.indexOf("\n", at) : -1;
    if (end >= 0 && waiting) {
      const before = stdout.slice(0, at);
      const marked = stdout.slice(at + WARM_MARKER.length, end);
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
      removeTaskRoot(task);
    },
  };
}
