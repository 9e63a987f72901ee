/**
 * The echo capture of replay's own calls lists and fills in nothing: what enriches a replayed
 * record came with that record's capture in the other region. A genuine change in the target (its
 * record from the other region, a different state) is still enriched. Real replay in B raises the
 * events (registry events and CloudTrail calls, emulated as IoT and EventBridge publish them).
 */
import { beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import { useMoto } from "../../support/useMoto.js";
import type { IotRegistryPort } from "../../../functions/registry/iotPort.js";
import { keys } from "../../../functions/registry/records.js";
import type { OpsTablePort } from "../../../functions/registry/table.js";
import { captureApiCall, captureEvent } from "../../../functions/replication/capture.js";
import { emitCloudTrailEvents } from "../../../peers/emulators/cloudTrailEvents.js";
import { thingWithCertificate, world, type World } from "./support.js";

const PEM = `-----BEGIN CERTIFICATE-----\nMIIBechoenrich00000001${"A".repeat(48)}\n-----END CERTIFICATE-----\n`;

/** `port` counting its calls by method. */
function counting(port: IotRegistryPort) {
  const calls: Record<string, number> = {};
  const counted = new Proxy(port, {
    get(target, name: string) {
      const value = (target as unknown as Record<string, unknown>)[name];
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls[name] = (calls[name] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { port: counted, calls };
}

/** `table` noting every key it is asked for. */
function noting(table: OpsTablePort) {
  const reads: string[] = [];
  return {
    table: {
      ...table,
      get: (pk: string, o?: { consistent?: boolean }) => (reads.push(pk), table.get(pk, o)),
    },
    reads,
  };
}

describe("the echo capture of replay's own calls", () => {
  const moto = useMoto();
  let w: World;
  let certificateId: string;
  let trailB: ReturnType<typeof emitCloudTrailEvents>;
  beforeEach(async () => {
    w = world(moto);
    trailB = emitCloudTrailEvents(w.b.client, { region: w.b.name });
    certificateId = await thingWithCertificate(w.a, "e1", PEM);
    // Captured in A (the thing's event fills in the attachment and the certificate) and replayed in B.
    const { replayed } = await w.replicate(w.a.events.take(), w.a, w.b);
    expect(replayed.map((r) => r.outcome)).toEqual(["applied", "applied", "applied"]);
  });

  it("lists nothing and reads no related record for a replayed thing's event", async () => {
    const echoes = w.b.events.take();
    const created = echoes.find((m) => m.topic === "$aws/events/thing/e1/created")!;
    expect(created).toBeDefined();
    const { port, calls } = counting(w.b.port);
    const { table, reads } = noting(w.table);
    const outcomes = await captureEvent(created, { ...w.captureDeps(w.b), iot: port, table });
    expect(outcomes.map((o) => [o.key, o.result])).toEqual([[keys.thing("e1"), "unchanged"]]);
    expect(calls).toEqual({ describeThing: 1 });
    expect(reads).toEqual([keys.thing("e1")]);
  });

  it("reads no related record for replay's own attach call", async () => {
    const attach = trailB.take().find((e) => e.detail.eventName === "AttachThingPrincipal")!;
    expect(attach).toBeDefined();
    const { table, reads } = noting(w.table);
    const outcomes = await captureApiCall(attach, { ...w.captureDeps(w.b), table });
    expect(outcomes.map((o) => [o.key, o.result])).toEqual([
      [keys.principal("e1", certificateId), "unchanged"],
    ]);
    expect(reads).toEqual([keys.principal("e1", certificateId)]);
  });

  it("still enriches a change made in the target", async () => {
    w.b.events.take();
    await w.b.client.send(
      new iot.UpdateThingCommand({ thingName: "e1", attributePayload: { attributes: { site: "b" } } }),
    );
    const updated = w.b.events.take().find((m) => m.topic === "$aws/events/thing/e1/updated")!;
    const { port, calls } = counting(w.b.port);
    const outcomes = await captureEvent(updated, { ...w.captureDeps(w.b), iot: port, table: w.table });
    expect(outcomes.map((o) => [o.key, o.result])).toEqual([
      [keys.thing("e1"), "written"],
      [keys.principal("e1", certificateId), "present"],
      [keys.certificate(certificateId), "present"],
    ]);
    expect(calls.listThingPrincipals).toBe(1);
  });
});
