/**
 * A device decommissioned in one region while the other region replays: C&C journals the
 * certificate's tombstone before its policy attachment's, and the launcher may hand them to replay
 * in different batches. AWS refuses to delete a certificate that still has a policy attached
 * (DeleteCertificate, DeleteConflictException), so replay must not depend on the attachment's
 * tombstone arriving first. The broker-down drill found this: with the attachment's tombstone one
 * batch later, moto deleted the certificate and kept the attachment, and the fail-back gate stayed
 * closed on `extra policyTarget#...#certificate#...` in the primary.
 */
import { beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import { keys, type RegistryRecord } from "../../../functions/registry/records.js";
import { getRecord } from "../../../functions/registry/table.js";
import { applyBatch, applyRecord } from "../../../functions/replication/apply.js";
import { captureKeys } from "../../../functions/replication/capture.js";
import { refuseDeletingAttachedCertificates } from "../../../peers/moto.js";
import { useMoto } from "../../support/useMoto.js";
import { policyDoc, snapshot, world, type World } from "./support.js";

describe("a certificate deleted at the source, replayed before its policy attachment's tombstone", () => {
  const moto = useMoto();
  let w: World;
  let certificateId: string;
  let certificateArn: string;
  const record = async (key: string) => (await getRecord(w.table, key)) as RegistryRecord;

  beforeEach(async () => {
    w = world(moto);
    // Both registries refuse what AWS refuses.
    refuseDeletingAttachedCertificates(w.a.client, w.a.reader);
    refuseDeletingAttachedCertificates(w.b.client, w.b.reader);
    // Onboarded in A (as C&C does), journalled, and replayed in B.
    const sendA = (c: unknown) => w.a.client.send(c as never);
    await sendA(new iot.CreatePolicyCommand({ policyName: "dev", policyDocument: policyDoc("iot:Connect") }));
    const cert = (await sendA(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    )) as iot.CreateKeysAndCertificateCommandOutput;
    certificateId = cert.certificateId!;
    certificateArn = cert.certificateArn!;
    await sendA(new iot.CreateThingCommand({ thingName: "d1" }));
    await sendA(new iot.AttachThingPrincipalCommand({ thingName: "d1", principal: certificateArn }));
    await sendA(new iot.AttachPolicyCommand({ policyName: "dev", target: certificateArn }));
    const onboarded = [
      keys.policy("dev"),
      keys.thing("d1"),
      keys.certificate(certificateId),
      keys.policyTarget("dev", { type: "certificate", certificateId }),
      keys.principal("d1", certificateId),
    ];
    await captureKeys(onboarded, w.captureDeps(w.a));
    const { failures } = await applyBatch(await Promise.all(onboarded.map(record)), w.applyDeps(w.b));
    expect(failures).toEqual([]);
    expect(await w.b.port.listAttachedPolicies({ type: "certificate", certificateId })).toEqual(["dev"]);
    w.a.events.take();
    w.b.events.take();
  });

  /** Decommissions d1 in A as C&C does, and journals its keys in C&C's order (certificate before attachment). */
  async function decommissionInA(journalled = 4): Promise<string[]> {
    const sendA = (c: unknown) => w.a.client.send(c as never);
    await sendA(new iot.DetachThingPrincipalCommand({ thingName: "d1", principal: certificateArn }));
    await sendA(new iot.DetachPolicyCommand({ policyName: "dev", target: certificateArn }));
    await sendA(new iot.UpdateCertificateCommand({ certificateId, newStatus: "INACTIVE" }));
    await sendA(new iot.DeleteCertificateCommand({ certificateId }));
    await sendA(new iot.DeleteThingCommand({ thingName: "d1" }));
    const journal = [
      keys.thing("d1"),
      keys.principal("d1", certificateId),
      keys.certificate(certificateId),
      keys.policyTarget("dev", { type: "certificate", certificateId }),
    ];
    await captureKeys(journal.slice(0, journalled), w.captureDeps(w.a));
    return journal;
  }

  it("the certificate's tombstone detaches its policy and deletes it at once, in its own batch", async () => {
    const journal = await decommissionInA();
    // One batch per stream record, in the journal's order: the attachment's tombstone comes last.
    const outcomes = [];
    for (const key of journal) outcomes.push(await applyRecord(await record(key), w.applyDeps(w.b)));
    expect(outcomes[2]).toMatchObject({
      key: keys.certificate(certificateId),
      outcome: "applied",
      actions: ["DetachPolicy:dev", "UpdateCertificate:INACTIVE", "DeleteCertificate"],
    });
    expect(outcomes[3]).toMatchObject({ outcome: "unchanged" });
    // Nothing left attached to a certificate that no longer exists (what the reconciler lists).
    expect(await w.b.port.listTargetsForPolicy("dev")).toEqual([]);
    expect(await w.b.port.describeCertificate(certificateId)).toBeNull();
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
  });

  it("the detach is replay's own: capture in the target takes it for an echo, not a change of its own", async () => {
    // The attachment's tombstone is not journalled yet: the table still says attached.
    const journal = await decommissionInA(3);
    const attachment = keys.policyTarget("dev", { type: "certificate", certificateId });
    for (const key of journal.slice(0, 3)) await applyRecord(await record(key), w.applyDeps(w.b));
    const before = await record(attachment);
    expect(before.state).not.toBeNull();
    // The target's own capture of the attachment (a CloudTrail DetachPolicy, or a C&C read) must not
    // write a record of B's: versioned now, it would beat a re-attach A makes meanwhile.
    const [captured] = await captureKeys([attachment], w.captureDeps(w.b));
    expect(captured?.result).toBe("echo");
    expect(await record(attachment)).toEqual(before);
  });

  it("a tombstone older than a fresh local change of the certificate leaves it and its policy alone", async () => {
    await decommissionInA();
    const tombstone = await record(keys.certificate(certificateId));
    expect(tombstone.state).toBeNull();
    // B suspended the certificate after A's delete was captured, and its capture holds the newer record.
    await w.b.client.send(new iot.UpdateCertificateCommand({ certificateId, newStatus: "INACTIVE" }));
    await captureKeys([keys.certificate(certificateId)], w.captureDeps(w.b));
    expect((await record(keys.certificate(certificateId))).origin).toBe(w.b.name);
    const outcome = await applyRecord(tombstone, w.applyDeps(w.b));
    expect(outcome.actions).toEqual([]);
    expect(await w.b.port.describeCertificate(certificateId)).toMatchObject({ status: "INACTIVE" });
    expect(await w.b.port.listAttachedPolicies({ type: "certificate", certificateId })).toEqual(["dev"]);
  });
});
