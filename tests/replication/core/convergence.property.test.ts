/**
 * Convergence: random registry operations in region A, their events delivered duplicated and
 * shuffled (interleaved with the operations), captured in A, replayed in B through injected
 * throttling and transient errors with the state machine's retries, and B's own echoes captured in
 * B and sent back to A. Afterwards B must equal A, and B's capture must have written nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as iot from "@aws-sdk/client-iot";
import { IoTClient } from "@aws-sdk/client-iot";
import { useMoto } from "../../support/useMoto.js";
import type { RegistryRecord } from "../../../functions/registry/records.js";
import { getRecord } from "../../../functions/registry/table.js";
import { applyRecord } from "../../../functions/replication/apply.js";
import {
  captureEvent,
  captureKeys,
  type RegistryEventMessage,
} from "../../../functions/replication/capture.js";
import { createPacer } from "../../../functions/replication/pacing.js";
import { flakyPort, instantClock } from "./faults.js";
import { seeded } from "../../support/random.js";
import { policyDoc, snapshot, world, type World } from "./support.js";

const THINGS = ["t0", "t1", "t2"];
const GROUPS = ["g0", "g1", "g2"];
const TYPES = ["y0", "y1"];
const POLICIES = ["p0", "p1"];
const CERTS = 2;

type Op =
  | { op: "createType"; y: number }
  | { op: "deprecateType"; y: number; undo: boolean }
  | { op: "deleteType"; y: number }
  | { op: "createGroup"; g: number; parent: number; attr: string }
  | { op: "updateGroup"; g: number; attr: string }
  | { op: "deleteGroup"; g: number }
  | { op: "createThing"; t: number; y: number; attr: string }
  | { op: "updateThing"; t: number; y: number; attr: string }
  | { op: "deleteThing"; t: number }
  | { op: "member"; g: number; t: number; add: boolean }
  | { op: "registerCert"; c: number }
  | { op: "certStatus"; c: number; status: "ACTIVE" | "INACTIVE" | "REVOKED" }
  | { op: "deleteCert"; c: number }
  | { op: "policy"; p: number; action: string }
  | { op: "deletePolicy"; p: number }
  | { op: "principal"; t: number; c: number; attach: boolean }
  | { op: "attachPolicy"; p: number; toGroup: boolean; i: number; attach: boolean };

const ix = (n: number) => fc.nat({ max: n - 1 });
const attr = fc.constantFrom("a", "b", "c");
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("createType" as const), y: ix(TYPES.length) }),
  fc.record({ op: fc.constant("deprecateType" as const), y: ix(TYPES.length), undo: fc.boolean() }),
  fc.record({ op: fc.constant("deleteType" as const), y: ix(TYPES.length) }),
  fc.record({
    op: fc.constant("createGroup" as const),
    g: ix(GROUPS.length),
    parent: fc.nat({ max: GROUPS.length }),
    attr,
  }),
  fc.record({ op: fc.constant("updateGroup" as const), g: ix(GROUPS.length), attr }),
  fc.record({ op: fc.constant("deleteGroup" as const), g: ix(GROUPS.length) }),
  fc.record({
    op: fc.constant("createThing" as const),
    t: ix(THINGS.length),
    y: fc.nat({ max: TYPES.length }),
    attr,
  }),
  fc.record({
    op: fc.constant("updateThing" as const),
    t: ix(THINGS.length),
    y: fc.nat({ max: TYPES.length }),
    attr,
  }),
  fc.record({ op: fc.constant("deleteThing" as const), t: ix(THINGS.length) }),
  fc.record({
    op: fc.constant("member" as const),
    g: ix(GROUPS.length),
    t: ix(THINGS.length),
    add: fc.boolean(),
  }),
  fc.record({ op: fc.constant("registerCert" as const), c: ix(CERTS) }),
  fc.record({
    op: fc.constant("certStatus" as const),
    c: ix(CERTS),
    status: fc.constantFrom("ACTIVE" as const, "INACTIVE" as const, "REVOKED" as const),
  }),
  fc.record({ op: fc.constant("deleteCert" as const), c: ix(CERTS) }),
  fc.record({
    op: fc.constant("policy" as const),
    p: ix(POLICIES.length),
    action: fc.constantFrom("iot:Connect", "iot:Publish", "iot:Receive"),
  }),
  fc.record({ op: fc.constant("deletePolicy" as const), p: ix(POLICIES.length) }),
  fc.record({
    op: fc.constant("principal" as const),
    t: ix(THINGS.length),
    c: ix(CERTS),
    attach: fc.boolean(),
  }),
  fc.record({
    op: fc.constant("attachPolicy" as const),
    p: ix(POLICIES.length),
    toGroup: fc.boolean(),
    i: ix(GROUPS.length),
    attach: fc.boolean(),
  }),
);

/** A delivery queue item: a registry event, or the C&C journal's list of keys it changed. */
type Delivery = { message: RegistryEventMessage } | { journal: string[] };

/** What region A holds, as far as choosing valid operations needs (AWS rules, which moto does not all enforce). */
interface Model {
  types: Map<string, boolean>;
  groups: Map<string, string | undefined>;
  things: Map<string, string | undefined>;
  certs: Map<string, { id: string; arn: string; status: string }>;
  policies: Map<string, number>;
  members: Set<string>;
  principals: Set<string>;
  targets: Set<string>;
}

describe("replication converges", () => {
  const moto = useMoto({ resetBeforeEach: false });
  const pems: string[] = [];
  beforeAll(async () => {
    const scratch = new IoTClient(moto.clientConfig("ap-south-1"));
    for (let i = 0; i < CERTS; i++)
      pems.push(
        (await scratch.send(new iot.CreateKeysAndCertificateCommand({ setAsActive: false }))).certificatePem!,
      );
  });

  async function run(ops: Op[], seed: number, deliveryOrder: number[], duplicates: number[]) {
    await moto.reset();
    const w: World = world(moto);
    const A = w.a.client;
    const send = (c: unknown) => A.send(c as never);
    const m: Model = {
      types: new Map(),
      groups: new Map(),
      things: new Map(),
      certs: new Map(),
      policies: new Map(),
      members: new Set(),
      principals: new Set(),
      targets: new Set(),
    };
    const queue: Delivery[] = [];
    const journal = (...keys: string[]) => queue.push({ journal: keys });
    const policyVersionsCleanup = async (p: string) => {
      const versions = (await send(
        new iot.ListPolicyVersionsCommand({ policyName: p }),
      )) as iot.ListPolicyVersionsCommandOutput;
      return versions.policyVersions ?? [];
    };
    const groupArn = async (g: string) =>
      (
        (await send(
          new iot.DescribeThingGroupCommand({ thingGroupName: g }),
        )) as iot.DescribeThingGroupCommandOutput
      ).thingGroupArn!;

    const exec = async (o: Op) => {
      switch (o.op) {
        case "createType": {
          const y = TYPES[o.y];
          if (m.types.has(y)) return;
          await send(
            new iot.CreateThingTypeCommand({
              thingTypeName: y,
              thingTypeProperties: { searchableAttributes: ["k"] },
            }),
          );
          m.types.set(y, false);
          return;
        }
        case "deprecateType": {
          const y = TYPES[o.y];
          if (!m.types.has(y)) return;
          await send(new iot.DeprecateThingTypeCommand({ thingTypeName: y, undoDeprecate: o.undo }));
          m.types.set(y, !o.undo);
          return;
        }
        case "deleteType": {
          const y = TYPES[o.y];
          if (m.types.get(y) !== true || [...m.things.values()].includes(y)) return;
          await send(new iot.DeleteThingTypeCommand({ thingTypeName: y }));
          m.types.delete(y);
          return;
        }
        case "createGroup": {
          const g = GROUPS[o.g];
          if (m.groups.has(g)) return;
          const parent = GROUPS[o.parent];
          const useParent = parent && parent !== g && m.groups.has(parent) ? parent : undefined;
          await send(
            new iot.CreateThingGroupCommand({
              thingGroupName: g,
              parentGroupName: useParent,
              thingGroupProperties: { attributePayload: { attributes: { k: o.attr } } },
            }),
          );
          m.groups.set(g, useParent);
          return;
        }
        case "updateGroup": {
          const g = GROUPS[o.g];
          if (!m.groups.has(g)) return;
          await send(
            new iot.UpdateThingGroupCommand({
              thingGroupName: g,
              thingGroupProperties: { attributePayload: { attributes: { k: o.attr }, merge: true } },
            }),
          );
          return;
        }
        case "deleteGroup": {
          const g = GROUPS[o.g];
          if (!m.groups.has(g) || [...m.groups.values()].includes(g)) return;
          for (const key of [...m.members].filter((k) => k.startsWith(`${g}#`))) {
            await send(
              new iot.RemoveThingFromThingGroupCommand({ thingGroupName: g, thingName: key.split("#")[1] }),
            );
            m.members.delete(key);
          }
          for (const key of [...m.targets].filter((k) => k.endsWith(`#thingGroup#${g}`))) {
            const p = key.split("#")[0];
            await send(new iot.DetachPolicyCommand({ policyName: p, target: await groupArn(g) }));
            m.targets.delete(key);
            journal(`policyTarget#${key}`);
          }
          await send(new iot.DeleteThingGroupCommand({ thingGroupName: g }));
          m.groups.delete(g);
          return;
        }
        case "createThing":
        case "updateThing": {
          const t = THINGS[o.t];
          if ((o.op === "createThing") === m.things.has(t)) return;
          const y = TYPES[o.y];
          const type = y && m.types.get(y) === false ? y : undefined;
          if (o.op === "createThing") {
            await send(
              new iot.CreateThingCommand({
                thingName: t,
                thingTypeName: type,
                attributePayload: { attributes: { k: o.attr } },
              }),
            );
            m.things.set(t, type);
          } else {
            await send(
              new iot.UpdateThingCommand({
                thingName: t,
                ...(type ? { thingTypeName: type } : m.things.get(t) ? { removeThingType: true } : {}),
                attributePayload: { attributes: { k: o.attr }, merge: true },
              }),
            );
            m.things.set(t, type);
          }
          return;
        }
        case "deleteThing": {
          const t = THINGS[o.t];
          if (!m.things.has(t)) return;
          for (const key of [...m.principals].filter((k) => k.startsWith(`${t}#`))) {
            const c = m.certs.get(key.split("#")[1])!;
            await send(new iot.DetachThingPrincipalCommand({ thingName: t, principal: c.arn }));
            m.principals.delete(key);
            journal(`principal#${t}#${c.id}`);
          }
          for (const key of [...m.members].filter((k) => k.endsWith(`#${t}`))) {
            await send(
              new iot.RemoveThingFromThingGroupCommand({ thingGroupName: key.split("#")[0], thingName: t }),
            );
            m.members.delete(key);
          }
          await send(new iot.DeleteThingCommand({ thingName: t }));
          m.things.delete(t);
          return;
        }
        case "member": {
          const g = GROUPS[o.g];
          const t = THINGS[o.t];
          if (!m.groups.has(g) || !m.things.has(t) || m.members.has(`${g}#${t}`) === o.add) return;
          if (o.add) await send(new iot.AddThingToThingGroupCommand({ thingGroupName: g, thingName: t }));
          else await send(new iot.RemoveThingFromThingGroupCommand({ thingGroupName: g, thingName: t }));
          if (o.add) m.members.add(`${g}#${t}`);
          else m.members.delete(`${g}#${t}`);
          return;
        }
        case "registerCert": {
          const c = `c${o.c}`;
          if (m.certs.has(c)) return;
          const out = (await send(
            new iot.RegisterCertificateWithoutCACommand({ certificatePem: pems[o.c], status: "ACTIVE" }),
          )) as iot.RegisterCertificateWithoutCACommandOutput;
          m.certs.set(c, { id: out.certificateId!, arn: out.certificateArn!, status: "ACTIVE" });
          journal(`certificate#${out.certificateId}`);
          return;
        }
        case "certStatus": {
          const c = m.certs.get(`c${o.c}`);
          if (!c || c.status === "REVOKED") return; // AWS cannot un-revoke
          await send(new iot.UpdateCertificateCommand({ certificateId: c.id, newStatus: o.status }));
          c.status = o.status;
          journal(`certificate#${c.id}`);
          return;
        }
        case "deleteCert": {
          const name = `c${o.c}`;
          const c = m.certs.get(name);
          if (!c || c.status === "ACTIVE") return;
          for (const key of [...m.principals].filter((k) => k.endsWith(`#${name}`))) {
            await send(
              new iot.DetachThingPrincipalCommand({ thingName: key.split("#")[0], principal: c.arn }),
            );
            m.principals.delete(key);
            journal(`principal#${key.split("#")[0]}#${c.id}`);
          }
          for (const key of [...m.targets].filter((k) => k.endsWith(`#certificate#${name}`))) {
            await send(new iot.DetachPolicyCommand({ policyName: key.split("#")[0], target: c.arn }));
            m.targets.delete(key);
            journal(`policyTarget#${key.split("#")[0]}#certificate#${c.id}`);
          }
          await send(new iot.DeleteCertificateCommand({ certificateId: c.id }));
          m.certs.delete(name);
          journal(`certificate#${c.id}`);
          return;
        }
        case "policy": {
          const p = POLICIES[o.p];
          if (!m.policies.has(p)) {
            await send(new iot.CreatePolicyCommand({ policyName: p, policyDocument: policyDoc(o.action) }));
          } else {
            const versions = await policyVersionsCleanup(p);
            if (versions.length >= 5) {
              const oldest = versions
                .filter((v) => !v.isDefaultVersion)
                .sort((a, b) => Number(a.versionId) - Number(b.versionId))[0];
              await send(
                new iot.DeletePolicyVersionCommand({ policyName: p, policyVersionId: oldest.versionId }),
              );
            }
            await send(
              new iot.CreatePolicyVersionCommand({
                policyName: p,
                policyDocument: policyDoc(`${o.action}-${Math.floor(Math.random() * 1e6)}`),
                setAsDefault: true,
              }),
            );
          }
          m.policies.set(p, 1);
          journal(`policy#${p}`);
          return;
        }
        case "deletePolicy": {
          const p = POLICIES[o.p];
          if (!m.policies.has(p)) return;
          for (const key of [...m.targets].filter((k) => k.startsWith(`${p}#`))) {
            const [, type, id] = key.split("#");
            const target = type === "certificate" ? m.certs.get(id)!.arn : await groupArn(id);
            await send(new iot.DetachPolicyCommand({ policyName: p, target }));
            m.targets.delete(key);
            journal(`policyTarget#${p}#${type}#${type === "certificate" ? m.certs.get(id)!.id : id}`);
          }
          for (const v of (await policyVersionsCleanup(p)).filter((v) => !v.isDefaultVersion))
            await send(new iot.DeletePolicyVersionCommand({ policyName: p, policyVersionId: v.versionId }));
          await send(new iot.DeletePolicyCommand({ policyName: p }));
          m.policies.delete(p);
          journal(`policy#${p}`);
          return;
        }
        case "principal": {
          const t = THINGS[o.t];
          const name = `c${o.c}`;
          const c = m.certs.get(name);
          if (!c || !m.things.has(t) || m.principals.has(`${t}#${name}`) === o.attach) return;
          if (o.attach) await send(new iot.AttachThingPrincipalCommand({ thingName: t, principal: c.arn }));
          else await send(new iot.DetachThingPrincipalCommand({ thingName: t, principal: c.arn }));
          if (o.attach) m.principals.add(`${t}#${name}`);
          else m.principals.delete(`${t}#${name}`);
          journal(`principal#${t}#${c.id}`);
          return;
        }
        case "attachPolicy": {
          const p = POLICIES[o.p];
          if (!m.policies.has(p)) return;
          let key: string;
          let target: string;
          let journalKey: string;
          if (o.toGroup) {
            const g = GROUPS[o.i];
            if (!m.groups.has(g)) return;
            key = `${p}#thingGroup#${g}`;
            target = await groupArn(g);
            journalKey = `policyTarget#${key}`;
          } else {
            const name = `c${o.i % CERTS}`;
            const c = m.certs.get(name);
            if (!c) return;
            key = `${p}#certificate#${name}`;
            target = c.arn;
            journalKey = `policyTarget#${p}#certificate#${c.id}`;
          }
          if (m.targets.has(key) === o.attach) return;
          if (o.attach) await send(new iot.AttachPolicyCommand({ policyName: p, target }));
          else await send(new iot.DetachPolicyCommand({ policyName: p, target }));
          if (o.attach) m.targets.add(key);
          else m.targets.delete(key);
          journal(journalKey);
          return;
        }
      }
    };

    // Replay in B through faults, with the state machine's retries; B's echoes go back to A.
    const clock = instantClock();
    const flaky = flakyPort(w.b.port, seeded(seed), { throttleRate: 0.1, transientRate: 0.05 });
    const applyB = {
      ...w.applyDeps(w.b),
      iot: flaky.port,
      clock,
      pacer: createPacer({ clock, maxAttempts: 2, random: seeded(seed + 1) }),
    };
    const applyA = w.applyDeps(w.a);
    const toB: RegistryRecord[] = [];
    const toA: RegistryRecord[] = [];
    const captureA = w.captureDeps(w.a);
    const captureB = w.captureDeps(w.b);
    let echoWrites = 0;
    let applied = 0;
    const written = async (outcomes: { key: string; result: string }[], into: RegistryRecord[]) => {
      for (const o of outcomes) if (o.result === "written") into.push((await getRecord(w.table, o.key))!);
    };
    const deliver = async (d: Delivery) => {
      if ("journal" in d) await written(await captureKeys(d.journal, captureA), toB);
      else await written(await captureEvent(d.message, captureA), toB);
    };
    const replayRound = async () => {
      const batch = toB.splice(0);
      for (const r of batch) {
        try {
          if ((await applyRecord(r, applyB)).outcome === "applied") applied++;
        } catch (err) {
          const name = (err as Error).name;
          if (!["Throttled", "DependencyNotReady", "InternalFailureException"].includes(name)) throw err;
          toB.push(r); // the state machine (or the stream) retries it
        }
      }
      for (const m2 of w.b.events.take()) {
        const outcomes = await captureEvent(m2, captureB);
        echoWrites += outcomes.filter((o) => o.result === "written").length;
        await written(outcomes, toA);
      }
      for (const r of toA.splice(0)) await applyRecord(r, applyA);
    };

    let cursor = 0;
    for (const o of ops) {
      await exec(o);
      for (const message of w.a.events.take()) queue.push({ message });
      // Deliver a shuffled, partly duplicated slice of what is pending, then replay what was written.
      const take = queue.splice(0, deliveryOrder[cursor++ % deliveryOrder.length] % (queue.length + 1));
      const shuffled = take
        .map((d, i) => ({ d, k: deliveryOrder[(cursor + i) % deliveryOrder.length] }))
        .sort((x, y) => x.k - y.k)
        .map((x) => x.d);
      for (const [i, d] of shuffled.entries()) {
        await deliver(d);
        if (duplicates.includes(i)) await deliver(d);
      }
      await replayRound();
    }
    for (const d of queue.splice(0).reverse()) await deliver(d);
    for (let round = 0; round < 30 && (toB.length > 0 || toA.length > 0); round++) await replayRound();
    return { w, echoWrites, pendingB: toB.length, applied };
  }

  it("random registry operations, delivered shuffled and duplicated and replayed through faults, leave B equal to A", async () => {
    let appliedInAllRuns = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 5, maxLength: 30 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(fc.nat({ max: 10 }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat({ max: 6 }), { maxLength: 3 }),
        async (ops, seed, order, dups) => {
          const { w, echoWrites, pendingB, applied } = await run(ops, seed, order, dups);
          appliedInAllRuns += applied;
          expect(pendingB).toBe(0);
          expect(echoWrites).toBe(0);
          expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
        },
      ),
      { numRuns: Number(process.env.CONVERGENCE_RUNS ?? 25), endOnFailure: true },
    );
    // The generator must actually exercise replay, not only skip invalid operations.
    expect(appliedInAllRuns).toBeGreaterThan(20);
  });

  it("includes the hard cases explicitly: delete then recreate, and a delete delivered before its create", async () => {
    const ops: Op[] = [
      { op: "createType", y: 0 },
      { op: "createThing", t: 0, y: 0, attr: "a" },
      { op: "createGroup", g: 0, parent: 3, attr: "a" },
      { op: "createGroup", g: 1, parent: 0, attr: "b" },
      { op: "member", g: 1, t: 0, add: true },
      { op: "registerCert", c: 0 },
      { op: "principal", t: 0, c: 0, attach: true },
      { op: "policy", p: 0, action: "iot:Connect" },
      { op: "attachPolicy", p: 0, toGroup: false, i: 0, attach: true },
      { op: "deleteThing", t: 0 },
      { op: "createThing", t: 0, y: 3, attr: "b" },
      { op: "createThing", t: 1, y: 0, attr: "c" },
      { op: "deleteThing", t: 1 },
      { op: "deprecateType", y: 0, undo: false },
      { op: "deleteGroup", g: 1 },
      { op: "createGroup", g: 1, parent: 3, attr: "c" },
    ];
    // order [0] delays every delivery to the end, where the queue is delivered newest first.
    const { w, echoWrites, pendingB } = await run(ops, 99, [0], [0]);
    expect(pendingB).toBe(0);
    expect(echoWrites).toBe(0);
    const a = await snapshot(w.a);
    expect(a["thing#t0"]).toEqual({ name: "t0", attributes: { k: "b" } });
    expect(a["thing#t1"]).toBeUndefined();
    expect(await snapshot(w.b)).toEqual(a);
  });
});
