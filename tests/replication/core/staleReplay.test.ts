/**
 * Replay checks the ops table, then acts. A change made and captured in the target region between
 * the two (C&C there removing a device from its group while a redelivered record of the other
 * region re-adds it) must win: the registry must end on the newer record, as the table does, and
 * the other region must follow. The broker-down drill's lost operations around the device the
 * standby decommissions after fail-over were this interleaving; here it is forced, not waited for.
 */
import { beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import type { IotRegistryPort } from "../../../functions/registry/iotPort.js";
import { keys, type RegistryRecord } from "../../../functions/registry/records.js";
import { getRecord } from "../../../functions/registry/table.js";
import { applyBatch, applyRecord } from "../../../functions/replication/apply.js";
import { captureEvent, captureKeys } from "../../../functions/replication/capture.js";
import { useMoto } from "../../support/useMoto.js";
import { snapshot, world, type World } from "./support.js";

describe("a stale replay racing a change captured in the target region", () => {
  const moto = useMoto();
  let w: World;
  const membership = keys.membership("fleet", "d1");
  const record = async (key: string) => (await getRecord(w.table, key)) as RegistryRecord;

  beforeEach(async () => {
    w = world(moto);
    // d1 onboarded in A into group fleet, captured, and replayed in B.
    const sendA = (c: unknown) => w.a.client.send(c as never);
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "fleet" }));
    await sendA(new iot.CreateThingCommand({ thingName: "d1" }));
    await sendA(new iot.AddThingToThingGroupCommand({ thingGroupName: "fleet", thingName: "d1" }));
    const onboarded = [keys.thingGroup("fleet"), keys.thing("d1"), membership];
    await captureKeys(onboarded, w.captureDeps(w.a));
    expect((await applyBatch(await Promise.all(onboarded.map(record)), w.applyDeps(w.b))).failures).toEqual(
      [],
    );
    for (const m of w.b.events.take()) await captureEvent(m, w.captureDeps(w.b));
    w.a.events.take();
    expect(await w.b.port.listThingGroupsForThing("d1")).toEqual(["fleet"]);
  });

  /**
   * B's port, except that the first AddThingToThingGroup first lets B's operator remove d1 from
   * fleet and C&C journal it: the change lands after replay read the table and before it acts.
   */
  function racingPort(): IotRegistryPort {
    let raced = false;
    return {
      ...w.b.port,
      addThingToThingGroup: async (group, thing) => {
        if (!raced) {
          raced = true;
          await w.b.port.removeThingFromThingGroup(group, thing);
          await captureKeys([membership], w.captureDeps(w.b));
        }
        return w.b.port.addThingToThingGroup(group, thing);
      },
    };
  }

  it("the registry ends on the newer record, capture keeps it, and the other region follows", async () => {
    // The stream delivers A's membership record again (at least once), as after a retried batch.
    const redelivered = await record(membership);
    const outcome = await applyRecord(redelivered, w.applyDeps(w.b, { iot: racingPort() }));
    const removal = await record(membership);
    expect(removal).toMatchObject({ state: null, origin: w.b.name });
    // B's registry matches the table again: d1 is out of fleet, as its operator left it.
    expect(await w.b.port.listThingGroupsForThing("d1")).toEqual([]);
    expect(outcome).toMatchObject({ outcome: "superseded" });
    // Capturing the registry events of the removal, the re-add and its undo changes no state: the
    // re-add reads as absent (undone) and may only move the record's version up.
    for (const m of w.b.events.take()) await captureEvent(m, w.captureDeps(w.b));
    expect(await record(membership)).toMatchObject({ state: null, origin: w.b.name });
    // A replays B's removal and both regions agree.
    await applyRecord(await record(membership), w.applyDeps(w.a));
    expect(await w.a.port.listThingGroupsForThing("d1")).toEqual([]);
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
  });
});
