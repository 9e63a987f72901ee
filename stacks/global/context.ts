/**
 * What every block of the global program (stacks/global.ts) shares: the config, the providers of
 * both regions, the two referenced regional stacks (checked to run in the configured regions) and
 * the provider of the us-east-1 alarms. Built once; the blocks read it and return typed values.
 */
import type * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import type { DrConfig } from "../config.js";
import { accountProvider, createProviders, type Providers } from "../providers.js";
import { primaryReference, secondaryReference, type TypedStackReference } from "../references.js";
import type { PrimaryOutputs, SecondaryOutputs } from "../outputs.js";

export interface GlobalContext {
  config: DrConfig;
  providers: Providers;
  primary: TypedStackReference<PrimaryOutputs>;
  secondary: TypedStackReference<SecondaryOutputs>;
  /** The primary stack's region, refused when it is not iot-dr:primaryRegion. */
  primaryRegion: pulumi.Output<string>;
  /** The secondary stack's region, refused when it is not iot-dr:secondaryRegion. */
  secondaryRegion: pulumi.Output<string>;
  /** Shared services in us-east-1, where Route 53 publishes health-check metrics. */
  alarmProvider: aws.Provider;
  /** The external id the regional stacks put on the roles the notifier and the mover assume. */
  externalId: pulumi.Input<string>;
}

export function globalContext(config: DrConfig): GlobalContext {
  const providers = createProviders(config, ["primary", "secondary"]);
  const primary = primaryReference(config);
  const secondary = secondaryReference(config);

  // Both regional stacks must describe the pair of regions this stack was configured with.
  const check = (stackName: string, expected: string) => (actual: string) => {
    if (actual !== expected) {
      throw new Error(
        `stack '${stackName}' runs in ${actual} but this stack's config expects ${expected}: ` +
          "give all three stacks the same primaryRegion and secondaryRegion",
      );
    }
    return actual;
  };
  const primaryRegion = primary.require("region").apply(check(config.primaryStack, config.primaryRegion));
  const secondaryRegion = secondary
    .require("region")
    .apply(check(config.secondaryStack, config.secondaryRegion));

  // Route 53 publishes health-check metrics in us-east-1 only: alarms and the notifier live there.
  const usEast1Slot =
    config.primaryRegion === "us-east-1"
      ? "primary"
      : config.secondaryRegion === "us-east-1"
        ? "secondary"
        : undefined;
  const alarmProvider = usEast1Slot
    ? providers.get("sharedServices", usEast1Slot)
    : accountProvider(config, "sharedServices-route53-metrics", "sharedServices", "us-east-1");

  return {
    config,
    providers,
    primary,
    secondary,
    primaryRegion,
    secondaryRegion,
    alarmProvider,
    externalId: config.assumeRoleExternalId ?? `iot-dr-health-${config.environment}`,
  };
}
