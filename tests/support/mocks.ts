/**
 * Runs a piece of Pulumi program under mocks with the plan's MockRecorder (cli/plan) and returns
 * every registered resource, for component tests. Once per test file: Pulumi's runtime state is
 * per process (vitest forks a process per file).
 */
import * as pulumi from "@pulumi/pulumi";
import { CANNED_INVOKES } from "../../cli/plan/invokes.js";
import { MockRecorder, type PlannedResource } from "../../cli/plan/recorder.js";

export interface MockRun<T> {
  resources: PlannedResource[];
  result: T;
  errors: string[];
}

export async function underMocks<T>(
  program: () => T,
  recorder: MockRecorder = new MockRecorder({ stackOutputs: {}, invokes: CANNED_INVOKES }),
): Promise<MockRun<T>> {
  await pulumi.runtime.setMocks(recorder, "iot-dr", "test", true);
  recorder.attach(pulumi.runtime.getMonitor());
  let result!: T;
  await pulumi.runtime.runInPulumiStack(async () => {
    result = program();
    return {};
  });
  // Let every pending registration and apply settle.
  await new Promise((r) => setTimeout(r, 100));
  await pulumi.runtime.disconnect();
  return { resources: recorder.resources, result, errors: recorder.errors };
}

export function ofType(resources: PlannedResource[], type: string): PlannedResource[] {
  return resources.filter((r) => r.type === type);
}
