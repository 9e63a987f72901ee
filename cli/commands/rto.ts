/**
 * `iot-dr rto`: the expected RTO and RPO bounds of a fail-over, computed from a stack's config
 * file (Pulumi.<stack>.yaml) by the same calculator the drill compares its measurements with.
 */
import type { Command } from "commander";
import { estimateRto, type Bounds, type RtoEstimate } from "../../functions/rto.js";
import { ROUTE53_ALARM_PERIOD_SECONDS } from "../../functions/health/metrics.js";
import type { DrConfig } from "../../stacks/config.js";
import { parse as parseYaml } from "yaml";
import { PROJECT } from "../../stacks/config.js";
import {
  readStackFile as readStackFileAt,
  stackFileNotices,
  stackFilePath,
  validateStackFile,
  type StackFile,
} from "../plan/stackFile.js";
import { InputError, UsageError } from "../errors.js";
import type { RegisterCommand } from "./register.js";

export interface RtoCommandDeps {
  stdout: (text: string) => void;
  /** Notes about the stack file (encrypted values, plain-text secrets); default process stderr. */
  stderr?: (text: string) => void;
}

const defaultDeps = (): RtoCommandDeps => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});

/**
 * The `iot-dr:<key>` values of a stack file's text; secure values stand in as "<secret>".
 * Kept for callers that hold the text already (cli/commands/drill.ts); files go through cli/plan/stackFile.ts.
 */
export function readStackFile(text: string, file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new InputError(
      `${file} is not valid YAML: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`,
    );
  }
  const config = (doc as { config?: unknown } | null)?.config;
  if (config === undefined || config === null) return {};
  if (typeof config !== "object" || Array.isArray(config))
    throw new InputError(`${file}: 'config' must be a mapping of keys to values`);
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    if (!key.startsWith(`${PROJECT}:`)) continue;
    const isSecure = typeof value === "object" && value !== null && "secure" in value;
    raw[key.slice(PROJECT.length + 1)] = isSecure ? "<secret>" : value;
  }
  return raw;
}

export function estimateFromConfig(config: DrConfig, devices: number, burst = 0): RtoEstimate {
  return estimateRto({
    // Alarm mode: Route 53 follows a one-minute alarm (standard resolution only).
    checkIntervalSeconds:
      config.health.routingMode === "alarm"
        ? ROUTE53_ALARM_PERIOD_SECONDS
        : config.health.checkIntervalSeconds,
    failureThreshold: config.health.failureThreshold,
    probeDeadlineMs: config.health.probeDeadlineMs,
    failuresBeforeUnhealthy: config.health.failuresBeforeUnhealthy,
    routingMode: config.health.routingMode,
    failoverRecordTtlSeconds: config.dns.failoverRecordTtlSeconds,
    deviceReresolveSeconds: config.devices.reresolveSeconds,
    devices,
    deviceConnectRatePerSecond: config.devices.connectRatePerSecond,
    readinessMaxLagSeconds: config.health.readinessMaxLagSeconds,
    reconcileScheduleMinutes: config.reconcile.scheduleMinutes,
    reconcileRepair: config.reconcile.repair,
    captureBurstThings: burst,
    iotApiRates: config.replication.iotApiRates,
  });
}

function parseDevices(value: string | undefined): number {
  if (value === undefined) return 10_000;
  if (!/^\d+$/.test(value) || Number(value) > 1e9) {
    throw new UsageError(`--devices must be a whole number of devices (0 to 1000000000), got '${value}'`);
  }
  return Number(value);
}

const fmt = (b: Bounds) => `${b[0]}–${b[1]} s`;

function formatText(stack: string, file: string, devices: number, e: RtoEstimate): string {
  const rows: Array<[string, Bounds, string]> = [
    ["detection", e.detectionSeconds, "hysteresis rounds + Route 53 interval × threshold + probe"],
    ["DNS", e.dnsSeconds, "resolvers keep the old answer up to the record TTL"],
    ["device side", e.deviceSeconds, "fail-over notice at once, else the next re-resolution"],
    ["reconnect", e.reconnectSeconds, `${devices} devices at the account's connect rate`],
  ];
  return [
    `Expected fail-over bounds for stack '${stack}' (${file}):`,
    ...rows.map(([name, b, why]) => `  ${name.padEnd(12)} ${fmt(b).padStart(14)}   ${why}`),
    `  ${"RTO".padEnd(12)} ${fmt(e.rtoSeconds).padStart(14)}`,
    `  RPO          ${e.rpo}`,
    ...(e.captureBurstClearSeconds > 0
      ? [`  capture burst clears in ${e.captureBurstClearSeconds} s (included in the RPO bounds below)`]
      : []),
    "  RPO by capture path (changes made in the failed region within this window may be missing in the standby):",
    ...e.rpoByPath.map(
      (p) =>
        `    ${p.path.padEnd(15)} ${(p.seconds ? fmt(p.seconds) : "until repaired").padStart(14)}   ${p.carries}; ${p.basis}`,
    ),
    "",
  ].join("\n");
}

export function makeRtoCommand(deps: () => RtoCommandDeps = defaultDeps): RegisterCommand {
  return (program: Command) => {
    program
      .command("rto")
      .description("expected RTO and RPO bounds of a fail-over, from a stack's config")
      .option("--stack <name>", "the stack whose Pulumi.<stack>.yaml to read", "global")
      .option("--config <file>", "read this stack file instead of Pulumi.<stack>.yaml")
      .option("--devices <n>", "devices that reconnect after fail-over (default 10000)")
      .option(
        "--burst <things>",
        "things provisioned in one burst just before the failure: the RPO adds the time capture takes to clear them (default 0)",
      )
      .option("--json", "print one JSON document on stdout")
      .action(
        (options: { stack: string; config?: string; devices?: string; burst?: string; json?: boolean }) => {
          if (!/^[A-Za-z0-9_.-]+$/.test(options.stack))
            throw new UsageError(`--stack '${options.stack}' is not a stack name`);
          const devices = parseDevices(options.devices);
          if (options.burst !== undefined && !(/^\d+$/.test(options.burst) && Number(options.burst) <= 1e7))
            throw new UsageError(
              `--burst must be a whole number of things (0 to 10000000), got '${options.burst}'`,
            );
          const burst = Number(options.burst ?? 0);
          const io = deps();
          // The same reader and validation as `iot-dr plan` (cli/plan/stackFile.ts).
          const file = stackFilePath(options.stack, options.config);
          let config: DrConfig;
          let stackFile: StackFile;
          try {
            stackFile = readStackFileAt(file);
            config = validateStackFile(stackFile, options.stack);
          } catch (err) {
            if (err instanceof InputError) throw err;
            throw new InputError(`${file}: ${err instanceof Error ? err.message : String(err)}`);
          }
          for (const notice of stackFileNotices(stackFile)) io.stderr?.(`${notice}\n`);
          const estimate = estimateFromConfig(config, devices, burst);
          io.stdout(
            options.json
              ? `${JSON.stringify(estimate)}\n`
              : formatText(options.stack, file, devices, estimate),
          );
        },
      );
  };
}

export const registerRto: RegisterCommand = makeRtoCommand();
