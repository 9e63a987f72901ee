/** The shipped `iot-dr` command run as an operator runs it: a child Node process on cli/main.ts. */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

/** The repository's root, where cli/main.ts and the Pulumi.*.yaml files are. */
export const ROOT = path.resolve(__dirname, "..", "..");

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function iotDr(...args: string[]): CliRun {
  const run = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "cli/main.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}
