/**
 * Two regions on one moto server for the replication core tests: region A (source, events emulated)
 * and region B (target, events emulated too, to prove echo freedom), one in-memory ops table
 * standing in for the global table, one in-memory marker table per region (regional, as deployed),
 * and helpers to capture in one region and replay in the other.
 */
import * as iotSdk from "@aws-sdk/client-iot";
import { IoTClient } from "@aws-sdk/client-iot";
import { iotPortFromSdk, type IotRegistryPort } from "../../../functions/registry/iotPort.js";
import { canonicalJson, type RegistryRecord } from "../../../functions/registry/records.js";
import { getRecord, memoryOpsTable } from "../../../functions/registry/table.js";
import { applyRecord, type ApplyDeps, type ReplayOutcome } from "../../../functions/replication/apply.js";
import {
  captureEvent,
  type CaptureDeps,
  type CaptureOutcome,
  type RegistryEventMessage,
} from "../../../functions/replication/capture.js";
import { noMetrics, silentLogger } from "../../../functions/shared/observability.js";
import { createPacer, systemClock, type Clock } from "../../../functions/replication/pacing.js";
import { emitRegistryEvents, type RegistryEventEmulator } from "../../../peers/emulators/registryEvents.js";
import type { MotoServer } from "../../../peers/moto.js";

export const REGION_A = "us-east-1";
export const REGION_B = "eu-west-1";

export interface Region {
  name: string;
  /** Operations through this client publish emulated registry events. */
  client: IoTClient;
  reader: IoTClient;
  events: RegistryEventEmulator;
  port: IotRegistryPort;
}

export function region(moto: MotoServer, name: string): Region {
  const client = new IoTClient(moto.clientConfig(name));
  const reader = new IoTClient(moto.clientConfig(name));
  const events = emitRegistryEvents(client, { reader });
  return { name, client, reader, events, port: iotPortFromSdk(iotSdk, client) };
}

export interface World {
  a: Region;
  b: Region;
  table: ReturnType<typeof memoryOpsTable>;
  /** Each region's own marker table (replay's applied markers), by region name. */
  markers: Record<string, ReturnType<typeof memoryOpsTable>>;
  captureDeps(r: Region, clock?: Clock): CaptureDeps;
  applyDeps(r: Region, extra?: Partial<ApplyDeps>): ApplyDeps;
  /** Captures messages in `from`, then applies every record written to `to`; returns what happened. */
  replicate(
    messages: RegistryEventMessage[],
    from: Region,
    to: Region,
  ): Promise<{ captured: CaptureOutcome[]; replayed: ReplayOutcome[] }>;
}

export function world(moto: MotoServer): World {
  const a = region(moto, REGION_A);
  const b = region(moto, REGION_B);
  const table = memoryOpsTable();
  const markers = { [a.name]: memoryOpsTable(), [b.name]: memoryOpsTable() };
  const captureDeps = (r: Region, clock: Clock = systemClock): CaptureDeps => ({
    region: r.name,
    iot: r.port,
    table,
    markers: markers[r.name],
    clock,
    logger: silentLogger,
  });
  const applyDeps = (r: Region, extra: Partial<ApplyDeps> = {}): ApplyDeps => ({
    region: r.name,
    iot: r.port,
    pacer: createPacer({ rates: {}, defaultRate: 1000, utilisation: 1 }),
    table,
    markers: markers[r.name],
    clock: systemClock,
    logger: silentLogger,
    metrics: noMetrics,
    ...extra,
  });
  return {
    a,
    b,
    table,
    markers,
    captureDeps,
    applyDeps,
    async replicate(messages, from, to) {
      const captured: CaptureOutcome[] = [];
      for (const m of messages) captured.push(...(await captureEvent(m, captureDeps(from))));
      const written = [...new Set(captured.filter((c) => c.result === "written").map((c) => c.key))];
      const records: RegistryRecord[] = [];
      for (const key of written) records.push((await getRecord(table, key))!);
      const { dependencyOrder } = await import("../../../functions/registry/records.js");
      const replayed: ReplayOutcome[] = [];
      for (const r of dependencyOrder(records)) replayed.push(await applyRecord(r, applyDeps(to)));
      return { captured, replayed };
    },
  };
}

/** Everything the record model replicates, read from one region, in a comparable form. */
export async function snapshot(r: Region): Promise<Record<string, unknown>> {
  const c = r.reader;
  const things = (await c.send(new iotSdk.ListThingsCommand({}))).things ?? [];
  const types = (await c.send(new iotSdk.ListThingTypesCommand({}))).thingTypes ?? [];
  const groups = (await c.send(new iotSdk.ListThingGroupsCommand({}))).thingGroups ?? [];
  const certs = (await c.send(new iotSdk.ListCertificatesCommand({}))).certificates ?? [];
  const policies = (await c.send(new iotSdk.ListPoliciesCommand({}))).policies ?? [];
  const out: Record<string, unknown> = {};
  for (const t of types)
    out[`thingType#${t.thingTypeName}`] = await r.port.describeThingType(t.thingTypeName!);
  for (const g of groups) {
    out[`thingGroup#${g.groupName}`] = await r.port.describeThingGroup(g.groupName!);
    const policiesOfGroup = await r.port.listAttachedPolicies({
      type: "thingGroup",
      groupName: g.groupName!,
    });
    for (const p of policiesOfGroup) out[`policyTarget#${p}#thingGroup#${g.groupName}`] = true;
  }
  for (const t of things) {
    out[`thing#${t.thingName}`] = await r.port.describeThing(t.thingName!);
    for (const gname of await r.port.listThingGroupsForThing(t.thingName!))
      out[`membership#${gname}#${t.thingName}`] = true;
    for (const cert of await r.port.listThingPrincipals(t.thingName!))
      out[`principal#${t.thingName}#${cert}`] = true;
  }
  for (const cert of certs) {
    out[`certificate#${cert.certificateId}`] = await r.port.describeCertificate(cert.certificateId!);
    for (const p of await r.port.listAttachedPolicies({
      type: "certificate",
      certificateId: cert.certificateId!,
    }))
      out[`policyTarget#${p}#certificate#${cert.certificateId}`] = true;
  }
  for (const p of policies) {
    const got = await r.port.getPolicy(p.policyName!);
    out[`policy#${p.policyName}`] = got ? canonicalJson(JSON.parse(got.document)) : null;
  }
  return JSON.parse(canonicalJson(out)) as Record<string, unknown>;
}

/** A policy document with one distinguishing action. */
export const policyDoc = (action: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: action, Resource: "*" }] });

/**
 * In `r`: a certificate registered ACTIVE from `pem`, a thing `thingName`, and the certificate
 * attached to it (each call raising its events). Returns the certificate's id.
 */
export async function thingWithCertificate(r: Region, thingName: string, pem: string): Promise<string> {
  const cert = await r.client.send(
    new iotSdk.RegisterCertificateWithoutCACommand({ certificatePem: pem, status: "ACTIVE" }),
  );
  await r.client.send(new iotSdk.CreateThingCommand({ thingName }));
  await r.client.send(new iotSdk.AttachThingPrincipalCommand({ thingName, principal: cert.certificateArn! }));
  return cert.certificateId!;
}
