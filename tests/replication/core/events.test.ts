import { beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import { useMoto } from "../../support/useMoto.js";
import { getRecord, memoryOpsTable } from "../../../functions/registry/table.js";
import { captureEvent } from "../../../functions/replication/capture.js";
import { snapshot, world, type World } from "./support.js";

describe("registry events replicate from region A to region B", () => {
  const moto = useMoto();
  let w: World;
  beforeEach(async () => {
    w = world(moto);
  });

  const sendA = (command: unknown) => w.a.client.send(command as never);
  const replicate = () => w.replicate(w.a.events.take(), w.a, w.b);

  it("a created, updated and deleted thing arrives with its attributes and type, then disappears", async () => {
    await sendA(
      new iot.CreateThingTypeCommand({
        thingTypeName: "sensor",
        thingTypeProperties: { searchableAttributes: ["plant"] },
      }),
    );
    await sendA(
      new iot.CreateThingCommand({
        thingName: "t1",
        thingTypeName: "sensor",
        attributePayload: { attributes: { plant: "a", line: "1" } },
      }),
    );
    await replicate();
    expect(await w.b.port.describeThing("t1")).toEqual({
      name: "t1",
      thingTypeName: "sensor",
      attributes: { plant: "a", line: "1" },
    });

    await sendA(
      new iot.UpdateThingCommand({
        thingName: "t1",
        removeThingType: true,
        attributePayload: { attributes: { plant: "b", line: "" }, merge: true },
      }),
    );
    const { replayed } = await replicate();
    expect(replayed.map((r) => r.actions)).toContainEqual(["UpdateThing"]);
    expect(await w.b.port.describeThing("t1")).toEqual({ name: "t1", attributes: { plant: "b" } });

    await sendA(new iot.DeleteThingCommand({ thingName: "t1" }));
    await replicate();
    expect(await w.b.port.describeThing("t1")).toBeNull();
    expect((await getRecord(w.table, "thing#t1"))?.state).toBeNull();
  });

  it("a thing type is created, deprecated, undeprecated and deleted in the target", async () => {
    await sendA(
      new iot.CreateThingTypeCommand({
        thingTypeName: "meter",
        thingTypeProperties: { thingTypeDescription: "power meter", searchableAttributes: ["site"] },
      }),
    );
    await replicate();
    expect(await w.b.port.describeThingType("meter")).toEqual({
      name: "meter",
      description: "power meter",
      searchableAttributes: ["site"],
      deprecated: false,
    });

    await sendA(new iot.DeprecateThingTypeCommand({ thingTypeName: "meter" }));
    await replicate();
    expect((await w.b.port.describeThingType("meter"))?.deprecated).toBe(true);

    await sendA(new iot.DeprecateThingTypeCommand({ thingTypeName: "meter", undoDeprecate: true }));
    await replicate();
    expect((await w.b.port.describeThingType("meter"))?.deprecated).toBe(false);

    await sendA(new iot.DeprecateThingTypeCommand({ thingTypeName: "meter" }));
    await sendA(new iot.DeleteThingTypeCommand({ thingTypeName: "meter" }));
    await replicate();
    expect(await w.b.port.describeThingType("meter")).toBeNull();
  });

  it("a type association event carries the thing's new type", async () => {
    await sendA(new iot.CreateThingTypeCommand({ thingTypeName: "cam" }));
    await sendA(new iot.CreateThingCommand({ thingName: "t2" }));
    await replicate();
    await sendA(new iot.UpdateThingCommand({ thingName: "t2", thingTypeName: "cam" }));
    const msgs = w.a.events.take();
    const association = msgs.filter((m) => m.topic.startsWith("$aws/events/thingTypeAssociation/"));
    expect(association.map((m) => m.topic)).toEqual(["$aws/events/thingTypeAssociation/thing/t2/cam"]);
    await w.replicate(association, w.a, w.b);
    expect((await w.b.port.describeThing("t2"))?.thingTypeName).toBe("cam");
  });

  it("thing groups arrive with attributes and parent, children after parents, and are deleted", async () => {
    await sendA(
      new iot.CreateThingGroupCommand({
        thingGroupName: "plant",
        thingGroupProperties: { attributePayload: { attributes: { site: "x" } } },
      }),
    );
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "line1", parentGroupName: "plant" }));
    const msgs = w.a.events.take();
    expect(msgs.map((m) => m.topic)).toContain(
      "$aws/events/thingGroupHierarchy/thingGroup/plant/childThingGroup/line1/added",
    );
    // Deliver the child's events first: batch replay orders parents first.
    await w.replicate([...msgs].reverse(), w.a, w.b);
    expect(await w.b.port.describeThingGroup("line1")).toEqual({
      name: "line1",
      parentGroupName: "plant",
      attributes: {},
    });

    await sendA(
      new iot.UpdateThingGroupCommand({
        thingGroupName: "plant",
        thingGroupProperties: {
          thingGroupDescription: "main",
          attributePayload: { attributes: { site: "y" } },
        },
      }),
    );
    await replicate();
    expect(await w.b.port.describeThingGroup("plant")).toEqual({
      name: "plant",
      description: "main",
      attributes: { site: "y" },
    });

    await sendA(new iot.DeleteThingGroupCommand({ thingGroupName: "line1" }));
    const removed = w.a.events.take();
    expect(removed.map((m) => m.topic)).toContain(
      "$aws/events/thingGroupHierarchy/thingGroup/plant/childThingGroup/line1/removed",
    );
    await w.replicate(removed, w.a, w.b);
    expect(await w.b.port.describeThingGroup("line1")).toBeNull();
    expect(await w.b.port.describeThingGroup("plant")).not.toBeNull();
  });

  it("membership added and removed events move the thing in and out of the group", async () => {
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "g" }));
    await sendA(new iot.CreateThingCommand({ thingName: "m1" }));
    await sendA(new iot.AddThingToThingGroupCommand({ thingGroupName: "g", thingName: "m1" }));
    await replicate();
    expect(await w.b.port.listThingGroupsForThing("m1")).toEqual(["g"]);
    await sendA(new iot.RemoveThingFromThingGroupCommand({ thingGroupName: "g", thingName: "m1" }));
    await replicate();
    expect(await w.b.port.listThingGroupsForThing("m1")).toEqual([]);
  });

  it("a thing event brings its certificate (PEM, status), attachment and certificate policy along", async () => {
    await sendA(
      new iot.CreatePolicyCommand({
        policyName: "p1",
        policyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }),
      }),
    );
    const cert = await w.a.client.send(new iot.CreateKeysAndCertificateCommand({ setAsActive: true }));
    await sendA(new iot.CreateThingCommand({ thingName: "dev" }));
    await sendA(new iot.AttachThingPrincipalCommand({ thingName: "dev", principal: cert.certificateArn! }));
    await sendA(new iot.AttachPolicyCommand({ policyName: "p1", target: cert.certificateArn! }));
    await sendA(
      new iot.UpdateThingCommand({
        thingName: "dev",
        attributePayload: { attributes: { fw: "2" }, merge: true },
      }),
    );
    await replicate();
    const id = cert.certificateId!;
    expect(await w.b.port.describeCertificate(id)).toEqual({
      certificateId: id,
      pem: cert.certificatePem,
      status: "ACTIVE",
    });
    expect(await w.b.port.listThingPrincipals("dev")).toEqual([id]);
    expect(await w.b.port.listAttachedPolicies({ type: "certificate", certificateId: id })).toEqual(["p1"]);
    const stored = JSON.stringify([...w.table.items.values()]);
    expect(stored).not.toContain("PRIVATE KEY");
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
  });

  it.each([
    ["no event id", { topic: "$aws/events/thing/x/created", payload: { timestamp: 1 } }, "eventId"],
    [
      "an unknown kind",
      { topic: "$aws/events/unknown/x", payload: { eventId: "e", timestamp: 1 } },
      "unknown event kind",
    ],
    [
      "a name no key may hold",
      { topic: "$aws/events/thing/bad#name/created", payload: { eventId: "e", timestamp: 1 } },
      "bad#name",
    ],
  ])("a malformed event (%s) changes nothing and names the problem", async (_, message, problem) => {
    const before = w.table.items.size;
    await expect(captureEvent(message, w.captureDeps(w.a))).rejects.toMatchObject({
      name: "InvalidRecord",
      message: expect.stringContaining(problem),
    });
    expect(w.table.items.size).toBe(before);
  });

  it("capture writes the record with event time, event id and the own region as origin", async () => {
    const table = memoryOpsTable();
    await sendA(new iot.CreateThingCommand({ thingName: "v1" }));
    const [msg] = w.a.events.take();
    const out = await captureEvent(msg, {
      ...w.captureDeps(w.a),
      table,
      clock: { now: () => 42, sleep: async () => {} },
    });
    const payload = msg.payload as { timestamp: number; eventId: string };
    expect(out).toEqual([
      {
        key: "thing#v1",
        result: "written",
        version: { timestamp: payload.timestamp, eventId: payload.eventId, region: "us-east-1" },
      },
    ]);
    expect(await getRecord(table, "thing#v1")).toMatchObject({
      origin: "us-east-1",
      capturedAt: 42,
      state: { name: "v1", attributes: {} },
    });
  });
});
