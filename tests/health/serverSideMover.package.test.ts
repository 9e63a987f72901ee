/**
 * `iot-dr package` lists the server-side movers of a global stack that enables them, each built
 * as `pulumi up` would upload it and loading from its archive alone on its declared Node major.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { iotDr, ROOT } from "../support/cli.js";

it("iot-dr package --stack global lists both movers with loads: true when iot-dr:serverSideMove is on", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-mover-config-"));
  try {
    const configFile = path.join(dir, "Pulumi.global.yaml");
    fs.writeFileSync(
      configFile,
      fs
        .readFileSync(path.join(ROOT, "Pulumi.global.yaml"), "utf8")
        .replace(/^config:\n/m, "config:\n  iot-dr:serverSideMove: true\n"),
    );
    const run = iotDr("package", "--stack", "global", "--config", configFile, "--json");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as {
      functions: { name: string; loads: boolean; runtime: string }[];
      problems: string[];
    };
    expect(doc.problems).toEqual([]);
    expect(doc.functions.map((f) => [f.name, f.loads, f.runtime]).sort()).toEqual([
      ["failover-notifier-fn", true, "nodejs22.x"],
      ["server-side-move-us-east-1-fn", true, "nodejs22.x"],
      ["server-side-move-us-west-2-fn", true, "nodejs22.x"],
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 600_000);
