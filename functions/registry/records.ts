/**
 * The record format of the ops table: one item per registry resource holding its desired state
 * (or a tombstone), a version and the region it came from. Capture, replay, the C&C journal,
 * backfill and the reconciler all read and write records through this module only.
 */

/** Every kind of registry resource that iot-dr replicates. */
export const RESOURCE_KINDS = [
  "thingType",
  "thingGroup",
  "policy",
  "certificate",
  "thing",
  "membership",
  "principal",
  "policyTarget",
] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export type CertificateStatus = "ACTIVE" | "INACTIVE" | "REVOKED";

export interface ThingTypeState {
  name: string;
  description?: string;
  searchableAttributes: string[];
  deprecated: boolean;
}

export interface ThingGroupState {
  name: string;
  /** The parent group's name; absent for a root group. */
  parentGroupName?: string;
  description?: string;
  attributes: Record<string, string>;
}

export interface PolicyState {
  name: string;
  /** The document of the default version, the one IoT enforces. */
  document: string;
}

/**
 * A policy as IoT describes it, reduced to the state replication records (its version ids differ
 * between regions). Capture records this and replay compares the live policy through it: were the
 * two to differ, replay would take every policy for an unrecorded local change and never replay one.
 */
export function policyState(policy: PolicyState | null): PolicyState | null {
  return policy ? { name: policy.name, document: policy.document } : null;
}

export interface CertificateState {
  /** The certificate id (SHA-256 of the DER), the same in every region it is registered in without a CA. */
  certificateId: string;
  pem: string;
  status: CertificateStatus;
}

export interface ThingState {
  name: string;
  thingTypeName?: string;
  attributes: Record<string, string>;
}

export interface MembershipState {
  groupName: string;
  thingName: string;
}

/** A certificate attached to a thing as its principal. */
export interface PrincipalState {
  thingName: string;
  certificateId: string;
}

export type PolicyTargetRef =
  { type: "certificate"; certificateId: string } | { type: "thingGroup"; groupName: string };

/** A policy attached to a certificate or a thing group. */
export interface PolicyTargetState {
  policyName: string;
  target: PolicyTargetRef;
}

export interface StateByKind {
  thingType: ThingTypeState;
  thingGroup: ThingGroupState;
  policy: PolicyState;
  certificate: CertificateState;
  thing: ThingState;
  membership: MembershipState;
  principal: PrincipalState;
  policyTarget: PolicyTargetState;
}
export type DesiredState = StateByKind[ResourceKind];

/**
 * Orders changes to one resource. Compared by source timestamp, then origin region, then event id,
 * so that every region picks the same winner (last writer wins per resource).
 */
export interface Version {
  /** Milliseconds since the epoch at the source of the change. */
  timestamp: number;
  eventId: string;
  region: string;
}

/** One item of the ops table. */
export interface RegistryRecord<K extends ResourceKind = ResourceKind> {
  key: string;
  kind: K;
  /** The desired state, or null for a tombstone (the resource must not exist). */
  state: StateByKind[K] | null;
  version: Version;
  /** The region where the change was captured; replay skips records of its own region. */
  origin: string;
  /** Milliseconds since the epoch when capture wrote the record; replication lag is measured from it. */
  capturedAt: number;
}

const NAME_PATTERN = /^[^#\s]+$/;

function part(kind: string, value: string): string {
  if (!NAME_PATTERN.test(value)) {
    throw new Error(
      `invalid ${kind} name '${value}': names in a resource key must be non-empty and contain no '#' or space`,
    );
  }
  return value;
}

/** Builds resource keys such as `thing#sensor-1` or `membership#plant-a#sensor-1`. */
export const keys = {
  thingType: (name: string) => `thingType#${part("thing type", name)}`,
  thingGroup: (name: string) => `thingGroup#${part("thing group", name)}`,
  policy: (name: string) => `policy#${part("policy", name)}`,
  certificate: (certificateId: string) => `certificate#${part("certificate", certificateId)}`,
  thing: (name: string) => `thing#${part("thing", name)}`,
  membership: (groupName: string, thingName: string) =>
    `membership#${part("thing group", groupName)}#${part("thing", thingName)}`,
  principal: (thingName: string, certificateId: string) =>
    `principal#${part("thing", thingName)}#${part("certificate", certificateId)}`,
  policyTarget: (policyName: string, target: PolicyTargetRef) =>
    target.type === "certificate"
      ? `policyTarget#${part("policy", policyName)}#certificate#${part("certificate", target.certificateId)}`
      : `policyTarget#${part("policy", policyName)}#thingGroup#${part("thing group", target.groupName)}`,
};

/** The key of a resource from its state. */
export function keyOf<K extends ResourceKind>(kind: K, state: StateByKind[K]): string {
  switch (kind) {
    case "thingType":
      return keys.thingType((state as ThingTypeState).name);
    case "thingGroup":
      return keys.thingGroup((state as ThingGroupState).name);
    case "policy":
      return keys.policy((state as PolicyState).name);
    case "certificate":
      return keys.certificate((state as CertificateState).certificateId);
    case "thing":
      return keys.thing((state as ThingState).name);
    case "membership": {
      const m = state as MembershipState;
      return keys.membership(m.groupName, m.thingName);
    }
    case "principal": {
      const p = state as PrincipalState;
      return keys.principal(p.thingName, p.certificateId);
    }
    case "policyTarget": {
      const t = state as PolicyTargetState;
      return keys.policyTarget(t.policyName, t.target);
    }
    default:
      throw new Error(`unknown resource kind '${String(kind)}'`);
  }
}

/** The kind named by a key's first segment. */
export function kindOfKey(key: string): ResourceKind {
  const kind = key.split("#", 1)[0] as ResourceKind;
  if (!RESOURCE_KINDS.includes(kind))
    throw new Error(`'${key}' is not a resource key (unknown kind '${kind}')`);
  return kind;
}

/** What a key names, by kind: the inverse of `keys` / `keyOf`. */
export type ParsedKey =
  | { kind: "thingType" | "thingGroup" | "policy" | "thing"; name: string }
  | { kind: "certificate"; certificateId: string }
  | { kind: "membership"; groupName: string; thingName: string }
  | { kind: "principal"; thingName: string; certificateId: string }
  | { kind: "policyTarget"; policyName: string; target: PolicyTargetRef };

/**
 * The one parser of resource keys (never `key.split("#")` elsewhere); throws naming the key when it
 * has an unknown kind, the wrong number of parts or an empty one.
 */
export function parseKey(key: string): ParsedKey {
  const kind = kindOfKey(key);
  const seg = key.split("#").slice(1);
  const expect = (n: number) => {
    if (seg.length !== n || seg.some((s) => s === ""))
      throw new Error(`'${key}' is not a ${kind} key: expected ${n} non-empty name(s) after '${kind}#'`);
  };
  switch (kind) {
    case "thingType":
    case "thingGroup":
    case "policy":
    case "thing":
      expect(1);
      return { kind, name: seg[0]! };
    case "certificate":
      expect(1);
      return { kind, certificateId: seg[0]! };
    case "membership":
      expect(2);
      return { kind, groupName: seg[0]!, thingName: seg[1]! };
    case "principal":
      expect(2);
      return { kind, thingName: seg[0]!, certificateId: seg[1]! };
    case "policyTarget": {
      expect(3);
      const [policyName, type, id] = seg as [string, string, string];
      if (type === "certificate") return { kind, policyName, target: { type, certificateId: id } };
      if (type === "thingGroup") return { kind, policyName, target: { type, groupName: id } };
      throw new Error(`'${key}' is not a policyTarget key: the target is a certificate or a thingGroup`);
    }
  }
}

/** The name (or certificate id) of a key of a single resource; throws for an attachment's key. */
export function nameInKey(key: string): string {
  const parsed = parseKey(key);
  if ("name" in parsed) return parsed.name;
  if (parsed.kind === "certificate") return parsed.certificateId;
  throw new Error(`'${key}' names an attachment, not a single resource`);
}

/**
 * Dependency rank: creates run in ascending rank (types, groups, policies and certificates before
 * things; attachments after both ends), deletes in descending rank.
 */
export const KIND_RANK: Record<ResourceKind, number> = {
  thingType: 0,
  thingGroup: 0,
  policy: 0,
  certificate: 0,
  thing: 1,
  membership: 2,
  principal: 2,
  policyTarget: 2,
};

/**
 * The one dependency ordering of a batch, which the launcher's waves, `applyBatch`, repair and the
 * bench all use: phases of mutually independent records, to be applied one after another. Upserts
 * come first by KIND_RANK, thing groups below their parent (at full depth, counting parents that are
 * upserted in the same batch), then deletes in reverse rank. Inside a phase the input order stays.
 */
export function dependencyPhases<T>(
  items: readonly T[],
  recordOf: (item: T) => Pick<RegistryRecord, "kind" | "state">,
): T[][] {
  const upsertGroups = new Map<string, string | undefined>();
  for (const item of items) {
    const record = recordOf(item);
    if (record.kind === "thingGroup" && record.state) {
      const state = record.state as ThingGroupState;
      upsertGroups.set(state.name, state.parentGroupName);
    }
  }
  const groupDepth = (name: string): number => {
    let depth = 0;
    const seen = new Set<string>([name]);
    for (
      let parent = upsertGroups.get(name);
      parent && upsertGroups.has(parent);
      parent = upsertGroups.get(parent)
    ) {
      if (seen.has(parent)) break; // a cycle cannot be created in IoT; stop rather than loop
      seen.add(parent);
      depth++;
    }
    return depth;
  };
  const phase = (record: Pick<RegistryRecord, "kind" | "state">): string => {
    const rank = KIND_RANK[record.kind];
    if (record.state === null) return `1:${String(9 - rank).padStart(2, "0")}`;
    const depth = record.kind === "thingGroup" ? groupDepth((record.state as ThingGroupState).name) : 0;
    return `0:${String(rank).padStart(2, "0")}:${String(depth).padStart(4, "0")}`;
  };
  const phases = new Map<string, T[]>();
  for (const item of items) {
    const p = phase(recordOf(item));
    const members = phases.get(p) ?? [];
    members.push(item);
    phases.set(p, members);
  }
  return [...phases.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, members]) => members);
}

/**
 * The replay launcher's waves: each `dependencyPhases` phase cut into one wave per kind (kinds in
 * name order), still in dependency order. A phase's kinds are independent, so running them one
 * after another is safe; it is also what keeps a replay group (a run of one wave's records,
 * stateMachine.ts) to one kind, whose records reach the same APIs together and wait for the same
 * quotas. A group that straddled two kinds started the next kind's API a group early and alone,
 * and records of the two kinds waited for each other in one invocation (BENCHMARKS.md, "Waves of
 * one kind").
 *
 * Within a wave the records are spread by a hash of their key (`spreadOrder`), not left in stream
 * order: one kind still writes through several APIs (a certificate registered or its status
 * changed, a thing created or updated), and in stream order they come in runs. With fewer workers
 * than groups, the Map then drained one API's run after the other's, and the group holding the end
 * of one run started the next API's calls early and alone. Spread, every group carries the wave's
 * mix, all its APIs run at once from the first groups, and the wave drains in the time of its
 * slowest API instead of the sum. The records of a wave are distinct resources (the launcher keeps
 * one per key), so their order within it is free.
 */
export function replayWaves<T>(
  items: readonly T[],
  recordOf: (item: T) => Pick<RegistryRecord, "kind" | "state" | "key">,
): T[][] {
  return dependencyPhases(items, recordOf).flatMap((phase) => {
    const byKind = new Map<string, T[]>();
    for (const item of phase) {
      const kind = recordOf(item).kind;
      const members = byKind.get(kind) ?? [];
      members.push(item);
      byKind.set(kind, members);
    }
    return [...byKind.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, members]) => spreadOrder(members, (item) => recordOf(item).key));
  });
}

/**
 * `items` in the order of a hash of their keys (`hash53`, then the key): a fixed order that depends
 * on the keys alone, not on how they came, and mixes keys that differ in one character as evenly
 * as any others.
 */
export function spreadOrder<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  return items
    .map((item) => {
      const key = keyOf(item);
      return { item, key, hash: hash53(key) };
    })
    .sort((a, b) => a.hash - b.hash || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ item }) => item);
}

/** The records of `replayWaves`, one after another: dependencies are applied first, as the launcher's waves apply them. */
export function dependencyOrder<T extends Pick<RegistryRecord, "kind" | "state" | "key">>(
  records: readonly T[],
): T[] {
  return replayWaves(records, (r) => r).flat();
}

/** Total order of versions: negative when a is older than b. */
export function compareVersions(a: Version, b: Version): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  if (a.region !== b.region) return a.region < b.region ? -1 : 1;
  if (a.eventId !== b.eventId) return a.eventId < b.eventId ? -1 : 1;
  return 0;
}

/**
 * A string whose lexical order is the order of versions, for DynamoDB condition expressions
 * (`attribute_not_exists(versionKey) OR versionKey < :new`).
 */
export function versionKey(v: Version): string {
  if (!Number.isSafeInteger(v.timestamp) || v.timestamp < 0) {
    throw new Error(`invalid version timestamp ${v.timestamp}: expected milliseconds since the epoch`);
  }
  return `${String(v.timestamp).padStart(15, "0")}#${v.region}#${v.eventId}`;
}

/** Inverse of versionKey. */
export function parseVersionKey(s: string): Version {
  const [ts, region, ...rest] = s.split("#");
  const timestamp = Number(ts);
  if (!ts || !region || rest.length === 0 || !Number.isSafeInteger(timestamp)) {
    throw new Error(`invalid version key '${s}': expected <timestamp>#<region>#<eventId>`);
  }
  return { timestamp, region, eventId: rest.join("#") };
}

/** Canonical JSON (sorted keys, no undefined) so that equal states compare and hash equal. */
export function canonicalJson(value: unknown): string {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v as Record<string, unknown>).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = norm(x);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(norm(value));
}

/** True when two desired states (or tombstones) are the same. */
export function sameState(a: DesiredState | null, b: DesiredState | null): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** The DynamoDB item of a record; `stateJson` keeps nested attribute maps intact and comparable. */
export interface RecordItem {
  pk: string;
  kind: ResourceKind;
  stateJson: string | null;
  tombstone: boolean;
  versionKey: string;
  origin: string;
  capturedAt: number;
  /** Epoch seconds after which DynamoDB TTL may remove a tombstone; absent on live records. */
  expiresAt?: number;
}

export function toItem(record: RegistryRecord, tombstoneRetentionSeconds = 30 * 24 * 3600): RecordItem {
  const item: RecordItem = {
    pk: record.key,
    kind: record.kind,
    stateJson: record.state === null ? null : canonicalJson(record.state),
    tombstone: record.state === null,
    versionKey: versionKey(record.version),
    origin: record.origin,
    capturedAt: record.capturedAt,
  };
  if (record.state === null)
    item.expiresAt = Math.floor(record.capturedAt / 1000) + tombstoneRetentionSeconds;
  return item;
}

export function fromItem(item: Record<string, unknown>): RegistryRecord {
  const pk = item.pk;
  if (typeof pk !== "string") throw new Error("ops table item has no string 'pk'");
  const kind = kindOfKey(pk);
  if (item.kind !== kind)
    throw new Error(`ops table item '${pk}' has kind '${String(item.kind)}', expected '${kind}'`);
  if (typeof item.versionKey !== "string") throw new Error(`ops table item '${pk}' has no 'versionKey'`);
  const tombstone = item.tombstone === true || item.stateJson === null || item.stateJson === undefined;
  return {
    key: pk,
    kind,
    state: tombstone ? null : (JSON.parse(String(item.stateJson)) as DesiredState),
    version: parseVersionKey(item.versionKey),
    origin: String(item.origin),
    capturedAt: Number(item.capturedAt),
  };
}

/** True for the pk of a record item; the ops table also holds other items (e.g. `applied#` markers). */
export function isRecordKey(pk: string): boolean {
  const kind = pk.split("#", 1)[0];
  return (RESOURCE_KINDS as readonly string[]).includes(kind) && pk.includes("#");
}

/** A short, stable hash of a desired state (or tombstone), for markers; 53-bit cyrb53 over canonical JSON. */
export function stateHash(state: DesiredState | null): string {
  return hash53(canonicalJson(state)).toString(36);
}

/** A 53-bit hash of `s` (two 32-bit multiply-xorshift lanes, mixed at the end). */
function hash53(s: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isStringMap = (v: unknown): v is Record<string, string> =>
  isObject(v) && Object.values(v).every((x) => typeof x === "string");

function stateProblem(kind: ResourceKind, s: Record<string, unknown>): string | undefined {
  const str = (k: string) =>
    typeof s[k] === "string" && s[k] !== "" ? undefined : `'${k}' must be a non-empty string`;
  const optStr = (k: string) =>
    s[k] === undefined || typeof s[k] === "string" ? undefined : `'${k}' must be a string`;
  const attributes = () =>
    isStringMap(s.attributes) ? undefined : "'attributes' must be an object of strings";
  switch (kind) {
    case "thingType":
      return (
        str("name") ??
        optStr("description") ??
        (Array.isArray(s.searchableAttributes) && s.searchableAttributes.every((a) => typeof a === "string")
          ? undefined
          : "'searchableAttributes' must be an array of strings") ??
        (typeof s.deprecated === "boolean" ? undefined : "'deprecated' must be a boolean")
      );
    case "thingGroup":
      return str("name") ?? optStr("parentGroupName") ?? optStr("description") ?? attributes();
    case "policy":
      return str("name") ?? str("document");
    case "certificate":
      return (
        str("certificateId") ??
        str("pem") ??
        (["ACTIVE", "INACTIVE", "REVOKED"].includes(String(s.status))
          ? undefined
          : "'status' must be ACTIVE, INACTIVE or REVOKED")
      );
    case "thing":
      return str("name") ?? optStr("thingTypeName") ?? attributes();
    case "membership":
      return str("groupName") ?? str("thingName");
    case "principal":
      return str("thingName") ?? str("certificateId");
    case "policyTarget": {
      const t = s.target;
      if (!isObject(t)) return "'target' must be an object";
      return (
        str("policyName") ??
        (t.type === "certificate" && typeof t.certificateId === "string"
          ? undefined
          : t.type === "thingGroup" && typeof t.groupName === "string"
            ? undefined
            : "'target' must be {type:'certificate',certificateId} or {type:'thingGroup',groupName}")
      );
    }
  }
}

/**
 * Checks that a value is a well-formed record whose key matches its state; returns it typed, or
 * throws an Error naming the first problem (callers wrap it in their own error type).
 */
export function validateRecord(value: unknown): RegistryRecord {
  if (!isObject(value)) throw new Error("a record must be a JSON object");
  const { key, kind, state, version, origin, capturedAt } = value;
  if (typeof key !== "string") throw new Error("record has no string 'key'");
  const keyKind = kindOfKey(key);
  if (kind !== keyKind) throw new Error(`record '${key}' has kind '${String(kind)}', expected '${keyKind}'`);
  if (!isObject(version)) throw new Error(`record '${key}' has no 'version' object`);
  versionKey(version as unknown as Version);
  if (
    typeof version.eventId !== "string" ||
    version.eventId === "" ||
    typeof version.region !== "string" ||
    version.region === ""
  )
    throw new Error(`record '${key}' has a version without 'eventId' or 'region'`);
  if (typeof origin !== "string" || origin === "") throw new Error(`record '${key}' has no 'origin' region`);
  if (typeof capturedAt !== "number" || !Number.isFinite(capturedAt))
    throw new Error(`record '${key}' has no numeric 'capturedAt'`);
  if (state !== null) {
    if (!isObject(state)) throw new Error(`record '${key}' has a 'state' that is neither an object nor null`);
    const problem = stateProblem(keyKind, state);
    if (problem) throw new Error(`record '${key}': state ${problem}`);
    const expected = keyOf(keyKind, state as unknown as StateByKind[typeof keyKind]);
    if (expected !== key) throw new Error(`record '${key}' holds the state of '${expected}'`);
  }
  return value as unknown as RegistryRecord;
}
