import { describe, expect, it } from "vitest";
import { UsageError } from "../../cli/errors.js";
import {
  parseStackList,
  qualifiedStackName,
  referenceConfig,
  unselectedDependencies,
  unselectedDependents,
} from "../../cli/automation/stacks.js";
import { runOrder } from "../../cli/automation/operations.js";

describe("stack selection", () => {
  it("selects every stack in deploy order by default, and destroys them in reverse", () => {
    expect(runOrder(parseStackList(undefined), "deploy")).toEqual(["primary", "secondary", "global"]);
    expect(runOrder(parseStackList(undefined), "destroy")).toEqual(["global", "secondary", "primary"]);
  });

  it("accepts spaces around names and reorders them by dependency", () => {
    expect(parseStackList(" global , primary")).toEqual(["primary", "global"]);
  });

  it("rejects unknown, empty and repeated names as usage errors", () => {
    expect(() => parseStackList("Primary")).toThrow(UsageError);
    expect(() => parseStackList("")).toThrow(/empty entry/);
    expect(() => parseStackList("secondary,secondary")).toThrow(/given more than once/);
  });

  it("finds the referenced stacks a selection leaves out, and the readers a destroy would strand", () => {
    expect(unselectedDependencies(["global"])).toEqual(["primary", "secondary"]);
    expect(unselectedDependencies(["primary", "secondary"])).toEqual([]);
    expect(unselectedDependents(["primary"])).toEqual(["secondary", "global"]);
    expect(unselectedDependents(["global"])).toEqual([]);
  });

  it("names referenced stacks in the config each stack reads, qualified when an org is given", () => {
    expect(referenceConfig("primary")).toEqual({});
    expect(referenceConfig("secondary")).toEqual({ "iot-dr:primaryStack": "primary" });
    expect(referenceConfig("global", "acme")).toEqual({
      "iot-dr:primaryStack": "acme/iot-dr/primary",
      "iot-dr:secondaryStack": "acme/iot-dr/secondary",
    });
    expect(qualifiedStackName("global", "acme")).toBe("acme/iot-dr/global");
  });
});
