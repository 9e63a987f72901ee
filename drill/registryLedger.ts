/**
 * The local drill's ledger of registry operations (C&C commands and out-of-band registry writes):
 * what each operation should have left in the registry, when it was made, and when replay applied
 * its records in the other region. From it the drill computes its registry RPO figures:
 *
 * - an operation is *pending at the fault* when it was made (its successful attempt started)
 *   before the fault and its records were not yet applied in the other region at the fault;
 * - `rpoSeconds` is the age at the fault of the oldest pending operation (0 when none was pending);
 * - an operation is *lost* when a fact it left (and no later operation replaced) is not true in
 *   either region's registry at the end.
 */
import { keys } from "../functions/registry/records.js";
import { DEVICE_GROUP, DEVICE_POLICY, type AppliedRecord, type RegionWorld } from "./world.js";

export type RegistryCommand = "onboard" | "suspend" | "resume" | "decommission" | "set-attributes";

export interface RegistryOp {
  region: string;
  command: RegistryCommand;
  /** `cc`: through the C&C API (journaled); `registry`: straight on the registry (out of band). */
  via: "cc" | "registry";
  thingName: string;
  /** HTTP status of the C&C answer; 200 for a registry write that succeeded, 500 for one that threw. */
  status: number;
  certificateId?: string;
  /** Attributes an out-of-band write set. */
  attributes?: Record<string, string>;
  /** When the attempt that produced `status` started and answered (ms since the epoch). */
  startedAt: number;
  completedAt: number;
}

/** One fact an operation leaves in the registry: a thing, its attribute or a certificate's state. */
type Fact =
  | { kind: "thing"; thingName: string; present: boolean }
  | { kind: "attribute"; thingName: string; name: string; value: string }
  | { kind: "certificate"; certificateId: string; status: "ACTIVE" | "INACTIVE" | null };

const factId = (f: Fact) =>
  f.kind === "certificate"
    ? `cert#${f.certificateId}`
    : f.kind === "thing"
      ? `thing#${f.thingName}`
      : `attr#${f.thingName}#${f.name}`;

export interface RegistryRpo {
  /** Operations made before the fault whose records the other region had not applied at the fault. */
  registryOpsDuringFault: number;
  /** Age at the fault of the oldest of them, seconds (0 when none). */
  rpoSeconds: number;
  /** Fault → the last of them applied in the other region, seconds; null when one never was. */
  registryCatchUpSeconds: number | null;
  /**
   * Of them, applied in the other region only once the failed region was reachable again (their
   * records were stranded in its table or capture queue); 0 when the failed region stayed reachable.
   */
  strandedRegistryOps: number;
}

export class RegistryLedger {
  readonly ops: RegistryOp[] = [];
  readonly applied: AppliedRecord[] = [];

  constructor(private readonly regions: readonly [string, string]) {}

  add(op: RegistryOp): RegistryOp {
    this.ops.push(op);
    return op;
  }

  get succeeded(): RegistryOp[] {
    return this.ops.filter((o) => o.status < 300);
  }

  /** The certificate an onboarding in the ledger gave this thing. */
  certificateOf(thingName: string): string | undefined {
    return this.ops.find((o) => o.thingName === thingName && o.certificateId)?.certificateId;
  }

  /** The ops-table items an operation writes that replay must apply for its effect to arrive. */
  keysOf(op: RegistryOp): string[] {
    const certificateId = op.certificateId ?? this.certificateOf(op.thingName);
    const thing = keys.thing(op.thingName);
    switch (op.command) {
      case "onboard":
      case "decommission":
        // C&C's onboarding: thing, certificate, thing-principal, group membership, policy on the certificate.
        return [
          thing,
          keys.membership(DEVICE_GROUP, op.thingName),
          ...(certificateId
            ? [
                keys.certificate(certificateId),
                keys.principal(op.thingName, certificateId),
                keys.policyTarget(DEVICE_POLICY, { type: "certificate", certificateId }),
              ]
            : []),
        ];
      case "suspend":
      case "resume":
        return certificateId ? [keys.certificate(certificateId)] : [];
      case "set-attributes":
        return [thing];
    }
  }

  /**
   * When replay had applied, in the other region, a record of every item the operation writes that
   * was captured after the operation started; undefined while one is missing.
   */
  replicatedAt(op: RegistryOp): number | undefined {
    const other = op.region === this.regions[0] ? this.regions[1] : this.regions[0];
    let latest = 0;
    for (const key of this.keysOf(op)) {
      const first = this.applied.find(
        (a) => a.region === other && a.key === key && a.capturedAt >= op.startedAt,
      );
      if (!first) return undefined;
      latest = Math.max(latest, first.at);
    }
    return latest;
  }

  /** Operations made before `faultAt` that the other region had not applied at `faultAt`. */
  pendingAt(faultAt: number): RegistryOp[] {
    return this.succeeded.filter((op) => {
      if (op.startedAt >= faultAt) return false;
      const at = this.replicatedAt(op);
      return at === undefined || at > faultAt;
    });
  }

  /** `reachableAgainAt`: when the failed region came back, if it was unreachable at all. */
  rpo(faultAt: number, reachableAgainAt?: number): RegistryRpo {
    const pending = this.pendingAt(faultAt);
    const caughtUp = pending.map((op) => this.replicatedAt(op));
    return {
      registryOpsDuringFault: pending.length,
      rpoSeconds:
        pending.length === 0 ? 0 : Math.round(faultAt - Math.min(...pending.map((o) => o.startedAt))) / 1000,
      registryCatchUpSeconds: caughtUp.some((at) => at === undefined)
        ? null
        : Math.round(Math.max(faultAt, ...(caughtUp as number[])) - faultAt) / 1000,
      strandedRegistryOps:
        reachableAgainAt === undefined
          ? 0
          : caughtUp.filter((at) => at === undefined || at >= reachableAgainAt).length,
    };
  }

  /** The facts the succeeded operations leave, each with the operation that set it last. */
  expectedFacts(): Map<string, { fact: Fact; op: RegistryOp }> {
    const facts = new Map<string, { fact: Fact; op: RegistryOp }>();
    const set = (fact: Fact, op: RegistryOp) => facts.set(factId(fact), { fact, op });
    const ordered = [...this.succeeded].sort((a, b) => a.completedAt - b.completedAt);
    for (const op of ordered) {
      const certificateId = op.certificateId ?? this.certificateOf(op.thingName);
      const cert = (status: "ACTIVE" | "INACTIVE" | null) =>
        certificateId && set({ kind: "certificate", certificateId, status }, op);
      switch (op.command) {
        case "onboard":
          set({ kind: "thing", thingName: op.thingName, present: true }, op);
          cert("ACTIVE");
          break;
        case "set-attributes":
          for (const [name, value] of Object.entries(op.attributes ?? {}))
            set({ kind: "attribute", thingName: op.thingName, name, value }, op);
          break;
        case "suspend":
          cert("INACTIVE");
          break;
        case "resume":
          cert("ACTIVE");
          break;
        case "decommission":
          set({ kind: "thing", thingName: op.thingName, present: false }, op);
          for (const id of [...facts.keys()]) if (id.startsWith(`attr#${op.thingName}#`)) facts.delete(id);
          cert(null);
          break;
      }
    }
    return facts;
  }

  /**
   * Operations with a fact (one no later operation replaced) that does not hold in one of the
   * regions' registries: the operation's effect is missing there after catch-up.
   */
  async lost(regions: readonly RegionWorld[]): Promise<RegistryOp[]> {
    const lost = new Set<RegistryOp>();
    for (const { fact, op } of this.expectedFacts().values()) {
      if (lost.has(op)) continue;
      for (const region of regions) {
        if (!(await holds(fact, region))) {
          lost.add(op);
          break;
        }
      }
    }
    return this.ops.filter((o) => lost.has(o));
  }
}

async function holds(fact: Fact, region: RegionWorld): Promise<boolean> {
  switch (fact.kind) {
    case "thing":
      return ((await region.iot.describeThing(fact.thingName)) !== null) === fact.present;
    case "attribute":
      return (await region.iot.describeThing(fact.thingName))?.attributes[fact.name] === fact.value;
    case "certificate":
      return ((await region.iot.describeCertificate(fact.certificateId))?.status ?? null) === fact.status;
  }
}
