/**
 * The IoT list APIs the backfill and the reconciler enumerate a registry with, one page per call,
 * in the record model's terms. Every method takes the token of the page to fetch and returns the
 * token of the next one (absent on the last page), so callers decide how far to go and can resume.
 * A list scoped to a resource that vanished meanwhile (a group, certificate or policy deleted
 * between two calls) is an empty last page, not an error.
 */
import type * as IotSdk from "@aws-sdk/client-iot";
import type { CertificateStatus, PolicyTargetRef, ThingState, ThingTypeState } from "../registry/records.js";
import { isNotFound } from "../shared/errors.js";
import { wrapMethods, type Page, type RunCall } from "../shared/ports.js";
import { certIdOfArn, groupNames, policyNames, targetRefOfArn } from "../registry/iotPort.js";

export interface CertificateSummary {
  certificateId: string;
  certificateArn: string;
  status: CertificateStatus;
}

export interface IotListPort {
  /** ListThings: names with attributes and type, so no DescribeThing per thing. */
  listThings(next?: string): Promise<Page<ThingState>>;
  /** ListThingTypes: properties and deprecation, so no DescribeThingType per type. */
  listThingTypes(next?: string): Promise<Page<ThingTypeState>>;
  /** ListThingGroups: names only (attributes and parent need DescribeThingGroup). */
  listThingGroups(next?: string): Promise<Page<string>>;
  /** ListThingsInThingGroup (direct members only). */
  listThingsInThingGroup(groupName: string, next?: string): Promise<Page<string>>;
  /** ListCertificates: id, ARN and status (the PEM needs DescribeCertificate). */
  listCertificates(next?: string): Promise<Page<CertificateSummary>>;
  /** ListThingPrincipals: the certificate ids attached to a thing (other principal types are not replicated). */
  listThingPrincipals(thingName: string, next?: string): Promise<Page<string>>;
  /** ListPolicies: names only (the default document needs GetPolicy). */
  listPolicies(next?: string): Promise<Page<string>>;
  /** ListTargetsForPolicy: certificates and thing groups (other principal types are not replicated). */
  listTargetsForPolicy(policyName: string, next?: string): Promise<Page<PolicyTargetRef>>;
}

/** Every method with the IoT API it calls, for pacing and IAM. */
export const LIST_PORT_API: Record<keyof IotListPort, string> = {
  listThings: "ListThings",
  listThingTypes: "ListThingTypes",
  listThingGroups: "ListThingGroups",
  listThingsInThingGroup: "ListThingsInThingGroup",
  listCertificates: "ListCertificates",
  listThingPrincipals: "ListThingPrincipals",
  listPolicies: "ListPolicies",
  listTargetsForPolicy: "ListTargetsForPolicy",
};

/** Wraps every method so that each call goes through `run(api, call)` (the pacer). */
export const wrapListPort = (port: IotListPort, run: RunCall): IotListPort =>
  wrapMethods(port, LIST_PORT_API, run);

/** The largest page every one of these APIs accepts. */
export const MAX_PAGE_SIZE = 250;

async function emptyIfGone<T>(p: Promise<Page<T>>): Promise<Page<T>> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return { items: [] };
    throw err;
  }
}

const page = <T>(items: T[], next: string | undefined | null): Page<T> =>
  next ? { items, next } : { items };

/**
 * The list port over an SDK v3 IoT client; the SDK module is passed in so that deployed callbacks
 * can `require` it inside their body (DESIGN.md §8).
 */
export function listPortFromSdk(
  sdk: typeof IotSdk,
  client: IotSdk.IoTClient,
  pageSize: number = MAX_PAGE_SIZE,
): IotListPort {
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
    throw new Error(`list page size must be a whole number from 1 to ${MAX_PAGE_SIZE}, got ${pageSize}`);
  const send = <T>(command: unknown) => client.send(command as never) as Promise<T>;
  return {
    async listThings(next) {
      const out = await send<IotSdk.ListThingsCommandOutput>(
        new sdk.ListThingsCommand({ nextToken: next, maxResults: pageSize }),
      );
      const items = (out.things ?? []).flatMap((t) =>
        t.thingName
          ? [
              {
                name: t.thingName,
                ...(t.thingTypeName ? { thingTypeName: t.thingTypeName } : {}),
                attributes: { ...(t.attributes ?? {}) },
              },
            ]
          : [],
      );
      return page(items, out.nextToken);
    },
    async listThingTypes(next) {
      const out = await send<IotSdk.ListThingTypesCommandOutput>(
        new sdk.ListThingTypesCommand({ nextToken: next, maxResults: pageSize }),
      );
      const items = (out.thingTypes ?? []).flatMap((t) => {
        if (!t.thingTypeName) return [];
        const props = t.thingTypeProperties ?? {};
        return [
          {
            name: t.thingTypeName,
            ...(props.thingTypeDescription ? { description: props.thingTypeDescription } : {}),
            searchableAttributes: [...(props.searchableAttributes ?? [])],
            deprecated: t.thingTypeMetadata?.deprecated === true,
          },
        ];
      });
      return page(items, out.nextToken);
    },
    async listThingGroups(next) {
      const out = await send<IotSdk.ListThingGroupsCommandOutput>(
        new sdk.ListThingGroupsCommand({ nextToken: next, maxResults: pageSize }),
      );
      return page(groupNames(out.thingGroups), out.nextToken);
    },
    async listThingsInThingGroup(groupName, next) {
      return emptyIfGone(
        send<IotSdk.ListThingsInThingGroupCommandOutput>(
          new sdk.ListThingsInThingGroupCommand({
            thingGroupName: groupName,
            recursive: false,
            nextToken: next,
            maxResults: pageSize,
          }),
        ).then((out) => page(out.things ?? [], out.nextToken)),
      );
    },
    async listCertificates(next) {
      const out = await send<IotSdk.ListCertificatesCommandOutput>(
        new sdk.ListCertificatesCommand({ marker: next, pageSize }),
      );
      const items = (out.certificates ?? []).flatMap((c) =>
        c.certificateId && c.certificateArn
          ? [
              {
                certificateId: c.certificateId,
                certificateArn: c.certificateArn,
                // PENDING_TRANSFER and friends are not replicated states; they compare as INACTIVE.
                status: (["ACTIVE", "REVOKED"].includes(String(c.status))
                  ? c.status
                  : "INACTIVE") as CertificateStatus,
              },
            ]
          : [],
      );
      return page(items, out.nextMarker);
    },
    async listThingPrincipals(thingName, next) {
      return emptyIfGone(
        send<IotSdk.ListThingPrincipalsCommandOutput>(
          new sdk.ListThingPrincipalsCommand({ thingName, nextToken: next, maxResults: pageSize }),
        ).then((out) =>
          page(
            (out.principals ?? []).flatMap((arn) => certIdOfArn(arn) ?? []),
            out.nextToken,
          ),
        ),
      );
    },
    async listPolicies(next) {
      const out = await send<IotSdk.ListPoliciesCommandOutput>(
        new sdk.ListPoliciesCommand({ marker: next, pageSize }),
      );
      return page(policyNames(out.policies), out.nextMarker);
    },
    async listTargetsForPolicy(policyName, next) {
      return emptyIfGone(
        send<IotSdk.ListTargetsForPolicyCommandOutput>(
          new sdk.ListTargetsForPolicyCommand({ policyName, marker: next, pageSize }),
        ).then((out) =>
          page(
            (out.targets ?? []).flatMap((arn) => {
              const t = targetRefOfArn(arn);
              return t ? [t] : [];
            }),
            out.nextMarker,
          ),
        ),
      );
    },
  };
}
