import { describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import { snapshotRegion, type SnapshotPage } from "../../functions/reconcile/snapshot.js";
import { listPortFromSdk } from "../../functions/reconcile/listPort.js";
import { allPages } from "../../functions/shared/ports.js";
import { createPacer, type Clock } from "../../functions/replication/pacing.js";
import { fastPacer } from "./support.js";
import { expectedKeys, stubPorts, stubRegistry } from "./stubRegistry.js";

async function collect(gen: AsyncGenerator<SnapshotPage>): Promise<SnapshotPage[]> {
  const pages: SnapshotPage[] = [];
  for await (const p of gen) pages.push(p);
  return pages;
}
const keysOf = (pages: SnapshotPage[]) => pages.flatMap((p) => p.entries.map((e) => e.key));

describe("registry snapshot", () => {
  it("follows every list's next token: with two items per page every resource of every kind comes out once", async () => {
    const reg = stubRegistry(7);
    const ports = stubPorts(reg, { pageSize: 2 });
    const pages = await collect(snapshotRegion({ ...ports, pacer: fastPacer() }));
    const keys = keysOf(pages);
    expect([...keys].sort()).toEqual(expectedKeys(reg));
    expect(new Set(keys).size).toBe(keys.length);
    // More than one page of every listed kind was fetched.
    const count = (api: string) => ports.calls.filter((c) => c === api).length;
    for (const api of ["ListThings", "ListThingTypes", "ListCertificates", "ListPolicies"])
      expect(count(api)).toBeGreaterThan(3);
    // ListThingGroups runs once for groups and once more for memberships, 4 pages each.
    expect(count("ListThingGroups")).toBe(8);
    // group-0 and group-1 hold 4 and 3 members: 2 + 2 pages.
    expect(count("ListThingsInThingGroup")).toBe(7 + 2);
    // policy-0 has 5 targets (3 pages), policy-1 has 3 (2 pages), the other five 1 page each.
    expect(count("ListTargetsForPolicy")).toBe(3 + 2 + 5);
  });

  it("bounds every page by the page size plus one list page, not by the registry", async () => {
    const reg = stubRegistry(40);
    const pages = await collect(
      snapshotRegion({ ...stubPorts(reg, { pageSize: 4 }), pacer: fastPacer() }, { pageSize: 5 }),
    );
    expect(Math.max(...pages.map((p) => p.entries.length))).toBeLessThanOrEqual(5 + 4 - 1);
    expect(keysOf(pages).sort()).toEqual(expectedKeys(reg));
  });

  it("resuming after any page yields exactly the rest of the enumeration", async () => {
    const reg = stubRegistry(6);
    const full = await collect(
      snapshotRegion({ ...stubPorts(reg, { pageSize: 2 }), pacer: fastPacer() }, { pageSize: 3 }),
    );
    const all = keysOf(full);
    for (let k = 0; k < full.length; k++) {
      const rest = await collect(
        snapshotRegion(
          { ...stubPorts(reg, { pageSize: 2 }), pacer: fastPacer() },
          { pageSize: 3, resumeFrom: full[k].cursor },
        ),
      );
      expect([...keysOf(full.slice(0, k + 1)), ...keysOf(rest)], `after page ${k}`).toEqual(all);
    }
  });

  it("retries throttled calls with backoff and drops nothing", async () => {
    const reg = stubRegistry(5);
    const ports = stubPorts(reg, { pageSize: 2, throttleEvery: 4 });
    const slept: number[] = [];
    const clock: Clock = { now: () => 0, sleep: async (ms) => void slept.push(ms) };
    const pacer = createPacer({ rates: { ListThings: 1000 }, defaultRate: 1000, clock, random: () => 0.5 });
    const pages = await collect(snapshotRegion({ ...ports, pacer }));
    expect(keysOf(pages).sort()).toEqual(expectedKeys(reg));
    const throttles = Object.values(pacer.stats()).reduce((n, s) => n + s.throttles, 0);
    expect(throttles).toBeGreaterThan(5);
    expect(slept.some((ms) => ms > 0)).toBe(true);
  });

  it("without PEMs certificates cost no DescribeCertificate and carry their listed status", async () => {
    const reg = stubRegistry(4);
    const ports = stubPorts(reg, { pageSize: 250 });
    const pages = await collect(
      snapshotRegion({ ...ports, pacer: fastPacer() }, { kinds: ["certificate"], certificatePem: false }),
    );
    expect(ports.calls).toEqual(["ListCertificates"]);
    expect(pages[0].entries.map((e) => e.state)).toEqual(reg.certs.map((c) => ({ ...c, pem: "" })));
  });

  it("refuses an unknown kind or cursor with a message naming it", async () => {
    const ports = { ...stubPorts(stubRegistry(1), { pageSize: 2 }), pacer: fastPacer() };
    await expect(collect(snapshotRegion(ports, { kinds: ["gadget" as never] }))).rejects.toThrow(
      /unknown resource kind 'gadget'/,
    );
    await expect(collect(snapshotRegion(ports, { resumeFrom: { kind: "gadget" as never } }))).rejects.toThrow(
      /cursor names an unknown kind 'gadget'/,
    );
    await expect(collect(snapshotRegion(ports, { pageSize: 0 }))).rejects.toThrow(
      /page size must be a positive whole number/,
    );
  });
});

describe("list port over the SDK", () => {
  /** A client that answers each list command from canned pages keyed by the token it was sent. */
  function pagedClient(pages: Record<string, Record<string, unknown>[]>) {
    const sent: { command: string; input: Record<string, unknown> }[] = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        const name = command.constructor.name.replace(/Command$/, "");
        sent.push({ command: name, input: command.input });
        const token = String(command.input.nextToken ?? command.input.marker ?? "");
        const answer = pages[name]?.[token === "" ? 0 : Number(token)];
        if (!answer)
          throw Object.assign(new Error(`${name} not found`), { name: "ResourceNotFoundException" });
        return answer;
      },
    } as unknown as iotSdk.IoTClient;
    return { client, sent };
  }

  it("sends nextToken or marker as each API expects and reads back nextToken or nextMarker", async () => {
    const { client, sent } = pagedClient({
      ListCertificates: [
        {
          certificates: [
            { certificateId: "c1", certificateArn: "arn:aws:iot:r:1:cert/c1", status: "ACTIVE" },
          ],
          nextMarker: "1",
        },
        {
          certificates: [
            { certificateId: "c2", certificateArn: "arn:aws:iot:r:1:cert/c2", status: "PENDING_TRANSFER" },
          ],
        },
      ],
      ListPolicies: [
        { policies: [{ policyName: "p1" }], nextMarker: "1" },
        { policies: [{ policyName: "p2" }] },
      ],
      ListTargetsForPolicy: [
        { targets: ["arn:aws:iot:r:1:cert/c1", "arn:aws:cognito-identity:r:1:identity/x"], nextMarker: "1" },
        { targets: ["arn:aws:iot:r:1:thinggroup/g1"] },
      ],
      ListThingGroups: [
        { thingGroups: [{ groupName: "g1" }], nextToken: "1" },
        { thingGroups: [{ groupName: "g2" }] },
      ],
      ListThingsInThingGroup: [{ things: ["t1"], nextToken: "1" }, { things: ["t2"] }],
      ListThingPrincipals: [
        {
          principals: ["arn:aws:iot:r:1:cert/c1", "arn:aws:cognito-identity:r:1:identity/x"],
          nextToken: "1",
        },
        { principals: ["arn:aws:iot:r:1:cert/c3"] },
      ],
      ListThings: [
        { things: [{ thingName: "t1", thingTypeName: "s", attributes: { a: "1" } }], nextToken: "1" },
        { things: [{ thingName: "t2" }] },
      ],
      ListThingTypes: [
        {
          thingTypes: [
            {
              thingTypeName: "s",
              thingTypeProperties: { searchableAttributes: ["a"] },
              thingTypeMetadata: { deprecated: true },
            },
          ],
          nextToken: "1",
        },
        { thingTypes: [{ thingTypeName: "u" }] },
      ],
    });
    const port = listPortFromSdk(iotSdk, client, 100);
    expect(await allPages((t) => port.listCertificates(t))).toEqual([
      { certificateId: "c1", certificateArn: "arn:aws:iot:r:1:cert/c1", status: "ACTIVE" },
      { certificateId: "c2", certificateArn: "arn:aws:iot:r:1:cert/c2", status: "INACTIVE" },
    ]);
    expect(await allPages((t) => port.listPolicies(t))).toEqual(["p1", "p2"]);
    expect(await allPages((t) => port.listTargetsForPolicy("p1", t))).toEqual([
      { type: "certificate", certificateId: "c1" },
      { type: "thingGroup", groupName: "g1" },
    ]);
    expect(await allPages((t) => port.listThingGroups(t))).toEqual(["g1", "g2"]);
    expect(await allPages((t) => port.listThingsInThingGroup("g1", t))).toEqual(["t1", "t2"]);
    expect(await allPages((t) => port.listThingPrincipals("t1", t))).toEqual(["c1", "c3"]);
    expect(await allPages((t) => port.listThings(t))).toEqual([
      { name: "t1", thingTypeName: "s", attributes: { a: "1" } },
      { name: "t2", attributes: {} },
    ]);
    expect(await allPages((t) => port.listThingTypes(t))).toEqual([
      { name: "s", searchableAttributes: ["a"], deprecated: true },
      { name: "u", searchableAttributes: [], deprecated: false },
    ]);
    const marker = sent.filter((s) =>
      ["ListCertificates", "ListPolicies", "ListTargetsForPolicy"].includes(s.command),
    );
    expect(marker.every((s) => s.input.pageSize === 100 && s.input.nextToken === undefined)).toBe(true);
    expect(marker.filter((s) => s.input.marker === "1")).toHaveLength(3);
    const tokened = sent.filter((s) => !marker.includes(s));
    expect(tokened.every((s) => s.input.maxResults === 100 && s.input.marker === undefined)).toBe(true);
    expect(tokened.filter((s) => s.input.nextToken === "1")).toHaveLength(5);
  });

  it("a list scoped to a resource deleted meanwhile is an empty last page; an unscoped list failing is an error", async () => {
    const { client } = pagedClient({});
    const port = listPortFromSdk(iotSdk, client);
    expect(await port.listThingsInThingGroup("gone")).toEqual({ items: [] });
    expect(await port.listThingPrincipals("gone")).toEqual({ items: [] });
    expect(await port.listTargetsForPolicy("gone")).toEqual({ items: [] });
    await expect(port.listThings()).rejects.toThrow(/ListThings not found/);
  });

  it("refuses a page size IoT does not accept", () => {
    const { client } = pagedClient({});
    expect(() => listPortFromSdk(iotSdk, client, 0)).toThrow(/from 1 to 250, got 0/);
    expect(() => listPortFromSdk(iotSdk, client, 251)).toThrow(/from 1 to 250, got 251/);
  });
});
