/**
 * The rules as CrossGuard policies. Each `validateResource` / `validateStack` only adapts
 * CrossGuard's arguments and calls the pure check in rules.ts, so `pulumi preview --policy-pack
 * policy` and `iot-dr plan --policy` judge alike. Kept apart from index.ts, which starts the
 * policy server on load.
 */
import type {
  PolicyConfigSchema,
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import { CONFIG_SCHEMAS } from "./config";
import { RULES } from "./rules";
import { providerAccount } from "./run";
import { DEFAULT_PACK_CONFIG, type CheckedResource, type PackConfig, type Rule } from "./types";

function configSchema(rule: Rule): PolicyConfigSchema | undefined {
  const properties = CONFIG_SCHEMAS[rule.name];
  return properties ? ({ properties } as PolicyConfigSchema) : undefined;
}

function packConfigOf(getConfig: () => object): PackConfig {
  return { ...DEFAULT_PACK_CONFIG, ...(getConfig() as Partial<PackConfig>) };
}

/** A CrossGuard resource (validation args or stack resource) as the checks see it. */
export function toChecked(r: ResourceValidationArgs | PolicyResource): CheckedResource {
  return {
    type: r.type,
    name: r.name,
    urn: r.urn,
    props: r.props,
    ...(r.provider ? { provider: { props: r.provider.props } } : {}),
  };
}

/** Every rule as a mandatory CrossGuard policy. */
export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = RULES.map((rule) => {
  const common = {
    name: rule.name,
    description: rule.description,
    remediationSteps: rule.remediation,
    severity: rule.severity,
    enforcementLevel: "mandatory" as const,
    ...(configSchema(rule) ? { configSchema: configSchema(rule) } : {}),
  };
  if (rule.kind === "resource") {
    const policy: ResourceValidationPolicy = {
      ...common,
      validateResource: (args, reportViolation) => {
        if (!rule.types.includes(args.type)) return;
        const resource = toChecked(args);
        const context = {
          config: packConfigOf(() => args.getConfig()),
          accountId: providerAccount(resource.provider?.props),
        };
        for (const message of rule.check(resource, context)) reportViolation(message);
      },
    };
    return policy;
  }
  const policy: StackValidationPolicy = {
    ...common,
    validateStack: (args, reportViolation) => {
      const resources = args.resources.map(toChecked);
      for (const finding of rule.check(resources, { config: packConfigOf(() => args.getConfig()) })) {
        reportViolation(finding.message, finding.resource.urn);
      }
    },
  };
  return policy;
});
