/**
 * Stack outputs across their seam (issue #16 item 1, #19 item 1): each stack is planned with the
 * real outputs of the stacks it references (not cli/plan/references.ts's mocks), every stack's
 * outputs conform to its one type (stacks/outputs.ts), and the drill's reader of deployed outputs
 * (drill/awsDeps.ts readDrillOutputs -> drill/aws.ts checkOutputs) gets what it needs from them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { FakeStackWorkspace } from "../../cli/automation/fake.js";
import { planStack, type PlanResult } from "../../cli/plan/run.js";
import { checkOutputs } from "../../drill/aws.js";
import { readDrillOutputs } from "../../drill/awsDeps.js";
import { parseStackOutputs, type StackOutputsByRole } from "../../stacks/outputs.js";

const plans = {} as Record<keyof StackOutputsByRole, PlanResult>;

beforeAll(async () => {
  // In deploy order, each reading the outputs the one before exported (secrets as a deployed stack hands them out).
  plans.primary = await planStack({ stack: "primary", revealSecrets: true });
  plans.secondary = await planStack({
    stack: "secondary",
    revealSecrets: true,
    stackOutputs: { primary: plans.primary.outputs },
  });
  plans.global = await planStack({
    stack: "global",
    revealSecrets: true,
    stackOutputs: { primary: plans.primary.outputs, secondary: plans.secondary.outputs },
  });
}, 600_000);

describe("every stack exports exactly its declared outputs", () => {
  it.each(["primary", "secondary", "global"] as const)("the %s stack's outputs parse as its type", (role) => {
    const outputs = plans[role].outputs;
    // Only the global endpoint's id is assigned by AWS at creation; everything a reader needs is known.
    expect(Object.keys(outputs).filter((k) => outputs[k] === "<computed>")).toEqual(
      role === "global" ? ["analyticsGlobalEndpointId"] : [],
    );
    expect(parseStackOutputs(role, role, outputs).role).toBe(role);
  });

  it("the secondary and global stacks read the outputs the primary really exports", () => {
    const secondary = parseStackOutputs("secondary", "secondary", plans.secondary.outputs);
    const primary = parseStackOutputs("primary", "primary", plans.primary.outputs);
    // The replica the primary exports is the table the secondary works on.
    expect(secondary.opsTableNameInRegion).toBe(primary.opsTableName);
    const global = parseStackOutputs("global", "global", plans.global.outputs);
    expect([global.primaryAlarmTopicArn, global.secondaryAlarmTopicArn]).toEqual([
      primary.alarmTopicArn,
      secondary.alarmTopicArn,
    ]);
  });

  it("an output the type does not declare, or one missing, is refused naming it", () => {
    expect(() =>
      parseStackOutputs("primary", "acme/primary", { ...plans.primary.outputs, surprise: "x" }),
    ).toThrow(/stack 'acme\/primary' \(primary\) .*surprise: not declared in stacks\/outputs.ts/);
    const { deviceEndpoint: _dropped, ...rest } = plans.global.outputs;
    expect(() => parseStackOutputs("global", "global", rest)).toThrow(/deviceEndpoint: /);
  });
});

describe("the drill's reader of deployed outputs", () => {
  it("finds every output it needs in what the stacks export", async () => {
    const workspace = new FakeStackWorkspace({
      primary: { outputs: plans.primary.outputs },
      secondary: { outputs: plans.secondary.outputs },
      global: { outputs: plans.global.outputs },
    });
    const outputs = checkOutputs(await readDrillOutputs(workspace));
    const p = parseStackOutputs("primary", "primary", plans.primary.outputs);
    const s = parseStackOutputs("secondary", "secondary", plans.secondary.outputs);
    const g = parseStackOutputs("global", "global", plans.global.outputs);
    expect(outputs).toEqual({
      primaryRegion: p.region,
      secondaryRegion: s.region,
      deviceEndpoint: g.deviceEndpoint,
      healthCheckUrls: {
        [p.region]: `https://${p.healthCheckHost}${p.healthCheckResourcePath}`,
        [s.region]: `https://${s.healthCheckHost}${s.healthCheckResourcePath}`,
      },
      overrideParameters: { [p.region]: p.healthOverrideParameter, [s.region]: s.healthOverrideParameter },
      // The C&C API's fail-over record, through which the drill onboards its devices.
      ccEndpoint: "cc.iot.example.com",
    });
    expect(g.failoverRecordNames).toEqual([g.deviceEndpoint, "cc.iot.example.com"]);
    expect(p.healthCheckResourcePath).toMatch(/^\/[^/]+$/);
  });

  it("refuses a deployed stack whose outputs are renamed or retyped, naming the stack and the output", async () => {
    const { healthOverrideParameter: _renamed, ...renamed } = plans.secondary.outputs;
    const stale = new FakeStackWorkspace({
      primary: { outputs: plans.primary.outputs },
      secondary: {
        outputs: { ...renamed, healthOverrideParam: plans.secondary.outputs.healthOverrideParameter },
      },
      global: { outputs: plans.global.outputs },
    });
    const message = await readDrillOutputs(stale).then(
      () => "",
      (err: Error) => err.message,
    );
    expect(message).toMatch(
      /^stack '[^']*secondary' \(secondary\) exports outputs this program does not expect/,
    );
    expect(message).toMatch(/healthOverrideParameter: /);
    expect(message).toMatch(/healthOverrideParam: not declared in stacks\/outputs.ts/);
    const retyped = new FakeStackWorkspace({
      primary: { outputs: plans.primary.outputs },
      secondary: { outputs: plans.secondary.outputs },
      global: { outputs: { ...plans.global.outputs, deviceEndpoint: 42 } },
    });
    await expect(readDrillOutputs(retyped)).rejects.toThrow(
      /stack '[^']*global' \(global\) .*deviceEndpoint: /,
    );
  });
});
