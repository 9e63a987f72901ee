/**
 * The audit scenario of issue 15: certificates deactivated and revoked and a new default policy
 * version made out of band in the ACTIVE region, none of it captured (the ops table still holds
 * the old state). The scheduled reconcilers of both regions, with repair on, must leave the active
 * region untouched and bring the standby to it, REVOKED included; a second pass finds nothing.
 */
import { describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import { runScheduledReconcile, type ScheduledReconcileDeps } from "../../functions/reconcile/scheduled.js";
import { keys, toItem, type RegistryRecord } from "../../functions/registry/records.js";
import { getRecord, memoryOpsTable } from "../../functions/registry/table.js";
import { useMoto } from "../support/useMoto.js";
import {
  baseline,
  policyDoc,
  REGION_A,
  sharedCertificate,
  type Region,
  scheduledDeps,
  useRegionPair,
} from "./support.js";

describe("out-of-band changes in the active region, reconciler with repair on", () => {
  const moto = useMoto();
  const pair = useRegionPair(moto);

  const reconcilerOf = (
    own: Region,
    peer: Region,
    table: ReturnType<typeof memoryOpsTable>,
    emitted: string[],
  ): ScheduledReconcileDeps =>
    scheduledDeps(own, peer, table, {
      repair: true,
      activeRegion: async () => ({ region: REGION_A, how: `Route 53 serves ${REGION_A}` }),
      lines: emitted,
    });

  it("leaves the active region untouched and repairs the standby: REVOKED stays REVOKED, the new policy version is carried", async () => {
    const { a: active, b: standby } = pair;
    await baseline([active, standby], { a: active, b: standby });
    const toRevoke = await sharedCertificate(active, standby, "ACTIVE");
    const toDeactivate = await sharedCertificate(active, standby, "ACTIVE");
    for (const r of [active, standby])
      await r.send(
        new iotSdk.CreatePolicyCommand({ policyName: "fleet", policyDocument: policyDoc("iot:Connect") }),
      );
    // The ops table as capture left it before the out-of-band changes.
    const table = memoryOpsTable();
    const old = (key: string, state: RegistryRecord["state"]): RegistryRecord => ({
      key,
      kind: key.split("#")[0] as RegistryRecord["kind"],
      state,
      version: { timestamp: Date.now() - 3_600_000, eventId: "old", region: REGION_A },
      origin: REGION_A,
      capturedAt: Date.now() - 3_600_000,
    });
    for (const id of [toRevoke, toDeactivate]) {
      const d = await active.iot.describeCertificate(id);
      await table.put(toItem(old(keys.certificate(id), d)) as never);
    }
    await table.put(
      toItem(old("policy#fleet", { name: "fleet", document: policyDoc("iot:Connect") })) as never,
    );

    // Out of band, in the active region: nothing captured.
    await active.send(new iotSdk.UpdateCertificateCommand({ certificateId: toRevoke, newStatus: "REVOKED" }));
    await active.send(
      new iotSdk.UpdateCertificateCommand({ certificateId: toDeactivate, newStatus: "INACTIVE" }),
    );
    await active.send(
      new iotSdk.CreatePolicyVersionCommand({
        policyName: "fleet",
        policyDocument: policyDoc("iot:Publish"),
        setAsDefault: true,
      }),
    );
    const activeBefore = {
      revoke: await active.iot.describeCertificate(toRevoke),
      deactivate: await active.iot.describeCertificate(toDeactivate),
      policy: await active.iot.getPolicy("fleet"),
    };

    const emitted: string[] = [];
    const inActive = await runScheduledReconcile(reconcilerOf(active, standby, table, emitted));
    expect(inActive).toMatchObject({ found: 3, repaired: 0, leftToPeer: 3, remaining: 0 });
    const inStandby = await runScheduledReconcile(reconcilerOf(standby, active, table, emitted));
    expect(inStandby).toMatchObject({ found: 3, repaired: 3, remaining: 0 });

    // The active region is exactly as the operator left it.
    expect(await active.iot.describeCertificate(toRevoke)).toEqual(activeBefore.revoke);
    expect(await active.iot.describeCertificate(toDeactivate)).toEqual(activeBefore.deactivate);
    expect(await active.iot.getPolicy("fleet")).toEqual(activeBefore.policy);
    expect(activeBefore.revoke?.status).toBe("REVOKED");
    // The standby follows it.
    expect((await standby.iot.describeCertificate(toRevoke))?.status).toBe("REVOKED");
    expect((await standby.iot.describeCertificate(toDeactivate))?.status).toBe("INACTIVE");
    expect(JSON.parse((await standby.iot.getPolicy("fleet"))!.document)).toEqual(
      JSON.parse(policyDoc("iot:Publish")),
    );
    // The ops table now agrees with the active region.
    expect((await getRecord(table, keys.certificate(toRevoke)))?.state).toMatchObject({ status: "REVOKED" });
    expect((await getRecord(table, "policy#fleet"))?.state).toMatchObject({
      document: policyDoc("iot:Publish"),
    });

    // A second pass in each region finds nothing.
    for (const [own, peer] of [
      [active, standby],
      [standby, active],
    ] as const) {
      const again = await runScheduledReconcile(reconcilerOf(own, peer, table, emitted));
      expect(again).toMatchObject({ status: "equal", found: 0, remaining: 0 });
    }
    expect(emitted.map((l) => JSON.parse(l).DriftCount)).toEqual([0, 0, 0, 0]);
  });
});
