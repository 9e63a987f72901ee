/**
 * Runs a stack's program in-process under Pulumi mocks — no cloud, no credentials, no Pulumi CLI —
 * and returns the resource inventory. Used by `iot-dr plan`, the policy pack and the tests.
 */
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, SECRET_CONFIG_KEYS, STACK_ROLES, type DrConfig } from "../../stacks/config.js";
import { InputError } from "../errors.js";
import { CANNED_INVOKES } from "./invokes.js";
import { MockRecorder, type PlannedResource } from "./recorder.js";
import { referencedStackOutputs } from "./references.js";
import {
  ENCRYPTED_STAND_IN,
  readStackFile,
  stackFileNotices,
  stackFilePath,
  validateStackFile,
} from "./stackFile.js";

export interface PlanResult {
  stack: string;
  /** Notes and warnings about the stack file (encrypted values, plain-text secrets), for stderr. */
  notices: string[];
  config: DrConfig;
  resources: PlannedResource[];
  outputs: Record<string, unknown>;
}

export interface PlanOptions {
  /** primary, secondary or global. */
  stack: string;
  /** Stack file to use instead of Pulumi.<stack>.yaml. */
  configFile?: string;
  /** Values that override the file's (`iot-dr:` keys without the prefix). */
  overrides?: Record<string, unknown>;
  /** Outputs of referenced stacks, replacing the mocked ones derived from config (tests). */
  stackOutputs?: Record<string, Record<string, unknown>>;
  /** Secret outputs with their (mocked) values instead of "[secret]", as a deployed stack hands them to its readers (tests). */
  revealSecrets?: boolean;
}

function toConfigString(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * An output's value, "<computed>" where it is only known after deployment (e.g. an id AWS
 * assigns), or "[secret]" for a secret output (as `pulumi stack output` shows it).
 */
async function settle(value: unknown, revealSecrets = false): Promise<unknown> {
  // `isKnown` and `promise()` are the Output's own settlement, including errors thrown inside apply.
  const output = pulumi.output(value) as unknown as {
    isKnown: Promise<boolean>;
    isSecret: Promise<boolean>;
    promise(): Promise<unknown>;
  };
  const [known, secret, resolved] = await Promise.all([output.isKnown, output.isSecret, output.promise()]);
  if (secret && !revealSecrets) return "[secret]";
  return known ? resolved : "<computed>";
}

/** Every exported output, each settled on its own so that one unknown does not hide the others. */
async function settleAll(
  exported: Record<string, unknown>,
  revealSecrets = false,
): Promise<Record<string, unknown>> {
  const entries = await Promise.all(
    Object.entries(exported).map(async ([k, v]) => [k, await settle(v, revealSecrets)] as const),
  );
  return Object.fromEntries(entries);
}

/** Plans one stack. Throws InputError for an unknown stack and ConfigError for bad config. */
export async function planStack(options: PlanOptions): Promise<PlanResult> {
  if (!(STACK_ROLES as readonly string[]).includes(options.stack)) {
    throw new InputError(`unknown stack '${options.stack}': use one of ${STACK_ROLES.join(", ")}`);
  }
  const stackFile = readStackFile(stackFilePath(options.stack, options.configFile));
  Object.assign(stackFile.values, options.overrides ?? {});
  // Validate first: invalid config fails before any resource is registered.
  const config = validateStackFile(stackFile, options.stack);

  const recorder = new MockRecorder({
    stackOutputs: options.stackOutputs ?? referencedStackOutputs(config),
    invokes: CANNED_INVOKES,
  });
  await pulumi.runtime.setMocks(recorder, PROJECT, options.stack, true);
  recorder.attach(pulumi.runtime.getMonitor());
  const allConfig: Record<string, string> = {};
  for (const [key, value] of Object.entries(stackFile.all)) allConfig[key] = toConfigString(value);
  for (const [key, value] of Object.entries(options.overrides ?? {}))
    allConfig[`${PROJECT}:${key}`] = toConfigString(value);
  for (const key of stackFile.encrypted)
    if (!(key in (options.overrides ?? {}))) allConfig[`${PROJECT}:${key}`] = ENCRYPTED_STAND_IN;
  // Secret keys stay secret in the program, encrypted in the file or not.
  pulumi.runtime.setAllConfig(
    allConfig,
    SECRET_CONFIG_KEYS.map((k) => `${PROJECT}:${k}`),
  );

  // The program's own modules are loaded here, after the mocks, as `pulumi up` would load index.ts.
  const { loadConfig } = await import("../../stacks/config.js");
  const { buildStack } = await import("../../stacks/index.js");
  let outputs: Record<string, unknown> = {};
  // An apply that throws in an output nobody exports surfaces as an unhandled rejection, as under `pulumi up`.
  const failures: unknown[] = [];
  const onRejection = (reason: unknown) => failures.push(reason);
  process.on("unhandledRejection", onRejection);
  try {
    await pulumi.runtime.runInPulumiStack(async () => {
      const exported = buildStack(loadConfig());
      outputs = await settleAll(exported, options.revealSecrets);
      return exported;
    });
    await pulumi.runtime.disconnect();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off("unhandledRejection", onRejection);
  }
  if (failures.length > 0) throw failures[0];
  if (recorder.errors.length > 0)
    throw new Error(`plan of stack '${options.stack}' failed:\n- ${recorder.errors.join("\n- ")}`);
  return {
    stack: options.stack,
    notices: stackFileNotices(stackFile),
    config,
    resources: recorder.resources,
    outputs,
  };
}

/** Inputs for display: assets and archives summarised, secrets hidden. */
export function displayInputs(
  resource: Pick<PlannedResource, "inputs" | "secretInputs">,
): Record<string, unknown> {
  const inputs = { ...resource.inputs };
  for (const key of resource.secretInputs ?? []) inputs[key] = "[secret]";
  const show = (v: unknown): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) return v.map(show);
    if (pulumi.asset.Asset.isInstance(v)) return "<asset>";
    if (pulumi.asset.Archive.isInstance(v)) {
      const assets = (v as unknown as { assets?: Record<string, unknown> }).assets;
      return { archive: assets ? Object.keys(assets).sort() : "<archive>" };
    }
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, show(x)]));
  };
  return show(inputs) as Record<string, unknown>;
}
