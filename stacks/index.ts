import type * as pulumi from "@pulumi/pulumi";
import type { DrConfig, StackRole } from "./config.js";
import { globalStack } from "./global.js";
import { primaryStack } from "./primary.js";
import { secondaryStack } from "./secondary.js";

const programs: Record<StackRole, (config: DrConfig) => Record<string, pulumi.Input<unknown>>> = {
  primary: primaryStack,
  secondary: secondaryStack,
  global: globalStack,
};

/** Runs the program of the stack's role and returns its outputs. */
export function buildStack(config: DrConfig): Record<string, pulumi.Input<unknown>> {
  return programs[config.role](config);
}
