/** Runs one iot-dr command against a fake workspace and terminal, the way cli/main.ts runs it. */
import { Command, CommanderError } from "commander";
import { UsageError } from "../../cli/errors.js";
import type { RegisterCommand } from "../../cli/commands/index.js";
import type { AutomationCommandDeps } from "../../cli/automation/deps.js";
import { FakeStackWorkspace, type FakeStackScript } from "../../cli/automation/fake.js";
import type { StackName } from "../../cli/automation/stacks.js";

export type Scripts = Partial<Record<StackName, FakeStackScript>>;

export interface Terminal {
  interactive?: boolean;
  /** What the person types at a confirmation prompt. */
  answer?: string;
  /** Receives the command's Ctrl-C handler (to press Ctrl-C from the test). */
  onInterrupt?: AutomationCommandDeps["io"]["onInterrupt"];
}

export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
  workspace: FakeStackWorkspace;
  /** The organization the command built its workspace with, if it built one. */
  workspaceOrg: string | undefined;
  prompts: string[];
}

export async function runCommand(
  makeCommand: (deps: () => AutomationCommandDeps) => RegisterCommand,
  argv: string[],
  scripts: Scripts = {},
  terminal: Terminal = {},
): Promise<CommandRun> {
  let stdout = "";
  let stderr = "";
  const prompts: string[] = [];
  let workspace = new FakeStackWorkspace(scripts);
  let workspaceOrg: string | undefined;
  const deps = (): AutomationCommandDeps => ({
    workspace: (options) => {
      workspaceOrg = options.org;
      workspace = new FakeStackWorkspace(scripts, options.org);
      return workspace;
    },
    io: {
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      isInteractive: () => terminal.interactive ?? false,
      confirm: async (question, expected) => {
        prompts.push(question);
        return terminal.answer === expected;
      },
      ...(terminal.onInterrupt ? { onInterrupt: terminal.onInterrupt } : {}),
    },
  });
  let code = 0;
  const program = new Command("iot-dr").exitOverride().configureOutput({
    writeOut: (text) => (stdout += text),
    writeErr: (text) => (stderr += text),
  });
  makeCommand(deps)(program, (exitCode) => (code = exitCode));
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) code = err.exitCode === 0 ? 0 : 2;
    else if (err instanceof UsageError) {
      stderr += `iot-dr: ${err.message}\n`;
      code = 2;
    } else throw err;
  }
  return { code, stdout, stderr, workspace, workspaceOrg, prompts };
}
