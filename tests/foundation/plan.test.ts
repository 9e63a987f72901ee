import { describe, expect, it } from "vitest";
import { ConfigError } from "../../stacks/config.js";
import { planStack } from "../../cli/plan/run.js";
import { planIsolated } from "../support/plan.js";

// Each planStack call runs the whole program under fresh mocks in this process.
describe("plan under Pulumi mocks", () => {
  it("gives the primary stack one provider per account and region, each pinned to its account with default tags", async () => {
    const { resources } = await planStack({ stack: "primary" });
    const providers = resources.filter((r) => r.type === "pulumi:providers:aws");
    expect(providers.map((p) => p.name).sort()).toEqual(
      ["analytics", "commandControl", "iot", "sharedServices"]
        .flatMap((a) => [`${a}-primary`, `${a}-secondary`])
        .sort(),
    );
    const iot = providers.find((p) => p.name === "iot-primary")!;
    expect(iot.inputs.region).toBe("us-east-1");
    expect(iot.inputs.allowedAccountIds).toEqual(["111111111111"]);
    expect(iot.inputs.assumeRoles).toBeUndefined();
    expect((iot.inputs.defaultTags as { tags: Record<string, string> }).tags).toMatchObject({
      project: "iot-dr",
      stack: "primary",
      account: "iot",
    });
    // every AWS resource names its explicit provider (the recorder fails the plan otherwise)
    for (const r of resources.filter((x) => x.custom && x.type.startsWith("aws:")))
      expect(r.provider, r.name).toBeTruthy();
  });

  it("assumes the configured role with the external id when an account has one", async () => {
    const { resources } = await planStack({
      stack: "secondary",
      overrides: {
        iotRoleArn: "arn:aws:iam::111111111111:role/iot-dr-deployer",
        assumeRoleExternalId: "ext-123",
      },
    });
    const iot = resources.find((r) => r.name === "iot-secondary")!;
    expect(iot.inputs.assumeRoles).toEqual([
      {
        roleArn: "arn:aws:iam::111111111111:role/iot-dr-deployer",
        externalId: "ext-123",
        sessionName: "iot-dr-secondary",
      },
    ]);
    const analytics = resources.find((r) => r.name === "analytics-secondary")!;
    expect(analytics.inputs.assumeRoles).toBeUndefined();
  });

  it("keeps the secondary stack out of the primary region and makes it read the primary stack", async () => {
    const { resources } = await planStack({ stack: "secondary" });
    const regions = new Set(
      resources.filter((r) => r.type === "pulumi:providers:aws").map((r) => r.inputs.region),
    );
    expect([...regions]).toEqual(["us-west-2"]);
    const refs = resources.filter((r) => r.type === "pulumi:pulumi:StackReference").map((r) => r.inputs.name);
    expect(refs).toEqual(["primary"]);
  });

  it("makes the global stack read both regional stacks by their configured names", async () => {
    const { resources, outputs } = await planStack({
      stack: "global",
      overrides: { primaryStack: "acme/iot-dr/primary", secondaryStack: "acme/iot-dr/secondary" },
    });
    const refs = resources.filter((r) => r.type === "pulumi:pulumi:StackReference").map((r) => r.inputs.name);
    expect(refs.sort()).toEqual(["acme/iot-dr/primary", "acme/iot-dr/secondary"]);
    expect(outputs.primaryRegion).toBe("us-east-1");
    expect(outputs.secondaryRegion).toBe("us-west-2");
  });

  it("fails naming the stack and the output when a referenced stack lacks an output", () => {
    const run = planIsolated({ stack: "secondary", stackOutputs: { primary: { role: "primary" } } });
    expect(run.ok).toBe(false);
    expect(!run.ok && run.error).toMatch(/stack 'primary' has no output 'region'/);
  });

  it("fails the global plan when a regional stack runs in another region than configured", () => {
    const run = planIsolated({
      stack: "global",
      stackOutputs: {
        primary: { region: "eu-west-1", alarmTopicArn: "a" },
        secondary: { region: "us-west-2", alarmTopicArn: "b" },
      },
    });
    expect(!run.ok && run.error).toMatch(
      /stack 'primary' runs in eu-west-1 but this stack's config expects us-east-1/,
    );
  });

  it("fails the secondary plan when the primary stack runs in another region than configured", () => {
    const run = planIsolated({
      stack: "secondary",
      stackOutputs: { primary: { region: "eu-west-1", alarmTopicArn: "a" } },
    });
    expect(!run.ok && run.error).toMatch(
      /stack 'primary' runs in eu-west-1 but this stack's iot-dr:primaryRegion is us-east-1/,
    );
  });

  it("refuses invalid config before registering any resource", async () => {
    await expect(
      planStack({ stack: "primary", overrides: { secondaryRegion: "us-east-1" } }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});
