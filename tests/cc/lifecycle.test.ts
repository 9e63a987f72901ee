/**
 * C&C's certificate and policy lifecycle commands (issue 15): revoke, rotate, a new default policy
 * version, and a policy attached to or detached from a thing group; validated and journaled like
 * onboarding.
 */
import { describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import { handleCommand } from "../../functions/cc/handler.js";
import { commandEvent, newKey, opsRecords, useCcWorld } from "./support.js";

const cc = useCcWorld(4);

async function send(command: string, body: unknown, key = newKey()) {
  const response = await handleCommand(commandEvent(command, body, key), cc.world.deps());
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  return { ...response, json: JSON.parse(response.body) as Record<string, any> };
}
const state = (item: Record<string, unknown> | undefined) =>
  item ? (JSON.parse(String(item.stateJson)) as Record<string, unknown>) : undefined;

async function onboarded(thingName: string, pem: string) {
  const r = await send("onboard", {
    thingName,
    thingTypeName: "sensor",
    groups: ["plant-a"],
    certificatePem: pem,
    policyName: "iot-dr-device",
  });
  expect(r.statusCode).toBe(201);
  return r.json.certificateId as string;
}

describe("C&C certificate and policy lifecycle", () => {
  it("revoke makes a thing's certificates REVOKED and journals them; a second revoke changes nothing; suspend is then refused", async () => {
    const id = await onboarded("dev-1", cc.pems[0]!);
    const r = await send("revoke", { thingName: "dev-1", reason: "key leaked" });
    expect(r.statusCode).toBe(200);
    expect(r.json.certificates).toEqual([{ certificateId: id, previousStatus: "ACTIVE", status: "REVOKED" }]);
    const described = await cc.world.iotClient.send(
      new iotSdk.DescribeCertificateCommand({ certificateId: id }),
    );
    expect(described.certificateDescription?.status).toBe("REVOKED");
    expect(state((await opsRecords(cc.world.opsDoc)).get(`certificate#${id}`))).toMatchObject({
      status: "REVOKED",
    });
    const again = await send("revoke", { certificateId: id });
    expect(again.statusCode).toBe(200);
    expect((await send("suspend", { certificateId: id })).statusCode).toBe(409);
  });

  it("rotate puts a new active certificate with the same policies on the thing and deactivates the old one, journaling both", async () => {
    const old = await onboarded("dev-2", cc.pems[0]!);
    const r = await send("rotate", { thingName: "dev-2", certificatePem: cc.pems[1] });
    expect(r.statusCode).toBe(200);
    const fresh = r.json.certificateId as string;
    expect(fresh).not.toBe(old);
    const principals = await cc.world.iotClient.send(
      new iotSdk.ListThingPrincipalsCommand({ thingName: "dev-2" }),
    );
    expect(principals.principals).toEqual([expect.stringContaining(`cert/${fresh}`)]);
    const arn = principals.principals![0]!;
    expect(
      (await cc.world.iotClient.send(new iotSdk.ListAttachedPoliciesCommand({ target: arn }))).policies?.map(
        (p) => p.policyName,
      ),
    ).toEqual(["iot-dr-device"]);
    const status = async (certificateId: string) =>
      (await cc.world.iotClient.send(new iotSdk.DescribeCertificateCommand({ certificateId })))
        .certificateDescription?.status;
    expect(await status(fresh)).toBe("ACTIVE");
    expect(await status(old)).toBe("INACTIVE");
    const records = await opsRecords(cc.world.opsDoc);
    expect(state(records.get(`certificate#${fresh}`))).toMatchObject({ status: "ACTIVE" });
    expect(state(records.get(`certificate#${old}`))).toMatchObject({ status: "INACTIVE" });
    expect(records.get(`principal#dev-2#${fresh}`)?.tombstone).toBe(false);
    expect(records.get(`principal#dev-2#${old}`)?.tombstone).toBe(true);
    expect(records.get(`policyTarget#iot-dr-device#certificate#${fresh}`)?.tombstone).toBe(false);

    // A compromised key: rotate again and revoke the old one.
    const third = await send("rotate", { thingName: "dev-2", certificatePem: cc.pems[2], revokeOld: true });
    expect(third.statusCode).toBe(200);
    expect(await status(fresh)).toBe("REVOKED");
  });

  it("rotate refuses a certificate that is already registered and a thing without one, changing nothing", async () => {
    await onboarded("dev-3", cc.pems[0]!);
    const taken = await send("rotate", { thingName: "dev-3", certificatePem: cc.pems[0] });
    expect(taken.statusCode).toBe(409);
    expect(taken.json.code ?? taken.json.error).toBeDefined();
    expect(
      (await cc.world.iotClient.send(new iotSdk.ListThingPrincipalsCommand({ thingName: "dev-3" })))
        .principals,
    ).toHaveLength(1);
    await cc.world.iotClient.send(new iotSdk.CreateThingCommand({ thingName: "bare" }));
    expect((await send("rotate", { thingName: "bare", certificatePem: cc.pems[1] })).statusCode).toBe(409);
  });

  it("policyVersion creates a new default version of an allowed policy, making room when five exist, and journals the policy", async () => {
    const doc = (action: string) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: action, Resource: "*" }],
      });
    for (const action of [
      "iot:Publish",
      "iot:Subscribe",
      "iot:Receive",
      "iot:Connect",
      "iot:GetThingShadow",
    ]) {
      const r = await send("policy-version", { policyName: "iot-dr-device", policyDocument: doc(action) });
      expect(r.statusCode).toBe(200);
    }
    const versions = await cc.world.iotClient.send(
      new iotSdk.ListPolicyVersionsCommand({ policyName: "iot-dr-device" }),
    );
    expect(versions.policyVersions).toHaveLength(5);
    const policy = await cc.world.iotClient.send(
      new iotSdk.GetPolicyCommand({ policyName: "iot-dr-device" }),
    );
    expect(JSON.parse(policy.policyDocument!)).toEqual(JSON.parse(doc("iot:GetThingShadow")));
    expect(state((await opsRecords(cc.world.opsDoc)).get("policy#iot-dr-device"))).toMatchObject({
      document: expect.stringContaining("iot:GetThingShadow"),
    });
  });

  it("attachGroupPolicy and detachGroupPolicy change an allowed policy on a thing group and journal the attachment", async () => {
    const attach = await send("attach-group-policy", { policyName: "iot-dr-device", groupName: "plant-a" });
    expect(attach.statusCode).toBe(200);
    const groupArn = (
      await cc.world.iotClient.send(new iotSdk.DescribeThingGroupCommand({ thingGroupName: "plant-a" }))
    ).thingGroupArn!;
    const attached = async () =>
      (
        await cc.world.iotClient.send(new iotSdk.ListAttachedPoliciesCommand({ target: groupArn }))
      ).policies?.map((p) => p.policyName);
    expect(await attached()).toEqual(["iot-dr-device"]);
    expect(
      (await opsRecords(cc.world.opsDoc)).get("policyTarget#iot-dr-device#thingGroup#plant-a")?.tombstone,
    ).toBe(false);
    expect(
      (await send("detach-group-policy", { policyName: "iot-dr-device", groupName: "plant-a" })).statusCode,
    ).toBe(200);
    expect(await attached()).toEqual([]);
    expect(
      (await opsRecords(cc.world.opsDoc)).get("policyTarget#iot-dr-device#thingGroup#plant-a")?.tombstone,
    ).toBe(true);
  });

  it("bad input gets a 4xx naming the field and changes nothing", async () => {
    const cases: [string, unknown, string][] = [
      ["policy-version", { policyName: "admin", policyDocument: "{}" }, "policyName"],
      ["policy-version", { policyName: "iot-dr-device", policyDocument: "not json" }, "policyDocument"],
      ["attach-group-policy", { policyName: "iot-dr-device", groupName: "bad name!" }, "groupName"],
      ["rotate", { thingName: "x", certificatePem: "-----BEGIN RSA PRIVATE KEY-----" }, "certificatePem"],
      ["revoke", { thingName: "x", certificateId: "a".repeat(64) }, "certificateId"],
    ];
    for (const [command, body, field] of cases) {
      const r = await send(command, body);
      expect(r.statusCode, command).toBe(400);
      expect(JSON.stringify(r.json), command).toContain(field);
    }
    expect(
      (await send("attach-group-policy", { policyName: "iot-dr-device", groupName: "nope" })).statusCode,
    ).toBe(404);
    expect((await opsRecords(cc.world.opsDoc)).size).toBe(0);
  });
});
