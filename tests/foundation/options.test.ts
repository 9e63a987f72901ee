import { describe, expect, it } from "vitest";
import { checkTableName, intOption, parseRegion } from "../../cli/options.js";
import { UsageError } from "../../cli/errors.js";

describe("command-line options are checked in one place", () => {
  it("accepts a region of every AWS partition", () => {
    for (const region of [
      "us-east-1",
      "eu-west-1",
      "ap-southeast-7",
      "mx-central-1",
      "il-central-1",
      "ca-west-1",
      "us-gov-west-1",
      "cn-northwest-1",
      "us-iso-east-1",
      "us-isob-east-1",
      "us-isof-south-1",
      "eu-isoe-west-1",
      "eusc-de-east-1",
    ]) {
      expect(parseRegion("--region", region)).toBe(region);
    }
  });

  it("refuses what is not a region, naming the option and showing one", () => {
    for (const bad of [
      "eu-west",
      "EU-WEST-1",
      "euwest1",
      "xx-west-1",
      "us-east-1a",
      "global",
      "eu-west-1 ",
    ]) {
      expect(() => parseRegion("--target-region", bad)).toThrow(
        new UsageError(`--target-region must be an AWS region such as eu-west-1, got '${bad}'`),
      );
    }
    expect(() => parseRegion("--source", undefined)).toThrow(
      new UsageError("--source is required, e.g. --source eu-west-1"),
    );
    expect(() => parseRegion("--source", "")).toThrow(UsageError);
  });

  it("reads integers within bounds and names the flag otherwise", () => {
    expect(intOption("--count", "42", 1, 100)).toBe(42);
    expect(intOption("--count", undefined, 1, 100)).toBeUndefined();
    for (const bad of ["0", "101", "1.5", "-3", "ten", "1e3", ""]) {
      expect(() => intOption("--count", bad, 1, 100)).toThrow(
        new UsageError(`--count must be an integer from 1 to 100, got '${bad}'`),
      );
    }
  });

  it("checks DynamoDB table names", () => {
    expect(checkTableName("--table", "iot-dr.ops_table-1")).toBe("iot-dr.ops_table-1");
    for (const bad of ["ab", "has space", "a/b", "x".repeat(256)]) {
      expect(() => checkTableName("--marker-table", bad)).toThrow(
        /--marker-table must be a DynamoDB table name/,
      );
    }
  });
});
