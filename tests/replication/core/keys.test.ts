import { describe, expect, it } from "vitest";
import { keyOf, keys, nameInKey, parseKey } from "../../../functions/registry/records.js";

describe("resource keys have one parser", () => {
  it("parses what keys/keyOf write back to the same parts, for every kind", () => {
    const cert = "c".repeat(64);
    const cases: [string, ReturnType<typeof parseKey>][] = [
      [keys.thingType("sensor"), { kind: "thingType", name: "sensor" }],
      [keys.thingGroup("plant"), { kind: "thingGroup", name: "plant" }],
      [keys.policy("dev"), { kind: "policy", name: "dev" }],
      [keys.thing("t1"), { kind: "thing", name: "t1" }],
      [keys.certificate(cert), { kind: "certificate", certificateId: cert }],
      [keys.membership("plant", "t1"), { kind: "membership", groupName: "plant", thingName: "t1" }],
      [keys.principal("t1", cert), { kind: "principal", thingName: "t1", certificateId: cert }],
      [
        keys.policyTarget("dev", { type: "certificate", certificateId: cert }),
        { kind: "policyTarget", policyName: "dev", target: { type: "certificate", certificateId: cert } },
      ],
      [
        keys.policyTarget("grp", { type: "thingGroup", groupName: "plant" }),
        { kind: "policyTarget", policyName: "grp", target: { type: "thingGroup", groupName: "plant" } },
      ],
    ];
    for (const [key, parsed] of cases) {
      expect(parseKey(key)).toEqual(parsed);
      const { kind, ...state } = parsed;
      if (kind === "membership" || kind === "principal" || kind === "policyTarget")
        expect(keyOf(kind, state as never)).toBe(key);
    }
    expect(nameInKey(keys.thing("t1"))).toBe("t1");
    expect(nameInKey(keys.certificate(cert))).toBe(cert);
  });

  it("refuses a malformed key, naming it: unknown kind, missing or empty part, extra part, bad target", () => {
    expect(() => parseKey("gadget#x")).toThrow(/'gadget#x' is not a resource key/);
    expect(() => parseKey("thing#")).toThrow(/'thing#' is not a thing key/);
    expect(() => parseKey("thing")).toThrow(/'thing' is not a thing key/);
    expect(() => parseKey("membership#plant")).toThrow(/'membership#plant' is not a membership key/);
    expect(() => parseKey("principal#t1#c#extra")).toThrow(/is not a principal key/);
    expect(() => parseKey("policyTarget#dev#bucket#b")).toThrow(/certificate or a thingGroup/);
    expect(() => nameInKey(keys.membership("plant", "t1"))).toThrow(/names an attachment/);
  });
});
