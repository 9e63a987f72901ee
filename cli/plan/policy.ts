/**
 * `iot-dr plan --policy`: the policy pack's checks (policy/rules.ts) over the planned resources,
 * with the pack config read from a `--policy-pack-config`-style JSON file.
 */
import * as fs from "node:fs";
import { PolicyConfigError, type ResolvedPackConfig } from "../../policy/config";
import { checkResources, fromPlanned, packConfig, type PolicyViolation } from "../../policy/run";
import type { ArchiveFacts } from "../../policy/types";
import { InputError } from "../errors.js";
import type { PlannedResource } from "./recorder.js";

/** Exit code of `plan --policy` when a mandatory policy is violated (as `drift` uses 3 for drift). */
export const POLICY_VIOLATION_EXIT = 3;

/** Reads and validates a policy config file; the pack's defaults without one. Throws InputError. */
export function loadPolicyConfig(file?: string): ResolvedPackConfig {
  if (file === undefined) return packConfig(undefined);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new InputError(
      `cannot read policy config file ${file}: give an existing JSON file to --policy-config`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InputError(`policy config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return packConfig(doc);
  } catch (err) {
    if (err instanceof PolicyConfigError) throw new InputError(`${file}: ${err.message}`);
    throw err;
  }
}

/** The pack's violations over a plan's resources (with each function's archive facts when built). */
export function planViolations(
  resources: readonly PlannedResource[],
  resolved: ResolvedPackConfig,
  archives?: ReadonlyMap<string, ArchiveFacts>,
): PolicyViolation[] {
  return checkResources(fromPlanned(resources, archives), resolved);
}

/** True when a violation blocks (mandatory), as it would block `pulumi up`. */
export const blocks = (violations: readonly PolicyViolation[]) =>
  violations.some((v) => v.enforcementLevel === "mandatory");

/** The violations as text lines for the terminal. */
export function formatViolations(violations: readonly PolicyViolation[]): string {
  if (violations.length === 0) return "Policy iot-dr: no violations\n";
  const lines = violations.map(
    (v) =>
      `  [${v.policy}${v.enforcementLevel === "advisory" ? ", advisory" : ""}] ${v.type} ${v.resource}: ${v.message}`,
  );
  return `Policy iot-dr: ${violations.length} violation${violations.length === 1 ? "" : "s"}\n${lines.join("\n")}\n`;
}
