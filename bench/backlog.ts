/**
 * The replay benchmark's backlog: a mix of registry operations in dependency waves, counts
 * proportional to each write API's quota (used by `iot-dr bench replay`, one process or several).
 */
import { createHash } from "node:crypto";
import {
  keyOf,
  type RegistryRecord,
  type ResourceKind,
  type StateByKind,
} from "../functions/registry/records.js";
import { DEFAULT_IOT_QUOTAS } from "../functions/replication/pacing.js";

/**
 * Operation mix: counts are proportional to each API's quota. callsPerOp is what replay calls per
 * record of that kind (the write plus the reads it plans with; attaches read nothing first).
 */
export const MIX: { api: keyof typeof DEFAULT_IOT_QUOTAS; callsPerOp: number }[] = [
  { api: "CreateThingGroup", callsPerOp: 2 },
  { api: "CreatePolicy", callsPerOp: 2 },
  { api: "RegisterCertificateWithoutCA", callsPerOp: 2 },
  { api: "UpdateCertificate", callsPerOp: 2 },
  { api: "CreateThing", callsPerOp: 2 },
  { api: "UpdateThing", callsPerOp: 2 },
  { api: "AddThingToThingGroup", callsPerOp: 1 },
  { api: "AttachThingPrincipal", callsPerOp: 1 },
  { api: "AttachPolicy", callsPerOp: 1 },
  { api: "DeleteThing", callsPerOp: 3 },
];
/** Size of the calibration backlog, at most the measured one's (its waves have the same mix). */
export const CALIBRATION_OPS = 600;
export const WAVE_OF: Record<string, number> = {
  CreateThingGroup: 0,
  CreatePolicy: 0,
  RegisterCertificateWithoutCA: 0,
  UpdateCertificate: 0,
  CreateThing: 1,
  UpdateThing: 1,
  AddThingToThingGroup: 2,
  AttachThingPrincipal: 2,
  AttachPolicy: 2,
  DeleteThing: 3,
};

const fakePem = (tag: string, i: number) =>
  `-----BEGIN CERTIFICATE-----\nMIIB${tag}${String(i).padStart(12, "0")}${"A".repeat(48)}\n-----END CERTIFICATE-----\n`;
const certId = (pem: string) => createHash("sha256").update(pem).digest("hex");

interface Backlog {
  waves: RegistryRecord[][];
  counts: Record<string, number>;
  seed: { things: string[]; deleteThings: string[]; certs: string[] };
}

/**
 * `tag` (one letter) prefixes every name, so a calibration backlog ("c") never touches the measured
 * one ("b").
 */
export function buildBacklog(ops: number, now: number, origin = "us-east-1", tag = "b"): Backlog {
  const weight = (api: string) => DEFAULT_IOT_QUOTAS[api as keyof typeof DEFAULT_IOT_QUOTAS];
  const total = MIX.reduce((a, m) => a + weight(m.api), 0);
  const counts: Record<string, number> = {};
  let assigned = 0;
  for (const m of MIX) assigned += counts[m.api] = Math.max(1, Math.floor((ops * weight(m.api)) / total));
  counts.CreateThing += Math.max(0, ops - assigned);
  let seq = 0;
  const rec = <K extends ResourceKind>(
    kind: K,
    state: StateByKind[K] | null,
    key?: string,
  ): RegistryRecord => ({
    key: key ?? keyOf(kind, state as StateByKind[K]),
    kind,
    state,
    version: { timestamp: now, eventId: `bench-${tag}${seq++}`, region: origin },
    origin,
    capturedAt: now,
  });
  const groups = Array.from({ length: counts.CreateThingGroup }, (_, i) => `${tag}g${i}`);
  const policies = Array.from({ length: counts.CreatePolicy }, (_, i) => `${tag}p${i}`);
  const newCerts = Array.from({ length: counts.RegisterCertificateWithoutCA }, (_, i) => fakePem(tag, i));
  const seedCerts = Array.from({ length: counts.UpdateCertificate }, (_, i) => fakePem(tag, 1_000_000 + i));
  const things = Array.from({ length: counts.CreateThing }, (_, i) => `${tag}t${i}`);
  const seedThings = Array.from({ length: counts.UpdateThing }, (_, i) => `${tag}s${i}`);
  const deleteThings = Array.from({ length: counts.DeleteThing }, (_, i) => `${tag}d${i}`);
  const doc = (i: number) =>
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "iot:Connect", Resource: `arn:aws:iot:*:*:client/b${i}` }],
    });
  const pick = <T>(xs: T[], i: number) => xs[i % xs.length];
  const waves: RegistryRecord[][] = [[], [], [], []];
  groups.forEach((g) => waves[0].push(rec("thingGroup", { name: g, attributes: { bench: "1" } })));
  policies.forEach((p, i) => waves[0].push(rec("policy", { name: p, document: doc(i) })));
  newCerts.forEach((pem) =>
    waves[0].push(rec("certificate", { certificateId: certId(pem), pem, status: "ACTIVE" })),
  );
  seedCerts.forEach((pem) =>
    waves[0].push(rec("certificate", { certificateId: certId(pem), pem, status: "ACTIVE" })),
  );
  things.forEach((t, i) => waves[1].push(rec("thing", { name: t, attributes: { n: String(i) } })));
  seedThings.forEach((t) => waves[1].push(rec("thing", { name: t, attributes: { updated: "yes" } })));
  for (let i = 0; i < counts.AddThingToThingGroup; i++)
    waves[2].push(rec("membership", { groupName: pick(groups, i), thingName: pick(things, i) }));
  for (let i = 0; i < counts.AttachThingPrincipal; i++)
    waves[2].push(rec("principal", { thingName: pick(things, i), certificateId: certId(pick(newCerts, i)) }));
  for (let i = 0; i < counts.AttachPolicy; i++)
    waves[2].push(
      rec("policyTarget", {
        policyName: pick(policies, i),
        target: { type: "certificate", certificateId: certId(pick(newCerts, i)) },
      }),
    );
  deleteThings.forEach((t) => waves[3].push(rec("thing", null, `thing#${t}`)));
  // Keys must be unique within the backlog (one record per resource, as in the ops table).
  for (const w of waves) {
    const seen = new Set<string>();
    for (let i = w.length - 1; i >= 0; i--)
      if (seen.has(w[i].key)) w.splice(i, 1);
      else seen.add(w[i].key);
  }
  return { waves, counts, seed: { things: seedThings, deleteThings, certs: seedCerts } };
}
