/**
 * The four C&C commands against the IoT registry of the IoT services account. Onboarding is a
 * saga: every step registers its undo, and a failure part-way runs the undos in reverse so no
 * half-onboarded device remains. Each command returns the resource keys it touched so that the
 * caller journals them into the ops table (IoT publishes no event for certificate and policy
 * changes, DESIGN.md §3).
 */
import type { IotRegistryPort } from "../registry/iotPort.js";
import { keys, type CertificateStatus } from "../registry/records.js";
import type { Clock } from "../shared/clock.js";
import type { Logger } from "../shared/observability.js";
import type {
  Command,
  DecommissionCommand,
  GroupPolicyCommand,
  OnboardCommand,
  PolicyVersionCommand,
  RevokeCommand,
  RotateCommand,
  StatusCommand,
} from "./validation.js";

export interface CommandDeps {
  /** The IoT registry of the IoT services account (reached through the assumed role). */
  iot: IotRegistryPort;
  /** Names of the things a certificate is attached to (a certificate may be shared). */
  listPrincipalThings(certificateId: string): Promise<string[]>;
  /** Waits between retries (`sleep`); stamps idempotency claims (`now`). */
  clock: Clock;
  logger: Logger;
}

export interface CommandResult {
  statusCode: number;
  body: Record<string, unknown>;
  /** Resource keys (records.ts) whose state the command changed, to be journaled. */
  touched: string[];
}

// Errors are plain Error objects with a name, not subclasses: Pulumi's closure serializer drops
// class field initializers and Error's constructor state, so subclasses break in deployed code.

/** A command refused before it changed anything (the registry is as it was). */
export interface CommandRejected extends Error {
  name: "CommandRejected";
  statusCode: number;
  code: string;
}

export function commandRejected(statusCode: number, code: string, message: string): CommandRejected {
  return Object.assign(new Error(message), { name: "CommandRejected" as const, statusCode, code });
}

export const isCommandRejected = (err: unknown): err is CommandRejected =>
  (err as { name?: unknown } | null)?.name === "CommandRejected";

/**
 * A command that failed while changing the registry. `compensated` says whether every change was
 * undone; `touched` lists keys that may have changed (journal them so the table follows).
 */
export interface CommandFailed extends Error {
  name: "CommandFailed";
  step: string;
  cause: unknown;
  compensated: boolean;
  touched: string[];
  leftovers: string[];
}

export function commandFailed(
  step: string,
  cause: unknown,
  compensated: boolean,
  touched: string[],
  leftovers: string[] = [],
): CommandFailed {
  const message = compensated
    ? `step '${step}' failed (${errorName(cause)}); every earlier step was undone`
    : `step '${step}' failed (${errorName(cause)}); could not undo: ${leftovers.join(", ") || "nothing to undo"}`;
  return Object.assign(new Error(message), {
    name: "CommandFailed" as const,
    step,
    cause,
    compensated,
    touched,
    leftovers,
  });
}

export const isCommandFailed = (err: unknown): err is CommandFailed =>
  (err as { name?: unknown } | null)?.name === "CommandFailed";

export function errorName(err: unknown): string {
  const e = err as { name?: unknown; message?: unknown } | null;
  const name = typeof e?.name === "string" ? e.name : "Error";
  const message = typeof e?.message === "string" ? e.message : String(err);
  return `${name}: ${message}`.slice(0, 300);
}

const isNamed = (err: unknown, ...names: string[]) =>
  names.includes((err as { name?: string } | null)?.name ?? "");

/** IoT applies detachments eventually: deletes right after them may conflict for a few seconds. */
async function retryConflicts<T>(deps: CommandDeps, what: string, call: () => Promise<T>): Promise<T> {
  const delays = [100, 200, 400, 800, 1600];
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const retryable =
        isNamed(err, "DeleteConflictException", "ThrottlingException") ||
        (isNamed(err, "InvalidRequestException") && /attached/i.test(String((err as Error).message)));
      if (!retryable || attempt >= delays.length) throw err;
      deps.logger.warn("retrying after a conflict", { what, attempt, error: errorName(err) });
      await deps.clock.sleep(delays[attempt]!);
    }
  }
}

interface Step {
  name: string;
  undo?: () => Promise<void>;
}

interface Saga {
  run<T>(name: string, action: () => Promise<T>, undo?: (value: T) => Promise<void>): Promise<T>;
}

/** A command that changed the registry (or found it as asked): 200 with the keys to journal. */
const succeeded = (touched: string[], body: Record<string, unknown>): CommandResult => ({
  statusCode: 200,
  touched,
  body,
});

/** A failure part-way through a command that cannot be undone: a retry with the same key finishes it. */
const rolledForward = (step: string, err: unknown, touched: string[], hint: string) =>
  commandFailed(step, err, false, touched, [hint]);

/** Runs steps in order; on failure undoes the completed ones in reverse and throws CommandFailed. */
function createSaga(deps: CommandDeps, touched: string[]): Saga {
  const done: Step[] = [];
  const compensate = async (failedStep: string, cause: unknown): Promise<never> => {
    const leftovers: string[] = [];
    for (const step of [...done].reverse()) {
      if (!step.undo) continue;
      try {
        await retryConflicts(deps, `undo ${step.name}`, step.undo);
      } catch (err) {
        deps.logger.error("compensation failed", { step: step.name, error: errorName(err) });
        leftovers.push(step.name);
      }
    }
    deps.logger.warn("command compensated", { failedStep, error: errorName(cause), leftovers });
    // A refusal discovered part-way (e.g. the certificate exists) is still a refusal once undone.
    if (isCommandRejected(cause) && leftovers.length === 0) throw cause;
    throw commandFailed(failedStep, cause, leftovers.length === 0, touched, leftovers);
  };
  return {
    async run(name, action, undo) {
      let value: Awaited<ReturnType<typeof action>>;
      try {
        value = await action();
      } catch (err) {
        return compensate(name, err);
      }
      done.push({ name, ...(undo ? { undo: () => undo(value) } : {}) });
      return value;
    },
  };
}

/** Registers the certificate INACTIVE (undone by deleting it); a known certificate is refused. */
function registerInactive(saga: Saga, iot: IotRegistryPort, pem: string, hint: string): Promise<string> {
  return saga.run(
    "registerCertificate",
    async () => {
      try {
        return await iot.registerCertificateWithoutCA(pem, "INACTIVE");
      } catch (err) {
        if (isNamed(err, "ResourceAlreadyExistsException"))
          throw commandRejected(409, "CertificateExists", `this certificate is already registered; ${hint}`);
        throw err;
      }
    },
    (id) => iot.deleteCertificate(id),
  );
}

/** The last two saga steps: the certificate goes to the thing, then becomes ACTIVE. */
async function attachAndActivate(saga: Saga, iot: IotRegistryPort, thingName: string, certificateId: string) {
  await saga.run(
    "attachThingPrincipal",
    () => iot.attachThingPrincipal(thingName, certificateId),
    () => iot.detachThingPrincipal(thingName, certificateId),
  );
  await saga.run(
    "activateCertificate",
    () => iot.updateCertificate(certificateId, "ACTIVE"),
    () => iot.updateCertificate(certificateId, "INACTIVE"),
  );
}

/** The certificates a command addresses: the one named, or every one attached to the thing. */
async function certificatesOf(c: { certificateId?: string; thingName?: string }, deps: CommandDeps) {
  if (c.certificateId) return [c.certificateId];
  if (!(await deps.iot.describeThing(c.thingName!)))
    throw commandRejected(404, "ThingNotFound", `thing '${c.thingName}' does not exist`);
  const ids = await deps.iot.listThingPrincipals(c.thingName!);
  if (ids.length === 0)
    throw commandRejected(409, "NoCertificates", `thing '${c.thingName}' has no certificate attached`);
  return ids;
}

/** Each certificate's current status; `check` may refuse one (before anything changed). */
async function statusesOf(
  ids: string[],
  deps: CommandDeps,
  check: (id: string, status: CertificateStatus) => void = () => {},
): Promise<Map<string, CertificateStatus>> {
  const current = new Map<string, CertificateStatus>();
  for (const id of ids) {
    const d = await deps.iot.describeCertificate(id);
    if (!d) throw commandRejected(404, "CertificateNotFound", `certificate ${id} does not exist`);
    check(id, d.status);
    current.set(id, d.status);
  }
  return current;
}

async function onboard(c: OnboardCommand, deps: CommandDeps): Promise<CommandResult> {
  const { iot } = deps;
  // Read-only checks first: a refused command changes nothing.
  if (await iot.describeThing(c.thingName)) {
    throw commandRejected(
      409,
      "ThingExists",
      `thing '${c.thingName}' already exists; decommission it first or pick another name`,
    );
  }
  if (c.thingTypeName) {
    const type = await iot.describeThingType(c.thingTypeName);
    if (!type)
      throw commandRejected(
        422,
        "ThingTypeNotFound",
        `thing type '${c.thingTypeName}' does not exist; create it first`,
      );
    if (type.deprecated)
      throw commandRejected(
        422,
        "ThingTypeDeprecated",
        `thing type '${c.thingTypeName}' is deprecated; new things cannot use it`,
      );
  }
  for (const group of c.groups) {
    if (!(await iot.describeThingGroup(group))) {
      throw commandRejected(
        422,
        "ThingGroupNotFound",
        `thing group '${group}' does not exist; create it first`,
      );
    }
  }
  if (!(await iot.getPolicy(c.policyName))) {
    throw commandRejected(
      422,
      "PolicyNotFound",
      `policy '${c.policyName}' is allowed but does not exist in the registry`,
    );
  }

  const touched = [keys.thing(c.thingName), ...c.groups.map((g) => keys.membership(g, c.thingName))];
  const saga = createSaga(deps, touched);
  // Registered INACTIVE and activated last, so a half-onboarded certificate never connects.
  const certificateId = await registerInactive(
    saga,
    iot,
    c.certificatePem,
    "each device needs its own certificate",
  );
  const cert = { type: "certificate" as const, certificateId };
  touched.push(
    keys.certificate(certificateId),
    keys.policyTarget(c.policyName, cert),
    keys.principal(c.thingName, certificateId),
  );
  await saga.run(
    "createThing",
    () =>
      iot.createThing({
        name: c.thingName,
        ...(c.thingTypeName ? { thingTypeName: c.thingTypeName } : {}),
        attributes: c.attributes,
      }),
    () => iot.deleteThing(c.thingName),
  );
  for (const group of c.groups) {
    await saga.run(
      `addThingToThingGroup ${group}`,
      () => iot.addThingToThingGroup(group, c.thingName),
      () => iot.removeThingFromThingGroup(group, c.thingName),
    );
  }
  await saga.run(
    "attachPolicy",
    () => iot.attachPolicy(c.policyName, cert),
    () => iot.detachPolicy(c.policyName, cert),
  );
  await attachAndActivate(saga, iot, c.thingName, certificateId);
  return {
    statusCode: 201,
    touched,
    body: {
      command: "onboard",
      thingName: c.thingName,
      ...(c.thingTypeName ? { thingTypeName: c.thingTypeName } : {}),
      groups: c.groups,
      certificateId,
      certificateStatus: "ACTIVE",
      policyName: c.policyName,
    },
  };
}

async function changeStatus(c: StatusCommand, deps: CommandDeps): Promise<CommandResult> {
  const { iot } = deps;
  const target: CertificateStatus = c.command === "suspend" ? "INACTIVE" : "ACTIVE";
  const ids = await certificatesOf(c, deps);
  const current = await statusesOf(ids, deps, (id, status) => {
    if (status === "REVOKED")
      throw commandRejected(
        409,
        "CertificateRevoked",
        `certificate ${id} is REVOKED; a revoked certificate cannot be ${c.command}d`,
      );
  });
  const changed = ids.filter((id) => current.get(id) !== target);
  const touched = changed.map((id) => keys.certificate(id));
  const saga = createSaga(deps, touched);
  for (const id of changed) {
    const previous = current.get(id)!;
    await saga.run(
      `updateCertificate ${id}`,
      () => iot.updateCertificate(id, target),
      () => iot.updateCertificate(id, previous),
    );
  }
  return succeeded(touched, {
    command: c.command,
    ...(c.thingName ? { thingName: c.thingName } : {}),
    certificates: ids.map((id) => ({ certificateId: id, previousStatus: current.get(id), status: target })),
  });
}

/**
 * Decommissioning cannot be undone (a deleted certificate cannot be restored), so it rolls
 * forward: every step tolerates work already done and a retry with the same key finishes it.
 */
async function decommission(c: DecommissionCommand, deps: CommandDeps): Promise<CommandResult> {
  const { iot } = deps;
  const thing = await iot.describeThing(c.thingName);
  if (!thing) throw commandRejected(404, "ThingNotFound", `thing '${c.thingName}' does not exist`);
  const certificateIds = await iot.listThingPrincipals(c.thingName);
  const groups = await iot.listThingGroupsForThing(c.thingName);
  const plan: { certificateId: string; exclusive: boolean; policies: string[] }[] = [];
  for (const certificateId of certificateIds) {
    const others = (await deps.listPrincipalThings(certificateId)).filter((t) => t !== c.thingName);
    const policies =
      others.length === 0 ? await iot.listAttachedPolicies({ type: "certificate", certificateId }) : [];
    plan.push({ certificateId, exclusive: others.length === 0, policies });
  }

  const touched: string[] = [keys.thing(c.thingName), ...groups.map((g) => keys.membership(g, c.thingName))];
  for (const p of plan) {
    touched.push(keys.principal(c.thingName, p.certificateId));
    if (p.exclusive) {
      touched.push(keys.certificate(p.certificateId));
      for (const policy of p.policies)
        touched.push(keys.policyTarget(policy, { type: "certificate", certificateId: p.certificateId }));
    }
  }
  let step = "";
  try {
    for (const p of plan) {
      const cert = { type: "certificate" as const, certificateId: p.certificateId };
      step = `detachThingPrincipal ${p.certificateId}`;
      await iot.detachThingPrincipal(c.thingName, p.certificateId);
      if (!p.exclusive) continue; // shared with another thing: keep it active and attached there
      for (const policy of p.policies) {
        step = `detachPolicy ${policy}`;
        await iot.detachPolicy(policy, cert);
      }
      step = `deactivateCertificate ${p.certificateId}`;
      await iot.updateCertificate(p.certificateId, "INACTIVE");
      step = `deleteCertificate ${p.certificateId}`;
      await retryConflicts(deps, step, () => iot.deleteCertificate(p.certificateId));
    }
    for (const group of groups) {
      step = `removeThingFromThingGroup ${group}`;
      await iot.removeThingFromThingGroup(group, c.thingName);
    }
    step = "deleteThing";
    await retryConflicts(deps, step, () => iot.deleteThing(c.thingName));
  } catch (err) {
    deps.logger.error("decommission stopped part-way", {
      thingName: c.thingName,
      step,
      error: errorName(err),
    });
    throw rolledForward(
      step,
      err,
      touched,
      "decommission is rolled forward: retry with the same idempotency key",
    );
  }
  return succeeded(touched, {
    command: "decommission",
    thingName: c.thingName,
    certificatesDeleted: plan.filter((p) => p.exclusive).map((p) => p.certificateId),
    certificatesKept: plan.filter((p) => !p.exclusive).map((p) => p.certificateId),
    groupsLeft: groups,
  });
}

/**
 * Revocation cannot be undone (IoT refuses to re-activate a REVOKED certificate), so it rolls
 * forward: already revoked certificates are left as they are and a retry finishes the rest.
 */
async function revoke(c: RevokeCommand, deps: CommandDeps): Promise<CommandResult> {
  const ids = await certificatesOf(c, deps);
  const before = await statusesOf(ids, deps);
  const changed = ids.filter((id) => before.get(id) !== "REVOKED");
  const touched = changed.map((id) => keys.certificate(id));
  for (const id of changed) {
    try {
      await deps.iot.updateCertificate(id, "REVOKED");
    } catch (err) {
      throw rolledForward(
        `updateCertificate ${id}`,
        err,
        touched,
        "revocation is rolled forward: retry with the same idempotency key",
      );
    }
  }
  return succeeded(touched, {
    command: "revoke",
    ...(c.thingName ? { thingName: c.thingName } : {}),
    certificates: ids.map((id) => ({
      certificateId: id,
      previousStatus: before.get(id),
      status: "REVOKED",
    })),
  });
}

/**
 * Rotation: the new certificate is registered INACTIVE, given the old certificates' policies,
 * attached to the thing and activated (a saga: any failure undoes these); only then are the old
 * certificates detached from the thing and deactivated (or revoked), rolled forward.
 */
async function rotate(c: RotateCommand, deps: CommandDeps): Promise<CommandResult> {
  const { iot } = deps;
  if (!(await iot.describeThing(c.thingName)))
    throw commandRejected(404, "ThingNotFound", `thing '${c.thingName}' does not exist`);
  const old = await iot.listThingPrincipals(c.thingName);
  if (old.length === 0)
    throw commandRejected(
      409,
      "NoCertificates",
      `thing '${c.thingName}' has no certificate to rotate; onboard it`,
    );
  const policies = new Set<string>();
  for (const id of old)
    for (const p of await iot.listAttachedPolicies({ type: "certificate", certificateId: id }))
      policies.add(p);
  const touched: string[] = [];
  const saga = createSaga(deps, touched);
  const certificateId = await registerInactive(saga, iot, c.certificatePem, "rotate to a new one");
  const cert = { type: "certificate" as const, certificateId };
  touched.push(keys.certificate(certificateId), keys.principal(c.thingName, certificateId));
  for (const p of policies) {
    touched.push(keys.policyTarget(p, cert));
    await saga.run(
      `attachPolicy ${p}`,
      () => iot.attachPolicy(p, cert),
      () => iot.detachPolicy(p, cert),
    );
  }
  await attachAndActivate(saga, iot, c.thingName, certificateId);
  const retired = c.revokeOld ? "REVOKED" : "INACTIVE";
  let step = "";
  try {
    for (const id of old) {
      touched.push(keys.principal(c.thingName, id), keys.certificate(id));
      step = `detachThingPrincipal ${id}`;
      await iot.detachThingPrincipal(c.thingName, id);
      const d = await iot.describeCertificate(id);
      if (d && d.status !== "REVOKED" && d.status !== retired) {
        step = `updateCertificate ${id}`;
        await iot.updateCertificate(id, retired);
      }
    }
  } catch (err) {
    throw rolledForward(
      step,
      err,
      touched,
      "the new certificate is active; retiring the old ones is rolled forward: retry with the same idempotency key",
    );
  }
  return succeeded(touched, {
    command: "rotate",
    thingName: c.thingName,
    certificateId,
    certificateStatus: "ACTIVE",
    policies: [...policies],
    retired: old.map((id) => ({ certificateId: id, status: retired })),
  });
}

/** IoT keeps at most five versions of a policy. */
const MAX_POLICY_VERSIONS = 5;

/** A new default version; the oldest non-default version makes room when five exist. */
async function policyVersion(c: PolicyVersionCommand, deps: CommandDeps): Promise<CommandResult> {
  const { iot } = deps;
  if (!(await iot.getPolicy(c.policyName)))
    throw commandRejected(404, "PolicyNotFound", `policy '${c.policyName}' does not exist`);
  const versions = await iot.listPolicyVersions(c.policyName);
  const touched = [keys.policy(c.policyName)];
  let step = "";
  try {
    if (versions.length >= MAX_POLICY_VERSIONS) {
      const oldest = versions
        .filter((v) => !v.isDefault)
        .sort((a, b) => Number(a.versionId) - Number(b.versionId))[0];
      if (oldest) {
        step = `deletePolicyVersion ${oldest.versionId}`;
        await iot.deletePolicyVersion(c.policyName, oldest.versionId);
      }
    }
    step = "createPolicyVersion";
    await iot.createPolicyVersion(c.policyName, c.policyDocument, true);
  } catch (err) {
    throw rolledForward(step, err, touched, "retry with the same idempotency key");
  }
  return succeeded(touched, { command: "policy-version", policyName: c.policyName });
}

async function groupPolicy(c: GroupPolicyCommand, deps: CommandDeps): Promise<CommandResult> {
  const { iot } = deps;
  if (!(await iot.describeThingGroup(c.groupName)))
    throw commandRejected(404, "ThingGroupNotFound", `thing group '${c.groupName}' does not exist`);
  if (!(await iot.getPolicy(c.policyName)))
    throw commandRejected(404, "PolicyNotFound", `policy '${c.policyName}' does not exist`);
  const target = { type: "thingGroup" as const, groupName: c.groupName };
  const touched = [keys.policyTarget(c.policyName, target)];
  try {
    if (c.command === "attach-group-policy") await iot.attachPolicy(c.policyName, target);
    else await iot.detachPolicy(c.policyName, target);
  } catch (err) {
    throw commandFailed(c.command, err, true, touched);
  }
  return succeeded(touched, { command: c.command, policyName: c.policyName, groupName: c.groupName });
}

/** Runs a validated command. Throws CommandRejected (nothing changed) or CommandFailed. */
export function runCommand(command: Command, deps: CommandDeps): Promise<CommandResult> {
  switch (command.command) {
    case "onboard":
      return onboard(command, deps);
    case "suspend":
    case "resume":
      return changeStatus(command, deps);
    case "decommission":
      return decommission(command, deps);
    case "revoke":
      return revoke(command, deps);
    case "rotate":
      return rotate(command, deps);
    case "policy-version":
      return policyVersion(command, deps);
    case "attach-group-policy":
    case "detach-group-policy":
      return groupPolicy(command, deps);
  }
}
