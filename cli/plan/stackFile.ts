/** Reads a Pulumi.<stack>.yaml file into raw config values of this project, validated offline. */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { checkKnownKeys, parseConfig, PROJECT, type DrConfig } from "../../stacks/config.js";
import { InputError } from "../errors.js";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

export interface StackFile {
  file: string;
  /** Values of this project's keys, without the `iot-dr:` prefix. */
  values: Record<string, unknown>;
  /** Every key of the file, prefixed (`iot-dr:role`, `pulumi:disable-default-providers` ...). */
  all: Record<string, unknown>;
}

export function stackFilePath(stack: string, configFile?: string): string {
  return configFile ? path.resolve(configFile) : path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
}

export function readStackFile(file: string): StackFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new InputError(
      `cannot read config file ${file}: give --config FILE or run from a clone with Pulumi.<stack>.yaml`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new InputError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  const config = (doc as { config?: unknown } | null)?.config;
  if (config === undefined || config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new InputError(
      `config file ${file} has no 'config:' mapping (expected 'config:' with keys such as ${PROJECT}:role)`,
    );
  }
  const all = config as Record<string, unknown>;
  const values: Record<string, unknown> = {};
  const prefix = `${PROJECT}:`;
  for (const [key, value] of Object.entries(all)) {
    if (key.startsWith(prefix)) values[key.slice(prefix.length)] = value;
  }
  return { file, values, all };
}

/** Validates a stack file as `pulumi preview` would (placeholder accounts allowed). */
export function validateStackFile(stackFile: StackFile, stack: string, dryRun = true): DrConfig {
  checkKnownKeys(Object.keys(stackFile.values));
  return parseConfig(stackFile.values, { stack, dryRun });
}
