/**
 * The drill's registry ledger on its own: a lost operation is counted, a superseded one is judged
 * by the state its successors leave, and the registry RPO is the age at the fault of the oldest
 * change the standby lacked. Regions are in-memory registries answering the two reads the ledger
 * makes (describeThing, describeCertificate) the way the IoT port does (null when missing).
 */
import { describe, expect, it } from "vitest";
import type { CertificateDescription, ThingDescription } from "../../functions/registry/iotPort.js";
import {
  countLostOps,
  lackingIn,
  registryRpo,
  type RegistryOp,
  type RegistryReader,
} from "../../drill/registryOps.js";

class Registry implements RegistryReader {
  things = new Map<string, ThingDescription>();
  certs = new Map<string, CertificateDescription>();
  async describeThing(name: string) {
    return this.things.get(name) ?? null;
  }
  async describeCertificate(id: string) {
    return this.certs.get(id) ?? null;
  }
  onboard(name: string, cert: string, attributes: Record<string, string> = {}) {
    this.things.set(name, { name, attributes: { serial: name, ...attributes } });
    this.certs.set(cert, { certificateId: cert, pem: "pem", status: "ACTIVE" });
  }
}

const op = (o: Partial<RegistryOp> & Pick<RegistryOp, "command" | "thingName" | "doneAt">): RegistryOp => ({
  region: "us-east-1",
  status: 200,
  startedAt: o.doneAt - 50,
  ...o,
});

function ledger(): RegistryOp[] {
  return [
    op({ command: "onboard", thingName: "a", certificateId: "ca", doneAt: 1_000 }),
    op({ command: "onboard", thingName: "b", certificateId: "cb", doneAt: 1_100 }),
    op({
      command: "set-attribute",
      thingName: "a",
      attribute: { name: "firmware", value: "v1" },
      doneAt: 1_200,
    }),
    op({ command: "suspend", thingName: "b", doneAt: 1_300 }),
    op({ command: "onboard", thingName: "c", certificateId: "cc", doneAt: 1_400 }),
    op({ command: "decommission", thingName: "c", doneAt: 1_500 }),
  ];
}

/** A region holding every effect of ledger(). */
function complete(): Registry {
  const r = new Registry();
  r.onboard("a", "ca", { firmware: "v1" });
  r.onboard("b", "cb");
  r.certs.get("cb")!.status = "INACTIVE";
  return r;
}

describe("lost registry operations", () => {
  it("counts none when both regions show every effect", async () => {
    expect(await countLostOps(ledger(), [complete(), complete()])).toBe(0);
  });

  it("counts a deliberately dropped out-of-band change, with every operation on its thing", async () => {
    const standby = complete();
    standby.things.get("a")!.attributes.firmware = "v0"; // the set-attribute never arrived
    expect(await countLostOps(ledger(), [complete(), standby])).toBe(2);
  });

  it("counts a dropped suspend, a dropped onboarding and a resurrected decommissioned thing", async () => {
    const suspendLost = complete();
    suspendLost.certs.get("cb")!.status = "ACTIVE";
    expect(await countLostOps(ledger(), [complete(), suspendLost])).toBe(2);
    const onboardLost = complete();
    onboardLost.things.delete("a");
    expect(await countLostOps(ledger(), [onboardLost, complete()])).toBe(2);
    const resurrected = complete();
    resurrected.onboard("c", "cc");
    expect(await countLostOps(ledger(), [resurrected, complete()])).toBe(2);
  });

  it("does not count an operation the region answered with an error", async () => {
    const ops = [...ledger(), op({ command: "onboard", thingName: "d", status: 409, doneAt: 1_600 })];
    expect(await countLostOps(ops, [complete()])).toBe(0);
  });
});

describe("registry RPO at the fault", () => {
  it("is 0 when the standby lacked nothing", async () => {
    const ops = ledger();
    const lacking = await lackingIn(complete(), ops, 2_000);
    expect(lacking).toEqual([]);
    expect(registryRpo(ops, lacking, 2_000, 2_100)).toEqual({ rpoSeconds: 0, lacking: 0 });
  });

  it("is the age at the fault of the oldest change the standby did not show", async () => {
    const ops = ledger();
    // The standby has a's onboarding but not its firmware change, and b with its certificate still active.
    const standby = new Registry();
    standby.onboard("a", "ca");
    standby.onboard("b", "cb");
    const lacking = await lackingIn(standby, ops, 2_000);
    // c was onboarded and decommissioned: the standby's "no c" is the state after both.
    expect(lacking.map((o) => `${o.command} ${o.thingName}`).sort()).toEqual([
      "set-attribute a",
      "suspend b",
    ]);
    expect(registryRpo(ops, lacking, 2_000, 2_500)).toEqual({ rpoSeconds: 1.3, lacking: 2 });
  });

  it("counts an operation answered between the read and the fault as lacking", async () => {
    const ops = [...ledger(), op({ command: "onboard", thingName: "d", certificateId: "cd", doneAt: 2_050 })];
    const lacking = await lackingIn(complete(), ops, 2_000);
    expect(lacking).toEqual([]);
    expect(registryRpo(ops, lacking, 2_000, 2_100)).toEqual({ rpoSeconds: 0.05, lacking: 1 });
  });
});
