/**
 * Snapshot: enumerates one region's registry as desired states per resource key, for backfill
 * (into the ops table) and for the reconciler (compare and repair). An async generator of pages:
 * memory is bounded by the page size, never by the registry size. Every list call follows its
 * next token; every IoT call goes through the pacer (token buckets under the quotas, backoff on
 * throttling). Each page carries a cursor from which `snapshotRegion` resumes after it.
 *
 * Calls per resource: list calls return things with attributes and type, and thing types with
 * deprecation, so those cost ~1/250 call each. Per-resource calls remain where IoT has no list
 * form: DescribeThingGroup (attributes, parent), GetPolicy (default document), DescribeCertificate
 * (PEM, only when asked: the certificate id is the hash of the certificate, so comparing needs
 * only the status that ListCertificates returns), and for the attachments one ListThingPrincipals
 * per thing, one ListThingsInThingGroup per group and one ListTargetsForPolicy per policy.
 * (ListPrincipalThings per certificate would cost as many calls when things have a certificate
 * each, but IAM cannot scope it to a resource and its quota is not published.)
 */
import {
  keyOf,
  policyState,
  RESOURCE_KINDS,
  type DesiredState,
  type ResourceKind,
} from "../registry/records.js";
import { wrapPort, type IotRegistryPort } from "../registry/iotPort.js";
import type { Pacer } from "../replication/pacing.js";
import { wrapListPort, type IotListPort } from "./listPort.js";
import type { Page } from "../shared/ports.js";

/** The kinds in dependency order (what a page of a later kind refers to was enumerated before). */
export const SNAPSHOT_KINDS: readonly ResourceKind[] = RESOURCE_KINDS;

export interface SnapshotEntry {
  key: string;
  kind: ResourceKind;
  state: DesiredState;
}

/** Where an enumeration stands; `snapshotRegion` resumes right after the page that returned it. */
export interface SnapshotCursor {
  kind: ResourceKind;
  /** Token of the list page to work on next (the outer list for attachment kinds); absent: the first page. */
  page?: string;
  /** Attachment kinds: the outer item (group, thing, policy) of that page reached so far. */
  item?: {
    name: string;
    /** Its index in the outer page, to find it again cheaply. */
    index: number;
    /** Inner token to continue the item with; absent: the item is complete. */
    next?: string;
  };
  /** The kind is complete. */
  done?: boolean;
}

export interface SnapshotPage {
  kind: ResourceKind;
  entries: SnapshotEntry[];
  /** The position right after this page. */
  cursor: SnapshotCursor;
}

export interface SnapshotDeps {
  list: IotListPort;
  /** For the per-resource reads (DescribeThingGroup, GetPolicy, DescribeCertificate). */
  iot: IotRegistryPort;
  pacer: Pacer;
}

export interface SnapshotOptions {
  /** Kinds to enumerate, in SNAPSHOT_KINDS order; default all. */
  kinds?: readonly ResourceKind[];
  /** Continue after this cursor (from a page of an earlier run). */
  resumeFrom?: SnapshotCursor;
  /**
   * Read each certificate's PEM (one DescribeCertificate each, 10 TPS by default); default true.
   * Without it a certificate's `pem` is "" and only its status is known (enough to compare).
   */
  certificatePem?: boolean;
  /**
   * Attachment entries gathered before a page is yielded; default 250. A page holds fewer than
   * this plus one list page (at most 250), so memory does not grow with the registry.
   */
  pageSize?: number;
  /**
   * Only the `principal` entries of things whose name falls in this shard (`shardOf(name, count)
   * === index`); default all. ListThings still pages through every thing, ListThingPrincipals is
   * called only for the shard's: the scheduled reconciler splits its most expensive kind this way
   * over several invocations, both regions filtered alike so that each shard compares completely.
   */
  principalShard?: { index: number; count: number };
}

/** A stable shard of a thing name: FNV-1a 32-bit of its UTF-8 bytes, mod `count`. */
export function shardOf(name: string, count: number): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(name, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % count;
}

export const isAttachmentKind = (kind: ResourceKind) =>
  kind === "membership" || kind === "principal" || kind === "policyTarget";

function entry(kind: ResourceKind, state: DesiredState): SnapshotEntry {
  return { key: keyOf(kind, state as never), kind, state };
}

/** One region's registry, page by page, in SNAPSHOT_KINDS order. */
export async function* snapshotRegion(
  deps: SnapshotDeps,
  options: SnapshotOptions = {},
): AsyncGenerator<SnapshotPage> {
  const kinds = options.kinds ?? SNAPSHOT_KINDS;
  for (const k of kinds)
    if (!SNAPSHOT_KINDS.includes(k))
      throw new Error(`unknown resource kind '${k}'; expected one of ${SNAPSHOT_KINDS.join(", ")}`);
  const pageSize = options.pageSize ?? 250;
  if (!Number.isInteger(pageSize) || pageSize < 1)
    throw new Error(`snapshot page size must be a positive whole number, got ${pageSize}`);
  const resume = options.resumeFrom;
  if (resume && !SNAPSHOT_KINDS.includes(resume.kind))
    throw new Error(`checkpoint cursor names an unknown kind '${String(resume.kind)}'`);
  const run = <T>(api: string, call: () => Promise<T>) => deps.pacer.run(api, call);
  const list = wrapListPort(deps.list, run);
  const iot = wrapPort(deps.iot, run);
  const withPem = options.certificatePem ?? true;
  const shard = options.principalShard;
  if (shard && !(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index)))
    throw new Error(`principal shard must be whole numbers with count >= 1, got ${JSON.stringify(shard)}`);
  if (shard && (shard.index < 0 || shard.index >= shard.count))
    throw new Error(`principal shard index ${shard.index} is outside 0..${shard.count - 1}`);

  const order = (k: ResourceKind) => SNAPSHOT_KINDS.indexOf(k);
  for (const kind of [...kinds].sort((a, b) => order(a) - order(b))) {
    let from: SnapshotCursor | undefined;
    if (resume) {
      if (order(kind) < order(resume.kind)) continue;
      if (kind === resume.kind) {
        if (resume.done) continue;
        from = resume;
      }
    }
    if (isAttachmentKind(kind)) yield* attachmentPages(kind, list, pageSize, from, shard);
    else yield* flatPages(kind, list, iot, withPem, from);
  }
}

async function* flatPages(
  kind: ResourceKind,
  list: IotListPort,
  iot: IotRegistryPort,
  withPem: boolean,
  from: SnapshotCursor | undefined,
): AsyncGenerator<SnapshotPage> {
  let token = from?.page;
  for (;;) {
    const entries: SnapshotEntry[] = [];
    let next: string | undefined;
    switch (kind) {
      case "thingType": {
        const p = await list.listThingTypes(token);
        for (const t of p.items) entries.push(entry(kind, t));
        next = p.next;
        break;
      }
      case "thing": {
        const p = await list.listThings(token);
        for (const t of p.items) entries.push(entry(kind, t));
        next = p.next;
        break;
      }
      case "thingGroup": {
        const p = await list.listThingGroups(token);
        for (const name of p.items) {
          const g = await iot.describeThingGroup(name);
          if (g) entries.push(entry(kind, g)); // deleted since the list call: nothing to report
        }
        next = p.next;
        break;
      }
      case "policy": {
        const p = await list.listPolicies(token);
        for (const name of p.items) {
          const got = policyState(await iot.getPolicy(name));
          if (got) entries.push(entry(kind, got));
        }
        next = p.next;
        break;
      }
      case "certificate": {
        const p = await list.listCertificates(token);
        for (const c of p.items) {
          if (!withPem) {
            entries.push(entry(kind, { certificateId: c.certificateId, pem: "", status: c.status }));
            continue;
          }
          const d = await iot.describeCertificate(c.certificateId);
          if (d) entries.push(entry(kind, d));
        }
        next = p.next;
        break;
      }
      default:
        throw new Error(`'${kind}' is not enumerated by a flat list`);
    }
    yield { kind, entries, cursor: next ? { kind, page: next } : { kind, done: true } };
    if (!next) return;
    token = next;
  }
}

interface Nested<O> {
  outer(token?: string): Promise<Page<O>>;
  nameOf(item: O): string;
  inner(item: O, token?: string): Promise<SnapshotEntry[] | Page<SnapshotEntry>>;
}

function nestedFor(
  kind: ResourceKind,
  list: IotListPort,
  shard?: { index: number; count: number },
): Nested<unknown> {
  const entries = <T>(p: Page<T>, build: (x: T) => DesiredState, k: ResourceKind): Page<SnapshotEntry> => ({
    items: p.items.map((x) => entry(k, build(x))),
    ...(p.next ? { next: p.next } : {}),
  });
  /** Outer items that are plain names (groups, policies), each with its own inner list. */
  const overNames = <T>(
    outer: (token?: string) => Promise<Page<string>>,
    inner: (name: string, token?: string) => Promise<Page<T>>,
    build: (name: string, item: T) => DesiredState,
  ): Nested<unknown> => ({
    outer,
    nameOf: (name) => name as string,
    inner: async (name, t) =>
      entries(await inner(name as string, t), (item) => build(name as string, item), kind),
  });
  switch (kind) {
    case "membership":
      return overNames(
        (t) => list.listThingGroups(t),
        (groupName, t) => list.listThingsInThingGroup(groupName, t),
        (groupName, thingName) => ({ groupName, thingName }),
      );
    case "principal":
      return {
        // The filter is deterministic, so a cursor's item index stays valid across runs.
        outer: async (t) => {
          const page = await list.listThings(t);
          return shard && shard.count > 1
            ? { ...page, items: page.items.filter((x) => shardOf(x.name, shard.count) === shard.index) }
            : page;
        },
        nameOf: (thing) => (thing as { name: string }).name,
        inner: async (thing, t) => {
          const thingName = (thing as { name: string }).name;
          return entries(
            await list.listThingPrincipals(thingName, t),
            (certificateId) => ({ thingName, certificateId }),
            kind,
          );
        },
      };
    case "policyTarget":
      return overNames(
        (t) => list.listPolicies(t),
        (policyName, t) => list.listTargetsForPolicy(policyName, t),
        (policyName, target) => ({ policyName, target }),
      );
    default:
      throw new Error(`'${kind}' is not an attachment kind`);
  }
}

/**
 * Attachments are listed per outer resource (things per group, certificates per thing, targets per
 * policy) and packed into pages of up to `pageSize` entries.
 */
async function* attachmentPages(
  kind: ResourceKind,
  list: IotListPort,
  pageSize: number,
  from: SnapshotCursor | undefined,
  shard?: { index: number; count: number },
): AsyncGenerator<SnapshotPage> {
  const nested = nestedFor(kind, list, shard);
  let outerToken = from?.page;
  let resumeItem = from?.item;
  let buffer: SnapshotEntry[] = [];
  for (;;) {
    const outer = await nested.outer(outerToken);
    let start = 0;
    let innerToken: string | undefined;
    if (resumeItem) {
      const at =
        nested.nameOf(outer.items[resumeItem.index]) === resumeItem.name
          ? resumeItem.index
          : outer.items.findIndex((o) => nested.nameOf(o) === resumeItem!.name);
      // An item gone from the page since the checkpoint: redo the page (rewrites are idempotent).
      if (at >= 0) {
        start = resumeItem.next ? at : at + 1;
        innerToken = resumeItem.next;
      }
      resumeItem = undefined;
    }
    for (let i = start; i < outer.items.length; i++) {
      const item = outer.items[i];
      let token = i === start ? innerToken : undefined;
      do {
        const got = await nested.inner(item, token);
        const p = Array.isArray(got) ? { items: got } : got;
        buffer.push(...p.items);
        token = p.next;
        const atEnd = !token && i === outer.items.length - 1;
        if (buffer.length >= pageSize && !atEnd) {
          const cursor: SnapshotCursor = {
            kind,
            ...(outerToken ? { page: outerToken } : {}),
            item: { name: nested.nameOf(item), index: i, ...(token ? { next: token } : {}) },
          };
          yield { kind, entries: buffer, cursor };
          buffer = [];
        }
      } while (token);
    }
    const next = outer.next;
    yield { kind, entries: buffer, cursor: next ? { kind, page: next } : { kind, done: true } };
    buffer = [];
    if (!next) return;
    outerToken = next;
  }
}
