/**
 * The drill's registry ledger on its own: which operations count as made during the fault, the RPO
 * as a time, and which operations count as lost against both regions' registries.
 */
import { describe, expect, it } from "vitest";
import { RegistryLedger, type RegistryOp } from "../../drill/registryLedger.js";
import type { RegionWorld } from "../../drill/world.js";
import { keys } from "../../functions/registry/records.js";

const [A, B] = ["us-east-1", "us-west-2"] as const;

function onboard(thingName: string, at: number, certificateId = `cert-${thingName}`): RegistryOp {
  return {
    region: A,
    command: "onboard",
    via: "cc",
    thingName,
    status: 200,
    certificateId,
    startedAt: at,
    completedAt: at + 100,
  };
}

/** Replay in B applied every item of `op` at `at`. */
function applyAll(ledger: RegistryLedger, op: RegistryOp, at: number) {
  for (const key of ledger.keysOf(op))
    ledger.applied.push({ at, region: B, key, capturedAt: op.startedAt + 10 });
}

/** A region whose registry holds these things (with attributes) and certificates (with status). */
function region(
  name: string,
  things: Record<string, Record<string, string>>,
  certificates: Record<string, "ACTIVE" | "INACTIVE">,
): RegionWorld {
  return {
    name,
    iot: {
      describeThing: async (n: string) => (things[n] ? { name: n, attributes: things[n] } : null),
      describeCertificate: async (id: string) => (certificates[id] ? { status: certificates[id] } : null),
    },
  } as unknown as RegionWorld;
}

describe("registry operations during the fault", () => {
  it("counts none when every operation was applied in the standby before the fault", () => {
    const ledger = new RegistryLedger([A, B]);
    const op = ledger.add(onboard("d0", 1_000));
    applyAll(ledger, op, 2_000);
    expect(ledger.rpo(5_000)).toEqual({
      registryOpsDuringFault: 0,
      rpoSeconds: 0,
      registryCatchUpSeconds: 0,
      strandedRegistryOps: 0,
    });
  });

  it("counts an operation whose last item was applied after the fault, and its age as the RPO", () => {
    const ledger = new RegistryLedger([A, B]);
    const op = ledger.add(onboard("d0", 1_000));
    applyAll(ledger, op, 2_000);
    // the thing-principal attachment arrives only after the fault at 3 s
    ledger.applied.splice(
      ledger.applied.findIndex((a) => a.key === keys.principal("d0", "cert-d0")),
      1,
    );
    expect(ledger.rpo(3_000).registryOpsDuringFault).toBe(1);
    ledger.applied.push({ at: 4_500, region: B, key: keys.principal("d0", "cert-d0"), capturedAt: 1_050 });
    expect(ledger.rpo(3_000, 4_000)).toEqual({
      registryOpsDuringFault: 1,
      rpoSeconds: 2,
      registryCatchUpSeconds: 1.5,
      strandedRegistryOps: 1,
    });
  });

  it("does not take a record captured before the operation started for its replication", () => {
    const ledger = new RegistryLedger([A, B]);
    const op = ledger.add(onboard("d0", 1_000));
    for (const key of ledger.keysOf(op)) ledger.applied.push({ at: 900, region: B, key, capturedAt: 800 });
    expect(ledger.replicatedAt(op)).toBeUndefined();
    expect(ledger.rpo(3_000)).toMatchObject({ registryOpsDuringFault: 1, registryCatchUpSeconds: null });
  });

  it("leaves out operations that failed or started after the fault", () => {
    const ledger = new RegistryLedger([A, B]);
    ledger.add({ ...onboard("d0", 1_000), status: 503 });
    ledger.add(onboard("d1", 4_000));
    expect(ledger.rpo(3_000).registryOpsDuringFault).toBe(0);
  });
});

describe("lost registry operations after catch-up", () => {
  const ops = (ledger: RegistryLedger) => {
    ledger.add(onboard("d0", 1_000));
    ledger.add(onboard("d1", 1_000));
    ledger.add({
      region: A,
      command: "set-attributes",
      via: "registry",
      thingName: "d0",
      status: 200,
      attributes: { firmware: "2" },
      startedAt: 2_000,
      completedAt: 2_100,
    });
    ledger.add({
      region: B,
      command: "suspend",
      via: "cc",
      thingName: "d1",
      status: 200,
      startedAt: 3_000,
      completedAt: 3_100,
    });
    ledger.add({
      region: B,
      command: "decommission",
      via: "cc",
      thingName: "d0",
      status: 200,
      startedAt: 4_000,
      completedAt: 4_100,
    });
  };

  it("loses nothing when both regions hold what the last operation on each fact left", async () => {
    const ledger = new RegistryLedger([A, B]);
    ops(ledger);
    const both = () => region(A, { d1: { serial: "d1" } }, { "cert-d1": "INACTIVE" });
    expect(await ledger.lost([both(), { ...both(), name: B }])).toEqual([]);
  });

  it("counts the operation whose effect one region lacks, and only that one", async () => {
    const ledger = new RegistryLedger([A, B]);
    ops(ledger);
    const good = region(A, { d1: { serial: "d1" } }, { "cert-d1": "INACTIVE" });
    // B never got the suspend; and the decommissioned d0 came back in B
    const bad = region(B, { d1: { serial: "d1" }, d0: { firmware: "2" } }, { "cert-d1": "ACTIVE" });
    const lost = await ledger.lost([good, bad]);
    expect(lost.map((o) => `${o.command} ${o.thingName}`)).toEqual(["suspend d1", "decommission d0"]);
  });
});
