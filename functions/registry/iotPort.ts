/**
 * The narrow view of the IoT registry API that capture and replay use, in the record model's own
 * terms (names and certificate ids, not ARNs). `describe*`/`get*` return null for a missing
 * resource; deletes of a missing resource succeed (AWS semantics; moto errors, the adapter hides it).
 */
import type * as IotSdk from "@aws-sdk/client-iot";
import type { CertificateStatus, PolicyTargetRef } from "./records.js";
import { isNotFound } from "../shared/errors.js";
import { allPages, wrapMethods, type RunCall } from "../shared/ports.js";

export interface ThingDescription {
  name: string;
  thingTypeName?: string;
  attributes: Record<string, string>;
}
export interface ThingTypeDescription {
  name: string;
  description?: string;
  searchableAttributes: string[];
  deprecated: boolean;
}
export interface ThingGroupDescription {
  name: string;
  parentGroupName?: string;
  description?: string;
  attributes: Record<string, string>;
}
export interface CertificateDescription {
  certificateId: string;
  pem: string;
  status: CertificateStatus;
}
export interface PolicyDescription {
  name: string;
  /** Document of the default version. */
  document: string;
  defaultVersionId: string;
}
export interface PolicyVersionInfo {
  versionId: string;
  isDefault: boolean;
}

export interface IotRegistryPort {
  describeThing(name: string): Promise<ThingDescription | null>;
  createThing(thing: ThingDescription): Promise<void>;
  /** Sets the type (or removes it when absent) and attributes to exactly the given ones. */
  updateThing(
    thing: ThingDescription,
    current: Pick<ThingDescription, "attributes" | "thingTypeName">,
  ): Promise<void>;
  deleteThing(name: string): Promise<void>;

  describeThingType(name: string): Promise<ThingTypeDescription | null>;
  createThingType(type: ThingTypeDescription): Promise<void>;
  deprecateThingType(name: string, undo: boolean): Promise<void>;
  deleteThingType(name: string): Promise<void>;

  describeThingGroup(name: string): Promise<ThingGroupDescription | null>;
  createThingGroup(group: ThingGroupDescription): Promise<void>;
  updateThingGroup(
    group: ThingGroupDescription,
    current: Pick<ThingGroupDescription, "attributes">,
  ): Promise<void>;
  deleteThingGroup(name: string): Promise<void>;
  /** Direct children of a group. */
  listChildGroups(name: string): Promise<string[]>;

  /** Names of the static groups the thing is in; empty when the thing does not exist. */
  listThingGroupsForThing(thingName: string): Promise<string[]>;
  addThingToThingGroup(groupName: string, thingName: string): Promise<void>;
  removeThingFromThingGroup(groupName: string, thingName: string): Promise<void>;

  describeCertificate(certificateId: string): Promise<CertificateDescription | null>;
  /** Registers a PEM without a CA; returns the certificate id IoT computed. */
  registerCertificateWithoutCA(pem: string, status: CertificateStatus): Promise<string>;
  updateCertificate(certificateId: string, status: CertificateStatus): Promise<void>;
  deleteCertificate(certificateId: string): Promise<void>;

  getPolicy(name: string): Promise<PolicyDescription | null>;
  createPolicy(name: string, document: string): Promise<void>;
  listPolicyVersions(name: string): Promise<PolicyVersionInfo[]>;
  createPolicyVersion(name: string, document: string, setAsDefault: boolean): Promise<void>;
  setDefaultPolicyVersion(name: string, versionId: string): Promise<void>;
  deletePolicyVersion(name: string, versionId: string): Promise<void>;
  deletePolicy(name: string): Promise<void>;

  /** Certificate ids attached to a thing (other principal types are not replicated); empty when the thing does not exist. */
  listThingPrincipals(thingName: string): Promise<string[]>;
  attachThingPrincipal(thingName: string, certificateId: string): Promise<void>;
  detachThingPrincipal(thingName: string, certificateId: string): Promise<void>;

  /** Policies attached to a certificate or thing group; empty when the target does not exist. */
  listAttachedPolicies(target: PolicyTargetRef): Promise<string[]>;
  /** Targets of a policy among certificates and thing groups; empty when the policy does not exist. */
  listTargetsForPolicy(policyName: string): Promise<PolicyTargetRef[]>;
  attachPolicy(policyName: string, target: PolicyTargetRef): Promise<void>;
  detachPolicy(policyName: string, target: PolicyTargetRef): Promise<void>;
}

/** Every method of the port with the IoT API it calls, for pacing. */
export const PORT_API: Record<keyof IotRegistryPort, string> = {
  describeThing: "DescribeThing",
  createThing: "CreateThing",
  updateThing: "UpdateThing",
  deleteThing: "DeleteThing",
  describeThingType: "DescribeThingType",
  createThingType: "CreateThingType",
  deprecateThingType: "DeprecateThingType",
  deleteThingType: "DeleteThingType",
  describeThingGroup: "DescribeThingGroup",
  createThingGroup: "CreateThingGroup",
  updateThingGroup: "UpdateThingGroup",
  deleteThingGroup: "DeleteThingGroup",
  listChildGroups: "ListThingGroups",
  listThingGroupsForThing: "ListThingGroupsForThing",
  addThingToThingGroup: "AddThingToThingGroup",
  removeThingFromThingGroup: "RemoveThingFromThingGroup",
  describeCertificate: "DescribeCertificate",
  registerCertificateWithoutCA: "RegisterCertificateWithoutCA",
  updateCertificate: "UpdateCertificate",
  deleteCertificate: "DeleteCertificate",
  getPolicy: "GetPolicy",
  createPolicy: "CreatePolicy",
  listPolicyVersions: "ListPolicyVersions",
  createPolicyVersion: "CreatePolicyVersion",
  setDefaultPolicyVersion: "SetDefaultPolicyVersion",
  deletePolicyVersion: "DeletePolicyVersion",
  deletePolicy: "DeletePolicy",
  listThingPrincipals: "ListThingPrincipals",
  attachThingPrincipal: "AttachThingPrincipal",
  detachThingPrincipal: "DetachThingPrincipal",
  listAttachedPolicies: "ListAttachedPolicies",
  listTargetsForPolicy: "ListTargetsForPolicy",
  attachPolicy: "AttachPolicy",
  detachPolicy: "DetachPolicy",
};

/** Wraps every port method so that each call goes through `run(api, call)` (the pacer). */
export const wrapPort = (port: IotRegistryPort, run: RunCall): IotRegistryPort =>
  wrapMethods(port, PORT_API, run);

type IotModule = typeof IotSdk;
type IotClient = IotSdk.IoTClient;

// A plain comparison, not a module-level Set: Pulumi's closure serializer turns a captured Set into a plain object.

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}
/** Every page of an SDK list call; a resource that is gone lists nothing. */
async function listAll<O, T>(
  call: (next?: string) => Promise<O>,
  read: (out: O) => { items: T[]; next?: string },
): Promise<T[]> {
  return allPages(async (next) => {
    const out = await orNull(call(next));
    return out ? read(out) : { items: [] };
  });
}
async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** The certificate id of a certificate ARN; undefined for any other principal. */
export const certIdOfArn = (arn: string) =>
  arn.includes(":cert/") ? arn.slice(arn.lastIndexOf("/") + 1) : undefined;

/** A policy target ARN in the record model's terms: a certificate or a thing group (nothing else is replicated). */
export function targetRefOfArn(arn: string): PolicyTargetRef | undefined {
  const certificateId = certIdOfArn(arn);
  if (certificateId) return { type: "certificate", certificateId };
  if (arn.includes(":thinggroup/"))
    return { type: "thingGroup", groupName: arn.slice(arn.lastIndexOf("/") + 1) };
  return undefined;
}

/** The names a list answer carries (ListThingGroups and friends; ListPolicies and friends). */
export const groupNames = (groups: { groupName?: string }[] | undefined): string[] =>
  (groups ?? []).flatMap((g) => (g.groupName ? [g.groupName] : []));
export const policyNames = (policies: { policyName?: string }[] | undefined): string[] =>
  (policies ?? []).flatMap((p) => (p.policyName ? [p.policyName] : []));

/**
 * The IoT ARN prefix (`arn:<partition>:iot:<region>:<account>:`) of the account and region a Lambda
 * function runs in, from its own ARN (the context's `invokedFunctionArn`); undefined for anything
 * else. Replay writes IoT in its own region and account, so its attachments need no describe.
 */
export function iotArnPrefixOf(functionArn: string | undefined): string | undefined {
  const m =
    functionArn === undefined ? null : /^arn:([^:]+):lambda:([^:]+):(\d{12}):function:/.exec(functionArn);
  return m ? `arn:${m[1]}:iot:${m[2]}:${m[3]}:` : undefined;
}

export interface IotPortOptions {
  /**
   * The account's IoT ARN prefix when the caller knows it (replay: `iotArnPrefixOf` its function's
   * ARN); read when the port needs an ARN it has not learned. Without it, the first describe teaches it.
   */
  knownArnPrefix?: () => string | undefined;
}

/**
 * The port over an SDK v3 IoT client. The SDK module is passed in (not imported) so that deployed
 * callbacks can `require` it inside their body (DESIGN.md §8).
 */
export function iotPortFromSdk(
  sdk: IotModule,
  client: IotClient,
  options: IotPortOptions = {},
): IotRegistryPort {
  const send = <T>(command: unknown) => client.send(command as never) as Promise<T>;
  // ARNs are needed for attachments; they are learned from describe answers and cached.
  const certArns = new Map<string, string>();
  const groupArns = new Map<string, string>();
  // `arn:<partition>:iot:<region>:<account>:`, learned from the first ARN seen: a certificate's ARN is
  // this prefix + `cert/<id>`, a group's + `thinggroup/<name>`, so attachments need no describe
  // (DescribeCertificate's quota is 10 TPS, AttachThingPrincipal's 100). A wrong guess fails the
  // attach with ResourceNotFoundException, as a missing resource would.
  let arnPrefix: string | undefined;
  const learnPrefix = (arn: string | undefined) => {
    const m = arn === undefined ? null : /^arn:[^:]+:iot:[^:]+:[^:]+:/.exec(arn);
    if (m) arnPrefix = m[0];
  };

  // A port that knows no ARN yet (a cold container) learns the prefix from its first describe; the
  // calls that need an ARN meanwhile wait for that describe rather than send their own. A group of
  // ten attachments otherwise sent ten DescribeCertificate calls at once, outside the pacer (the
  // pacer starts the attach, not the describe inside it), on a 10 TPS quota: 88 throttled with 16
  // cold workers in `bench replay --workers 16`.
  let learning: Promise<unknown> | undefined;
  const resolveArn = async (
    cached: () => string | undefined,
    describe: () => Promise<string | undefined>,
  ): Promise<string | null> => {
    arnPrefix ??= options.knownArnPrefix?.();
    if (cached() === undefined && learning) await learning;
    const known = cached();
    if (known !== undefined) return known;
    const answer = describe();
    const first = arnPrefix === undefined && learning === undefined;
    if (first) learning = answer.catch(() => undefined);
    try {
      const arn = await answer;
      learnPrefix(arn);
      return arn ?? null;
    } finally {
      if (first) learning = undefined;
    }
  };
  const certArn = (certificateId: string): Promise<string | null> =>
    resolveArn(
      () => certArns.get(certificateId) ?? (arnPrefix && `${arnPrefix}cert/${certificateId}`),
      async () => {
        const out = await orNull(
          send<IotSdk.DescribeCertificateCommandOutput>(
            new sdk.DescribeCertificateCommand({ certificateId }),
          ),
        );
        const arn = out?.certificateDescription?.certificateArn;
        if (arn) certArns.set(certificateId, arn);
        return arn;
      },
    );
  const groupArn = (groupName: string): Promise<string | null> =>
    resolveArn(
      () => groupArns.get(groupName) ?? (arnPrefix && `${arnPrefix}thinggroup/${groupName}`),
      async () => {
        const out = await orNull(
          send<IotSdk.DescribeThingGroupCommandOutput>(
            new sdk.DescribeThingGroupCommand({ thingGroupName: groupName }),
          ),
        );
        const arn = out?.thingGroupArn;
        if (arn) groupArns.set(groupName, arn);
        return arn;
      },
    );
  const targetArn = async (target: PolicyTargetRef): Promise<string | null> =>
    target.type === "certificate" ? certArn(target.certificateId) : groupArn(target.groupName);
  const requireArn = async (target: PolicyTargetRef): Promise<string> => {
    const arn = await targetArn(target);
    if (!arn) {
      const err = new Error(
        target.type === "certificate"
          ? `certificate ${target.certificateId} does not exist`
          : `thing group ${target.groupName} does not exist`,
      );
      err.name = "ResourceNotFoundException";
      throw err;
    }
    return arn;
  };
  const targetOfArn = (arn: string): PolicyTargetRef | undefined => {
    const t = targetRefOfArn(arn);
    if (t?.type === "certificate") certArns.set(t.certificateId, arn);
    if (t?.type === "thingGroup") groupArns.set(t.groupName, arn);
    return t;
  };
  const attributePayload = (desired: Record<string, string>, current: Record<string, string>) => {
    // merge=true with "" for removed keys is the documented way to remove attributes.
    const attributes: Record<string, string> = { ...desired };
    for (const k of Object.keys(current)) if (!(k in desired)) attributes[k] = "";
    return { attributes, merge: true };
  };

  return {
    async describeThing(name) {
      const out = await orNull(
        send<IotSdk.DescribeThingCommandOutput>(new sdk.DescribeThingCommand({ thingName: name })),
      );
      if (!out) return null;
      return {
        name,
        ...(out.thingTypeName ? { thingTypeName: out.thingTypeName } : {}),
        attributes: { ...(out.attributes ?? {}) },
      };
    },
    async createThing(thing) {
      await send(
        new sdk.CreateThingCommand({
          thingName: thing.name,
          thingTypeName: thing.thingTypeName,
          attributePayload: { attributes: thing.attributes },
        }),
      );
    },
    async updateThing(thing, current) {
      await send(
        new sdk.UpdateThingCommand({
          thingName: thing.name,
          ...(thing.thingTypeName
            ? { thingTypeName: thing.thingTypeName }
            : current.thingTypeName
              ? { removeThingType: true }
              : {}),
          attributePayload: attributePayload(thing.attributes, current.attributes),
        }),
      );
    },
    async deleteThing(name) {
      await ignoreNotFound(send(new sdk.DeleteThingCommand({ thingName: name })));
    },

    async describeThingType(name) {
      const out = await orNull(
        send<IotSdk.DescribeThingTypeCommandOutput>(
          new sdk.DescribeThingTypeCommand({ thingTypeName: name }),
        ),
      );
      if (!out) return null;
      const props = out.thingTypeProperties ?? {};
      return {
        name,
        ...(props.thingTypeDescription ? { description: props.thingTypeDescription } : {}),
        searchableAttributes: [...(props.searchableAttributes ?? [])],
        deprecated: out.thingTypeMetadata?.deprecated === true,
      };
    },
    async createThingType(type) {
      await send(
        new sdk.CreateThingTypeCommand({
          thingTypeName: type.name,
          thingTypeProperties: {
            ...(type.description ? { thingTypeDescription: type.description } : {}),
            searchableAttributes: type.searchableAttributes,
          },
        }),
      );
    },
    async deprecateThingType(name, undo) {
      await send(new sdk.DeprecateThingTypeCommand({ thingTypeName: name, undoDeprecate: undo }));
    },
    async deleteThingType(name) {
      await ignoreNotFound(send(new sdk.DeleteThingTypeCommand({ thingTypeName: name })));
    },

    async describeThingGroup(name) {
      const out = await orNull(
        send<IotSdk.DescribeThingGroupCommandOutput>(
          new sdk.DescribeThingGroupCommand({ thingGroupName: name }),
        ),
      );
      if (!out) return null;
      if (out.thingGroupArn) groupArns.set(name, out.thingGroupArn);
      const props = out.thingGroupProperties ?? {};
      const parent = out.thingGroupMetadata?.parentGroupName;
      return {
        name,
        ...(parent ? { parentGroupName: parent } : {}),
        ...(props.thingGroupDescription ? { description: props.thingGroupDescription } : {}),
        attributes: { ...(props.attributePayload?.attributes ?? {}) },
      };
    },
    async createThingGroup(group) {
      const out = await send<IotSdk.CreateThingGroupCommandOutput>(
        new sdk.CreateThingGroupCommand({
          thingGroupName: group.name,
          ...(group.parentGroupName ? { parentGroupName: group.parentGroupName } : {}),
          thingGroupProperties: {
            ...(group.description ? { thingGroupDescription: group.description } : {}),
            attributePayload: { attributes: group.attributes },
          },
        }),
      );
      if (out.thingGroupArn) groupArns.set(group.name, out.thingGroupArn);
    },
    async updateThingGroup(group, current) {
      await send(
        new sdk.UpdateThingGroupCommand({
          thingGroupName: group.name,
          thingGroupProperties: {
            thingGroupDescription: group.description ?? "",
            attributePayload: attributePayload(group.attributes, current.attributes),
          },
        }),
      );
    },
    async deleteThingGroup(name) {
      groupArns.delete(name);
      await ignoreNotFound(send(new sdk.DeleteThingGroupCommand({ thingGroupName: name })));
    },
    listChildGroups: (name) =>
      listAll(
        (nextToken) =>
          send<IotSdk.ListThingGroupsCommandOutput>(
            new sdk.ListThingGroupsCommand({ parentGroup: name, recursive: false, nextToken }),
          ),
        (out) => ({ items: groupNames(out.thingGroups), next: out.nextToken }),
      ),

    listThingGroupsForThing: (thingName) =>
      listAll(
        (nextToken) =>
          send<IotSdk.ListThingGroupsForThingCommandOutput>(
            new sdk.ListThingGroupsForThingCommand({ thingName, nextToken }),
          ),
        (out) => ({ items: groupNames(out.thingGroups), next: out.nextToken }),
      ),
    async addThingToThingGroup(groupName, thingName) {
      await send(new sdk.AddThingToThingGroupCommand({ thingGroupName: groupName, thingName }));
    },
    async removeThingFromThingGroup(groupName, thingName) {
      await ignoreNotFound(
        send(new sdk.RemoveThingFromThingGroupCommand({ thingGroupName: groupName, thingName })),
      );
    },

    async describeCertificate(certificateId) {
      const out = await orNull(
        send<IotSdk.DescribeCertificateCommandOutput>(new sdk.DescribeCertificateCommand({ certificateId })),
      );
      const d = out?.certificateDescription;
      if (!d) return null;
      if (d.certificateArn) certArns.set(certificateId, d.certificateArn);
      learnPrefix(d.certificateArn);
      return {
        certificateId,
        pem: d.certificatePem ?? "",
        // A certificate that cannot connect yet (PENDING_ACTIVATION after just-in-time registration,
        // REGISTER_INACTIVE, PENDING_TRANSFER) is INACTIVE in the record model.
        status: d.status === "ACTIVE" || d.status === "REVOKED" ? d.status : "INACTIVE",
      };
    },
    async registerCertificateWithoutCA(pem, status) {
      const out = await send<IotSdk.RegisterCertificateWithoutCACommandOutput>(
        new sdk.RegisterCertificateWithoutCACommand({ certificatePem: pem, status }),
      );
      if (!out.certificateId) throw new Error("RegisterCertificateWithoutCA returned no certificate id");
      if (out.certificateArn) certArns.set(out.certificateId, out.certificateArn);
      learnPrefix(out.certificateArn);
      return out.certificateId;
    },
    async updateCertificate(certificateId, status) {
      await send(new sdk.UpdateCertificateCommand({ certificateId, newStatus: status }));
    },
    async deleteCertificate(certificateId) {
      certArns.delete(certificateId);
      await ignoreNotFound(send(new sdk.DeleteCertificateCommand({ certificateId, forceDelete: true })));
    },

    async getPolicy(name) {
      const out = await orNull(
        send<IotSdk.GetPolicyCommandOutput>(new sdk.GetPolicyCommand({ policyName: name })),
      );
      if (!out) return null;
      return { name, document: out.policyDocument ?? "", defaultVersionId: out.defaultVersionId ?? "" };
    },
    async createPolicy(name, document) {
      await send(new sdk.CreatePolicyCommand({ policyName: name, policyDocument: document }));
    },
    async listPolicyVersions(name) {
      const out = await orNull(
        send<IotSdk.ListPolicyVersionsCommandOutput>(new sdk.ListPolicyVersionsCommand({ policyName: name })),
      );
      return (out?.policyVersions ?? []).map((v) => ({
        versionId: v.versionId ?? "",
        isDefault: v.isDefaultVersion === true,
      }));
    },
    async createPolicyVersion(name, document, setAsDefault) {
      await send(
        new sdk.CreatePolicyVersionCommand({ policyName: name, policyDocument: document, setAsDefault }),
      );
    },
    async setDefaultPolicyVersion(name, versionId) {
      await send(new sdk.SetDefaultPolicyVersionCommand({ policyName: name, policyVersionId: versionId }));
    },
    async deletePolicyVersion(name, versionId) {
      await ignoreNotFound(
        send(new sdk.DeletePolicyVersionCommand({ policyName: name, policyVersionId: versionId })),
      );
    },
    async deletePolicy(name) {
      await ignoreNotFound(send(new sdk.DeletePolicyCommand({ policyName: name })));
    },

    listThingPrincipals: (thingName) =>
      listAll(
        (nextToken) =>
          send<IotSdk.ListThingPrincipalsCommandOutput>(
            new sdk.ListThingPrincipalsCommand({ thingName, nextToken }),
          ),
        (out) => ({
          items: (out.principals ?? []).flatMap((arn) => {
            const id = certIdOfArn(arn);
            if (!id) return [];
            certArns.set(id, arn);
            return [id];
          }),
          next: out.nextToken,
        }),
      ),
    async attachThingPrincipal(thingName, certificateId) {
      const principal = await requireArn({ type: "certificate", certificateId });
      await send(new sdk.AttachThingPrincipalCommand({ thingName, principal }));
    },
    async detachThingPrincipal(thingName, certificateId) {
      const principal = await certArn(certificateId);
      if (!principal) return;
      await ignoreNotFound(send(new sdk.DetachThingPrincipalCommand({ thingName, principal })));
    },

    async listAttachedPolicies(target) {
      const arn = await targetArn(target);
      if (!arn) return [];
      return listAll(
        (marker) =>
          send<IotSdk.ListAttachedPoliciesCommandOutput>(
            new sdk.ListAttachedPoliciesCommand({ target: arn, marker, recursive: false }),
          ),
        (out) => ({ items: policyNames(out.policies), next: out.nextMarker }),
      );
    },
    listTargetsForPolicy: (policyName) =>
      listAll(
        (marker) =>
          send<IotSdk.ListTargetsForPolicyCommandOutput>(
            new sdk.ListTargetsForPolicyCommand({ policyName, marker }),
          ),
        (out) => ({
          items: (out.targets ?? []).flatMap((arn) => {
            const t = targetOfArn(arn);
            return t ? [t] : [];
          }),
          next: out.nextMarker,
        }),
      ),
    async attachPolicy(policyName, target) {
      await send(new sdk.AttachPolicyCommand({ policyName, target: await requireArn(target) }));
    },
    async detachPolicy(policyName, target) {
      const arn = await targetArn(target);
      if (!arn) return;
      await ignoreNotFound(send(new sdk.DetachPolicyCommand({ policyName, target: arn })));
    },
  };
}
