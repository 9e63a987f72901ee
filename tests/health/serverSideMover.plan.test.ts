/**
 * The server-side move in the stacks (issue #16, item 3): planned only behind
 * iot-dr:serverSideMove, with its IAM scoped, and refused with a clear error when misconfigured.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../cli/plan/recorder";
import { referencedStackOutputs } from "../../cli/plan/references";
import { planStack, type PlanResult } from "../../cli/plan/run";
import { MOVE_CLAIM_PREFIX, PRESENCE_RULE_SQL } from "../../functions/health/presence";
import { checkResources, fromPlanned } from "../../policy/run";
import { checkResource, deleteConnectionScoped } from "../../policy/rules";
import { planIsolated } from "../support/plan";
import { doc, named } from "./mocks";

const ON = { serverSideMove: true };
const plans: Record<string, PlanResult> = {};
const ofMover = (resources: PlannedResource[]) =>
  resources.filter((r) => /^(presence-|server-side-move)/.test(r.name));

beforeAll(async () => {
  for (const stack of ["primary", "global"] as const) {
    plans[`off/${stack}`] = await planStack({ stack });
    plans[`on/${stack}`] = await planStack({ stack, overrides: ON });
  }
}, 400_000);

describe("the server-side move is off unless configured", () => {
  it("by default neither the regional nor the global stack plans a presence table, rule, role or mover", () => {
    expect(ofMover(plans["off/primary"]!.resources)).toEqual([]);
    expect(ofMover(plans["off/global"]!.resources)).toEqual([]);
    expect(plans["off/primary"]!.outputs).toMatchObject({ presenceTableName: "", moverRoleArn: "" });
    expect(plans["off/global"]!.outputs.serverSideMoverFunctionArns).toBeUndefined();
  });
});

describe("with iot-dr:serverSideMove, the regional stack records presence and offers a scoped role", () => {
  it("plans a presence table fed by an IoT rule on the lifecycle topics, with an error action", () => {
    const r = plans["on/primary"]!.resources;
    const table = named(r, "aws:dynamodb/table:Table", "presence-primary-table");
    expect(table.inputs).toMatchObject({
      hashKey: "clientId",
      rangeKey: "versionNumber",
      ttl: { attributeName: "expiresAt", enabled: true },
      serverSideEncryption: { enabled: true },
    });
    const rule = named(r, "aws:iot/topicRule:TopicRule", "presence-primary-rule");
    expect(rule.inputs.sql).toBe(PRESENCE_RULE_SQL);
    expect(rule.inputs.name).toBe("iot_dr_presence_production_us_east_1");
    expect(rule.inputs.errorAction).toMatchObject({ cloudwatchLogs: expect.any(Object) });
    expect(plans["on/primary"]!.outputs.presenceTableName).toMatch(/^presence-primary-table/);
  });

  it("the mover role may only DeleteConnection on this region's client ids, Scan this presence table and write its claims there", () => {
    const r = plans["on/primary"]!.resources;
    const policy = doc(
      named(r, "aws:iam/rolePolicy:RolePolicy", "presence-primary-mover-policy").inputs.policy,
    );
    expect(policy.Statement).toEqual([
      {
        Sid: "DisconnectClients",
        Effect: "Allow",
        Action: ["iot:DeleteConnection"],
        Resource: "arn:aws:iot:us-east-1:111111111111:client/*",
      },
      {
        Sid: "ReadPresence",
        Effect: "Allow",
        Action: ["dynamodb:Scan"],
        Resource: expect.stringMatching(/^arn:aws:dynamodb:us-east-1:\d{12}:table\/presence-primary-table/),
      },
      {
        // The claim items only (single flight per alarm transition): no presence item can be written.
        Sid: "ClaimMove",
        Effect: "Allow",
        Action: ["dynamodb:PutItem", "dynamodb:UpdateItem"],
        Resource: expect.stringMatching(/^arn:aws:dynamodb:us-east-1:\d{12}:table\/presence-primary-table/),
        Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${MOVE_CLAIM_PREFIX}*`] } },
      },
    ]);
    const trust = doc(named(r, "aws:iam/role:Role", "presence-primary-mover-role").inputs.assumeRolePolicy);
    expect(trust.Statement[0]).toMatchObject({
      Principal: { AWS: "arn:aws:iam::444444444444:root" },
      Condition: { StringEquals: { "sts:ExternalId": expect.any(String) } },
    });
  });

  it("the regional and global stacks with the mover pass the whole policy pack", () => {
    for (const stack of ["primary", "global"]) {
      const violations = checkResources(fromPlanned(plans[`on/${stack}`]!.resources)).map(
        (v) => `${v.policy}: ${v.type} ${v.resource}: ${v.message}`,
      );
      expect(violations, stack).toEqual([]);
    }
  });
});

describe("with iot-dr:serverSideMove, the global stack runs a mover per region on the alarm topic", () => {
  it("plans one function per region in shared services, each assuming only the other region's mover role", () => {
    const r = plans["on/global"]!.resources;
    const outputs = referencedStackOutputs(plans["on/global"]!.config);
    const roleOf = (stack: string) => outputs[stack]!.moverRoleArn;
    for (const [region, provider, other] of [
      ["us-east-1", "sharedServices-primary", roleOf("secondary")],
      ["us-west-2", "sharedServices-secondary", roleOf("primary")],
    ] as const) {
      const fn = named(r, "aws:lambda/function:Function", `server-side-move-${region}-fn`);
      expect(fn.provider).toBe(provider);
      expect(fn.inputs.timeout).toBe(900);
      const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
      expect(env).toMatchObject({
        MOVER_REGION: region,
        MOVER_RATE_PER_SECOND: "100",
        MOVER_WAIT_MS: "60000",
      });
      expect(JSON.parse(env.MOVER_ALARMS!)).toHaveLength(2);
      const policy = doc(
        named(r, "aws:iam/rolePolicy:RolePolicy", `server-side-move-${region}-policy`).inputs.policy,
      );
      expect(policy.Statement.find((s) => s.Sid === "AssumeOtherRegionMoverRole")).toEqual({
        Sid: "AssumeOtherRegionMoverRole",
        Effect: "Allow",
        Action: ["sts:AssumeRole"],
        Resource: [other],
      });
      // Subscribed where the alarm topic lives (us-east-1), invoked by SNS from that topic only.
      const sub = named(
        r,
        "aws:sns/topicSubscription:TopicSubscription",
        `server-side-move-${region}-subscription`,
      );
      expect(sub.provider).toBe("sharedServices-primary");
      expect(sub.inputs).toMatchObject({ protocol: "lambda" });
      const notifierSub = named(
        r,
        "aws:sns/topicSubscription:TopicSubscription",
        "failover-notifier-subscription",
      );
      expect(sub.inputs.topic).toEqual(notifierSub.inputs.topic);
      const permission = named(r, "aws:lambda/permission:Permission", `server-side-move-${region}-from-sns`);
      expect(permission.inputs).toMatchObject({
        principal: "sns.amazonaws.com",
        sourceArn: notifierSub.inputs.topic,
      });
    }
  });
});

describe("a misconfigured server-side move is refused before anything is planned", () => {
  it("a pace above the target region's connect rate names both keys", async () => {
    await expect(
      planStack({ stack: "primary", overrides: { ...ON, serverSideMoveRatePerSecond: 600 } }),
    ).rejects.toThrow(
      /Invalid config iot-dr:serverSideMoveRatePerSecond: is 600, above iot-dr:deviceConnectRatePerSecond \(500\).*Example: pulumi config set iot-dr:serverSideMoveRatePerSecond 250/,
    );
  });

  it("a value that is not a boolean is refused", async () => {
    await expect(planStack({ stack: "primary", overrides: { serverSideMove: "yes" } })).rejects.toThrow(
      'Invalid config iot-dr:serverSideMove: must be true or false, got "yes"',
    );
  });

  it("a global stack with the move on, whose regional stacks export no mover role, names the stack to fix", () => {
    const off = referencedStackOutputs(plans["off/global"]!.config);
    const run = planIsolated({ stack: "global", overrides: ON, stackOutputs: off });
    expect(run.ok).toBe(false);
    expect(!run.ok && run.error).toMatch(
      /stack '(primary|secondary)' exports no (moverRoleArn|presenceTableName): set iot-dr:serverSideMove true on '\1' too and deploy it before this stack/,
    );
  });
});

describe("policy iot-delete-connection-scoped", () => {
  const policyWith = (Action: string[], Resource: string) => ({
    type: "aws:iam/rolePolicy:RolePolicy",
    name: "p",
    props: {
      policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action, Resource }] }),
    },
  });
  it("refuses DeleteConnection on '*' or on topics, also through a wildcard action, and accepts client ARNs", () => {
    const check = (action: string[], resource: string) =>
      checkResource(deleteConnectionScoped, policyWith(action, resource) as never, {} as never);
    expect(check(["iot:DeleteConnection"], "*")).toEqual([
      "the policy, statement #1: grants iot:DeleteConnection on '*': scope it to arn:<partition>:iot:<region>:<account>:client/*",
    ]);
    expect(check(["iot:Delete*"], "arn:aws:iot:us-east-1:111111111111:topic/x")).toHaveLength(1);
    expect(check(["iot:DeleteConnection"], "arn:aws:iot:us-east-1:111111111111:client/*")).toEqual([]);
    expect(check(["iot:Publish"], "*")).toEqual([]);
  });
});
