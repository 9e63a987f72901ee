/** What the deploy and drift commands need from outside: a workspace and a terminal (tests inject fakes). */
import { processIo, type CommandIo } from "./io.js";
import { LocalStackWorkspace } from "./local.js";
import type { StackWorkspace } from "./workspace.js";

export interface AutomationCommandDeps {
  /** Builds the workspace once the command line is valid. Default: the real LocalStackWorkspace. */
  workspace: (options: { org?: string }) => StackWorkspace;
  io: CommandIo;
}

export function defaultDeps(): AutomationCommandDeps {
  return { workspace: (options) => new LocalStackWorkspace(options), io: processIo() };
}
