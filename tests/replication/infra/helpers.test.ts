/** The test-side pieces of replication (emulators, serialized-code helper) fail loudly when misused. */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { GlobalTableEmulator } from "../../../peers/emulators/globalTable.js";
import { requiredPackages, serializedCallback } from "../../support/serialized.js";

describe("replication test helpers", () => {
  it("refuse a global table whose two regions are the same", async () => {
    await expect(
      GlobalTableEmulator.create({
        tableName: "t",
        regions: ["us-east-1", "us-east-1"],
        clientConfig: () => {
          throw new Error("not reached");
        },
      }),
    ).rejects.toThrow(/two different regions/);
  });

  it("refuse to extract code from something that is not a callback function's archive", async () => {
    await expect(serializedCallback("exports.handler = 1")).rejects.toThrow(/give the function's inputs/);
    const shape = { runtime: "nodejs22.x", handler: "__index.handler" };
    await expect(serializedCallback({ ...shape, code: "exports.handler = 1" })).rejects.toThrow(
      /not a Pulumi archive/,
    );
    await expect(serializedCallback({ ...shape, code: new pulumi.asset.AssetArchive({}) })).rejects.toThrow(
      /no __index.js/,
    );
  });

  it("list the npm packages a serialized module requires, builtins and relative paths excluded", () => {
    const text = `const a = require("@aws-sdk/client-iot"); require('zod/v4'); require("node:fs"); require("path"); require("./x");`;
    expect(requiredPackages(text)).toEqual(["@aws-sdk/client-iot", "zod"]);
  });
});
