import { beforeEach, describe, expect, it, vi } from "vitest";
import { Metrics } from "@aws-lambda-powertools/metrics";
import * as iot from "@aws-sdk/client-iot";
import { useMoto } from "../../support/useMoto.js";
import { appliedMarkerKey } from "../../../functions/registry/echoMarkers.js";
import { getRecord, putRecordIfNewer, scanRecords } from "../../../functions/registry/table.js";
import type { RegistryRecord } from "../../../functions/registry/records.js";
import { applyBatch, applyRecord } from "../../../functions/replication/apply.js";
import { captureEvent, captureKeys } from "../../../functions/replication/capture.js";
import { createPacer } from "../../../functions/replication/pacing.js";
import { METRICS_NAMESPACE } from "../../../functions/replication/observability.js";
import { jsonLogger } from "../../../functions/shared/observability.js";
import { flakyPort, instantClock } from "./faults.js";
import { seeded } from "../../support/random.js";
import { policyDoc, snapshot, world, type World } from "./support.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("replay", () => {
  const moto = useMoto();
  let w: World;
  beforeEach(() => {
    w = world(moto);
  });
  const sendA = (command: unknown) => w.a.client.send(command as never);
  const allRecords = async () => {
    const out: RegistryRecord[] = [];
    for await (const r of scanRecords(w.table)) out.push(r);
    return out;
  };

  /** A registry with one of everything, captured in A (events plus the C&C journal's keys). */
  async function everything(): Promise<string> {
    await sendA(new iot.CreateThingTypeCommand({ thingTypeName: "sensor" }));
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "plant" }));
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "line", parentGroupName: "plant" }));
    await sendA(new iot.CreatePolicyCommand({ policyName: "dev", policyDocument: policyDoc("iot:Connect") }));
    await sendA(new iot.CreatePolicyCommand({ policyName: "grp", policyDocument: policyDoc("iot:Publish") }));
    const cert = await sendA(new iot.CreateKeysAndCertificateCommand({ setAsActive: true }));
    const { certificateId, certificateArn } = cert as iot.CreateKeysAndCertificateCommandOutput;
    await sendA(
      new iot.CreateThingCommand({
        thingName: "t1",
        thingTypeName: "sensor",
        attributePayload: { attributes: { a: "1" } },
      }),
    );
    await sendA(new iot.AttachThingPrincipalCommand({ thingName: "t1", principal: certificateArn }));
    await sendA(new iot.AttachPolicyCommand({ policyName: "dev", target: certificateArn }));
    const group = (await sendA(
      new iot.DescribeThingGroupCommand({ thingGroupName: "line" }),
    )) as iot.DescribeThingGroupCommandOutput;
    await sendA(new iot.AttachPolicyCommand({ policyName: "grp", target: group.thingGroupArn }));
    await sendA(new iot.AddThingToThingGroupCommand({ thingGroupName: "line", thingName: "t1" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    await captureKeys([`policyTarget#grp#thingGroup#line`], w.captureDeps(w.a));
    return certificateId!;
  }

  it("applying every record twice changes nothing the second time; only idempotent attaches are re-sent", async () => {
    await everything();
    const records = await allRecords();
    const first = await applyBatch(records, w.applyDeps(w.b));
    expect(first.failures).toEqual([]);
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
    const second = await applyBatch(records, w.applyDeps(w.b));
    expect(second.failures).toEqual([]);
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
    // Attaches are sent without reading first (AWS accepts attaching what is attached); nothing else is.
    const attach: Record<string, string> = {
      membership: "AddThingToThingGroup",
      principal: "AttachThingPrincipal",
      policyTarget: "AttachPolicy",
    };
    const kindOf = new Map(records.map((r) => [r.key, r.kind]));
    expect(second.outcomes).toHaveLength(records.length);
    for (const o of second.outcomes) {
      const action = attach[kindOf.get(o.key)!];
      expect(o).toMatchObject(
        action ? { outcome: "applied", actions: [action] } : { outcome: "unchanged", actions: [] },
      );
    }
    expect(second.outcomes.filter((o) => o.outcome === "unchanged").length).toBeGreaterThan(5);
  });

  it("a thing-group hierarchy four levels deep arriving child-first is created parent first, each group once", async () => {
    const levels = ["site", "plant", "line", "cell"];
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: levels[0] }));
    for (let i = 1; i < levels.length; i++)
      await sendA(
        new iot.CreateThingGroupCommand({ thingGroupName: levels[i], parentGroupName: levels[i - 1] }),
      );
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    // Child first, as the stream or a repair may deliver them.
    const byKey = new Map((await allRecords()).map((r) => [r.key, r]));
    const records = [...levels].reverse().map((l) => byKey.get(`thingGroup#${l}`)!);
    const created: string[] = [];
    const port = w.b.port;
    const counting = {
      ...port,
      createThingGroup: (group: Parameters<typeof port.createThingGroup>[0]) => {
        created.push(group.name);
        return port.createThingGroup(group);
      },
    };
    const { outcomes, failures } = await applyBatch(records, { ...w.applyDeps(w.b), iot: counting });
    expect(failures).toEqual([]);
    expect(created).toEqual(levels);
    expect(outcomes.map((o) => o.key)).toEqual(levels.map((l) => `thingGroup#${l}`));
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
  });

  it("the events that replay raises in the target are captured there as already stored: nothing is written", async () => {
    await everything();
    w.b.events.take();
    await applyBatch(await allRecords(), w.applyDeps(w.b));
    const echoes = w.b.events.take();
    expect(echoes.length).toBeGreaterThan(5);
    const writes = w.table.writes;
    const results = [];
    for (const m of echoes) results.push(...(await captureEvent(m, w.captureDeps(w.b))));
    // Each echo finds its own record holding the state; what enriches it came with that record, so
    // no related record is even read (capture.ts isReplayedState).
    expect(new Set(results.map((r) => r.result))).toEqual(new Set(["unchanged"]));
    expect(w.table.writes).toBe(writes);
  });

  /**
   * A captures v1 of thing "r", then changes it again; v2's record reaches the table only after B
   * has applied v1. Returns B's echo of that older replay, not yet captured.
   */
  async function echoOfOlderReplay() {
    await sendA(new iot.CreateThingCommand({ thingName: "r", attributePayload: { attributes: { v: "1" } } }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    const v1 = (await getRecord(w.table, "thing#r"))!;
    await sendA(
      new iot.UpdateThingCommand({
        thingName: "r",
        attributePayload: { attributes: { v: "2" }, merge: true },
      }),
    );
    const update = w.a.events.take();
    await sleep(5);
    await applyRecord(v1, w.applyDeps(w.b));
    const echo = w.b.events.take();
    for (const m of update) await captureEvent(m, w.captureDeps(w.a));
    return echo;
  }

  it("an echo of an older replay does not overwrite a newer record that arrived meanwhile", async () => {
    const echo = await echoOfOlderReplay();
    const [result] = await captureEvent(echo[0], w.captureDeps(w.b));
    expect(result.result).toBe("echo");
    expect((await getRecord(w.table, "thing#r"))?.state).toEqual({ name: "r", attributes: { v: "2" } });
    // The marker that told capture so lives in B's own marker table; the replicated table has none.
    expect([...w.markers[w.b.name].items.keys()]).toEqual([appliedMarkerKey(w.b.name, "thing#r")]);
    expect([...w.table.items.keys()].filter((k) => k.startsWith("applied#"))).toEqual([]);
    await applyRecord((await getRecord(w.table, "thing#r"))!, w.applyDeps(w.b));
    expect(await w.b.port.describeThing("r")).toEqual({ name: "r", attributes: { v: "2" } });
  });

  it("without the replay marker that same echo would overwrite the newer record (the race is real)", async () => {
    const echo = await echoOfOlderReplay();
    w.markers[w.b.name].items.delete(appliedMarkerKey(w.b.name, "thing#r"));
    const [result] = await captureEvent(echo[0], w.captureDeps(w.b));
    expect(result.result).toBe("written");
  });

  it("a local change back to a state replay applied earlier is captured, not taken for an echo", async () => {
    // Found by the drill: replay applies ACTIVE in B, C&C suspends in B, then resumes in B.
    /** An operator's change of `v` in B, a little later, and what B's capture makes of it. */
    const setInB = async (v: string) => {
      await sleep(5);
      await w.b.client.send(
        new iot.UpdateThingCommand({ thingName: "s", attributePayload: { attributes: { v }, merge: true } }),
      );
      const [outcome] = await captureEvent(w.b.events.take()[0], w.captureDeps(w.b));
      return outcome.result;
    };
    await sendA(new iot.CreateThingCommand({ thingName: "s", attributePayload: { attributes: { v: "1" } } }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    await applyRecord((await getRecord(w.table, "thing#s"))!, w.applyDeps(w.b));
    w.b.events.take();
    expect(await setInB("2")).toBe("written");
    expect(await setInB("1")).toBe("written");
    expect((await getRecord(w.table, "thing#s"))?.state).toEqual({ name: "s", attributes: { v: "1" } });
  });

  it("a delete that arrives before its create leaves nothing behind", async () => {
    await sendA(new iot.CreateThingCommand({ thingName: "ghost" }));
    await sendA(new iot.DeleteThingCommand({ thingName: "ghost" }));
    const [created, deleted] = w.a.events.take();
    const { replayed } = await w.replicate([deleted, created], w.a, w.b);
    expect(await w.b.port.describeThing("ghost")).toBeNull();
    expect((await getRecord(w.table, "thing#ghost"))?.state).toBeNull();
    expect(replayed.every((r) => r.outcome !== "applied")).toBe(true);
  });

  it("a create record replayed after the tombstone that supersedes it is skipped", async () => {
    await sendA(new iot.CreateThingCommand({ thingName: "late" }));
    const [created] = w.a.events.take();
    await captureEvent(created, w.captureDeps(w.a));
    const createRecord = (await getRecord(w.table, "thing#late"))!;
    await sendA(new iot.DeleteThingCommand({ thingName: "late" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    const tomb = (await getRecord(w.table, "thing#late"))!;
    expect(await applyRecord(tomb, w.applyDeps(w.b))).toMatchObject({ outcome: "unchanged" });
    expect(await applyRecord(createRecord, w.applyDeps(w.b))).toMatchObject({
      outcome: "superseded",
      actions: [],
    });
    expect(await w.b.port.describeThing("late")).toBeNull();
  });

  it("delete then recreate of the same name ends with the recreated thing, in any delivery order", async () => {
    await sendA(
      new iot.CreateThingCommand({ thingName: "again", attributePayload: { attributes: { gen: "1" } } }),
    );
    await sendA(new iot.DeleteThingCommand({ thingName: "again" }));
    await sendA(
      new iot.CreateThingCommand({ thingName: "again", attributePayload: { attributes: { gen: "2" } } }),
    );
    const msgs = w.a.events.take();
    await w.replicate([msgs[2], msgs[0], msgs[1]], w.a, w.b);
    expect(await w.b.port.describeThing("again")).toEqual({ name: "again", attributes: { gen: "2" } });
  });

  it("certificate status changes reach the target through captureKeys, including REVOKED", async () => {
    const id = await everything();
    await applyBatch(await allRecords(), w.applyDeps(w.b));
    for (const status of ["INACTIVE", "ACTIVE", "REVOKED"] as const) {
      await sendA(new iot.UpdateCertificateCommand({ certificateId: id, newStatus: status }));
      const [out] = await captureKeys([`certificate#${id}`], w.captureDeps(w.a));
      expect(out.result).toBe("written");
      await applyRecord((await getRecord(w.table, `certificate#${id}`))!, w.applyDeps(w.b));
      expect((await w.b.port.describeCertificate(id))?.status).toBe(status);
    }
  });

  it("a certificate revoked in the target is never reported as reactivated", async () => {
    const id = await everything();
    await applyBatch(await allRecords(), w.applyDeps(w.b));
    await w.b.port.updateCertificate(id, "REVOKED");
    const record = (await getRecord(w.table, `certificate#${id}`))!;
    await expect(applyRecord(record, w.applyDeps(w.b))).rejects.toMatchObject({
      name: "InvalidRecord",
      message: expect.stringContaining("REVOKED"),
    });
  });

  it("policy versions replicate as the default document, within the 5-version limit", async () => {
    await everything();
    await applyBatch(await allRecords(), w.applyDeps(w.b));
    for (let i = 0; i < 7; i++) {
      const versions = (
        (await sendA(
          new iot.ListPolicyVersionsCommand({ policyName: "dev" }),
        )) as iot.ListPolicyVersionsCommandOutput
      ).policyVersions!;
      if (versions.length >= 5) {
        const oldest = versions
          .filter((v) => !v.isDefaultVersion)
          .sort((a, b) => Number(a.versionId) - Number(b.versionId))[0];
        await sendA(
          new iot.DeletePolicyVersionCommand({ policyName: "dev", policyVersionId: oldest.versionId }),
        );
      }
      await sendA(
        new iot.CreatePolicyVersionCommand({
          policyName: "dev",
          policyDocument: policyDoc(`iot:Action${i}`),
          setAsDefault: true,
        }),
      );
      await captureKeys(["policy#dev"], w.captureDeps(w.a));
      const out = await applyRecord((await getRecord(w.table, "policy#dev"))!, w.applyDeps(w.b));
      expect(out.actions).toContain("CreatePolicyVersion");
    }
    expect(JSON.parse((await w.b.port.getPolicy("dev"))!.document)).toEqual(
      JSON.parse(policyDoc("iot:Action6")),
    );
    expect((await w.b.port.listPolicyVersions("dev")).length).toBeLessThanOrEqual(5);
  });

  it("a missing dependency is reported as DependencyNotReady and changes nothing", async () => {
    await everything();
    const thing = (await getRecord(w.table, "thing#t1"))!;
    await expect(applyRecord(thing, w.applyDeps(w.b))).rejects.toMatchObject({
      name: "DependencyNotReady",
      dependency: "thingType#sensor",
    });
    const member = (await getRecord(w.table, "membership#line#t1"))!;
    await expect(applyRecord(member, w.applyDeps(w.b))).rejects.toMatchObject({ name: "DependencyNotReady" });
    const child = (await getRecord(w.table, "thingGroup#line"))!;
    await expect(applyRecord(child, w.applyDeps(w.b))).rejects.toMatchObject({
      name: "DependencyNotReady",
      dependency: "thingGroup#plant",
    });
    const principal = (await getRecord(
      w.table,
      (await allRecords()).find((r) => r.kind === "principal")!.key,
    ))!;
    await expect(applyRecord(principal, w.applyDeps(w.b))).rejects.toMatchObject({
      name: "DependencyNotReady",
    });
    expect(await snapshot(w.b)).toEqual({});
  });

  it("a record superseded by a newer one from the source applies that newer one, so what follows it in the batch finds its parent", async () => {
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "fleet" }));
    await sendA(
      new iot.CreateThingCommand({ thingName: "fresh", attributePayload: { attributes: { v: "1" } } }),
    );
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    const first = (await getRecord(w.table, "thing#fresh"))!;
    // An out-of-band change in the source: its newer record reaches the table before the first is replayed.
    await sendA(
      new iot.UpdateThingCommand({ thingName: "fresh", attributePayload: { attributes: { v: "2" } } }),
    );
    await sendA(new iot.AddThingToThingGroupCommand({ thingGroupName: "fleet", thingName: "fresh" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    await applyRecord((await getRecord(w.table, "thingGroup#fleet"))!, w.applyDeps(w.b));

    // The batch holds the first thing record and the membership; the newer thing record comes later.
    expect(await applyRecord(first, w.applyDeps(w.b))).toMatchObject({
      outcome: "superseded",
      actions: ["CreateThing"],
    });
    expect(await w.b.port.describeThing("fresh")).toEqual({ name: "fresh", attributes: { v: "2" } });
    const member = (await getRecord(w.table, "membership#fleet#fresh"))!;
    expect(await applyRecord(member, w.applyDeps(w.b))).toMatchObject({ outcome: "applied" });
    // The newer record's own delivery then has nothing left to do.
    expect(await applyRecord((await getRecord(w.table, "thing#fresh"))!, w.applyDeps(w.b))).toMatchObject({
      outcome: "unchanged",
    });
  });

  it("a membership captured before its thing was deleted at the source is superseded by the thing's tombstone, not retried into the dead-letter queue", async () => {
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "fleet" }));
    await sendA(new iot.CreateThingCommand({ thingName: "gone" }));
    await sendA(new iot.AddThingToThingGroupCommand({ thingGroupName: "fleet", thingName: "gone" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    const member = (await getRecord(w.table, "membership#fleet#gone"))!;
    expect(member.state).not.toBeNull();
    await sendA(new iot.DeleteThingCommand({ thingName: "gone" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    const tomb = (await getRecord(w.table, "thing#gone"))!;
    expect(tomb.state).toBeNull();
    // IoT raises no membership event for a deleted thing: the membership record stays as it was.
    expect((await getRecord(w.table, "membership#fleet#gone"))!.state).not.toBeNull();
    await applyRecord((await getRecord(w.table, "thingGroup#fleet"))!, w.applyDeps(w.b));

    // The thing's tombstone replays first (another shard, say); the membership then has no thing.
    expect(await applyRecord(tomb, w.applyDeps(w.b))).toMatchObject({ outcome: "unchanged" });
    const lines: string[] = [];
    const logger = jsonLogger((l) => lines.push(l));
    expect(await applyRecord(member, w.applyDeps(w.b, { logger }))).toEqual({
      key: "membership#fleet#gone",
      outcome: "superseded",
      actions: [],
    });
    expect(await w.b.port.describeThing("gone")).toBeNull();
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      logged.some(
        (l) => String(l.message).includes("deleted at the source after it") && l.dependency === "thing#gone",
      ),
    ).toBe(true);
  });

  it("a record newer than its dependency's tombstone still waits for the dependency (deleted, then recreated)", async () => {
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "fleet" }));
    await sendA(new iot.CreateThingCommand({ thingName: "back" }));
    await sendA(new iot.DeleteThingCommand({ thingName: "back" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    const tomb = (await getRecord(w.table, "thing#back"))!;
    expect(tomb.state).toBeNull();
    await applyRecord((await getRecord(w.table, "thingGroup#fleet"))!, w.applyDeps(w.b));
    // The thing was created again and added to the group; the membership is captured first.
    const member: RegistryRecord = {
      key: "membership#fleet#back",
      kind: "membership",
      state: { groupName: "fleet", thingName: "back" },
      version: { ...tomb.version, timestamp: tomb.version.timestamp + 1000, eventId: "later" },
      origin: tomb.origin,
      capturedAt: tomb.capturedAt + 1000,
    };
    await expect(applyRecord(member, w.applyDeps(w.b))).rejects.toMatchObject({
      name: "DependencyNotReady",
      dependency: "thing#back",
    });
  });

  it("a group delete waiting for a child group to go keeps waiting even when the child's tombstone is newer", async () => {
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "top" }));
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "sub", parentGroupName: "top" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    for (const key of ["thingGroup#top", "thingGroup#sub"])
      await applyRecord((await getRecord(w.table, key))!, w.applyDeps(w.b));
    // At the source the child goes first, then the parent; the parent's tombstone replays first here.
    await sendA(new iot.DeleteThingGroupCommand({ thingGroupName: "sub" }));
    await sendA(new iot.DeleteThingGroupCommand({ thingGroupName: "top" }));
    const topDeleted = w.a.events.take().find((m) => m.topic.endsWith("/thingGroup/top/deleted"))!;
    await captureEvent(topDeleted, w.captureDeps(w.a));
    const topTomb = (await getRecord(w.table, "thingGroup#top"))!;
    // The child's tombstone is in the table with a newer version than the parent's.
    await putRecordIfNewer(w.table, {
      ...topTomb,
      key: "thingGroup#sub",
      version: { ...topTomb.version, timestamp: topTomb.version.timestamp + 1000, eventId: "sub-later" },
    });
    await expect(applyRecord(topTomb, w.applyDeps(w.b))).rejects.toMatchObject({
      name: "DependencyNotReady",
      waitsFor: "removal",
    });
    expect(await w.b.port.describeThingGroup("top")).not.toBeNull();
  });

  it("a malformed record is refused as InvalidRecord before any IoT call", async () => {
    let calls = 0;
    const deps = {
      ...w.applyDeps(w.b),
      pacer: {
        ...createPacer(),
        run: async () => {
          calls++;
          throw new Error("no call expected");
        },
      },
    };
    const bad = {
      key: "thing#x",
      kind: "thing",
      state: { name: "y", attributes: {} },
      version: { timestamp: 1, eventId: "e", region: "r" },
      origin: "r",
      capturedAt: 1,
    };
    await expect(applyRecord(bad as RegistryRecord, deps)).rejects.toMatchObject({
      name: "InvalidRecord",
      message: expect.stringContaining("holds the state of 'thing#y'"),
    });
    await expect(
      applyRecord({ ...bad, key: "gadget#x" } as unknown as RegistryRecord, deps),
    ).rejects.toMatchObject({ name: "InvalidRecord" });
    await expect(
      applyRecord(
        { ...bad, key: "thing#y", version: { timestamp: -1, eventId: "e", region: "r" } } as RegistryRecord,
        deps,
      ),
    ).rejects.toMatchObject({ name: "InvalidRecord" });
    expect(calls).toBe(0);
  });

  it("deleting a thing type deprecates it first", async () => {
    await sendA(new iot.CreateThingTypeCommand({ thingTypeName: "old" }));
    await w.replicate(w.a.events.take(), w.a, w.b);
    await sendA(new iot.DeprecateThingTypeCommand({ thingTypeName: "old" }));
    await sendA(new iot.DeleteThingTypeCommand({ thingTypeName: "old" }));
    const deleted = w.a.events.take().at(-1)!;
    await captureEvent(deleted, w.captureDeps(w.a));
    const out = await applyRecord((await getRecord(w.table, "thingType#old"))!, w.applyDeps(w.b));
    expect(out.actions).toEqual(["DeprecateThingType", "DeleteThingType"]);
    expect(await w.b.port.describeThingType("old")).toBeNull();
  });

  it("throttling injected at 30% of calls never loses an operation", async () => {
    await everything();
    const records = await allRecords();
    const clock = instantClock();
    const flaky = flakyPort(w.b.port, seeded(7), { throttleRate: 0.3 });
    const deps = {
      ...w.applyDeps(w.b),
      iot: flaky.port,
      clock,
      pacer: createPacer({ clock, maxAttempts: 3, random: seeded(8) }),
    };
    let pending = records;
    let rounds = 0;
    // The state machine's retry: records that ended Throttled or DependencyNotReady go again.
    while (pending.length > 0 && rounds++ < 20) {
      const { failures } = await applyBatch(pending, deps);
      expect(failures.every((f) => ["Throttled", "DependencyNotReady"].includes(f.error.name))).toBe(true);
      pending = records.filter((r) => failures.some((f) => f.key === r.key));
    }
    expect(pending).toEqual([]);
    expect(flaky.counts.throttled).toBeGreaterThan(10);
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
  });

  it("logs each applied record with key and version and emits replication lag in EMF", async () => {
    await sendA(new iot.CreateThingCommand({ thingName: "obs" }));
    for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
    const lines: string[] = [];
    // The sink the deployed replay function passes (infra/replayPipeline.ts); POWERTOOLS_DEV makes
    // it print its EMF documents through the global console, where the test reads them (dev mode
    // would also disable metrics unless POWERTOOLS_METRICS_DISABLED says false).
    const saved = { ...process.env };
    Object.assign(process.env, { POWERTOOLS_DEV: "true", POWERTOOLS_METRICS_DISABLED: "false" });
    const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: "replay" });
    const printed = vi.spyOn(console, "log").mockImplementation(() => {});
    const record = (await getRecord(w.table, "thing#obs"))!;
    let metricLines: string[];
    try {
      await applyRecord(record, { ...w.applyDeps(w.b), logger: jsonLogger((l) => lines.push(l)), metrics });
      metrics.publishStoredMetrics();
      metricLines = printed.mock.calls.map((c) => String(c[0]));
    } finally {
      printed.mockRestore();
      process.env = saved;
    }
    const log = JSON.parse(lines.at(-1)!);
    expect(log).toMatchObject({
      message: "record applied",
      key: "thing#obs",
      version: record.version,
      actions: ["CreateThing"],
    });
    const emf = JSON.parse(metricLines[0]);
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: "iot-dr",
      Metrics: [{ Name: "ReplicationLagMs", Unit: "Milliseconds" }],
    });
    expect(emf.ReplicationLagMs).toBeGreaterThanOrEqual(0);
  });
});
