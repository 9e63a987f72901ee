import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const ROOT = path.resolve(__dirname, "..", "..");

describe("the program entry as `pulumi up` loads it", () => {
  it("loads index.ts with the runtime options of Pulumi.yaml and runs the whole program up to the engine", () => {
    const project = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
      runtime: { options: { typescript: boolean; nodeargs: string } };
    };
    expect(project.runtime.options.typescript).toBe(false);
    const config = {
      "iot-dr:role": "primary",
      "iot-dr:iotAccountId": "518293746501",
      "iot-dr:commandControlAccountId": "518293746502",
      "iot-dr:analyticsAccountId": "518293746503",
      "iot-dr:sharedServicesAccountId": "518293746504",
      "iot-dr:healthCheckPathSecret": "abcdefghijklmnopqrstuvwxyz012345",
      "iot-dr:deviceCertificateArn": "arn:aws:acm:us-east-1:518293746501:certificate/abc",
      "iot-dr:ccCertificateArn": "arn:aws:acm:us-east-1:518293746502:certificate/def",
    };
    const run = spawnSync(
      process.execPath,
      [...project.runtime.options.nodeargs.split(" "), "-e", 'require("./index.ts")'],
      {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...process.env, PULUMI_CONFIG: JSON.stringify(config) },
        timeout: 120_000,
      },
    );
    // Without the Pulumi engine the first call to it fails; everything before it (module loading,
    // config validation, component construction) must have worked.
    expect(run.stderr).not.toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND|ConfigError|SyntaxError/);
    expect(run.stderr).toMatch(/reading 'invoke'|reading 'registerResource'|monitor/);
  });
});
