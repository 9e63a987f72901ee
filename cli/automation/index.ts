/** The Automation API layer of the operations tool: stacks, workspaces, ordered runs. */
export * from "./stacks.js";
export * from "./workspace.js";
export * from "./events.js";
export * from "./operations.js";
export * from "./io.js";
export { LocalStackWorkspace, LocalStackHandle, REPO_ROOT } from "./local.js";
export type { LocalStackWorkspaceOptions, AutomationEntry, AutomationStack } from "./local.js";
export { defaultDeps, type AutomationCommandDeps } from "./deps.js";
