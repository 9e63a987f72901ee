/**
 * One explicit aws.Provider per (account, region). Default providers are disabled in every stack
 * file's project settings (pulumi:disable-default-providers), so a resource without one fails.
 */
import * as aws from "@pulumi/aws";
import { ACCOUNTS, PROJECT, type AccountName, type DrConfig } from "./config.js";

export type RegionSlot = "primary" | "secondary";

export interface Providers {
  /** The provider for an account in the primary or secondary region. */
  get(account: AccountName, slot: RegionSlot): aws.Provider;
  /** The region name of a slot. */
  region(slot: RegionSlot): string;
}

/** The explicit provider of one account in one region: pinned to the account, assume-role, default tags. */
export function accountProvider(
  config: DrConfig,
  logicalName: string,
  account: AccountName,
  region: string,
): aws.Provider {
  const { id, roleArn } = config.accounts[account];
  return new aws.Provider(logicalName, {
    region: region as aws.Region,
    allowedAccountIds: [id],
    assumeRoles: roleArn
      ? [{ roleArn, externalId: config.assumeRoleExternalId, sessionName: `${PROJECT}-${config.stack}` }]
      : undefined,
    defaultTags: {
      tags: {
        project: PROJECT,
        stack: config.stack,
        role: config.role,
        environment: config.environment,
        account,
        "managed-by": "pulumi",
      },
    },
  });
}

/** Creates providers for every account in the given regions (only those a stack needs). */
export function createProviders(config: DrConfig, slots: readonly RegionSlot[]): Providers {
  const byKey = new Map<string, aws.Provider>();
  const regionOf = (slot: RegionSlot) => (slot === "primary" ? config.primaryRegion : config.secondaryRegion);
  for (const account of ACCOUNTS) {
    for (const slot of slots) {
      byKey.set(`${account}/${slot}`, accountProvider(config, `${account}-${slot}`, account, regionOf(slot)));
    }
  }
  return {
    get(account, slot) {
      const provider = byKey.get(`${account}/${slot}`);
      if (!provider) {
        throw new Error(
          `no provider for account '${account}' in the ${slot} region in stack '${config.stack}': ` +
            `this stack only deploys to ${slots.join(" and ")} (see stacks/${config.role}.ts)`,
        );
      }
      return provider;
    },
    region: regionOf,
  };
}
