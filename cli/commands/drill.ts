/**
 * `iot-dr drill`: a fail-over game day that measures RTO and RPO. `--target local` (default) runs
 * the whole DR path on this machine (drill/local.ts); `--target aws` forces fail-over of the
 * deployed stacks through the health override and measures what devices see (drill/aws.ts).
 * Progress goes to stderr; `--json` prints exactly one JSON document on stdout; `--report DIR`
 * writes a self-contained HTML report. Ctrl-C stops everything the drill started (exit 130).
 */
import * as fs from "node:fs";
import type { Command } from "commander";
import { AwsDrillFailed, runAwsDrill, type AwsDrillDeps, type AwsDrillResult } from "../../drill/aws.js";
import type { DrillTlsSettings } from "../../drill/awsDeps.js";
import {
  DrillAborted,
  SCENARIOS,
  runLocalDrill,
  type DrillResult,
  type LocalDrillOptions,
  type Scenario,
} from "../../drill/local.js";
import { writeReport } from "../../drill/report.js";
import { drillFindings, drillSummary, partialSummary } from "../../drill/summary.js";
import { drillTlsSettings } from "../../drill/tlsSettings.js";
import { defaultAwsDeps } from "../drillAws.js";
import { UsageError } from "../errors.js";
import { checkOutputFolder } from "../outputPath.js";
import type { RegisterCommand } from "./register.js";

export const TARGETS = ["local", "aws"] as const;

export interface DrillCommandDeps {
  runLocal(options: LocalDrillOptions): Promise<DrillResult>;
  /** Builds the AWS edges once the command line is valid. */
  awsDeps(options: { org?: string; tls: DrillTlsSettings }): AwsDrillDeps;
  writeReport(dir: string, result: DrillResult | AwsDrillResult): string;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Registers a handler for SIGINT and SIGTERM; returns a function that removes it. */
  onInterrupt(handler: (signal: string) => void): () => void;
}

export const defaultDrillDeps = (): DrillCommandDeps => ({
  runLocal: runLocalDrill,
  awsDeps: defaultAwsDeps,
  writeReport,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  onInterrupt(handler) {
    const signals = ["SIGINT", "SIGTERM"] as const;
    const listeners = signals.map((signal) => {
      const listener = () => handler(signal);
      process.on(signal, listener);
      return [signal, listener] as const;
    });
    return () => {
      for (const [signal, listener] of listeners) process.off(signal, listener);
    };
  },
});

function wholeNumber(
  flag: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got '${value}'`);
  return Number(value);
}

interface DrillFlags {
  target: string;
  devices?: string;
  registryDevices?: string;
  connectRate?: string;
  scenario: string;
  json?: boolean;
  report?: string;
  org?: string;
  stepTimeout?: string;
  port?: string;
  rootCa?: string;
  devicePolicy?: string;
}

/** The TLS settings of `--target aws`, or a UsageError naming the flag. */
function drillTls(flags: DrillFlags): DrillTlsSettings {
  try {
    return drillTlsSettings(flags, (file) => fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw err instanceof RangeError ? new UsageError(err.message) : err;
  }
}

export function makeDrillCommand(deps: () => DrillCommandDeps = defaultDrillDeps): RegisterCommand {
  return (program: Command, setExitCode) => {
    program
      .command("drill")
      .description("fail-over game day: inject a fault, measure detection, RTO, RPO and fail-back")
      .option("--target <target>", `where to drill: ${TARGETS.join(" | ")}`, "local")
      .option("--devices <n>", "simulated devices (default 50)")
      .option("--scenario <name>", `local fault: ${SCENARIOS.join(" | ")}`, "region-down")
      .option(
        "--registry-devices <n>",
        "local: devices of the registry workload in flight at the fault (default min(devices, 10))",
      )
      .option(
        "--connect-rate <n>",
        "local: device connects per second per region the brokers admit, as IoT Core's quota (default 500)",
      )
      .option("--json", "print one JSON document on stdout")
      .option("--report <dir>", "write an HTML report (report.html) into this folder")
      .option("--org <org>", "aws: the Pulumi organization of the stacks")
      .option("--step-timeout <seconds>", "aws: longest wait for one step (default 300)")
      .option(
        "--port <port>",
        "aws: 8883 (mutual TLS) or 443 (mutual TLS, ALPN x-amzn-mqtt-ca); default 8883",
      )
      .option(
        "--root-ca <file>",
        "aws: PEM of the CA IoT Core's endpoint chains to (Amazon Root CA 1); required",
      )
      .option(
        "--device-policy <name>",
        "aws: IoT policy C&C attaches to the drill's devices, one of iot-dr:ccAllowedPolicies (default iot-dr-device)",
      )
      .action(async (flags: DrillFlags) => {
        if (!(TARGETS as readonly string[]).includes(flags.target))
          throw new UsageError(`--target must be one of ${TARGETS.join(", ")}, got '${flags.target}'`);
        if (!(SCENARIOS as readonly string[]).includes(flags.scenario))
          throw new UsageError(`--scenario must be one of ${SCENARIOS.join(", ")}, got '${flags.scenario}'`);
        const devices = wholeNumber("--devices", flags.devices, 50, 1, 50_000);
        if (flags.target === "aws" && (flags.registryDevices ?? flags.connectRate) !== undefined)
          throw new UsageError("--registry-devices and --connect-rate apply to --target local only");
        if (flags.target === "local" && (flags.org !== undefined || flags.stepTimeout !== undefined))
          throw new UsageError("--org and --step-timeout apply to --target aws only");
        if (
          flags.target === "local" &&
          (flags.port !== undefined || flags.rootCa !== undefined || flags.devicePolicy !== undefined)
        )
          throw new UsageError("--port, --root-ca and --device-policy apply to --target aws only");
        const tls = flags.target === "aws" ? drillTls(flags) : undefined;
        const registryDevices =
          flags.registryDevices === undefined
            ? undefined
            : wholeNumber("--registry-devices", flags.registryDevices, 0, 2, devices);
        const connectRate =
          flags.connectRate === undefined
            ? undefined
            : wholeNumber("--connect-rate", flags.connectRate, 0, 1, 100_000);
        const stepTimeoutSeconds = wholeNumber("--step-timeout", flags.stepTimeout, 300, 10, 3600);
        if (flags.report !== undefined && flags.report.trim() === "")
          throw new UsageError("--report needs a folder, e.g. --report drill-report");
        // Before any peer starts: a drill's figures must never be lost to a bad path.
        if (flags.report !== undefined) checkOutputFolder("--report", flags.report);

        const io = deps();
        const controller = new AbortController();
        const removeHandlers = io.onInterrupt((signal) => {
          io.stderr(`iot-dr drill: ${signal}: stopping everything the drill started\n`);
          controller.abort();
        });
        const progress = (line: string) => io.stderr(`${line}\n`);
        let result: DrillResult | AwsDrillResult;
        try {
          result =
            flags.target === "local"
              ? await io.runLocal({
                  scenario: flags.scenario as Scenario,
                  devices,
                  ...(registryDevices !== undefined ? { registryDevices } : {}),
                  ...(connectRate !== undefined ? { connectRatePerSecond: connectRate } : {}),
                  signal: controller.signal,
                  progress,
                  onPeers: (inventory) => io.stderr(`drill peers ${JSON.stringify(inventory)}\n`),
                })
              : await runAwsDrill(io.awsDeps({ ...(flags.org ? { org: flags.org } : {}), tls: tls! }), {
                  devices,
                  stepTimeoutSeconds,
                  signal: controller.signal,
                  progress,
                });
        } catch (err) {
          if (err instanceof DrillAborted || controller.signal.aborted) {
            io.stderr(`iot-dr drill: interrupted; nothing it started is left running\n`);
            setExitCode(130);
            return;
          }
          if (err instanceof RangeError) throw new UsageError(err.message);
          if (err instanceof AwsDrillFailed) {
            // What it measured before it stopped is printed, whatever stopped it.
            io.stdout(flags.json ? `${JSON.stringify(err.partial)}\n` : partialSummary(err.partial));
            io.stderr(`iot-dr drill: ${err.partial.error}\n`);
            setExitCode(1);
            return;
          }
          throw err;
        } finally {
          removeHandlers();
        }
        // The figures first: whatever happens to the report afterwards, they are printed.
        io.stdout(flags.json ? `${JSON.stringify(result)}\n` : drillSummary(result));
        if (flags.report !== undefined) {
          try {
            const file = io.writeReport(flags.report, result);
            io.stderr(`report written to ${file}\n`);
          } catch (err) {
            io.stderr(
              `iot-dr drill: the drill ran (figures above) but the report could not be written to ${flags.report}: ${(err as Error).message}\n`,
            );
            setExitCode(1);
          }
        }
        const findings = drillFindings(result);
        if (findings.length > 0) {
          io.stderr(`iot-dr drill: the drill found ${findings.join("; ")} (figures above)\n`);
          setExitCode(1);
        }
      });
  };
}

export const registerDrill: RegisterCommand = makeDrillCommand();
