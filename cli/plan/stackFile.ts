/** Reads a Pulumi.<stack>.yaml file into raw config values of this project, validated offline. */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import {
  checkKnownKeys,
  parseConfig,
  PROJECT,
  SECRET_CONFIG_KEYS,
  type DrConfig,
} from "../../stacks/config.js";
import { InputError } from "../errors.js";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

export interface StackFile {
  file: string;
  /** Values of this project's keys, without the `iot-dr:` prefix. */
  values: Record<string, unknown>;
  /** Every key of the file, prefixed (`iot-dr:role`, `pulumi:disable-default-providers` ...). */
  all: Record<string, unknown>;
  /** Secret keys whose value is encrypted (`secure:`): opaque here, "<secret>" in `values`. */
  encrypted: string[];
  /** Secret keys stored in plain text: each draws a warning. */
  plainSecrets: string[];
}

/**
 * What the mocked program gets for an encrypted value: plan has no key to decrypt it. It passes
 * every format check (a URL path segment of letters and '-'), so only the checks say "not checked".
 */
export const ENCRYPTED_STAND_IN = "encrypted-value-not-decrypted-by-iot-dr-plan";

const isSecret = (key: string) => (SECRET_CONFIG_KEYS as readonly string[]).includes(key);
const isEncrypted = (value: unknown) =>
  typeof value === "object" && value !== null && !Array.isArray(value) && "secure" in value;

/** Lines for stderr: encrypted values not checked, plain-text secrets to encrypt. */
export function stackFileNotices(stackFile: StackFile): string[] {
  return [
    ...stackFile.encrypted.map(
      (key) =>
        `note: ${PROJECT}:${key} is encrypted (secure:); its format is not checked (plan cannot decrypt it)`,
    ),
    ...stackFile.plainSecrets.map(
      (key) =>
        `warning: ${PROJECT}:${key} is a secret stored in plain text in ${stackFile.file}; encrypt it: pulumi config set --secret ${PROJECT}:${key} <value>`,
    ),
  ];
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
  const encrypted: string[] = [];
  const plainSecrets: string[] = [];
  const prefix = `${PROJECT}:`;
  for (const [prefixed, value] of Object.entries(all)) {
    try {
      JSON.stringify(value);
    } catch {
      // e.g. `key: &a [*a]`: Pulumi stores config as JSON, which cannot hold a cycle.
      throw new InputError(
        `config file ${file}: ${prefixed} refers to itself through a YAML alias (&name ... *name); write the value out`,
      );
    }
    if (!prefixed.startsWith(prefix)) continue;
    const key = prefixed.slice(prefix.length);
    if (isEncrypted(value)) {
      if (!isSecret(key))
        throw new InputError(
          `config file ${file}: ${prefixed} is encrypted (secure:) but is not a secret setting, and its value must be checked; set it in plain text: pulumi config set ${prefixed} <value>`,
        );
      encrypted.push(key);
      values[key] = "<secret>";
      continue;
    }
    if (isSecret(key) && value !== null && value !== undefined && value !== "") plainSecrets.push(key);
    values[key] = value;
  }
  return { file, values, all, encrypted, plainSecrets };
}

/** Validates a stack file as `pulumi preview` would (placeholder accounts allowed). */
export function validateStackFile(stackFile: StackFile, stack: string, dryRun = true): DrConfig {
  checkKnownKeys(Object.keys(stackFile.values));
  return parseConfig(stackFile.values, { stack, dryRun });
}
