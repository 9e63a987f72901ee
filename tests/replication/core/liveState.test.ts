/**
 * Replay overwrites only a state replication has recorded here (echoMarkers.ts): the state it finds
 * before acting must be read in the very shape capture records (readState), or every replay of that
 * kind waits for a capture that never comes. Policies are where the two could drift apart: IoT
 * describes a default version id that differs between regions and is not part of the state.
 */
import { beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import { getAppliedMarker } from "../../../functions/registry/echoMarkers.js";
import { keys, stateHash, type RegistryRecord } from "../../../functions/registry/records.js";
import { getRecord } from "../../../functions/registry/table.js";
import { applyRecord } from "../../../functions/replication/apply.js";
import { captureKeys, readState } from "../../../functions/replication/capture.js";
import { useMoto } from "../../support/useMoto.js";
import { policyDoc, world, type World } from "./support.js";

type Send = (command: unknown) => Promise<unknown>;

/** Per kind that replay reads before acting: create a resource (returns its key), then change it. */
const kinds: {
  kind: string;
  create: (send: Send) => Promise<string>;
  change: (send: Send) => Promise<unknown>;
}[] = [
  {
    kind: "policy",
    create: async (send) => {
      await send(new iot.CreatePolicyCommand({ policyName: "p", policyDocument: policyDoc("iot:Connect") }));
      return keys.policy("p");
    },
    change: (send) =>
      send(
        new iot.CreatePolicyVersionCommand({
          policyName: "p",
          policyDocument: policyDoc("iot:Publish"),
          setAsDefault: true,
        }),
      ),
  },
  {
    kind: "thing",
    create: async (send) => {
      await send(new iot.CreateThingCommand({ thingName: "t" }));
      return keys.thing("t");
    },
    change: (send) =>
      send(new iot.UpdateThingCommand({ thingName: "t", attributePayload: { attributes: { fw: "2" } } })),
  },
  {
    kind: "thingGroup",
    create: async (send) => {
      await send(new iot.CreateThingGroupCommand({ thingGroupName: "g" }));
      return keys.thingGroup("g");
    },
    change: (send) =>
      send(
        new iot.UpdateThingGroupCommand({
          thingGroupName: "g",
          thingGroupProperties: { attributePayload: { attributes: { site: "b" } } },
        }),
      ),
  },
  {
    kind: "thingType",
    create: async (send) => {
      await send(new iot.CreateThingTypeCommand({ thingTypeName: "s" }));
      return keys.thingType("s");
    },
    change: (send) => send(new iot.DeprecateThingTypeCommand({ thingTypeName: "s" })),
  },
];

describe("the state replay finds before acting", () => {
  const moto = useMoto();
  let w: World;
  beforeEach(() => {
    w = world(moto);
  });
  const replicate = async (key: string) => {
    await captureKeys([key], w.captureDeps(w.a));
    return applyRecord((await getRecord(w.table, key)) as RegistryRecord, w.applyDeps(w.b));
  };

  it.each(kinds)("is the state capture reads, for a $kind", async ({ create, change }) => {
    const sendA: Send = (command) => w.a.client.send(command as never);
    const key = await create(sendA);
    expect((await replicate(key)).outcome).toBe("applied");
    const recorded = await readState(key, w.b.port);

    await change(sendA);
    expect(await replicate(key)).toMatchObject({ outcome: "applied" });
    const marker = await getAppliedMarker(w.markers[w.b.name], w.b.name, key);
    expect(marker?.found?.hash).toBe(stateHash(recorded));
  });
});
