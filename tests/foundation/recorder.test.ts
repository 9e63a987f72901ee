import { describe, expect, it } from "vitest";
import { CANNED_INVOKES } from "../../cli/plan/invokes.js";
import { MockRecorder } from "../../cli/plan/recorder.js";

describe("the Pulumi mock recorder", () => {
  const recorder = () => new MockRecorder({ stackOutputs: {}, invokes: CANNED_INVOKES });

  it("fails an invoke that has no canned answer, naming the token", () => {
    const r = recorder();
    expect(() => r.call({ token: "aws:ec2/getVpc:getVpc", inputs: {} } as never)).toThrow(
      "unexpected invoke aws:ec2/getVpc:getVpc",
    );
    expect(r.errors).toHaveLength(1);
  });

  it("answers getPolicyDocument with the JSON AWS would build", () => {
    const r = recorder();
    const result = r.call({
      token: "aws:iam/getPolicyDocument:getPolicyDocument",
      inputs: { statements: [{ actions: ["sqs:SendMessage"], resources: ["arn:aws:sqs:us-east-1:1:q"] }] },
    } as never) as { json: string };
    expect(JSON.parse(result.json)).toEqual({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "sqs:SendMessage", Resource: "arn:aws:sqs:us-east-1:1:q" }],
    });
  });

  it("flags an AWS resource registered without an explicit provider", () => {
    const r = recorder();
    r.newResource({ type: "aws:sqs/queue:Queue", name: "orphan", inputs: {}, custom: true } as never);
    expect(r.errors).toEqual([
      "aws:sqs/queue:Queue 'orphan' has no explicit provider (default providers are disabled)",
    ]);
  });

  it("gives computed outputs in the region and account of the resource's provider", () => {
    const r = recorder();
    r.newResource({
      type: "pulumi:providers:aws",
      name: "iot-secondary",
      inputs: { region: "us-west-2", allowedAccountIds: '["111111111111"]' },
      custom: true,
    } as never);
    const { state } = r.newResource({
      type: "aws:sqs/queue:Queue",
      name: "dlq",
      inputs: {},
      custom: true,
      provider: "urn:pulumi:s::iot-dr::pulumi:providers:aws::iot-secondary::iot-secondary-provider",
    } as never);
    expect(String(state.url)).toMatch(/^https:\/\/sqs\.us-west-2\.amazonaws\.com\/111111111111\//);
  });
});
