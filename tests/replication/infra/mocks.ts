/**
 * Runs a piece of Pulumi program under mocks (the lead's MockRecorder from cli/plan) and returns
 * every registered resource with its resolved inputs, for component tests.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { CANNED_INVOKES } from "../../../cli/plan/invokes.js";
import { MockRecorder, type PlannedResource } from "../../../cli/plan/recorder.js";

export const ACCOUNT = "111111111111";

export interface MockRun<T> {
  resources: PlannedResource[];
  result: T;
  errors: string[];
}

/** Registers `program` under mocks once per process (Pulumi's runtime state is global; vitest forks per file). */
export async function underMocks<T>(program: () => T): Promise<MockRun<T>> {
  const recorder = new MockRecorder({ stackOutputs: {}, invokes: CANNED_INVOKES });
  await pulumi.runtime.setMocks(recorder, "iot-dr", "test", true);
  recorder.attach(pulumi.runtime.getMonitor());
  let result!: T;
  await pulumi.runtime.runInPulumiStack(async () => {
    result = program();
    return {};
  });
  // Let every pending registration and apply settle.
  await new Promise((r) => setTimeout(r, 50));
  await pulumi.runtime.disconnect();
  return { resources: recorder.resources, result, errors: recorder.errors };
}

/** An IoT-account provider in a region, as stacks/providers.ts builds them. */
export function provider(name: string, region: string): aws.Provider {
  return new aws.Provider(name, { region: region as aws.Region, allowedAccountIds: [ACCOUNT] });
}

export function ofType(resources: PlannedResource[], type: string): PlannedResource[] {
  return resources.filter((r) => r.type === type);
}

export function one(resources: PlannedResource[], type: string, nameSuffix: string): PlannedResource {
  const found = resources.filter((r) => r.type === type && r.name.endsWith(nameSuffix));
  if (found.length !== 1) {
    throw new Error(
      `expected one ${type} named *${nameSuffix}, found ${found.map((r) => r.name).join(", ") || "none"}`,
    );
  }
  return found[0];
}
