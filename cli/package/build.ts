/**
 * `iot-dr package`: every callback function of a stack's plan, built by the program itself (the
 * same serializer and bundler `pulumi up` runs), zipped, and loaded from its archive alone.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import path from "node:path";
import type { PlannedResource } from "../plan/recorder.js";
import { functionArchiveDeployable, T } from "../../policy/rules";
import { DEFAULT_PACK_CONFIG, type ArchiveFacts } from "../../policy/types";
import { archiveFiles, unzippedBytes, zipFiles } from "./archive.js";
import { isolatedTaskRoot, removeTaskRoot, runInTaskRoot, type FunctionShape } from "./host.js";

/** Fresh processes per function whose init times give coldInitMs (their median). */
export const COLD_STARTS = 5;

export interface FunctionPackage {
  /** Logical name of the aws:lambda Function. */
  name: string;
  runtime: string;
  handler: string;
  /** Files in the archive. */
  files: number;
  zippedBytes: number;
  unzippedBytes: number;
  /** True when the handler export loads from the archive alone on the declared Node major. */
  loads: boolean;
  /** Why it does not load (first line of the error). */
  loadError?: string;
  /** Median over fresh processes of requiring the handler's module and reading the export (ms). */
  coldInitMs?: number;
  /** Where the zip was written (with --out). */
  zipPath?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Functions of a plan whose code is an archive built from the program (callback functions). */
export function packagedFunctions(resources: readonly PlannedResource[]): PlannedResource[] {
  return resources.filter(
    (r) =>
      r.type === "aws:lambda/function:Function" &&
      typeof r.inputs.runtime === "string" &&
      typeof r.inputs.handler === "string" &&
      r.inputs.code !== undefined,
  );
}

/** The function's environment variables as Lambda sets them (the handler factory reads them at init). */
export function functionEnvironment(fn: PlannedResource): Record<string, string> {
  const variables = (fn.inputs.environment as { variables?: Record<string, unknown> } | undefined)?.variables;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(variables ?? {})) {
    if (typeof v === "object" && v !== null && "__pulumiUnknown" in v) {
      throw new Error(
        `environment variable ${k} of function ${fn.name} is only known after deployment: the plan's mocks (cli/plan/recorder.ts) need an output for it`,
      );
    }
    env[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return env;
}

export interface PackageOptions {
  /** Folder to write `<name>.zip` into; created when missing. */
  outDir?: string;
  /** Fresh processes for coldInitMs; default COLD_STARTS. 0 only checks that it loads once. */
  coldStarts?: number;
}

/** Builds, measures and load-checks one planned function. */
export async function packageFunction(
  fn: PlannedResource,
  options: PackageOptions = {},
): Promise<FunctionPackage> {
  const shape: FunctionShape = { runtime: String(fn.inputs.runtime), handler: String(fn.inputs.handler) };
  const files = await archiveFiles(fn.inputs.code);
  const zip = zipFiles(files);
  const report: FunctionPackage = {
    name: fn.name,
    ...shape,
    files: files.size,
    zippedBytes: zip.length,
    unzippedBytes: unzippedBytes(files),
    loads: false,
  };
  if (options.outDir) {
    fs.mkdirSync(options.outDir, { recursive: true });
    report.zipPath = path.join(options.outDir, `${fn.name}.zip`);
    fs.writeFileSync(report.zipPath, zip);
  }
  const task = isolatedTaskRoot(files);
  try {
    const runs = Math.max(1, options.coldStarts ?? COLD_STARTS);
    const times: number[] = [];
    const env = { ...functionEnvironment(fn), AWS_LAMBDA_FUNCTION_NAME: fn.name };
    for (let i = 0; i < runs; i++) {
      const out = await runInTaskRoot(task, shape, { env });
      if (!out.ok) {
        report.loadError = (out.error?.message ?? "did not load").split("\n")[0];
        return report;
      }
      times.push(out.initMs ?? 0);
    }
    report.loads = true;
    if ((options.coldStarts ?? COLD_STARTS) > 0) report.coldInitMs = Math.round(median(times) * 10) / 10;
    return report;
  } finally {
    removeTaskRoot(task);
  }
}

/** What is wrong with a function's package for Lambda (the pack's function-archive-deployable rule). */
export function packageProblems(p: FunctionPackage): string[] {
  return functionArchiveDeployable.check(
    { type: T.fn, name: p.name, urn: p.name, props: {}, archive: p },
    { config: DEFAULT_PACK_CONFIG },
  );
}

/** Builds and loads (once) every callback function of a plan: the archive facts `plan --policy` checks. */
export async function archiveFacts(
  resources: readonly PlannedResource[],
): Promise<Map<string, ArchiveFacts>> {
  const queue = packagedFunctions(resources);
  const facts = new Map<string, ArchiveFacts>();
  // One load per function, as many at once as there are cores.
  const worker = async () => {
    for (let fn = queue.shift(); fn; fn = queue.shift())
      facts.set(fn.name, await packageFunction(fn, { coldStarts: 0 }));
  };
  await Promise.all(Array.from({ length: Math.max(1, os.availableParallelism()) }, worker));
  return facts;
}
