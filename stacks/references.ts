/**
 * Typed stack references. They point one way: `secondary` reads `primary`; `global` reads both.
 * A missing output fails the deployment with a message naming the stack and the output.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DrConfig } from "./config.js";

// One type per stack's outputs, shared with the stacks that export them and every reader (stacks/outputs.ts).
import type { PrimaryOutputs, SecondaryOutputs } from "./outputs.js";
export type { PrimaryOutputs, RegionalOutputs, SecondaryOutputs } from "./outputs.js";

/** Typed access to one referenced stack's outputs. */
export class TypedStackReference<T> {
  private readonly ref: pulumi.StackReference;

  constructor(
    logicalName: string,
    readonly stackName: string,
    opts?: pulumi.CustomResourceOptions,
  ) {
    this.ref = new pulumi.StackReference(logicalName, { name: stackName }, opts);
  }

  /** The output `key`; fails with the stack and output named when the stack does not export it. */
  require<K extends keyof T & string>(key: K): pulumi.Output<T[K]> {
    const stackName = this.stackName;
    return this.ref.getOutput(key).apply((value: unknown) => {
      if (value === undefined || value === null) {
        throw new Error(
          `stack '${stackName}' has no output '${key}': deploy '${stackName}' first (iot-dr deploy deploys in order), ` +
            `or set iot-dr:primaryStack / iot-dr:secondaryStack to the stack's fully qualified name`,
        );
      }
      return value as T[K];
    });
  }
}

export function primaryReference(config: DrConfig): TypedStackReference<PrimaryOutputs> {
  return new TypedStackReference<PrimaryOutputs>("primary-stack", config.primaryStack);
}

export function secondaryReference(config: DrConfig): TypedStackReference<SecondaryOutputs> {
  return new TypedStackReference<SecondaryOutputs>("secondary-stack", config.secondaryStack);
}
