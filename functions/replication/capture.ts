/**
 * Capture: turns one registry event (or a list of keys to refresh) into records in the ops table.
 * An event only says which resources changed; the state written is read from this (living) region
 * at capture time, so a record is self-contained (certificate PEM and status, default policy
 * document, parent group) and replay never needs the source region.
 *
 * Versions are the time of the change (a registry event's own time; a CloudTrail call's read, kept
 * inside the second CloudTrail names), never a later read: a region that captures late (events from
 * before an outage, delivered after its restore) must not give its older state a version newer than
 * what the other region changed meanwhile.
 *
 * Why reading current state converges: records are last-writer-wins by version, and the event with
 * the highest version was captured after its change, so it read that change or a later one. An
 * earlier event captured late may already have read that change under its own, older version; the
 * later event then moves the record's version up to its own (same state, this region's record), so
 * a record's version is never older than the latest local change it holds.
 *
 * Echo freedom: applying a record in this region raises events here too. Their capture reads the
 * state replay just applied, which normally equals the stored record ("unchanged", nothing written).
 * If a newer record already arrived from the other region while this replay was still in flight, the
 * state read is an older one and, carrying this region's later timestamp, would overwrite the newer
 * record. Replay therefore writes an `applied#<region>#<key>` marker (in this region's marker table,
 * `deps.markers`) with the hash of every state it passes through *before* it acts; a state matching
 * a marker entry younger than the echo window is our own replay's echo and is not written ("echo").
 * The cost: a genuine local change that lands on exactly a state replay applied minutes before is
 * not captured; the table keeps the other region's newer record, which replay then applies here,
 * and the reconciler reports any remaining drift.
 *
 * Capture also tells the marker which state it read whenever that state is not already the
 * record's (written, or stale: an older local change): replay overwrites only states replication
 * has seen, so that a local change still on its way here is recorded before anything replaces it.
 */
import {
  compareVersions,
  keyOf,
  keys,
  kindOfKey,
  parseKey,
  policyState,
  sameState,
  stateHash,
  type DesiredState,
  type PolicyTargetRef,
  type RegistryRecord,
  type Version,
} from "../registry/records.js";
import { wrapPort, type IotRegistryPort } from "../registry/iotPort.js";
import { DEFAULT_ECHO_WINDOW_MS, getAppliedMarker, isEcho, recordSeen } from "../registry/echoMarkers.js";
import {
  getRecord,
  putRecordIfNewer,
  recordExists,
  recordItem,
  type MarkerTablePort,
  type OpsTablePort,
  type PutResult,
} from "../registry/table.js";
import { isOwnByName, isOwnResource } from "../registry/ownResources.js";
import { parseCloudTrailEvent, type CloudTrailApiCallEvent } from "./cloudTrail.js";
import { InvalidRecord } from "./errors.js";
import type { Logger } from "../shared/observability.js";
import { newEventId } from "../shared/ids.js";
import type { Clock, Pacer } from "./pacing.js";

export interface CaptureDeps {
  /** The region this capture runs in; records get it as origin and in their version. */
  region: string;
  /** IoT registry of this region. */
  iot: IotRegistryPort;
  table: OpsTablePort;
  /**
   * This region's marker table, where replay here writes its applied markers (deployed:
   * MARKER_TABLE). Default `table`, for tools run without one; must be where replay writes them.
   */
  markers?: MarkerTablePort;
  clock: Clock;
  /** Uniform in [0, 1), for event ids of refreshes; default Math.random. */
  random?: () => number;
  logger: Logger;
  /** When given, IoT reads are paced under the quotas (backfill, reconciler). */
  pacer?: Pacer;
  /** See apply.ts; default 5 minutes. */
  echoWindowMs?: number;
}

export interface CaptureOutcome {
  key: string;
  /**
   * `echo`: the state is what this region's replay applied; `present`: an enrichment key that
   * already had a record; `own`: one of iot-dr's own resources (registry/ownResources.ts), never recorded.
   */
  result: PutResult | "echo" | "present" | "own";
  version: Version;
}

/** A registry event message as the IoT rule delivers it (topic from `topic()` in the rule SQL). */
export interface RegistryEventMessage {
  topic: string;
  payload: unknown;
}

export interface ParsedEvent {
  eventType: string;
  operation: string;
  timestamp: number;
  eventId: string;
  /** The resources whose state the event says changed. */
  keys: string[];
}

/** CloudTrail's eventTime is whole seconds: a call was made within the second it names. */
export const CLOUDTRAIL_TIME_RESOLUTION_MS = 1000;

// Arrays, not module-level Sets: Pulumi's closure serializer turns a captured Set into a plain object.
const CRUD: readonly string[] = ["created", "updated", "deleted"];
const ADD_REMOVE: readonly string[] = ["added", "removed"];

/**
 * Reads the resource keys, time and id out of a registry event. Names come from the topic (the
 * membership payload holds only ARNs). Throws InvalidRecord naming what is wrong.
 */
export function parseRegistryEvent(message: RegistryEventMessage): ParsedEvent {
  if (!message || typeof message !== "object")
    throw new InvalidRecord("a registry event message must be an object {topic, payload}");
  const { topic, payload } = message as { topic?: unknown; payload?: unknown };
  if (typeof topic !== "string" || !topic.startsWith("$aws/events/"))
    throw new InvalidRecord(`'${String(topic)}' is not a registry event topic (expected $aws/events/...)`);
  if (!payload || typeof payload !== "object" || Array.isArray(payload))
    throw new InvalidRecord(`registry event on ${topic} has no JSON object payload`);
  const p = { ...(payload as Record<string, unknown>) };
  // IoT's just-in-time registration message carries no eventId; certificate and time identify it.
  if (topic.startsWith("$aws/events/certificates/registered/") && p.eventId === undefined)
    p.eventId = `jitr-${String(p.certificateId)}-${String(p.timestamp)}`;
  if (typeof p.eventId !== "string" || p.eventId === "")
    throw new InvalidRecord(
      `registry event on ${topic} has no 'eventId'; add the payload exactly as IoT published it`,
    );
  if (typeof p.timestamp !== "number" || !Number.isSafeInteger(p.timestamp) || p.timestamp < 0)
    throw new InvalidRecord(`registry event on ${topic} has no 'timestamp' in epoch milliseconds`);
  const seg = topic.slice("$aws/events/".length).split("/");
  const bad = (why: string) => new InvalidRecord(`cannot read registry event topic '${topic}': ${why}`);
  const key = (build: () => string) => {
    try {
      return build();
    } catch (err) {
      throw bad((err as Error).message);
    }
  };
  let k: string;
  switch (seg[0]) {
    // The resource's own events: <kind>/<name>/created|updated|deleted.
    case "thing":
    case "thingType":
    case "thingGroup": {
      const kind = seg[0];
      if (seg.length !== 3 || !CRUD.includes(seg[2]))
        throw bad(`expected ${kind}/<name>/created|updated|deleted`);
      k = key(() => keys[kind](seg[1]));
      break;
    }
    case "thingTypeAssociation":
      // Documented as thingTypeAssociation/thing/<thing>/<type>; some accounts see .../thingType/<type>/added|removed.
      if (seg[1] !== "thing" || seg.length < 4)
        throw bad("expected thingTypeAssociation/thing/<thing>/<type>");
      k = key(() => keys.thing(seg[2]));
      break;
    case "thingGroupMembership":
      if (seg.length !== 6 || seg[1] !== "thingGroup" || seg[3] !== "thing" || !ADD_REMOVE.includes(seg[5]))
        throw bad("expected thingGroupMembership/thingGroup/<group>/thing/<thing>/added|removed");
      k = key(() => keys.membership(seg[2], seg[4]));
      break;
    case "thingGroupHierarchy":
      if (
        seg.length !== 6 ||
        seg[1] !== "thingGroup" ||
        seg[3] !== "childThingGroup" ||
        !ADD_REMOVE.includes(seg[5])
      )
        throw bad("expected thingGroupHierarchy/thingGroup/<parent>/childThingGroup/<child>/added|removed");
      k = key(() => keys.thingGroup(seg[4]));
      break;
    case "certificates":
      // Just-in-time registration: $aws/events/certificates/registered/<caCertificateId>.
      if (seg.length !== 3 || seg[1] !== "registered")
        throw bad("expected certificates/registered/<caCertificateId>");
      if (typeof p.certificateId !== "string" || p.certificateId === "")
        throw new InvalidRecord(`registry event on ${topic} has no 'certificateId'`);
      k = key(() => keys.certificate(String(p.certificateId).toLowerCase()));
      break;
    default:
      throw bad(`unknown event kind '${seg[0]}'`);
  }
  return {
    eventType: typeof p.eventType === "string" ? p.eventType : seg[0],
    operation: typeof p.operation === "string" ? p.operation : (seg.at(-1) ?? ""),
    timestamp: p.timestamp as number,
    eventId: p.eventId,
    keys: [k],
  };
}

/** The current state of a resource in this region, or null when it does not exist. */
export async function readState(key: string, iot: IotRegistryPort): Promise<DesiredState | null> {
  const k = parseKey(key);
  switch (k.kind) {
    case "thingType":
      return iot.describeThingType(k.name);
    case "thingGroup":
      return iot.describeThingGroup(k.name);
    case "policy":
      return policyState(await iot.getPolicy(k.name));
    case "certificate":
      return iot.describeCertificate(k.certificateId);
    case "thing":
      return iot.describeThing(k.name);
    case "membership": {
      const { groupName, thingName } = k;
      return (await iot.listThingGroupsForThing(thingName)).includes(groupName)
        ? { groupName, thingName }
        : null;
    }
    case "principal": {
      const { thingName, certificateId } = k;
      return (await iot.listThingPrincipals(thingName)).includes(certificateId)
        ? { thingName, certificateId }
        : null;
    }
    case "policyTarget": {
      const { policyName, target } = k;
      return (await iot.listAttachedPolicies(target)).includes(policyName) ? { policyName, target } : null;
    }
  }
}

/**
 * Keys that make a thing or group self-contained: a thing's certificates (PEM, status), their
 * attachment and their policies (document); a group's policies.
 */
export async function enrichmentKeys(
  key: string,
  state: DesiredState | null,
  iot: IotRegistryPort,
): Promise<string[]> {
  return (await enrichment(key, state, iot)).map((e) => e.key);
}

/**
 * The enrichment keys with the state the listing that found them already proves (an attachment
 * that was just listed exists), so capture does not list it again: under a burst each read counts
 * against a 10-15 TPS quota (ListThingPrincipals, ListAttachedPolicies).
 */
async function enrichment(
  key: string,
  state: DesiredState | null,
  iot: IotRegistryPort,
): Promise<{ key: string; known?: DesiredState }[]> {
  if (!state) return [];
  const out: { key: string; known?: DesiredState }[] = [];
  const policiesOf = async (target: PolicyTargetRef) => {
    for (const policyName of await iot.listAttachedPolicies(target))
      out.push(
        { key: keys.policyTarget(policyName, target), known: { policyName, target } },
        { key: keys.policy(policyName) },
      );
  };
  const k = parseKey(key);
  if (k.kind === "thing") {
    const thingName = k.name;
    for (const certificateId of await iot.listThingPrincipals(thingName)) {
      out.push(
        { key: keys.principal(thingName, certificateId), known: { thingName, certificateId } },
        { key: keys.certificate(certificateId) },
      );
      await policiesOf({ type: "certificate", certificateId });
    }
  } else if (k.kind === "thingGroup") {
    await policiesOf({ type: "thingGroup", groupName: k.name });
  }
  const seen = new Set<string>();
  return out.filter((e) => !seen.has(e.key) && seen.add(e.key));
}

/**
 * `changed`: the resource changed at `version`; `event`: the same, versioned at the change's own time
 * (a registry event or API call), so a record of this region holding this state under an older
 * version is moved up to it; `ifAbsent`: only fill in a missing record.
 */
type Mode = "changed" | "event" | "ifAbsent";

async function captureOne(
  key: string,
  version: Version,
  mode: Mode,
  deps: CaptureDeps,
  state: DesiredState | null,
  /** The record as the caller just read it; undefined: read it here. */
  read?: RegistryRecord | null,
): Promise<CaptureOutcome> {
  const current = read === undefined ? await getRecord(deps.table, key) : read;
  if (mode === "ifAbsent" && current) return { key, result: "present", version };
  if (current && sameState(current.state, state)) {
    // Another region's record with this state is replay's echo here: never rewritten (echo freedom).
    const later =
      mode === "event" && current.origin === deps.region && compareVersions(current.version, version) < 0;
    if (!later) return { key, result: "unchanged", version };
    const item = recordItem({ ...current, version, capturedAt: deps.clock.now() }, deps.table);
    const written = await deps.table.put(item, { ifVersionBelow: String(item.versionKey) });
    return { key, result: written ? "written" : "stale", version };
  }
  const markers = deps.markers ?? deps.table;
  const hash = stateHash(state);
  if (current && compareVersions(current.version, version) >= 0) {
    // An older local change: the record keeps the newer one, and replay, which waits while this
    // region holds a state replication has not seen (apply.ts), may now overwrite it.
    await recordSeen(markers, deps.region, key, hash, deps.clock.now());
    return { key, result: "stale", version };
  }
  const marker = await getAppliedMarker(markers, deps.region, key);
  const window = deps.echoWindowMs ?? DEFAULT_ECHO_WINDOW_MS;
  if (marker && isEcho(marker, hash, version.timestamp, window)) return { key, result: "echo", version };
  if (state !== null) keyOf(kindOfKey(key), state as never); // a state read back must still map to its key
  const record: RegistryRecord = {
    key,
    kind: kindOfKey(key),
    state,
    version,
    origin: deps.region,
    capturedAt: deps.clock.now(),
  };
  // A fill-in stores only what is missing: if the record appeared since the presence read (the
  // resource's own event captured alongside, or a read that lagged), the table refuses it.
  const result = await putRecordIfNewer(deps.table, record, current, { ifAbsent: mode === "ifAbsent" });
  // Replication has seen this state now. A genuine local change also ends the echo window of what
  // replay applied before it: a later change back to one of those states is the operator's.
  if (result !== "unchanged")
    await recordSeen(markers, deps.region, key, hash, deps.clock.now(), {
      existing: marker,
      ...(result === "written" ? { forgetBefore: version.timestamp } : {}),
    });
  return { key, result, version };
}

/**
 * True when the table's record of a resource came from the other region and holds the state just
 * read here: replay applied it, and this is the echo of its call (or a local change back to it,
 * which the record already holds).
 */
function isReplayedState(
  current: RegistryRecord | null,
  state: DesiredState | null,
  region: string,
): boolean {
  return current !== null && current.origin !== region && sameState(current.state, state);
}

async function captureWithEnrichment(
  primary: string[],
  version: Version,
  deps: CaptureDeps,
  mode: "changed" | "event",
): Promise<CaptureOutcome[]> {
  const iot = deps.pacer ? wrapPort(deps.iot, (api, call) => deps.pacer!.run(api, call)) : deps.iot;
  const outcomes: CaptureOutcome[] = [];
  const seen = new Set<string>();
  for (const key of primary) {
    if (seen.has(key)) continue;
    seen.add(key);
    const state = await readState(key, iot);
    const current = await getRecord(deps.table, key);
    // Replay's own change here (the echo of a record from the other region): what enriches it came
    // with that record's capture there, so nothing is listed or filled in. The listings cost the
    // read quotas replay shares in this region (ListThingPrincipals 10 TPS against thing writes at
    // 100), and the fill-ins' reads.
    const echoed = isReplayedState(current, state, deps.region);
    const [own, related] = await Promise.all([
      captureOne(key, version, mode, deps, state, current),
      echoed ? [] : enrichment(key, state, iot),
    ]);
    outcomes.push(own);
    const fresh = related.filter((e) => !seen.has(e.key));
    for (const e of fresh) seen.add(e.key);
    // Related resources are only filled in when missing: their own changes arrive through the C&C
    // journal and the reconciler, and a thing event says nothing about whether they changed. Each
    // is its own record, filled in side by side: a batch's last chain then ends one read and a
    // few table calls after its binding read, not a dozen table calls in a row.
    outcomes.push(
      ...(await Promise.all(
        fresh.map(async ({ key: extra, known }): Promise<CaptureOutcome> => {
          // Checked before reading IoT, so a present record costs no registry call; an absent one is
          // not read again. A presence check: eventually consistent, half a read (recordExists).
          if (await recordExists(deps.table, extra)) return { key: extra, result: "present", version };
          return captureOne(extra, version, "ifAbsent", deps, known ?? (await readState(extra, iot)), null);
        }),
      )),
    );
  }
  for (const o of outcomes)
    deps.logger.info(`capture ${o.result}`, { key: o.key, version: o.version, region: deps.region });
  return outcomes;
}

/** Captures one registry event message. Throws InvalidRecord for a message that is not a registry event. */
export async function captureEvent(
  message: RegistryEventMessage,
  deps: CaptureDeps,
): Promise<CaptureOutcome[]> {
  const event = parseRegistryEvent(message);
  const version: Version = { timestamp: event.timestamp, eventId: event.eventId, region: deps.region };
  return captureWithEnrichment(event.keys, version, deps, "event");
}

/**
 * Refreshes arbitrary keys from this region's current state (C&C journal, backfill, reconciler),
 * versioned now. Throws InvalidRecord when a key is not a resource key.
 */
export async function captureKeys(
  resourceKeys: readonly string[],
  deps: CaptureDeps,
  options: { enrich?: boolean } = {},
): Promise<CaptureOutcome[]> {
  for (const key of resourceKeys) {
    try {
      parseKey(key);
    } catch (err) {
      throw new InvalidRecord(`cannot capture: ${(err as Error).message}`);
    }
  }
  const random = deps.random ?? Math.random;
  const outcomes: CaptureOutcome[] = [];
  for (const key of resourceKeys) {
    const version: Version = {
      timestamp: deps.clock.now(),
      eventId: newEventId(random),
      region: deps.region,
    };
    if (options.enrich) outcomes.push(...(await captureWithEnrichment([key], version, deps, "changed")));
    else {
      const iot = deps.pacer ? wrapPort(deps.iot, (api, call) => deps.pacer!.run(api, call)) : deps.iot;
      const o = await captureOne(key, version, "changed", deps, await readState(key, iot));
      deps.logger.info(`capture ${o.result}`, { key: o.key, version: o.version, region: deps.region });
      outcomes.push(o);
    }
  }
  return outcomes;
}

/**
 * Captures one IoT API call delivered by the CloudTrail EventBridge rule (cloudTrail.ts). The event
 * is a pointer: the state of each resource it names is read from this region now and recorded,
 * versioned at the time of that read but never later than the end of the call's second (CloudTrail's
 * eventTime has second precision), so duplicates and any order converge on the region's current
 * state, calls of one second captured promptly keep the order of their reads, and a call delivered
 * late (after an outage) keeps the time it was made and loses to a later change in the other region. Related resources (the ends of an attachment) are filled
 * in only when the table has no record of them. iot-dr's own resources are never recorded. Throws
 * InvalidRecord for an event that is not an IoT CloudTrail event or comes from another region.
 */
export async function captureApiCall(event: unknown, deps: CaptureDeps): Promise<CaptureOutcome[]> {
  const call = parseCloudTrailEvent(event);
  if (call.region !== deps.region)
    throw new InvalidRecord(
      `CloudTrail event ${call.eventName} ${call.eventId} was made in ${call.region}; capture in ${deps.region} reads only its own region`,
    );
  const log = { eventName: call.eventName, eventId: call.eventId, region: deps.region };
  if (call.ignored) {
    deps.logger.info(`capture ignored: ${call.ignored}`, log);
    return [];
  }
  const iot = deps.pacer ? wrapPort(deps.iot, (api, run) => deps.pacer!.run(api, run)) : deps.iot;
  const latest = call.timestamp + CLOUDTRAIL_TIME_RESOLUTION_MS - 1;
  const version: Version = {
    timestamp: Math.max(call.timestamp, Math.min(deps.clock.now(), latest)),
    eventId: `cloudtrail-${call.eventId}`,
    region: deps.region,
  };
  const outcomes: CaptureOutcome[] = [];
  const own = async (key: string) => isOwnByName(key) || (await isOwnResource(key, iot));
  // Whether every resource the call names holds what the other region's record says: replay's own
  // call, whose related resources came with those records (see captureWithEnrichment).
  let echoed = call.keys.length > 0;
  for (const key of call.keys) {
    if (await own(key)) {
      outcomes.push({ key, result: "own", version });
      echoed = false;
      continue;
    }
    const state = await readState(key, iot);
    const current = await getRecord(deps.table, key);
    if (!isReplayedState(current, state, deps.region)) echoed = false;
    outcomes.push(await captureOne(key, version, "event", deps, state, current));
  }
  for (const key of echoed ? [] : call.related) {
    if (outcomes.some((o) => o.key === key)) continue;
    if (await recordExists(deps.table, key)) outcomes.push({ key, result: "present", version });
    else if (await own(key)) outcomes.push({ key, result: "own", version });
    else outcomes.push(await captureOne(key, version, "ifAbsent", deps, await readState(key, iot), null));
  }
  for (const o of outcomes)
    deps.logger.info(`capture ${o.result}`, { key: o.key, version: o.version, ...log });
  return outcomes;
}

/**
 * What the capture function receives, whichever path delivered it: a CloudTrail API call from the
 * EventBridge rule, or a registry event message from an IoT rule.
 */
export async function captureDelivery(
  delivery: RegistryEventMessage | CloudTrailApiCallEvent | Record<string, unknown>,
  deps: CaptureDeps,
): Promise<CaptureOutcome[]> {
  if ((delivery as Record<string, unknown>)["detail-type"] !== undefined)
    return captureApiCall(delivery, deps);
  return captureEvent(delivery as RegistryEventMessage, deps);
}
