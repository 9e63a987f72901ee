import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { handleCommand } from "../../functions/cc/handler.js";
import { COMMANDS } from "../../functions/cc/validation.js";
import { commandEvent, newKey, registrySnapshot, useCcWorld } from "./support.js";

const cc = useCcWorld(3, { perTest: false });

// Values close to valid ones, so that the fuzzer also reaches the registry, mixed with anything.
const names = fc.oneof(
  fc.constantFrom("sensor-1", "sensor-2", "plant-a", "plant-b", "sensor", "legacy", "", "a b", "x#y"),
  fc.string(),
);
const fieldValue = fc.oneof(
  names,
  fc.jsonValue(),
  fc.constantFrom(...[0, 1, 2].map((i) => `pem:${i}`)),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string({ maxLength: 6 }), fc.integer())),
  fc.array(names, { maxLength: 3 }),
);
const fields = [
  "thingName",
  "thingTypeName",
  "attributes",
  "groups",
  "certificatePem",
  "policyName",
  "certificateId",
  "reason",
  "idempotencyKey",
];
// Bodies that are valid for some command, so that the registry is reached (and changed) often.
const validish = fc.oneof(
  fc.record({
    thingName: fc.constantFrom("sensor-1", "sensor-2", "sensor-3"),
    certificatePem: fc.constantFrom("pem:0", "pem:1", "pem:2"),
    policyName: fc.constant("iot-dr-device"),
    groups: fc.subarray(["plant-a", "plant-b"]),
  }),
  fc.record({ thingName: fc.constantFrom("sensor-1", "sensor-2", "sensor-3") }),
);
const body = fc.oneof(
  fc.jsonValue(),
  fc.dictionary(fc.constantFrom(...fields), fieldValue, { maxKeys: 7 }),
  fc.record(
    {
      thingName: names,
      groups: fc.subarray(["plant-a", "plant-b", "nowhere"]),
      certificatePem: fc.constantFrom("pem:0", "pem:1", "pem:2"),
      policyName: fc.constantFrom("iot-dr-device", "admin"),
      attributes: fc.dictionary(fc.constantFrom("serial", "model", "a b"), fc.constantFrom("1", "x y", "")),
    },
    { requiredKeys: [] },
  ),
  validish,
  validish,
);
const withPems = (value: unknown): unknown => {
  if (typeof value === "string" && /^pem:\d$/.test(value)) return cc.pems[Number(value.slice(4))];
  if (Array.isArray(value)) return value.map(withPems);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withPems(v)]));
  return value;
};

describe("C&C input fuzzing", () => {
  it("arbitrary JSON bodies never get a 5xx and change the registry only when the command was accepted", async () => {
    let before = await registrySnapshot(cc.world.iotClient);
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...COMMANDS), body, fc.boolean(), async (command, raw, withKey) => {
        const event = commandEvent(command, withPems(raw), withKey ? newKey() : undefined);
        const r = await handleCommand(event, cc.world.deps());
        expect(r.statusCode, r.body).toBeLessThan(500);
        expect(() => JSON.parse(r.body)).not.toThrow();
        const after = await registrySnapshot(cc.world.iotClient);
        if (r.statusCode >= 200 && r.statusCode < 300) {
          accepted++;
        } else {
          expect(after).toEqual(before);
        }
        before = after;
      }),
      // Nine commands since revoke, rotate and the policy commands: more runs keep the valid pairs
      // frequent. At 400 runs 2-6 commands were accepted (CI failed once on 0, below); at 1,000,
      // 11, 16 and 29 in three runs.
      { numRuns: 1000 },
    );
    // The generator is not so wild that nothing ever gets through.
    expect(accepted).toBeGreaterThan(0);
  }, 180_000); // 1,000 runs against moto: 32-48 s alone, more beside the rest of the suite
});
