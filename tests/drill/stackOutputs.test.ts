import { describe, expect, it } from "vitest";
import { planStack } from "../../cli/plan/run.js";
import type { StackWorkspace } from "../../cli/automation/workspace.js";
import { checkOutputs } from "../../drill/aws.js";
import { readDrillOutputs } from "../../drill/awsDeps.js";

describe("the stacks and the AWS drill", () => {
  it("export every output `iot-dr drill --target aws` reads, under the names it reads them", async () => {
    const planned: Record<string, Record<string, unknown>> = {};
    for (const stack of ["primary", "secondary", "global"])
      planned[stack] = (await planStack({ stack })).outputs;
    const workspace = {
      qualifiedName: (stack: string) => stack,
      selectStack: async (stack: string) => ({
        outputs: async () =>
          Object.fromEntries(
            Object.entries(planned[stack]).map(([k, value]) => [k, { value, secret: false }]),
          ),
      }),
    } as unknown as StackWorkspace;
    const outputs = checkOutputs(await readDrillOutputs(workspace));
    expect(outputs.primaryRegion).toBe("us-east-1");
    expect(outputs.secondaryRegion).toBe("us-west-2");
    expect(outputs.deviceEndpoint).toBe("devices.iot.example.com");
    expect(Object.keys(outputs.healthCheckUrls).sort()).toEqual(["us-east-1", "us-west-2"]);
    expect(outputs.healthCheckUrls["us-east-1"]).toMatch(/^https:\/\//);
    expect(Object.keys(outputs.overrideParameters).sort()).toEqual(["us-east-1", "us-west-2"]);
    expect(outputs.ccEndpoint).toBe("cc.iot.example.com");
  });
});
