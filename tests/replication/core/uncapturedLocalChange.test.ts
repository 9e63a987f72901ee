/**
 * Around a fail-over, a change made in the old active region can still be on its way when an
 * operator changes the same resource in the new one. If replay reaches the standby before that
 * region's capture has recorded the local change, it must not overwrite it: capture would then
 * read replay's state back, find it equal to the table's record and record nothing, and the
 * operator's change would be gone from both regions without a trace. The drill found this
 * (analytics-down, firmware v12 set after the fail-over lost to v8 from before it); here the
 * interleaving is forced.
 */
import { beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import { keys, type RegistryRecord } from "../../../functions/registry/records.js";
import { getRecord } from "../../../functions/registry/table.js";
import { applyBatch, applyRecord } from "../../../functions/replication/apply.js";
import { captureEvent, captureKeys } from "../../../functions/replication/capture.js";
import { useMoto } from "../../support/useMoto.js";
import { snapshot, world, type Region, type World } from "./support.js";

const firmware = (r: Region) => r.port.describeThing("d0").then((t) => t?.attributes.firmware);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe("a replayed change meeting a local change that capture has not recorded yet", () => {
  const moto = useMoto();
  let w: World;
  const thing = keys.thing("d0");
  const record = async (key: string) => (await getRecord(w.table, key)) as RegistryRecord;
  const setFirmware = (r: Region, version: string) =>
    r.client.send(
      new iot.UpdateThingCommand({
        thingName: "d0",
        attributePayload: { attributes: { firmware: version } },
      }),
    );
  const captureAll = async (r: Region) => {
    for (const m of r.events.take()) await captureEvent(m, w.captureDeps(r));
  };
  /** What the state machine does with a DependencyNotReady: the same entry again, later. */
  const replayUntilSettled = async (rec: RegistryRecord, to: Region) => {
    try {
      return await applyRecord(rec, w.applyDeps(to));
    } catch (err) {
      return err as Error;
    }
  };

  beforeEach(async () => {
    w = world(moto);
    // d0 at firmware v7 in A, captured and replayed in B; B's echo captured (nothing written).
    await w.a.client.send(
      new iot.CreateThingCommand({ thingName: "d0", attributePayload: { attributes: { firmware: "v7" } } }),
    );
    await captureKeys([thing], w.captureDeps(w.a));
    expect((await applyBatch([await record(thing)], w.applyDeps(w.b))).failures).toEqual([]);
    await captureAll(w.b);
    w.a.events.take();
    expect(await firmware(w.b)).toBe("v7");
  });

  it("the newer local change wins in both regions and nothing is overwritten before capture records it", async () => {
    // A sets v8 and captures it; its record is on its way to B.
    await setFirmware(w.a, "v8");
    await captureAll(w.a);
    const fromA = await record(thing);
    await sleep(5);
    // After the fail-over, B's operator sets v9..v12; B's capture has not run yet.
    for (const v of ["v9", "v10", "v11", "v12"]) await setFirmware(w.b, v);
    // Replay of A's v8 reaches B first.
    const first = await replayUntilSettled(fromA, w.b);
    expect(await firmware(w.b)).toBe("v12");
    expect(first).toMatchObject({ name: "DependencyNotReady", waitsFor: "capture" });
    expect((first as Error).message).toMatch(/thing#d0.*not recorded/);
    // B's capture records the operator's change; the retried replay finds it newer and leaves it.
    await captureAll(w.b);
    expect(await record(thing)).toMatchObject({
      origin: w.b.name,
      state: { attributes: { firmware: "v12" } },
    });
    expect(await replayUntilSettled(fromA, w.b)).toMatchObject({ outcome: "superseded", actions: [] });
    // A replays B's record: both regions hold the operator's change.
    await applyRecord(await record(thing), w.applyDeps(w.a));
    expect(await firmware(w.a)).toBe("v12");
    expect(await firmware(w.b)).toBe("v12");
    expect(await snapshot(w.a)).toEqual(await snapshot(w.b));
  });

  it("an older local change captured late loses to the newer replayed one, and replay is not held for ever", async () => {
    // B's operator sets v5 first; then A sets v8, later by the clock.
    await setFirmware(w.b, "v5");
    await sleep(5);
    await setFirmware(w.a, "v8");
    await captureAll(w.a);
    const fromA = await record(thing);
    expect(await replayUntilSettled(fromA, w.b)).toMatchObject({ waitsFor: "capture" });
    // B's capture of v5 is older than A's record (stale, nothing written) but tells replay that
    // replication has now seen v5: the retry applies v8, last writer wins.
    await captureAll(w.b);
    expect(await record(thing)).toMatchObject({ origin: w.a.name });
    expect(await replayUntilSettled(fromA, w.b)).toMatchObject({
      outcome: "applied",
      actions: ["UpdateThing"],
    });
    expect(await firmware(w.b)).toBe("v8");
    // The echo of that update is still recognised as replay's own.
    await captureAll(w.b);
    expect(await record(thing)).toMatchObject({
      origin: w.a.name,
      state: { attributes: { firmware: "v8" } },
    });
  });

  it("a replayed change that finds replay's own earlier state is applied at once", async () => {
    for (const v of ["v8", "v9"]) {
      await setFirmware(w.a, v);
      await captureAll(w.a);
      expect(await applyRecord(await record(thing), w.applyDeps(w.b))).toMatchObject({ outcome: "applied" });
    }
    // Long after the echo window, too: what replication last recorded for B is kept.
    const late = { ...w.applyDeps(w.b), echoWindowMs: 0 };
    await setFirmware(w.a, "v10");
    await captureAll(w.a);
    await sleep(5);
    expect(await applyRecord(await record(thing), late)).toMatchObject({ outcome: "applied" });
    expect(await firmware(w.b)).toBe("v10");
  });

  it("an operator's rollback to the state replay replaced, once the echo window is over, is not overwritten", async () => {
    await setFirmware(w.a, "v8");
    await captureAll(w.a);
    expect(await applyRecord(await record(thing), w.applyDeps(w.b))).toMatchObject({ outcome: "applied" });
    await captureAll(w.b);
    await sleep(5);
    // After the fail-over, B's operator rolls back to v7; A's v9 from before the fault arrives.
    await setFirmware(w.b, "v7");
    await setFirmware(w.a, "v9");
    await captureAll(w.a);
    const late = { ...w.applyDeps(w.b), echoWindowMs: 0 };
    await sleep(5);
    await expect(applyRecord(await record(thing), late)).rejects.toMatchObject({ waitsFor: "capture" });
    expect(await firmware(w.b)).toBe("v7");
  });

  it("repair, which takes the active region as the truth, overwrites a state replication never recorded", async () => {
    await setFirmware(w.b, "local-only");
    w.b.events.take(); // a change IoT never reports (no event, no CloudTrail)
    await setFirmware(w.a, "v8");
    await captureAll(w.a);
    const fromA = await record(thing);
    expect(await replayUntilSettled(fromA, w.b)).toMatchObject({ waitsFor: "capture" });
    expect(await applyRecord(fromA, w.applyDeps(w.b, { overwriteUnrecorded: true }))).toMatchObject({
      outcome: "applied",
    });
    expect(await firmware(w.b)).toBe("v8");
  });
});
