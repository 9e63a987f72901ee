import { describe, expect, it } from "vitest";
import type { IotRegistryPort, ThingTypeDescription } from "../../../functions/registry/iotPort.js";
import { memoryOpsTable } from "../../../functions/registry/table.js";
import { applyRecord } from "../../../functions/replication/apply.js";
import { noMetrics, silentLogger } from "../../../functions/shared/observability.js";
import { createPacer, systemClock } from "../../../functions/replication/pacing.js";

/** A registry with one thing type that, as on AWS, refuses deletion until 5 minutes after deprecation. */
function awsLikeTypes(now: () => number) {
  const types = new Map<string, ThingTypeDescription & { deprecatedAt?: number }>([
    ["legacy", { name: "legacy", searchableAttributes: [], deprecated: false }],
  ]);
  const calls: string[] = [];
  const port: Partial<IotRegistryPort> = {
    async describeThingType(name) {
      const t = types.get(name);
      return t
        ? { name: t.name, searchableAttributes: t.searchableAttributes, deprecated: t.deprecated }
        : null;
    },
    async deprecateThingType(name, undo) {
      calls.push(`DeprecateThingType:${undo}`);
      const t = types.get(name)!;
      t.deprecated = !undo;
      t.deprecatedAt = undo ? undefined : now();
    },
    async deleteThingType(name) {
      calls.push("DeleteThingType");
      const t = types.get(name)!;
      if (!t.deprecated || now() - t.deprecatedAt! < 5 * 60_000)
        throw Object.assign(new Error("Thing type must be deprecated for 5 minutes before deletion"), {
          name: "InvalidRequestException",
        });
      types.delete(name);
    },
  };
  return { port: port as IotRegistryPort, types, calls };
}

describe("deleting a thing type on AWS", () => {
  it("deprecates it, reports DependencyNotReady until the 5 minutes passed, then deletes it", async () => {
    let t = 1_000_000;
    const aws = awsLikeTypes(() => t);
    const deps = {
      region: "eu-west-1",
      iot: aws.port,
      pacer: createPacer(),
      table: memoryOpsTable(),
      clock: systemClock,
      logger: silentLogger,
      metrics: noMetrics,
    };
    const tombstone = {
      key: "thingType#legacy",
      kind: "thingType" as const,
      state: null,
      version: { timestamp: 5, eventId: "e", region: "us-east-1" },
      origin: "us-east-1",
      capturedAt: 5,
    };
    await expect(applyRecord(tombstone, deps)).rejects.toMatchObject({
      name: "DependencyNotReady",
      message: expect.stringContaining("5 minutes"),
    });
    expect(aws.types.get("legacy")?.deprecated).toBe(true);
    t += 60_000;
    await expect(applyRecord(tombstone, deps)).rejects.toMatchObject({ name: "DependencyNotReady" });
    t += 5 * 60_000;
    expect(await applyRecord(tombstone, deps)).toMatchObject({
      outcome: "applied",
      actions: ["DeleteThingType"],
    });
    expect(aws.types.has("legacy")).toBe(false);
    // Deprecated once only: the retries did not deprecate again (which would restart AWS's clock).
    expect(aws.calls.filter((c) => c.startsWith("Deprecate"))).toEqual(["DeprecateThingType:false"]);
  });
});
