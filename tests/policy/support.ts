/** Crafted resources for the policy tests: `{type, name, urn, props}` as the checks see them. */
import { checkResources } from "../../policy/run";
import type { CheckedResource, PackConfig } from "../../policy/types";
import { DEFAULT_PACK_CONFIG } from "../../policy/types";
import { packConfig } from "../../policy/run";

export function resource(
  type: string,
  props: Record<string, unknown>,
  options: { name?: string; urn?: string; account?: string; region?: string } = {},
): CheckedResource {
  const name = options.name ?? "crafted";
  const providerProps = {
    ...(options.account ? { allowedAccountIds: [options.account] } : {}),
    ...(options.region ? { region: options.region } : {}),
  };
  return {
    type,
    name,
    urn: options.urn ?? `urn:pulumi:test::iot-dr::${type}::${name}`,
    props,
    ...(Object.keys(providerProps).length > 0 ? { provider: { props: providerProps } } : {}),
  };
}

/** The messages every rule of the pack reports for these resources, with the policy name. */
export function violationsOf(resources: CheckedResource[], config?: Record<string, unknown>) {
  return checkResources(resources, packConfig(config)).map((v) => ({ policy: v.policy, message: v.message }));
}

export const config = (overrides: Partial<PackConfig> = {}): PackConfig => ({
  ...DEFAULT_PACK_CONFIG,
  ...overrides,
});

/** An identity policy document with one Allow statement. */
export const allow = (action: string | string[], res: unknown, extra: Record<string, unknown> = {}) => ({
  Version: "2012-10-17",
  Statement: [{ Sid: "Crafted", Effect: "Allow", Action: action, Resource: res, ...extra }],
});
