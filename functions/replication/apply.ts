/**
 * Replay: makes the registry of this region match one record, reading only the ops table and this
 * region's IoT API (never the source region). It compares desired with actual state and performs
 * only the difference, so applying a record twice changes nothing the second time.
 *
 * Before changing anything it writes an `applied#<region>#<key>` marker holding the hash of every
 * state the resource will pass through, into this region's marker table (not the global ops table:
 * only this region reads it); capture in this region uses it to recognise the registry events its
 * own replay raises (echoes), see capture.ts.
 *
 * It overwrites only a state replication knows here (echoMarkers.ts `seen`): a state it does not
 * know is a local change whose capture has not run yet, and replay waits for it (DependencyNotReady,
 * waiting for "capture") instead of overwriting it. Capture then records the change under its own
 * time; the newer of the two wins, in both regions.
 */
import {
  canonicalJson,
  compareVersions,
  dependencyOrder,
  keys,
  nameInKey,
  parseKey,
  policyState,
  sameState,
  stateHash,
  validateRecord,
  type CertificateState,
  type DesiredState,
  type MembershipState,
  type PolicyState,
  type PolicyTargetState,
  type PrincipalState,
  type RegistryRecord,
  type ThingGroupState,
  type ThingState,
  type ThingTypeState,
} from "../registry/records.js";
import { wrapPort, type IotRegistryPort } from "../registry/iotPort.js";
import {
  DEFAULT_ECHO_WINDOW_MS,
  getAppliedMarker,
  type AppliedMarker,
  isKnownState,
  recordApplied,
  recordSeen,
} from "../registry/echoMarkers.js";
import { getRecord, type MarkerTablePort, type OpsTablePort } from "../registry/table.js";
import {
  DependencyNotReady,
  InvalidRecord,
  boundedTaskError,
  describeError,
  isReplicationError,
} from "./errors.js";
import { REPLICATION_LAG_METRIC } from "./observability.js";
import { type Logger, type MetricsSink } from "../shared/observability.js";
import type { Pacer } from "./pacing.js";
import type { Clock } from "../shared/clock.js";
import type { ReplayEntry, ReplayGroupInput, ReplayGroupResult } from "./stateMachine.js";
import { errName } from "../shared/errors.js";

export interface ApplyDeps {
  /** The region this replay runs in (the target). */
  region: string;
  /** IoT registry of this region; calls go through `pacer`. */
  iot: IotRegistryPort;
  pacer: Pacer;
  /** The ops table: the current record (to skip superseded ones). Optional for dry tools. */
  table?: OpsTablePort;
  /**
   * This region's marker table, where replay writes its applied markers (deployed: MARKER_TABLE).
   * Default `table`, for tools run without one; capture then finds markers only if it reads the same table.
   */
  markers?: MarkerTablePort;
  clock: Clock;
  logger: Logger;
  metrics: MetricsSink;
  /** How long an applied state counts as this replay's echo; default 5 minutes (an Express workflow's limit). */
  echoWindowMs?: number;
  /**
   * Overwrite a state of this region's registry that replication has not recorded (default false:
   * wait for capture). Only repair sets it: it makes the standby equal to the active region's live
   * registry, whatever the standby holds.
   */
  overwriteUnrecorded?: boolean;
}

export interface ReplayOutcome {
  key: string;
  outcome: "applied" | "unchanged" | "superseded";
  /** What was done, e.g. `CreateThing`, `UpdateCertificate:REVOKED`; empty when unchanged. */
  actions: string[];
}

interface Step {
  action: string;
  run: () => Promise<void>;
}
interface Plan {
  steps: Step[];
  /** Every state the resource passes through, last = desired; hashed into the echo marker. */
  passes: (DesiredState | null)[];
  /** Extra markers for other resources a step touches on the way (e.g. a type undeprecated for a moment). */
  otherPasses?: { key: string; passes: (DesiredState | null)[] }[];
  /** The resource's state here as the plan read it; undefined when it acts without reading (idempotent attaches). */
  live?: DesiredState | null;
  /** Planned without reading: `live` is a guess its first step tests (CertificateGuess). */
  unread?: boolean;
}

const sameMap = (a: Record<string, string>, b: Record<string, string>) =>
  canonicalJson(a) === canonicalJson(b);
const sameDocument = (a: string, b: string) => {
  try {
    return canonicalJson(JSON.parse(a)) === canonicalJson(JSON.parse(b));
  } catch {
    return a === b;
  }
};

/** Applies one record to this region. Throws DependencyNotReady, Throttled or InvalidRecord (by name). */
export async function applyRecord(input: RegistryRecord, deps: ApplyDeps): Promise<ReplayOutcome> {
  let record: RegistryRecord;
  try {
    record = validateRecord(input);
  } catch (err) {
    throw new InvalidRecord(`cannot replay: ${(err as Error).message}`);
  }
  const log = { key: record.key, version: record.version, origin: record.origin, region: deps.region };
  if (deps.table) {
    const current = await getRecord(deps.table, record.key);
    if (current && compareVersions(current.version, record.version) > 0) {
      // A newer record captured elsewhere is already in the table; its own stream record may come
      // only after this batch (another batch or shard), while records after this one in the batch
      // may need the resource now (a membership needs its thing). So apply the newer one here; its
      // own delivery later finds nothing to do. One captured here reflects this registry: skip.
      if (current.origin !== deps.region) {
        deps.logger.info("record superseded by a newer version; applying that one", log, {
          current: current.version,
        });
        const newer = await applyRecord(current, deps);
        return { key: record.key, outcome: "superseded", actions: newer.actions };
      }
      deps.logger.info("record superseded by a newer version; skipped", log, { current: current.version });
      return { key: record.key, outcome: "superseded", actions: [] };
    }
  }
  const iot = wrapPort(deps.iot, (api, call) => deps.pacer.run(api, call));
  let plan: Plan | null;
  try {
    plan = await applyPlan(record, deps, iot, "register unread");
  } catch (err) {
    if (!(err instanceof ExistsUnrecorded)) throw err;
    // Made in this region (fail-back) or before replication: read it and apply the difference,
    // deciding as if no marker had been read (the guess's marker is replaced).
    deps.logger.info("certificate is here without a marker; reading it and applying the difference", log);
    plan = await applyPlan(record, deps, iot, "read after a refused registration");
  }
  if (plan === null) return { key: record.key, outcome: "superseded", actions: [] };
  const lag = deps.clock.now() - record.capturedAt;
  deps.metrics.addMetric(REPLICATION_LAG_METRIC, "Milliseconds", Math.max(0, lag));
  const actions = plan.steps.map((s) => s.action);
  if (deps.table && actions.length > 0) {
    // A change captured here between the check above and these steps (C&C removing a membership
    // replay then re-adds, say) is newer than what was just applied: the registry would keep the
    // older state while the table holds the newer one, and the echo marker hides the difference
    // from capture. So read the record again and make the registry match the newer one.
    const after = await getRecord(deps.table, record.key);
    if (
      after &&
      compareVersions(after.version, record.version) > 0 &&
      !sameState(after.state, record.state)
    ) {
      deps.logger.info("a newer record was captured while this one was applied; applying that one", log, {
        current: after.version,
      });
      // What the registry holds now is what these steps just wrote, not a change to wait for.
      const newer = await applyRecord(after, { ...deps, overwriteUnrecorded: true });
      return { key: record.key, outcome: "superseded", actions: [...actions, ...newer.actions] };
    }
  }
  const outcome = actions.length > 0 ? "applied" : "unchanged";
  deps.logger.info(`record ${outcome}`, log, { actions, lagMs: lag });
  return { key: record.key, outcome, actions };
}

/**
 * How a certificate registration is planned. "register unread": when this region's marker table
 * has no marker for the key, replay never applied the certificate here, and a certificate capture
 * recorded elsewhere is, as a rule, absent here. Replay then registers it without reading
 * DescribeCertificate first: IoT refuses to register a certificate twice
 * (ResourceAlreadyExistsException), so the write is its own comparison and does only the
 * difference. A registration costs one write and no read, and the read (10 TPS) is left to the
 * wave's status changes, which need it (issue #20: sharing it held both writes near half their
 * quotas). The guess fails for a certificate made in this region (fail-back) or before replication
 * began: the refused write changes nothing, and the record is planned again from a read, as if no
 * marker had been read.
 */
type CertificateGuess = "register unread" | "read after a refused registration";

/** The certificate was registered here already: plan it again from a read (CertificateGuess). */
class ExistsUnrecorded extends Error {
  override name = "ExistsUnrecorded";
}

/**
 * Plans the record, records the states it passes through in the marker table, and runs its steps.
 * Null: what the record needs was deleted at the source after it (deletedAfter), nothing to apply.
 */
async function applyPlan(
  record: RegistryRecord,
  deps: ApplyDeps,
  iot: IotRegistryPort,
  guess: CertificateGuess,
): Promise<Plan | null> {
  const log = { key: record.key, version: record.version, origin: record.origin, region: deps.region };
  const markers = deps.markers ?? deps.table;
  let plan: Plan | undefined;
  // After a refused registration the marker is the guess's own: decide as if there were none.
  let read: AppliedMarker | null | undefined = guess === "register unread" ? undefined : null;
  try {
    if (guess === "register unread" && markers && record.kind === "certificate" && record.state !== null) {
      read = await getAppliedMarker(markers, deps.region, record.key);
      if (read === null)
        plan = {
          live: null,
          unread: true,
          ...(await planCertificate(record.key, record.state as CertificateState, null, iot)),
        };
    }
    plan ??= await planFor(record, iot);
    if (plan.steps.length === 0 && markers && guess !== "register unread")
      // The refused guess left its marker; what it holds is no echo. Replication has now seen the
      // certificate here as it is, and nothing else (recordSeen drops the guess's entries).
      await recordSeen(markers, deps.region, record.key, stateHash(plan.live ?? null), deps.clock.now(), {
        forgetBefore: deps.clock.now(),
      });
    if (plan.steps.length > 0 && markers) {
      const now = deps.clock.now();
      const window = deps.echoWindowMs ?? DEFAULT_ECHO_WINDOW_MS;
      const marker = read === undefined ? await getAppliedMarker(markers, deps.region, record.key) : read;
      const live = plan.live === undefined ? undefined : stateHash(plan.live);
      if (marker && live !== undefined && !deps.overwriteUnrecorded) {
        if (!isKnownState(marker, live, now, window))
          throw new DependencyNotReady(
            `${record.key}: the registry in ${deps.region} holds a state replication has not recorded (a change made here whose capture is still on its way); replay waits for capture rather than overwrite it. If this persists, the change was made where IoT reports nothing: run \`iot-dr reconcile\`, which repairs from the active region`,
            record.key,
            "capture",
          );
      }
      await recordApplied(markers, {
        region: deps.region,
        key: record.key,
        hashes: plan.passes.map(stateHash),
        now,
        windowMs: window,
        existing: marker,
        liveHash: live,
      });
      for (const other of plan.otherPasses ?? [])
        await recordApplied(markers, {
          region: deps.region,
          key: other.key,
          hashes: other.passes.map(stateHash),
          now,
          windowMs: window,
        });
    }
    for (const step of plan.steps) await step.run();
  } catch (err) {
    if (plan?.unread && errName(err) === "ResourceAlreadyExistsException")
      throw new ExistsUnrecorded(`${record.key}: registered here already`);
    const e = translate(err, record);
    const deletedLater = await deletedAfter(e, record, deps);
    if (deletedLater) {
      deps.logger.info("record superseded: what it needs was deleted at the source after it; skipped", log, {
        dependency: deletedLater.key,
        deletedAt: deletedLater.version,
      });
      return null;
    }
    deps.logger.warn("replay failed", log, { error: describeError(e) });
    throw e;
  }
  return plan;
}

/**
 * A record whose dependency is missing here can never apply when the ops table holds a tombstone
 * for that dependency newer than the record: a membership, attachment or typed thing captured
 * before its thing, group, certificate, policy or type was deleted at the source (IoT publishes no
 * event for the membership then). Retrying it would only end in the dead-letter queue, and redrive
 * could not help. The dependency's own tombstone replay removes whatever is left of it here. A
 * tombstone older than the record (deleted, then recreated and not yet captured) keeps the retry.
 */
async function deletedAfter(err: Error, record: RegistryRecord, deps: ApplyDeps) {
  if (errName(err) !== "DependencyNotReady" || !deps.table) return undefined;
  const { dependency, waitsFor } = err as DependencyNotReady;
  if (!dependency || waitsFor !== "creation" || dependency === record.key) return undefined;
  const current = await getRecord(deps.table, dependency);
  return current && current.state === null && compareVersions(current.version, record.version) > 0
    ? current
    : undefined;
}

/** IoT errors that mean "something this record needs is missing or still in use here". */
function translate(err: unknown, record: RegistryRecord): Error {
  if (isReplicationError(err)) return err;
  const name = errName(err);
  const message = (err as Error)?.message ?? String(err);
  if (name === "ResourceNotFoundException")
    return new DependencyNotReady(`${record.key}: a resource it needs does not exist here yet (${message})`);
  if (
    name === "DeleteConflictException" ||
    name === "InvalidRequestException" ||
    name === "CertificateStateException"
  )
    return new DependencyNotReady(`${record.key}: not possible yet (${name}: ${message})`);
  return err instanceof Error ? err : new Error(message);
}

/** The plan, with the live state its first read found (the same shape capture records, see readState). */
async function planFor(record: RegistryRecord, iot: IotRegistryPort): Promise<Plan> {
  const withLive = async <S extends DesiredState>(
    read: Promise<S | null>,
    plan: (actual: S | null) => Promise<Plan>,
  ): Promise<Plan> => {
    const actual = await read;
    return { live: actual, ...(await plan(actual)) };
  };
  const name = (s: { name: string } | null) => s?.name ?? nameInKey(record.key);
  switch (record.kind) {
    case "thingType": {
      const desired = record.state as ThingTypeState | null;
      return withLive(iot.describeThingType(name(desired)), (a) =>
        planThingType(record.key, desired, a, iot),
      );
    }
    case "thingGroup": {
      const desired = record.state as ThingGroupState | null;
      return withLive(iot.describeThingGroup(name(desired)), (a) =>
        planThingGroup(record.key, desired, a, iot),
      );
    }
    case "policy": {
      const desired = record.state as PolicyState | null;
      return withLive(iot.getPolicy(name(desired)).then(policyState), (a) =>
        planPolicy(record.key, desired, a, iot),
      );
    }
    case "certificate": {
      const desired = record.state as CertificateState | null;
      const id = desired?.certificateId ?? nameInKey(record.key);
      return withLive(iot.describeCertificate(id), (a) => planCertificate(record.key, desired, a, iot));
    }
    case "thing": {
      const desired = record.state as ThingState | null;
      return withLive(iot.describeThing(name(desired)), (a) => planThing(record.key, desired, a, iot));
    }
    case "membership":
      return planMembership(record.key, record.state as MembershipState | null, iot);
    case "principal":
      return planPrincipal(record.key, record.state as PrincipalState | null, iot);
    case "policyTarget":
      return planPolicyTarget(record.key, record.state as PolicyTargetState | null, iot);
  }
}

async function planThingType(
  key: string,
  desired: ThingTypeState | null,
  actual: ThingTypeState | null,
  iot: IotRegistryPort,
): Promise<Plan> {
  const name = desired?.name ?? nameInKey(key);
  if (desired === null) {
    if (!actual) return { steps: [], passes: [null] };
    const steps: Step[] = [];
    const passes: (DesiredState | null)[] = [];
    if (!actual.deprecated) {
      // AWS deletes a thing type only after it has been deprecated for 5 minutes.
      steps.push({ action: "DeprecateThingType", run: () => iot.deprecateThingType(name, false) });
      passes.push({ ...actual, deprecated: true });
    }
    steps.push({
      action: "DeleteThingType",
      run: async () => {
        try {
          await iot.deleteThingType(name);
        } catch (err) {
          if (errName(err) === "InvalidRequestException")
            throw new DependencyNotReady(
              `thing type ${name} is deprecated but cannot be deleted yet (AWS waits 5 minutes after deprecation, and no thing may use it): ${(err as Error).message}`,
              key,
              "removal",
            );
          throw err;
        }
      },
    });
    passes.push(null);
    return { steps, passes };
  }
  if (!actual) {
    const steps: Step[] = [
      { action: "CreateThingType", run: () => iot.createThingType({ ...desired, deprecated: false }) },
    ];
    const passes: (DesiredState | null)[] = [{ ...desired, deprecated: false }];
    if (desired.deprecated) {
      steps.push({ action: "DeprecateThingType", run: () => iot.deprecateThingType(name, false) });
      passes.push(desired);
    }
    return { steps, passes };
  }
  if (actual.deprecated !== desired.deprecated) {
    return {
      steps: [
        {
          action: desired.deprecated ? "DeprecateThingType" : "DeprecateThingType:undo",
          run: () => iot.deprecateThingType(name, !desired.deprecated),
        },
      ],
      passes: [{ ...actual, deprecated: desired.deprecated }],
    };
  }
  // Description and searchable attributes are immutable on AWS; a difference stays as drift for the reconciler.
  return { steps: [], passes: [desired] };
}

async function planThingGroup(
  key: string,
  desired: ThingGroupState | null,
  actual: ThingGroupState | null,
  iot: IotRegistryPort,
): Promise<Plan> {
  const name = desired?.name ?? nameInKey(key);
  const deleteSteps = async (): Promise<Step[]> => {
    const children = await iot.listChildGroups(name);
    if (children.length > 0)
      throw new DependencyNotReady(
        `thing group ${name} still has child groups (${children.join(", ")}); their deletes or moves must replay first`,
        keys.thingGroup(children[0]),
        "removal",
      );
    // The group is gone at the source, so are its policy attachments; AWS keeps none for a deleted group.
    const policies = await iot.listAttachedPolicies({ type: "thingGroup", groupName: name });
    return [
      ...policies.map((p) => ({
        action: `DetachPolicy:${p}`,
        run: () => iot.detachPolicy(p, { type: "thingGroup", groupName: name }),
      })),
      { action: "DeleteThingGroup", run: () => iot.deleteThingGroup(name) },
    ];
  };
  if (desired === null) {
    if (!actual) return { steps: [], passes: [null] };
    return { steps: await deleteSteps(), passes: [null] };
  }
  if (desired.parentGroupName && !(await iot.describeThingGroup(desired.parentGroupName)))
    throw new DependencyNotReady(
      `parent thing group ${desired.parentGroupName} of ${name} does not exist here yet`,
      keys.thingGroup(desired.parentGroupName),
    );
  const create: Step = { action: "CreateThingGroup", run: () => iot.createThingGroup(desired) };
  if (!actual) return { steps: [create], passes: [desired] };
  if ((actual.parentGroupName ?? "") !== (desired.parentGroupName ?? "")) {
    // A group's parent is fixed at creation: moving it means deleting and creating it again.
    return { steps: [...(await deleteSteps()), create], passes: [null, desired] };
  }
  if (
    !sameMap(actual.attributes, desired.attributes) ||
    (actual.description ?? "") !== (desired.description ?? "")
  ) {
    return {
      steps: [{ action: "UpdateThingGroup", run: () => iot.updateThingGroup(desired, actual) }],
      passes: [desired],
    };
  }
  return { steps: [], passes: [desired] };
}

async function planPolicy(
  key: string,
  desired: PolicyState | null,
  actual: PolicyState | null,
  iot: IotRegistryPort,
): Promise<Plan> {
  const name = desired?.name ?? nameInKey(key);
  if (desired === null) {
    if (!actual) return { steps: [], passes: [null] };
    // Deleted at the source means detached everywhere there: detach here, drop old versions, delete.
    const targets = await iot.listTargetsForPolicy(name);
    const versions = await iot.listPolicyVersions(name);
    return {
      steps: [
        ...targets.map((t) => ({
          action: `DetachPolicy:${keys.policyTarget(name, t)}`,
          run: () => iot.detachPolicy(name, t),
        })),
        ...versions
          .filter((v) => !v.isDefault)
          .map((v) => ({
            action: `DeletePolicyVersion:${v.versionId}`,
            run: () => iot.deletePolicyVersion(name, v.versionId),
          })),
        { action: "DeletePolicy", run: () => iot.deletePolicy(name) },
      ],
      passes: [null],
    };
  }
  if (!actual)
    return {
      steps: [{ action: "CreatePolicy", run: () => iot.createPolicy(name, desired.document) }],
      passes: [desired],
    };
  if (sameDocument(actual.document, desired.document)) return { steps: [], passes: [desired] };
  const versions = await iot.listPolicyVersions(name);
  const steps: Step[] = [];
  if (versions.length >= 5) {
    // AWS keeps at most 5 versions: drop the oldest one that is not the default.
    const oldest = versions
      .filter((v) => !v.isDefault)
      .sort((a, b) => Number(a.versionId) - Number(b.versionId) || a.versionId.localeCompare(b.versionId))[0];
    if (oldest)
      steps.push({
        action: `DeletePolicyVersion:${oldest.versionId}`,
        run: () => iot.deletePolicyVersion(name, oldest.versionId),
      });
  }
  steps.push({
    action: "CreatePolicyVersion",
    run: () => iot.createPolicyVersion(name, desired.document, true),
  });
  return { steps, passes: [desired] };
}

async function planCertificate(
  key: string,
  desired: CertificateState | null,
  actual: CertificateState | null,
  iot: IotRegistryPort,
): Promise<Plan> {
  const id = desired?.certificateId ?? nameInKey(key);
  if (desired === null) {
    if (!actual) return { steps: [], passes: [null] };
    // AWS deletes a certificate only once no policy is attached (DeleteConflictException), so deleted
    // at the source means detached there. The attachments' own tombstones may come in a later batch
    // (C&C journals them after the certificate): detach here, as a deleted group's or policy's are.
    const cert = { type: "certificate" as const, certificateId: id };
    const policies = await iot.listAttachedPolicies(cert);
    const steps: Step[] = policies.map((p) => ({
      action: `DetachPolicy:${p}`,
      run: () => iot.detachPolicy(p, cert),
    }));
    const passes: (DesiredState | null)[] = [];
    if (actual.status === "ACTIVE") {
      steps.push({ action: "UpdateCertificate:INACTIVE", run: () => iot.updateCertificate(id, "INACTIVE") });
      passes.push({ ...actual, status: "INACTIVE" });
    }
    steps.push({ action: "DeleteCertificate", run: () => iot.deleteCertificate(id) });
    passes.push(null);
    return {
      steps,
      passes,
      otherPasses: policies.map((p) => ({ key: keys.policyTarget(p, cert), passes: [null] })),
    };
  }
  if (!actual) {
    // REVOKED is set after registering, so that registration itself never depends on it.
    const initial = desired.status === "REVOKED" ? "INACTIVE" : desired.status;
    const steps: Step[] = [
      {
        action: `RegisterCertificateWithoutCA:${initial}`,
        run: async () => {
          const got = await iot.registerCertificateWithoutCA(desired.pem, initial);
          if (got !== id)
            throw new InvalidRecord(
              `${key}: the PEM registers as certificate ${got}, not ${id}; the record is corrupt`,
            );
        },
      },
    ];
    const passes: (DesiredState | null)[] = [{ ...desired, status: initial }];
    if (desired.status === "REVOKED") {
      steps.push({ action: "UpdateCertificate:REVOKED", run: () => iot.updateCertificate(id, "REVOKED") });
      passes.push(desired);
    }
    return { steps, passes };
  }
  if (actual.status === desired.status) return { steps: [], passes: [desired] };
  if (actual.status === "REVOKED")
    throw new InvalidRecord(
      `${key}: certificate is REVOKED here and AWS cannot make a revoked certificate ${desired.status} again; register a new certificate instead`,
    );
  return {
    steps: [
      { action: `UpdateCertificate:${desired.status}`, run: () => iot.updateCertificate(id, desired.status) },
    ],
    passes: [desired],
  };
}

async function planThing(
  key: string,
  desired: ThingState | null,
  actual: ThingState | null,
  iot: IotRegistryPort,
): Promise<Plan> {
  const name = desired?.name ?? nameInKey(key);
  if (desired === null) {
    if (!actual) return { steps: [], passes: [null] };
    // Deleted at the source means out of every group there (and detached, see deleteDetached).
    const groups = await iot.listThingGroupsForThing(name);
    return {
      steps: [
        ...groups.map((g) => ({
          action: `RemoveThingFromThingGroup:${g}`,
          run: () => iot.removeThingFromThingGroup(g, name),
        })),
        { action: "DeleteThing", run: () => deleteDetached(iot, name) },
      ],
      passes: [null],
    };
  }
  const sameType = (actual?.thingTypeName ?? "") === (desired.thingTypeName ?? "");
  if (actual && sameType && sameMap(actual.attributes, desired.attributes))
    return { steps: [], passes: [desired] };
  const write: Step = actual
    ? { action: "UpdateThing", run: () => iot.updateThing(desired, actual) }
    : { action: "CreateThing", run: () => iot.createThing(desired) };
  if (!desired.thingTypeName || sameType) return { steps: [write], passes: [desired] };
  const type = await iot.describeThingType(desired.thingTypeName);
  if (!type)
    throw new DependencyNotReady(
      `thing type ${desired.thingTypeName} of ${name} does not exist here yet`,
      keys.thingType(desired.thingTypeName),
    );
  if (!type.deprecated) return { steps: [write], passes: [desired] };
  // The thing got its type before the type was deprecated at the source; AWS refuses a deprecated
  // type on create/update, so lift the deprecation for the one call and restore it.
  const typeName = desired.thingTypeName;
  return {
    steps: [
      { action: `DeprecateThingType:undo:${typeName}`, run: () => iot.deprecateThingType(typeName, true) },
      write,
      { action: `DeprecateThingType:${typeName}`, run: () => iot.deprecateThingType(typeName, false) },
    ],
    passes: [desired],
    otherPasses: [{ key: keys.thingType(typeName), passes: [{ ...type, deprecated: false }, type] }],
  };
}

/**
 * AWS refuses to delete a thing that still has principals (InvalidRequestException, moto too). Most
 * deleted things arrive already detached (their principal records replay first), so the delete is
 * tried first and ListThingPrincipals (10 TPS by default, a tenth of DeleteThing's) runs only when
 * it is refused.
 */
async function deleteDetached(iot: IotRegistryPort, name: string): Promise<void> {
  try {
    await iot.deleteThing(name);
  } catch (err) {
    if (errName(err) !== "InvalidRequestException") throw err;
    const principals = await iot.listThingPrincipals(name);
    if (principals.length === 0) throw err;
    for (const c of principals) await iot.detachThingPrincipal(name, c);
    await iot.deleteThing(name);
  }
}

/**
 * Runs an idempotent attach without reading first (AWS and moto accept attaching what is already
 * attached); when it fails because something is missing, names the missing dependency.
 */
async function attachOrExplain(
  attach: () => Promise<void>,
  missing: () => Promise<DependencyNotReady | undefined>,
): Promise<void> {
  try {
    await attach();
  } catch (err) {
    if (errName(err) !== "ResourceNotFoundException") throw err;
    throw (await missing()) ?? err;
  }
}

const thingMissing = async (iot: IotRegistryPort, thingName: string, forKey: string) =>
  (await iot.describeThing(thingName))
    ? undefined
    : new DependencyNotReady(`${forKey}: thing ${thingName} does not exist here yet`, keys.thing(thingName));

async function planMembership(
  key: string,
  desired: MembershipState | null,
  iot: IotRegistryPort,
): Promise<Plan> {
  const { groupName, thingName } = parseKey(key) as MembershipState;
  if (desired === null) {
    const groups = await iot.listThingGroupsForThing(thingName);
    if (!groups.includes(groupName)) return { steps: [], passes: [null] };
    return {
      live: { groupName, thingName },
      steps: [
        {
          action: "RemoveThingFromThingGroup",
          run: () => iot.removeThingFromThingGroup(groupName, thingName),
        },
      ],
      passes: [null],
    };
  }
  // AddThingToThingGroup is idempotent (a member stays a member), so no membership read first.
  return {
    steps: [
      {
        action: "AddThingToThingGroup",
        run: () =>
          attachOrExplain(
            () => iot.addThingToThingGroup(groupName, thingName),
            async () =>
              (await thingMissing(iot, thingName, key)) ??
              ((await iot.describeThingGroup(groupName))
                ? undefined
                : new DependencyNotReady(
                    `${key}: thing group ${groupName} does not exist here yet`,
                    keys.thingGroup(groupName),
                  )),
          ),
      },
    ],
    passes: [desired],
  };
}

async function planPrincipal(
  key: string,
  desired: PrincipalState | null,
  iot: IotRegistryPort,
): Promise<Plan> {
  const { thingName, certificateId } = parseKey(key) as PrincipalState;
  if (desired === null) {
    const attached = (await iot.listThingPrincipals(thingName)).includes(certificateId);
    if (!attached) return { steps: [], passes: [null] };
    return {
      live: { thingName, certificateId },
      steps: [
        { action: "DetachThingPrincipal", run: () => iot.detachThingPrincipal(thingName, certificateId) },
      ],
      passes: [null],
    };
  }
  // AttachThingPrincipal is idempotent, and ListThingPrincipals' quota (10 TPS) is a tenth of the
  // attach's (100 TPS): attach without reading first.
  return {
    steps: [
      {
        action: "AttachThingPrincipal",
        run: () =>
          attachOrExplain(
            () => iot.attachThingPrincipal(thingName, certificateId),
            async () =>
              (await thingMissing(iot, thingName, key)) ??
              new DependencyNotReady(
                `${key}: certificate ${certificateId} does not exist here yet`,
                keys.certificate(certificateId),
              ),
          ),
      },
    ],
    passes: [desired],
  };
}

async function planPolicyTarget(
  key: string,
  desired: PolicyTargetState | null,
  iot: IotRegistryPort,
): Promise<Plan> {
  const { policyName, target } = parseKey(key) as PolicyTargetState;
  if (desired === null) {
    const attached = (await iot.listAttachedPolicies(target)).includes(policyName);
    if (!attached) return { steps: [], passes: [null] };
    return {
      live: { policyName, target },
      steps: [{ action: "DetachPolicy", run: () => iot.detachPolicy(policyName, target) }],
      passes: [null],
    };
  }
  // AttachPolicy is idempotent: attach without reading the target's policies first.
  return {
    steps: [
      {
        action: "AttachPolicy",
        run: () =>
          attachOrExplain(
            () => iot.attachPolicy(policyName, target),
            async () =>
              (await iot.getPolicy(policyName))
                ? new DependencyNotReady(
                    `${key}: ${target.type} ${target.type === "certificate" ? target.certificateId : target.groupName} does not exist here yet`,
                    target.type === "certificate"
                      ? keys.certificate(target.certificateId)
                      : keys.thingGroup(target.groupName),
                  )
                : new DependencyNotReady(
                    `${key}: policy ${policyName} does not exist here yet`,
                    keys.policy(policyName),
                  ),
          ),
      },
    ],
    passes: [desired],
  };
}

export interface BatchFailure {
  key: string;
  error: { name: string; message: string };
}

/**
 * Applies records in dependency order (records.ts `dependencyOrder`), continuing past failures;
 * records whose dependency failed earlier in the batch are retried once at the end of the pass.
 */
export async function applyBatch(
  records: readonly RegistryRecord[],
  deps: ApplyDeps,
): Promise<{ outcomes: ReplayOutcome[]; failures: BatchFailure[] }> {
  const outcomes: ReplayOutcome[] = [];
  const pending: RegistryRecord[] = [];
  const failures = new Map<string, BatchFailure>();
  for (const record of dependencyOrder(records)) {
    try {
      outcomes.push(await applyRecord(record, deps));
    } catch (err) {
      if (errName(err) === "DependencyNotReady") pending.push(record);
      failures.set(record.key + "@" + outcomes.length, { key: record.key, error: describeError(err) });
    }
  }
  // One more pass for records that waited on something applied later in the same batch.
  if (pending.length > 0) {
    const retry = pending;
    for (const [k, f] of [...failures]) if (retry.some((r) => r.key === f.key)) failures.delete(k);
    for (const record of dependencyOrder(retry)) {
      try {
        outcomes.push(await applyRecord(record, deps));
      } catch (err) {
        failures.set(record.key + "@retry" + outcomes.length, { key: record.key, error: describeError(err) });
      }
    }
  }
  return { outcomes, failures: [...failures.values()] };
}

/**
 * The replay function's Task handler: applies the entry's record; a failure leaves with its name (the
 * state machine matches it) and a bounded message, so that dead-lettered and retried outcomes cannot
 * push the execution's state past Step Functions' 256 KB (errors.ts boundedTaskError).
 */
export function replayTask(deps: ApplyDeps): (entry: ReplayEntry<RegistryRecord>) => Promise<ReplayOutcome> {
  return async (entry) => {
    try {
      return await applyRecord(entry.record, deps);
    } catch (err) {
      throw boundedTaskError(err);
    }
  };
}

/**
 * The replay function's group handler: applies the records of one group (independent records of
 * one wave) at once with `applyOne`, the per-record handler. Never throws for a record: what it
 * could not apply comes back in `again`, untouched, and the state machine sends each through the
 * per-record path, whose own attempt names the error for the retries and the dead-letter queue.
 */
export function replayGroupTask(
  applyOne: (entry: ReplayEntry<RegistryRecord>) => Promise<ReplayOutcome>,
  logger: Logger,
): (group: ReplayGroupInput<RegistryRecord>) => Promise<ReplayGroupResult<RegistryRecord>> {
  return async (group) => {
    if (!Array.isArray(group?.entries)) throw new InvalidRecord("a replay group needs an entries list");
    const settled = await Promise.allSettled(group.entries.map((entry) => applyOne(entry)));
    const result: ReplayGroupResult<RegistryRecord> = { applied: [], again: [] };
    settled.forEach((s, i) => {
      const entry = group.entries[i];
      if (s.status === "fulfilled") {
        result.applied.push({
          sequenceNumber: entry.sequenceNumber,
          key: entry.record?.key,
          status: "applied",
          outcome: s.value,
        });
      } else {
        result.again.push(entry);
        logger.warn("record left to the per-record path", {
          key: entry.record?.key,
          sequenceNumber: entry.sequenceNumber,
          error: describeError(s.reason),
        });
      }
    });
    return result;
  };
}

/** True for the group Task's input (`{entries}`), false for the per-record Task's (`{sequenceNumber, record}`). */
export const isReplayGroup = (input: unknown): input is ReplayGroupInput<RegistryRecord> =>
  typeof input === "object" && input !== null && "entries" in input;

/**
 * The deployed replay function: one handler for both Tasks of the state machine, a group (the
 * normal path) or one record (the per-record path after a group).
 */
export function replayHandler(
  deps: ApplyDeps,
): (
  input: ReplayEntry<RegistryRecord> | ReplayGroupInput<RegistryRecord>,
) => Promise<ReplayOutcome | ReplayGroupResult<RegistryRecord>> {
  const one = replayTask(deps);
  const group = replayGroupTask(one, deps.logger);
  return (input) => (isReplayGroup(input) ? group(input) : one(input));
}
