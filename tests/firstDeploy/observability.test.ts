/**
 * A shared-services account that is already a monitoring account (issue #17, item 6): config
 * names its existing OAM sink, the stack links to it and creates neither a sink nor a sink policy
 * (which would take over the owner's policy), and the link settings come from config.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../cli/plan/recorder";
import { planStack } from "../../cli/plan/run";
import { checkResources, fromPlanned } from "../../policy/run";
import { parseConfig } from "../../stacks/config";

const SINK = "arn:aws:oam:us-east-1:444444444444:sink/existing-0a1b2c";
let resources: PlannedResource[];

beforeAll(async () => {
  resources = (
    await planStack({
      stack: "primary",
      overrides: { oamSinkArn: SINK, oamLinkLabelTemplate: "$AccountName" },
    })
  ).resources;
}, 180_000);

const accounts = {
  iotAccountId: "111111111111",
  commandControlAccountId: "222222222222",
  analyticsAccountId: "333333333333",
  sharedServicesAccountId: "444444444444",
};

describe("an existing OAM sink", () => {
  it("links every source account to the configured sink, creates no sink and no sink policy, and labels links as configured", () => {
    expect(resources.filter((r) => r.type === "aws:oam/sink:Sink")).toEqual([]);
    expect(resources.filter((r) => r.type === "aws:oam/sinkPolicy:SinkPolicy")).toEqual([]);
    const links = resources.filter((r) => r.type === "aws:oam/link:Link");
    expect(links.map((l) => l.provider).sort()).toEqual([
      "analytics-primary",
      "commandControl-primary",
      "iot-primary",
    ]);
    for (const l of links)
      expect(l.inputs).toMatchObject({ sinkIdentifier: SINK, labelTemplate: "$AccountName" });
    // The dashboard still reads the linked accounts: the pack finds every read covered by a link.
    expect(
      checkResources(fromPlanned(resources)).map((v) => `${v.policy}: ${v.resource}: ${v.message}`),
    ).toEqual([]);
  });

  it("refuses a sink of another region or account, or on the global stack, naming the key", () => {
    const parse = (stack: string, oamSinkArn: string) => () =>
      parseConfig({ ...accounts, oamSinkArn }, { stack, dryRun: true });
    expect(parse("primary", "arn:aws:oam:us-west-2:444444444444:sink/x")).toThrow(
      /iot-dr:oamSinkArn: names a sink in us-west-2 but this stack runs in us-east-1/,
    );
    expect(parse("secondary", "arn:aws:oam:us-west-2:111111111111:sink/x")).toThrow(
      /iot-dr:oamSinkArn: names a sink of account 111111111111 but the dashboards live in shared services/,
    );
    expect(parse("global", SINK)).toThrow(/iot-dr:oamSinkArn: belongs on the primary and secondary stacks/);
    expect(parse("primary", "sink-1")).toThrow(/iot-dr:oamSinkArn: must be an OAM sink ARN/);
    expect(
      parseConfig({ ...accounts, oamSinkArn: SINK }, { stack: "primary", dryRun: true }).observability,
    ).toEqual({
      sinkArn: SINK,
    });
  });
});
