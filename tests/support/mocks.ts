/**
 * Runs a piece of Pulumi program under mocks with the plan's MockRecorder (cli/plan) and returns
 * every registered resource, for component tests. Once per test file: Pulumi's runtime state is
 * per process (vitest forks a process per file).
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll } from "vitest";
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

/** The resources of a type, optionally only those whose logical name starts with `prefix`. */
/**
 * Runs `program` under mocks in the file's beforeAll and returns its run, filled in place by then:
 * read `resources`, `errors` and `result` inside tests.
 */
export function plannedBeforeAll<T>(program: () => T): MockRun<T> {
  const planned = { resources: [], errors: [] } as unknown as MockRun<T>;
  beforeAll(async () => {
    Object.assign(planned, await underMocks(program));
  });
  return planned;
}

export function ofType(resources: PlannedResource[], type: string, prefix = ""): PlannedResource[] {
  return resources.filter((r) => r.type === type && r.name.startsWith(prefix));
}

/** A JSON input (a policy, a pattern ...), parsed whether it arrived as a string or an object. */
export const parsedJson = (v: unknown) =>
  (typeof v === "string" ? JSON.parse(v) : v) as Record<string, unknown>;

/**
 * For tests of arguments a component refuses: `attempt(build)` runs a build and keeps the message
 * of what it throws in `messages`, in order.
 */
export function collectThrown(): { attempt: (build: () => unknown) => void; messages: string[] } {
  const messages: string[] = [];
  return {
    messages,
    attempt: (build) => {
      try {
        build();
      } catch (err) {
        messages.push((err as Error).message);
      }
    },
  };
}
