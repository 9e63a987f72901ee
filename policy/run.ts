/**
 * Runs the pack's checks without a policy host: over the resources `iot-dr plan` recorded under
 * Pulumi mocks (their inputs stand in for CrossGuard's props). Used by `iot-dr plan --policy`.
 */
import { providerAccount } from "./account";
import { resolvePackConfig, type EnforcementLevel, type ResolvedPackConfig } from "./config";
import { RULES, checkResource } from "./rules";
import type { ArchiveFacts, CheckedResource, RuleContext, Violation } from "./types";

/** What `iot-dr plan` records per resource (cli/plan/recorder.ts), as far as the checks need it. */
export interface PlannedLike {
  type: string;
  name: string;
  urn: string;
  provider?: string;
  inputs: Record<string, unknown>;
}

export interface PolicyViolation extends Violation {
  enforcementLevel: Exclude<EnforcementLevel, "disabled">;
}

export { providerAccount };

/** Planned resources as the checks see them, each with its provider's properties (and archive facts by function name). */
export function fromPlanned(
  resources: readonly PlannedLike[],
  archives: ReadonlyMap<string, ArchiveFacts> = new Map(),
): CheckedResource[] {
  const providers = new Map(
    resources.filter((r) => r.type.startsWith("pulumi:providers:")).map((r) => [r.name, r.inputs]),
  );
  return resources.map((r) => {
    const provider = r.provider ? providers.get(r.provider) : undefined;
    return {
      type: r.type,
      name: r.name,
      urn: r.urn,
      props: r.inputs,
      ...(provider ? { provider: { props: provider } } : {}),
      ...(archives.has(r.name) && r.type === "aws:lambda/function:Function"
        ? { archive: archives.get(r.name) }
        : {}),
    };
  });
}

/** Every violation of every enabled rule, resource rules first in rule order, then stack rules. */
export function checkResources(
  resources: readonly CheckedResource[],
  resolved: ResolvedPackConfig = resolvePackConfig(
    undefined,
    RULES.map((r) => r.name),
  ),
): PolicyViolation[] {
  const violations: PolicyViolation[] = [];
  for (const rule of RULES) {
    const level = resolved.levels[rule.name] ?? "mandatory";
    if (level === "disabled") continue;
    const add = (r: CheckedResource, message: string) =>
      violations.push({
        policy: rule.name,
        resource: r.name,
        type: r.type,
        message,
        enforcementLevel: level,
      });
    if (rule.kind === "resource") {
      for (const r of resources) {
        const context: RuleContext = {
          config: resolved.config,
          accountId: providerAccount(r.provider?.props),
        };
        for (const message of checkResource(rule, r, context)) add(r, message);
      }
    } else {
      for (const finding of rule.check(resources, { config: resolved.config }))
        add(finding.resource, finding.message);
    }
  }
  return violations;
}

/** Reads a policy-pack-config document (already parsed JSON) for the pack's rules. */
export function packConfig(doc: unknown): ResolvedPackConfig {
  return resolvePackConfig(
    doc,
    RULES.map((r) => r.name),
  );
}
