import type * as pulumi from "@pulumi/pulumi";

/** Throws a clear error when a component is given no provider (default providers are disabled). */
export function requireProvider(
  provider: pulumi.ProviderResource | undefined,
  component: string,
  account: string,
): pulumi.ProviderResource {
  if (!provider) {
    throw new Error(
      `${component} must be given the aws.Provider of the ${account} account (default providers are disabled)`,
    );
  }
  return provider;
}
