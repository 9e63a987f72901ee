/**
 * An in-memory registry behind the list and registry ports that paginates every list (moto does not
 * paginate ListCertificates, ListPolicies, ListThingGroups, ListThingsInThingGroup,
 * ListThingPrincipals or ListTargetsForPolicy), counts calls, and can fail or throttle on cue.
 */
import type { IotRegistryPort } from "../../functions/registry/iotPort.js";
import type {
  CertificateState,
  PolicyTargetRef,
  ThingGroupState,
  ThingState,
  ThingTypeState,
} from "../../functions/registry/records.js";
import {
  LIST_PORT_API,
  type CertificateSummary,
  type IotListPort,
} from "../../functions/reconcile/listPort.js";
import type { Page } from "../../functions/shared/ports.js";

export interface StubRegistry {
  types: ThingTypeState[];
  groups: ThingGroupState[];
  policies: { name: string; document: string }[];
  certs: CertificateState[];
  things: ThingState[];
  /** [group, thing] */
  memberships: [string, string][];
  /** [thing, certificateId] */
  principals: [string, string][];
  /** [policy, target] */
  targets: [string, PolicyTargetRef][];
}

/** `n` of every kind, each thing in a group, with a certificate and each certificate with a policy. */
export function stubRegistry(n: number): StubRegistry {
  const r: StubRegistry = {
    types: [],
    groups: [],
    policies: [],
    certs: [],
    things: [],
    memberships: [],
    principals: [],
    targets: [],
  };
  for (let i = 0; i < n; i++) {
    r.types.push({ name: `type-${i}`, searchableAttributes: [], deprecated: i % 2 === 0 });
    r.groups.push({
      name: `group-${i}`,
      attributes: { i: String(i) },
      ...(i > 0 ? { parentGroupName: "group-0" } : {}),
    });
    r.policies.push({
      name: `policy-${i}`,
      document: `{"Version":"2012-10-17","Statement":[{"Sid":"s${i}"}]}`,
    });
    const id = i.toString(16).padStart(64, "c");
    r.certs.push({ certificateId: id, pem: `PEM-${i}`, status: i % 3 === 0 ? "INACTIVE" : "ACTIVE" });
    r.things.push({ name: `thing-${i}`, thingTypeName: `type-${i}`, attributes: { n: String(i) } });
    r.memberships.push([`group-${i % 2}`, `thing-${i}`]);
    r.principals.push([`thing-${i}`, id]);
    r.targets.push([`policy-${i % 2}`, { type: "certificate", certificateId: id }]);
    if (i === 0) r.targets.push([`policy-0`, { type: "thingGroup", groupName: "group-0" }]);
  }
  return r;
}

export const certArn = (id: string) => `arn:aws:iot:eu-west-1:111111111111:cert/${id}`;

export interface StubPorts {
  list: IotListPort;
  iot: IotRegistryPort;
  /** API name per call, in order. */
  calls: string[];
}

export interface StubOptions {
  pageSize: number;
  /** Throw a non-retryable error on this call number (1-based) and every later one. */
  failFromCall?: number;
  /** Throw ThrottlingException on every n-th call. */
  throttleEvery?: number;
}

export function stubPorts(reg: StubRegistry, options: StubOptions): StubPorts {
  const calls: string[] = [];
  let n = 0;
  const call = (api: string) => {
    n++;
    if (options.failFromCall !== undefined && n >= options.failFromCall)
      throw Object.assign(new Error(`injected failure on call ${n} (${api})`), { name: "InjectedFailure" });
    if (options.throttleEvery && n % options.throttleEvery === 0)
      throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    calls.push(api);
  };
  const pageOf = <T>(items: T[], token?: string): Page<T> => {
    const start = token ? Number(token.replace("tok-", "")) : 0;
    if (!Number.isInteger(start)) throw new Error(`bad token ${token}`);
    const end = start + options.pageSize;
    return end < items.length
      ? { items: items.slice(start, end), next: `tok-${end}` }
      : { items: items.slice(start) };
  };
  /** One paged list call: counted (and failed or throttled as the options say), then its page. */
  const listed = async <T>(method: keyof IotListPort, items: T[], token?: string): Promise<Page<T>> => {
    call(LIST_PORT_API[method]);
    return pageOf(items, token);
  };
  /** The second members of the pairs whose first member is `owner`. */
  const of = <K, V>(pairs: [K, V][], owner: K): V[] => pairs.filter(([x]) => x === owner).map(([, v]) => v);
  const list: IotListPort = {
    listThings: (t) => listed("listThings", reg.things, t),
    listThingTypes: (t) => listed("listThingTypes", reg.types, t),
    listThingGroups: (t) =>
      listed(
        "listThingGroups",
        reg.groups.map((g) => g.name),
        t,
      ),
    listThingsInThingGroup: (g, t) => listed("listThingsInThingGroup", of(reg.memberships, g), t),
    listCertificates: (t) =>
      listed<CertificateSummary>(
        "listCertificates",
        reg.certs.map((c) => ({
          certificateId: c.certificateId,
          certificateArn: certArn(c.certificateId),
          status: c.status,
        })),
        t,
      ),
    listThingPrincipals: (thing, t) => listed("listThingPrincipals", of(reg.principals, thing), t),
    listPolicies: (t) =>
      listed(
        "listPolicies",
        reg.policies.map((p) => p.name),
        t,
      ),
    listTargetsForPolicy: (p, t) => listed("listTargetsForPolicy", of(reg.targets, p), t),
  };
  const unsupported = () => {
    throw new Error("not part of the stub registry");
  };
  const iot = new Proxy({} as IotRegistryPort, {
    get(_t, prop: string) {
      if (prop === "describeThingGroup")
        return async (name: string) => {
          call("DescribeThingGroup");
          return reg.groups.find((g) => g.name === name) ?? null;
        };
      if (prop === "getPolicy")
        return async (name: string) => {
          call("GetPolicy");
          const p = reg.policies.find((x) => x.name === name);
          return p ? { ...p, defaultVersionId: "1" } : null;
        };
      if (prop === "describeCertificate")
        return async (id: string) => {
          call("DescribeCertificate");
          return reg.certs.find((c) => c.certificateId === id) ?? null;
        };
      return unsupported;
    },
  });
  return { list, iot, calls };
}

/** Every key the stub registry holds. */
export function expectedKeys(reg: StubRegistry): string[] {
  return [
    ...reg.types.map((t) => `thingType#${t.name}`),
    ...reg.groups.map((g) => `thingGroup#${g.name}`),
    ...reg.policies.map((p) => `policy#${p.name}`),
    ...reg.certs.map((c) => `certificate#${c.certificateId}`),
    ...reg.things.map((t) => `thing#${t.name}`),
    ...reg.memberships.map(([g, t]) => `membership#${g}#${t}`),
    ...reg.principals.map(([t, c]) => `principal#${t}#${c}`),
    ...reg.targets.map(([p, t]) =>
      t.type === "certificate"
        ? `policyTarget#${p}#certificate#${t.certificateId}`
        : `policyTarget#${p}#thingGroup#${t.groupName}`,
    ),
  ].sort();
}
