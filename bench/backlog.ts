/**
 * The replay benchmark's backlog: a mix of registry operations in dependency waves, counts
 * proportional to each write API's quota (used by `iot-dr bench replay`, one process or several).
 */
import { createHash } from "node:crypto";
import {
  keyOf,
  parseKey,
  replayWaves,
  type RegistryRecord,
  type ResourceKind,
  type StateByKind,
} from "../functions/registry/records.js";
import { DEFAULT_IOT_QUOTAS } from "../functions/replication/pacing.js";

/**
 * Operation mix: counts are proportional to each API's quota. callsPerOp is what replay calls per
 * record of that kind (the write plus the reads it plans with; attaches and registrations of
 * certificates new here read nothing first).
 */
export const MIX: { api: keyof typeof DEFAULT_IOT_QUOTAS; callsPerOp: number }[] = [
  { api: "CreateThingGroup", callsPerOp: 2 },
  { api: "CreatePolicy", callsPerOp: 2 },
  // Registered unread: replay never applied these certificates here (apply.ts CertificateGuess).
  { api: "RegisterCertificateWithoutCA", callsPerOp: 1 },
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

const fakePem = (tag: string, i: number) =>
  `-----BEGIN CERTIFICATE-----\nMIIB${tag}${String(i).padStart(12, "0")}${"A".repeat(48)}\n-----END CERTIFICATE-----\n`;
const certId = (pem: string) => createHash("sha256").update(pem).digest("hex");

export interface Backlog {
  /** The records in the launcher's waves (records.replayWaves), in the order it runs them. */
  waves: RegistryRecord[][];
  /** The wave each write API's records are in. */
  waveOf: Record<string, number>;
  /** What identifies each wave whatever the names: its records' kinds, and whether they delete. */
  waveKinds: string[];
  counts: Record<string, number>;
  /** What the updates and deletes act on: things to create, and certificates replicated earlier (INACTIVE). */
  seed: { things: string[]; deleteThings: string[]; certs: RegistryRecord[] };
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
  const apiOf = new Map<RegistryRecord, string>();
  let api = "";
  const rec = <K extends ResourceKind>(
    kind: K,
    state: StateByKind[K] | null,
    key?: string,
  ): RegistryRecord => {
    const r: RegistryRecord = {
      key: key ?? keyOf(kind, state as StateByKind[K]),
      kind,
      state,
      version: { timestamp: now, eventId: `bench-${tag}${seq++}`, region: origin },
      origin,
      capturedAt: now,
    };
    apiOf.set(r, api);
    return r;
  };
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
  const all: RegistryRecord[] = [];
  const add = (a: string, make: () => RegistryRecord) => {
    api = a;
    all.push(make());
  };
  groups.forEach((g) =>
    add("CreateThingGroup", () => rec("thingGroup", { name: g, attributes: { bench: "1" } })),
  );
  policies.forEach((p, i) => add("CreatePolicy", () => rec("policy", { name: p, document: doc(i) })));
  newCerts.forEach((pem) =>
    add("RegisterCertificateWithoutCA", () =>
      rec("certificate", { certificateId: certId(pem), pem, status: "ACTIVE" }),
    ),
  );
  seedCerts.forEach((pem) =>
    add("UpdateCertificate", () => rec("certificate", { certificateId: certId(pem), pem, status: "ACTIVE" })),
  );
  things.forEach((t, i) => add("CreateThing", () => rec("thing", { name: t, attributes: { n: String(i) } })));
  seedThings.forEach((t) =>
    add("UpdateThing", () => rec("thing", { name: t, attributes: { updated: "yes" } })),
  );
  for (let i = 0; i < counts.AddThingToThingGroup; i++)
    add("AddThingToThingGroup", () =>
      rec("membership", { groupName: pick(groups, i), thingName: pick(things, i) }),
    );
  for (let i = 0; i < counts.AttachThingPrincipal; i++)
    add("AttachThingPrincipal", () =>
      rec("principal", { thingName: pick(things, i), certificateId: certId(pick(newCerts, i)) }),
    );
  for (let i = 0; i < counts.AttachPolicy; i++)
    add("AttachPolicy", () =>
      rec("policyTarget", {
        policyName: pick(policies, i),
        target: { type: "certificate", certificateId: certId(pick(newCerts, i)) },
      }),
    );
  deleteThings.forEach((t) =>
    add("DeleteThing", () => rec("thing", null, keyOf("thing", { name: t, attributes: {} }))),
  );
  // Keys must be unique within the backlog (one record per resource, as in the ops table).
  const seen = new Set<string>();
  for (let i = all.length - 1; i >= 0; i--)
    if (seen.has(all[i].key)) all.splice(i, 1);
    else seen.add(all[i].key);
  // The waves the launcher runs (records.replayWaves), not an order written here by hand.
  const waves = replayWaves(all, (r) => r);
  const waveOf: Record<string, number> = {};
  waves.forEach((w, i) => w.forEach((r) => (waveOf[apiOf.get(r)!] = i)));
  const waveKinds = waves.map((w) =>
    [...new Set(w.map((r) => `${parseKey(r.key).kind}${r.state === null ? ":delete" : ""}`))]
      .sort()
      .join("+"),
  );
  const seedRecord = (pem: string, i: number): RegistryRecord => ({
    key: keyOf("certificate", { certificateId: certId(pem), pem, status: "INACTIVE" }),
    kind: "certificate",
    state: { certificateId: certId(pem), pem, status: "INACTIVE" },
    version: { timestamp: now - 60_000, eventId: `seed-${tag}${i}`, region: origin },
    origin,
    capturedAt: now - 60_000,
  });
  return {
    waves,
    waveOf,
    waveKinds,
    counts,
    seed: { things: seedThings, deleteThings, certs: seedCerts.map(seedRecord) },
  };
}

/**
 * The wave of `calibration` that calibrates `backlog`'s wave `i`: the one of the same kind (and
 * delete or not), whatever position it has. Throws when the calibration mix has no such wave.
 */
export function calibrationWave(backlog: Backlog, calibration: Backlog, i: number): RegistryRecord[] {
  const at = calibration.waveKinds.indexOf(backlog.waveKinds[i]);
  if (at < 0)
    throw new Error(
      `the calibration backlog has no ${backlog.waveKinds[i]} wave (it has ${calibration.waveKinds.join(", ")})`,
    );
  return calibration.waves[at];
}
