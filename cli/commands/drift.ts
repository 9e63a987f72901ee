/**
 * `iot-dr drift`: a refresh preview (`pulumi refresh --preview-only`, which changes nothing) on
 * each stack, listing every resource whose cloud state no longer matches the stack.
 * Exit 0: no drift; 3: drift; 1: a stack could not be previewed.
 */
import type { Command } from "commander";
import type { RegisterCommand } from "./index.js";
import { defaultDeps, type AutomationCommandDeps } from "../automation/deps.js";
import {
  parseOrg,
  parseStackList,
  runDrift,
  runOrder,
  STACK_NAMES,
  type DriftReport,
} from "../automation/index.js";
import { resolveStackDeadlines, STACK_DEADLINES_S } from "../automation/deadlines.js";

/** Exit code when at least one resource drifted (0 none, 1 error or deadline, 2 usage, 130 interrupted). */
export const DRIFT_EXIT_CODE = 3;
const INTERRUPTED_EXIT_CODE = 130;

interface DriftOptions {
  stacks?: string;
  json?: boolean;
  org?: string;
  opTimeout?: string;
}

function formatReport(report: DriftReport): string {
  const lines: string[] = [];
  for (const s of report.stacks) {
    if (s.error !== undefined) {
      lines.push(`${s.stack}: error: ${s.error}`);
      continue;
    }
    const count = s.drift.length + (s.unattributed ?? 0);
    lines.push(
      `${s.stack}: ${count === 0 ? "no drift" : `${count} drifted resource${count === 1 ? "" : "s"}`}`,
    );
    for (const r of s.drift) {
      lines.push(
        `  ${r.op.padEnd(7)} ${r.type}  ${r.name}${r.diffs.length > 0 ? `  [${r.diffs.join(", ")}]` : ""}`,
      );
    }
    if (s.unattributed) lines.push(`  ${s.unattributed} more counted by the engine without resource details`);
  }
  const stacksWithDrift = report.stacks.filter((s) => s.drift.length + (s.unattributed ?? 0) > 0).length;
  lines.push(
    report.errorCount > 0
      ? `drift: ${report.errorCount} stack${report.errorCount === 1 ? "" : "s"} could not be previewed`
      : report.driftCount === 0
        ? "drift: none"
        : `drift: ${report.driftCount} resource${report.driftCount === 1 ? "" : "s"} in ${stacksWithDrift} stack${stacksWithDrift === 1 ? "" : "s"}`,
  );
  return lines.join("\n") + "\n";
}

export function makeDriftCommand(deps: () => AutomationCommandDeps = defaultDeps): RegisterCommand {
  return (program: Command, setExitCode: (code: number) => void) => {
    program
      .command("drift")
      .description("refresh preview of each stack (changes nothing); exit 3 when a resource drifted")
      .option("--stacks <list>", `comma-separated stacks (default: ${STACK_NAMES.join(",")})`)
      .option("--org <org>", "address the stacks as <org>/iot-dr/<stack>")
      .option("--json", "print one JSON report on stdout; progress stays on stderr")
      .option(
        "--op-timeout <seconds>",
        `deadline of each stack's refresh preview (default ${STACK_DEADLINES_S.refreshPreview} s; env IOT_DR_STACK_TIMEOUT); backend reads ${STACK_DEADLINES_S.read} s (IOT_DR_STACK_READ_TIMEOUT)`,
      )
      .action(async (options: DriftOptions) => {
        const order = runOrder(parseStackList(options.stacks), "deploy");
        const org = parseOrg(options.org);
        const deadlines = resolveStackDeadlines(options.opTimeout, process.env);
        const { workspace: makeWorkspace, io } = deps();
        const workspace = makeWorkspace(org ? { org } : {});
        const controller = new AbortController();
        const removeHandlers = io.onInterrupt?.((signal) => {
          io.stderr(`iot-dr drift: ${signal}: interrupting the refresh preview in flight\n`);
          controller.abort();
        });
        let report: DriftReport;
        try {
          report = await runDrift(workspace, order, {
            deadlines,
            signal: controller.signal,
            onStackStart: (stack, verb) => io.stderr(`==> ${verb} ${workspace.qualifiedName(stack)}\n`),
            onOutputLine: (stack, line) => io.stderr(`[${stack}] ${line}\n`),
          });
        } finally {
          removeHandlers?.();
        }
        io.stdout(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
        setExitCode(
          controller.signal.aborted
            ? INTERRUPTED_EXIT_CODE
            : report.errorCount > 0
              ? 1
              : report.driftCount > 0
                ? DRIFT_EXIT_CODE
                : 0,
        );
      });
  };
}

export const registerDrift: RegisterCommand = makeDriftCommand();
