/**
 * `iot-dr preflight --stack S [--json]`: read-only checks of the target accounts and regions before
 * `pulumi up` (cli/preflight/run.ts). One line per check with what to do; exit 3 when any blocks.
 */
import type { Command } from "commander";
import type { DrConfig } from "../../stacks/config.js";
import { readStackFile, stackFilePath, validateStackFile } from "../plan/stackFile.js";
import { InputError, UsageError } from "../errors.js";
import { blocks, runPreflight, type PreflightOptions } from "../preflight/run.js";
import type { CheckResult } from "../preflight/judge.js";
import type { RegisterCommand } from "./register.js";

/** Exit code when a check blocks the deploy (as `plan --policy` for a mandatory violation). */
export const PREFLIGHT_BLOCKED_EXIT = 3;

export interface PreflightCommandDeps {
  env: Record<string, string | undefined>;
  stdout(text: string): void;
  resolveNs?: PreflightOptions["resolveNs"];
}

const LABEL: Record<CheckResult["status"], string> = {
  pass: "PASS",
  fail: "FAIL",
  warn: "WARN",
  "not-checked": "NOT CHECKED",
};

export function formatChecks(stack: string, results: readonly CheckResult[]): string {
  const lines = results.map(
    (r) =>
      `${LABEL[r.status].padEnd(11)} ${r.check} ${r.account} ${r.region}: ${r.message}${r.fix && r.status !== "pass" ? `\n            what to do: ${r.fix}` : ""}`,
  );
  const failed = results.filter(blocks).length;
  const unchecked = results.filter((r) => r.status === "not-checked").length;
  return [
    `Preflight of stack '${stack}':`,
    ...lines,
    failed > 0
      ? `${failed} check(s) block the deploy; ${unchecked} not checked.`
      : `nothing blocks the deploy; ${unchecked} not checked (check those by hand).`,
    "",
  ].join("\n");
}

export function makePreflightCommand(deps: () => PreflightCommandDeps): RegisterCommand {
  return (program: Command, setExitCode) => {
    program
      .command("preflight")
      .description(
        "read-only checks of the target accounts and regions before 'pulumi up' (exit 3 when any blocks)",
      )
      .requiredOption("--stack <name>", "primary, secondary or global")
      .option("--config <file>", "read this stack file instead of Pulumi.<stack>.yaml")
      .option("--external-id <id>", "the external id the assumed roles demand (default $IOT_DR_EXTERNAL_ID)")
      .option("--json", "print one JSON document on stdout")
      .action(async (options: { stack: string; config?: string; externalId?: string; json?: boolean }) => {
        if (!/^[A-Za-z0-9_.-]+$/.test(options.stack))
          throw new UsageError(`--stack '${options.stack}' is not a stack name`);
        const io = deps();
        const file = stackFilePath(options.stack, options.config);
        let config: DrConfig;
        try {
          config = validateStackFile(readStackFile(file), options.stack);
        } catch (err) {
          if (err instanceof InputError) throw err;
          throw new InputError(`${file}: ${err instanceof Error ? err.message : String(err)}`);
        }
        const externalId = options.externalId ?? io.env.IOT_DR_EXTERNAL_ID;
        const results = await runPreflight(config, {
          env: io.env,
          ...(externalId ? { externalId } : {}),
          ...(io.resolveNs ? { resolveNs: io.resolveNs } : {}),
        });
        const blocking = results.filter(blocks).length;
        io.stdout(
          options.json
            ? `${JSON.stringify({ stack: options.stack, blocking, checks: results })}\n`
            : formatChecks(options.stack, results),
        );
        if (blocking > 0) setExitCode(PREFLIGHT_BLOCKED_EXIT);
      });
  };
}

export const registerPreflight: RegisterCommand = makePreflightCommand(() => ({
  env: process.env,
  stdout: (text) => void process.stdout.write(text),
}));
