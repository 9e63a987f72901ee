/**
 * Capture's presence checks of related resources read the ops table eventually consistent (half a
 * read unit; table.ts recordExists); its own record stays a strongly consistent read. A presence read
 * that misses a record written within the last second loses nothing: the conditional,
 * version-ordered write and the echo marker still decide.
 */
import { beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import * as lib from "@aws-sdk/lib-dynamodb";
import { useMoto } from "../../support/useMoto.js";
import { keys } from "../../../functions/registry/records.js";
import {
  getRecord,
  opsTableFromSdk,
  type OpsTablePort,
  type TableItem,
} from "../../../functions/registry/table.js";
import { captureEvent, captureKeys } from "../../../functions/replication/capture.js";
import { systemClock } from "../../../functions/replication/pacing.js";
import { thingWithCertificate, world, type World } from "./support.js";

const PEM = `-----BEGIN CERTIFICATE-----\nMIIBpresence000000000001${"A".repeat(48)}\n-----END CERTIFICATE-----\n`;

/** `table` with every read noted as [key, consistent?]; `misses` are keys an eventually consistent read does not see yet. */
function noting(table: OpsTablePort, misses = new Set<string>()) {
  const reads: [string, boolean][] = [];
  const port: OpsTablePort = {
    ...table,
    async get(pk, options) {
      const consistent = options?.consistent ?? true;
      reads.push([pk, consistent]);
      if (!consistent && misses.has(pk)) return undefined;
      return table.get(pk, options);
    },
    put: (item: TableItem, condition) => table.put(item, condition),
  };
  return { port, reads };
}

describe("capture's presence reads", () => {
  const moto = useMoto();
  let w: World;
  let certificateId: string;
  beforeEach(async () => {
    w = world(moto);
    certificateId = await thingWithCertificate(w.a, "p1", PEM);
  });

  it("reads its own record strongly and the related records it fills in eventually consistent", async () => {
    const { port, reads } = noting(w.table);
    const created = w.a.events.take().find((m) => m.topic === "$aws/events/thing/p1/created")!;
    const outcomes = await captureEvent(created, { ...w.captureDeps(w.a), table: port });
    expect(outcomes.map((o) => [o.key, o.result])).toEqual([
      [keys.thing("p1"), "written"],
      [keys.principal("p1", certificateId), "written"],
      [keys.certificate(certificateId), "written"],
    ]);
    expect(reads.filter(([k]) => k === keys.thing("p1"))).toEqual([[keys.thing("p1"), true]]);
    // The related ones: one presence read each (eventual); absent, so captured without another read.
    for (const k of [keys.principal("p1", certificateId), keys.certificate(certificateId)])
      expect(reads.filter(([key]) => key === k)).toEqual([[k, false]]);

    // The second time, every related record is present: found by a half-unit read each.
    reads.length = 0;
    await w.a.client.send(
      new iot.UpdateThingCommand({ thingName: "p1", attributePayload: { attributes: { site: "x" } } }),
    );
    const updated = w.a.events.take().find((m) => m.topic === "$aws/events/thing/p1/updated")!;
    const again = await captureEvent(updated, { ...w.captureDeps(w.a), table: port });
    expect(again.slice(1).map((o) => o.result)).toEqual(["present", "present"]);
    expect(reads.filter(([, consistent]) => !consistent).map(([k]) => k)).toEqual([
      keys.principal("p1", certificateId),
      keys.certificate(certificateId),
    ]);
  });

  it("a presence read that misses a newer record written a moment ago changes nothing", async () => {
    const created = w.a.events.take().find((m) => m.topic === "$aws/events/thing/p1/created")!;
    const eventAt = (created.payload as { timestamp: number }).timestamp;
    // The certificate's own capture, half a second after the thing's event, is already in the table
    // (INACTIVE by then), but the eventually consistent read does not see it yet.
    const certKey = keys.certificate(certificateId);
    await w.a.client.send(new iot.UpdateCertificateCommand({ certificateId, newStatus: "INACTIVE" }));
    await captureKeys(
      [certKey],
      w.captureDeps(w.a, { now: () => eventAt + 500, sleep: (ms) => systemClock.sleep(ms) }),
    );
    const before = await getRecord(w.table, certKey);
    expect(before?.state).toEqual(expect.objectContaining({ status: "INACTIVE" }));

    const { port, reads } = noting(w.table, new Set([certKey]));
    const outcomes = await captureEvent(created, { ...w.captureDeps(w.a), table: port });
    expect(reads).toContainEqual([certKey, false]);
    // Captured as if missing: the version-ordered write refuses the thing event's older version.
    expect(outcomes.find((o) => o.key === certKey)?.result).toBe("stale");
    expect(await getRecord(w.table, certKey)).toEqual(before);
  });

  it("a fill-in that finds the record written meanwhile writes nothing, even with a newer version", async () => {
    const created = w.a.events.take().find((m) => m.topic === "$aws/events/thing/p1/created")!;
    const eventAt = (created.payload as { timestamp: number }).timestamp;
    // The attachment's own capture, a moment before the thing's event, recorded it; the thing's
    // event (newer) fills in related records only where none exist.
    const principalKey = keys.principal("p1", certificateId);
    await captureKeys(
      [principalKey],
      w.captureDeps(w.a, { now: () => eventAt - 500, sleep: (ms) => systemClock.sleep(ms) }),
    );
    const before = await getRecord(w.table, principalKey);
    expect(before?.version.timestamp).toBe(eventAt - 500);
    const { port } = noting(w.table, new Set([principalKey]));
    const outcomes = await captureEvent(created, { ...w.captureDeps(w.a), table: port });
    expect(outcomes.find((o) => o.key === principalKey)?.result).toBe("stale");
    // Not rewritten under the newer version: nothing replicates for a record that was already there.
    expect(await getRecord(w.table, principalKey)).toEqual(before);
  });

  it("asks DynamoDB for an eventually consistent read only when told to", async () => {
    const sent: unknown[] = [];
    const doc = {
      send: async (command: unknown) => {
        sent.push(command);
        return { Item: undefined };
      },
    } as unknown as lib.DynamoDBDocumentClient;
    const table = opsTableFromSdk(lib, doc, "ops");
    await table.get("thing#a");
    await table.get("thing#b", { consistent: false });
    await table.get("thing#c", { consistent: true });
    expect(sent.map((c) => (c as GetCommand).input.ConsistentRead)).toEqual([true, false, true]);
  });
});
