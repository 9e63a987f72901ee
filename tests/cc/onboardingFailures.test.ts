import { describe, expect, it } from "vitest";
import { handleCommand } from "../../functions/cc/handler.js";
import type { IotRegistryPort } from "../../functions/registry/iotPort.js";
import { commandEvent, newKey, opsRecords, registrySnapshot, useCcWorld } from "./support.js";

const cc = useCcWorld(1);

const body = {
  thingName: "sensor-1",
  thingTypeName: "sensor",
  attributes: { serial: "SN-1" },
  groups: ["plant-a", "plant-b"],
  certificatePem: "",
  policyName: "iot-dr-device",
};

/** The port with one call made to fail: the `nth` call of `method` (and, optionally, an undo too). */
function failing(
  iot: IotRegistryPort,
  faults: { method: keyof IotRegistryPort; nth: number }[],
): IotRegistryPort {
  const calls = new Map<string, number>();
  return new Proxy(iot, {
    get(target, prop: string) {
      const original = (target as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[prop];
      if (typeof original !== "function") return original;
      return async (...args: unknown[]) => {
        const n = (calls.get(prop) ?? 0) + 1;
        calls.set(prop, n);
        if (faults.some((f) => f.method === prop && f.nth === n)) {
          throw Object.assign(new Error(`injected failure in ${prop}`), { name: "InternalFailureException" });
        }
        return original.apply(target, args);
      };
    },
  });
}

// Onboarding's mutating steps, in order (two groups, so the membership step runs twice).
const STEPS: [string, keyof IotRegistryPort, number][] = [
  ["registering the certificate", "registerCertificateWithoutCA", 1],
  ["creating the thing", "createThing", 1],
  ["adding it to the first group", "addThingToThingGroup", 1],
  ["adding it to the second group", "addThingToThingGroup", 2],
  ["attaching the policy", "attachPolicy", 1],
  ["attaching the principal", "attachThingPrincipal", 1],
  ["activating the certificate", "updateCertificate", 1],
];

describe("onboarding never leaves a half-done device", () => {
  it.each(STEPS)(
    "a failure while %s leaves the registry and the journal as they were",
    async (_what, method, nth) => {
      const before = await registrySnapshot(cc.world.iotClient);
      const key = newKey();
      const deps = cc.world.deps({ iot: failing(cc.world.iot, [{ method, nth }]) });
      const r = await handleCommand(commandEvent("onboard", { ...body, certificatePem: cc.pem }, key), deps);
      expect(r.statusCode).toBe(502);
      expect(JSON.parse(r.body).error).toMatchObject({ code: "CommandUndone", compensated: true });
      expect(await registrySnapshot(cc.world.iotClient)).toEqual(before);
      expect(await opsRecords(cc.world.opsDoc)).toEqual(new Map());

      // Nothing happened, so the same key may be retried and then succeeds.
      const retry = await handleCommand(
        commandEvent("onboard", { ...body, certificatePem: cc.pem }, key),
        cc.world.deps(),
      );
      expect(retry.statusCode).toBe(201);
    },
  );

  it("when an undo fails too, the answer is a 500 naming what is left, and what is left is journaled", async () => {
    const deps = cc.world.deps({
      iot: failing(cc.world.iot, [
        { method: "createThing", nth: 1 },
        { method: "deleteCertificate", nth: 1 },
      ]),
    });
    const r = await handleCommand(
      commandEvent("onboard", { ...body, certificatePem: cc.pem }, newKey()),
      deps,
    );
    expect(r.statusCode).toBe(500);
    const error = JSON.parse(r.body).error;
    expect(error).toMatchObject({ code: "CommandIncomplete", compensated: false, step: "createThing" });
    expect(error.leftovers).toEqual(["registerCertificate"]);
    // The certificate that could not be deleted stayed INACTIVE (it was never activated) and is
    // in the table, so the other region follows the registry.
    const snapshot = (await registrySnapshot(cc.world.iotClient)) as {
      things: unknown[];
      certificates: { id: string; status: string }[];
    };
    expect(snapshot.things).toEqual([]);
    expect(snapshot.certificates).toEqual([{ id: expect.any(String), status: "INACTIVE", policies: [] }]);
    const records = await opsRecords(cc.world.opsDoc);
    const cert = records.get(`certificate#${snapshot.certificates[0]!.id}`);
    expect(JSON.parse(String(cert?.stateJson)).status).toBe("INACTIVE");
  });

  it("a decommission that stops part-way is finished by its retry with the same key", async () => {
    const onboarded = await handleCommand(
      commandEvent("onboard", { ...body, certificatePem: cc.pem }, newKey()),
      cc.world.deps(),
    );
    expect(onboarded.statusCode).toBe(201);
    const key = newKey();
    const deps = cc.world.deps({ iot: failing(cc.world.iot, [{ method: "deleteThing", nth: 1 }]) });
    const r = await handleCommand(commandEvent("decommission", { thingName: "sensor-1" }, key), deps);
    expect(r.statusCode).toBe(500);
    expect(JSON.parse(r.body).error).toMatchObject({ code: "CommandIncomplete", step: "deleteThing" });
    const retry = await handleCommand(
      commandEvent("decommission", { thingName: "sensor-1" }, key),
      cc.world.deps(),
    );
    expect(retry.statusCode).toBe(200);
    expect(await registrySnapshot(cc.world.iotClient)).toEqual({ things: [], certificates: [] });
    expect((await opsRecords(cc.world.opsDoc)).get("thing#sensor-1")?.tombstone).toBe(true);
  });
});
