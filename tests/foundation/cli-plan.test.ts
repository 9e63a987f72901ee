import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { iotDr, ROOT } from "../support/cli.js";

describe("iot-dr plan", () => {
  it.each(["primary", "secondary", "global"])(
    "prints the %s stack's inventory as one JSON document from the shipped config",
    (stack) => {
      const run = iotDr("plan", "--stack", stack, "--json");
      // Any line on stderr (e.g. Pulumi's packager "Could not include required dependency") is a defect.
      expect(run.stderr.split("\n").filter((l) => l.trim() !== "")).toEqual([]);
      expect(run.code).toBe(0);
      const doc = JSON.parse(run.stdout) as {
        stack: string;
        resources: { type: string; name: string; parent?: string; inputs: object }[];
      };
      expect(doc.stack).toBe(stack);
      expect(doc.resources.length).toBeGreaterThan(5);
      for (const r of doc.resources) {
        expect(typeof r.type).toBe("string");
        expect(typeof r.name).toBe("string");
        expect(typeof r.inputs).toBe("object");
      }
      // children name their component parent
      const topic = doc.resources.find((r) => r.type === "aws:sns/topic:Topic");
      expect(topic?.parent).toBeTruthy();
    },
  );

  it("exits 1 with the config message on stderr for bad config, printing nothing on stdout", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-plan-"));
    const file = path.join(dir, "Pulumi.bad.yaml");
    const text = fs
      .readFileSync(path.join(ROOT, "Pulumi.primary.yaml"), "utf8")
      .replace("iot-dr:secondaryRegion: us-west-2", "iot-dr:secondaryRegion: us-east-1");
    fs.writeFileSync(file, text);
    const run = iotDr("plan", "--stack", "primary", "--config", file, "--json");
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(
      "Invalid config iot-dr:secondaryRegion: must differ from iot-dr:primaryRegion",
    );
  });

  it("exits 2 on usage errors", () => {
    expect(iotDr("plan", "--stack", "tertiary").code).toBe(2);
    expect(iotDr("plan").code).toBe(2);
    expect(iotDr("no-such-command").code).toBe(2);
  });
});
