/**
 * `iot-dr deploy`: `pulumi up` on the stacks in dependency order (primary → secondary → global),
 * or `pulumi destroy` in reverse with --destroy, through the Automation API. Stops at the first
 * failing stack and reports which stacks were deployed, failed and skipped.
 */
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { RegisterCommand } from "./index.js";
import {
  checkSelection,
  parseOrg,
  parseStackList,
  runDeploy,
  runOrder,
  STACK_NAMES,
  type CommandIo,
  type DeployReport,
} from "../automation/index.js";
import { resolveStackDeadlines, STACK_DEADLINES_S } from "../automation/deadlines.js";
import { defaultDeps, type AutomationCommandDeps } from "../automation/deps.js";

interface DeployOptions {
  stacks?: string;
  destroy?: boolean;
  yes?: boolean;
  json?: boolean;
  org?: string;
  opTimeout?: string;
}

/** Exit code after Ctrl-C or SIGTERM (128 + SIGINT), as the drill uses. */
export const INTERRUPTED_EXIT_CODE = 130;

function formatChanges(changes: Record<string, number> | undefined): string {
  if (!changes) return "";
  return Object.entries(changes)
    .filter(([, count]) => count > 0)
    .map(([op, count]) => `${op} ${count}`)
    .join(", ");
}

function formatReport(report: DeployReport): string {
  const width = Math.max(...report.stacks.map((s) => s.stack.length));
  const lines = report.stacks.map((s) => {
    const detail = s.status === "failed" ? s.error : formatChanges(s.changes);
    return `${s.stack.padEnd(width)}  ${s.status.padEnd(9)}  ${detail ?? ""}`.trimEnd();
  });
  const verdict =
    report.failed === null
      ? `${report.action}: ${report.succeeded.length} of ${report.order.length} stacks done`
      : `${report.action}: stopped at ${report.failed}; ${report.skipped.length} skipped`;
  return [...lines, verdict].join("\n") + "\n";
}

/** The JSON report: the finished stacks are listed under `deployed`, or `destroyed` for --destroy. */
function toJson(report: DeployReport): Record<string, unknown> {
  const { action, order, succeeded, failed, skipped, stacks, interrupted } = report;
  return {
    action,
    ...(interrupted ? { interrupted } : {}),
    order,
    [action === "destroy" ? "destroyed" : "deployed"]: succeeded,
    failed,
    skipped,
    stacks,
  };
}

/** Refuses, before any stack is touched, to run unattended without --yes (as `pulumi up` does). */
function requireConfirmable(io: CommandIo, order: string[], destroy: boolean, yes: boolean): void {
  if (yes || io.isInteractive()) return;
  throw new UsageError(
    `refusing to ${destroy ? "destroy" : "deploy"} ${order.join(" → ")} without confirmation: ` +
      `this terminal is not interactive. Pass --yes to ${destroy ? "destroy every resource of these stacks" : "run pulumi up"} unattended.`,
  );
}

/** Asks the person at the terminal; --yes answers for them. */
async function confirmRun(io: CommandIo, order: string[], destroy: boolean, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (destroy) {
    return io.confirm(
      `This deletes every resource of ${order.join(", ")}. Type "destroy" to go on: `,
      "destroy",
    );
  }
  return io.confirm(`Run pulumi up on ${order.join(" → ")}? Type "yes" to go on: `, "yes");
}

export function makeDeployCommand(deps: () => AutomationCommandDeps = defaultDeps): RegisterCommand {
  return (program: Command, setExitCode: (code: number) => void) => {
    program
      .command("deploy")
      .description(
        `pulumi up on the stacks in dependency order (${STACK_NAMES.join(" → ")}); --destroy runs destroy in reverse`,
      )
      .option("--stacks <list>", `comma-separated stacks (default: ${STACK_NAMES.join(",")})`)
      .option("--destroy", "destroy the stacks instead, dependents first")
      .option("--yes", "do not ask for confirmation (required when not on an interactive terminal)")
      .option("--org <org>", "address the stacks as <org>/iot-dr/<stack> (Pulumi Cloud or a DIY backend)")
      .option("--json", "print one JSON report on stdout; progress stays on stderr")
      .option(
        "--op-timeout <seconds>",
        `deadline of each stack's up/destroy (default ${STACK_DEADLINES_S.up} s; env IOT_DR_STACK_TIMEOUT); backend reads ${STACK_DEADLINES_S.read} s (IOT_DR_STACK_READ_TIMEOUT)`,
      )
      .action(async (options: DeployOptions) => {
        const selected = parseStackList(options.stacks);
        const org = parseOrg(options.org);
        const action = options.destroy ? "destroy" : "deploy";
        const order = runOrder(selected, action);
        const deadlines = resolveStackDeadlines(options.opTimeout, process.env);
        const { workspace: makeWorkspace, io } = deps();
        requireConfirmable(io, order, action === "destroy", Boolean(options.yes));
        const workspace = makeWorkspace(org ? { org } : {});
        // Ctrl-C interrupts the pulumi process in flight (as Ctrl-C on `pulumi up` would) and waits for it.
        const controller = new AbortController();
        const removeHandlers = io.onInterrupt?.((signal) => {
          io.stderr(`iot-dr deploy: ${signal}: interrupting the stack operation in flight\n`);
          controller.abort();
        });
        try {
          await run();
        } finally {
          removeHandlers?.();
        }
        async function run(): Promise<void> {
          const hooks = { deadlines, signal: controller.signal };
          try {
            await checkSelection(workspace, selected, action, hooks);
          } catch (err) {
            if (err instanceof UsageError) throw err;
            // The stacks could not be read at all (no CLI, no backend login): nothing ran.
            const error = err instanceof Error ? err.message : String(err);
            io.stderr(`iot-dr: ${error}; nothing changed\n`);
            if (options.json) io.stdout(`${JSON.stringify({ action, order, error }, null, 2)}\n`);
            setExitCode(1);
            return;
          }
          if (!(await confirmRun(io, order, action === "destroy", Boolean(options.yes)))) {
            io.stderr("iot-dr: not confirmed; nothing changed\n");
            setExitCode(1);
            return;
          }
          const report = await runDeploy(workspace, order, action, {
            ...hooks,
            onStackStart: (stack, verb, detail) =>
              io.stderr(`==> ${verb} ${workspace.qualifiedName(stack)}${detail ? ` (${detail})` : ""}\n`),
            onOutputLine: (stack, line) => io.stderr(`[${stack}] ${line}\n`),
          });
          io.stdout(options.json ? `${JSON.stringify(toJson(report), null, 2)}\n` : formatReport(report));
          setExitCode(report.interrupted ? INTERRUPTED_EXIT_CODE : report.failed === null ? 0 : 1);
        }
      });
  };
}

export const registerDeploy: RegisterCommand = makeDeployCommand();
