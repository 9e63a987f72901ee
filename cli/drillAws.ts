/**
 * The AWS edges of `iot-dr drill --target aws`: the stacks' workspace, and the expected RTO from
 * the global stack's config (the same model `iot-dr rto` prints).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { AwsDrillDeps } from "../drill/aws.js";
import { awsDrillDeps, type DrillTlsSettings } from "../drill/awsDeps.js";
import { parseConfig } from "../stacks/config.js";
import { LocalStackWorkspace } from "./automation/local.js";
import { estimateFromConfig, readStackFile } from "./commands/rto.js";
import { InputError } from "./errors.js";

export function defaultAwsDeps(options: { org?: string; tls: DrillTlsSettings }): AwsDrillDeps {
  const workspace = new LocalStackWorkspace(options);
  const file = path.join(workspace.workDir, "Pulumi.global.yaml");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new InputError(
      `cannot read ${file}: the drill computes the expected RTO from the global stack's config`,
    );
  }
  const config = parseConfig(readStackFile(text, file), { stack: "global", dryRun: true });
  return awsDrillDeps({
    workspace,
    tls: options.tls,
    expectedRto: (devices, direction) =>
      estimateFromConfig(
        direction === "failover"
          ? config
          : {
              ...config,
              health: { ...config.health, failuresBeforeUnhealthy: config.health.successesBeforeHealthy },
            },
        devices,
      ).rtoSeconds,
  });
}
