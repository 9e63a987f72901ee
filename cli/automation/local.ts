/**
 * The real StackWorkspace: the project in the repository root driven through the Pulumi
 * Automation API (`LocalWorkspace`, which runs the Pulumi CLI). Nothing here calls the CLI until
 * a stack is selected.
 */
import * as path from "node:path";
import {
  LocalWorkspace,
  StackNotFoundError,
  type EngineEvent,
  type LocalProgramArgs,
  type LocalWorkspaceOptions,
  type OpMap,
  type OutputMap,
  type Stack,
} from "@pulumi/pulumi/automation";
import { LineSplitter, toProgressEvent } from "./events.js";
import { qualifiedStackName, type StackName } from "./stacks.js";
import {
  StackNotFound,
  type ChangeSummary,
  type OperationHooks,
  type StackHandle,
  type StackOutputs,
  type StackWorkspace,
} from "./workspace.js";

/** The repository root: Pulumi.yaml and the Pulumi.<stack>.yaml files live here. */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** The part of a Pulumi `Stack` this adapter uses (lets tests stand in for the CLI). */
export type AutomationStack = Pick<
  Stack,
  "setConfig" | "up" | "preview" | "previewRefresh" | "destroy" | "outputs"
>;

/** The part of `LocalWorkspace` this adapter uses. */
export interface AutomationEntry {
  selectStack(args: LocalProgramArgs, opts?: LocalWorkspaceOptions): Promise<AutomationStack>;
  createOrSelectStack(args: LocalProgramArgs, opts?: LocalWorkspaceOptions): Promise<AutomationStack>;
}

export interface LocalStackWorkspaceOptions {
  /** Directory holding Pulumi.yaml. Default: the repository root. */
  workDir?: string;
  /** Pulumi organization; stacks become `<org>/iot-dr/<stack>`. Default: bare stack names. */
  org?: string;
  /** Extra environment for every CLI run (e.g. PULUMI_BACKEND_URL). Default: none. */
  envVars?: Record<string, string>;
  /** The Automation API entry point. Default: `LocalWorkspace`; tests pass a stand-in. */
  automation?: AutomationEntry;
}

function toOutputs(outputs: OutputMap): StackOutputs {
  return Object.fromEntries(
    Object.entries(outputs).map(([key, output]) => [key, { value: output.value, secret: output.secret }]),
  );
}

function toChanges(changes: OpMap | undefined): ChangeSummary {
  const summary: ChangeSummary = {};
  for (const [op, count] of Object.entries(changes ?? {})) {
    if (typeof count === "number") summary[op] = count;
  }
  return summary;
}

/** One stack, its CLI output cut into lines and its engine events mapped to the common type. */
export class LocalStackHandle implements StackHandle {
  constructor(
    readonly stack: StackName,
    readonly qualifiedName: string,
    private readonly automationStack: AutomationStack,
  ) {}

  /** The `onOutput`/`onEvent` callbacks for one operation, and a `done` that flushes the last line. */
  private callbacks(hooks: OperationHooks | undefined) {
    const splitter = new LineSplitter((line) => hooks?.onOutputLine?.(line));
    return {
      onOutput: (chunk: string) => splitter.push(chunk),
      onEvent: (event: EngineEvent) => {
        const progress = toProgressEvent(this.stack, event);
        if (progress) hooks?.onProgress?.(progress);
      },
      done: () => splitter.flush(),
    };
  }

  async setConfig(key: string, value: string): Promise<void> {
    await this.automationStack.setConfig(key, { value, secret: false });
  }

  async up(hooks?: OperationHooks): Promise<{ outputs: StackOutputs; changes: ChangeSummary }> {
    const { done, ...callbacks } = this.callbacks(hooks);
    try {
      const result = await this.automationStack.up(callbacks);
      return { outputs: toOutputs(result.outputs), changes: toChanges(result.summary.resourceChanges) };
    } finally {
      done();
    }
  }

  async preview(options: { refresh: boolean }, hooks?: OperationHooks): Promise<{ changes: ChangeSummary }> {
    const { done, ...callbacks } = this.callbacks(hooks);
    try {
      const result = await this.automationStack.preview({
        ...callbacks,
        refresh: options.refresh,
        diff: true,
      });
      return { changes: toChanges(result.changeSummary) };
    } finally {
      done();
    }
  }

  async previewRefresh(hooks?: OperationHooks): Promise<{ changes: ChangeSummary }> {
    const { done, ...callbacks } = this.callbacks(hooks);
    try {
      const result = await this.automationStack.previewRefresh(callbacks);
      return { changes: toChanges(result.changeSummary) };
    } finally {
      done();
    }
  }

  async destroy(hooks?: OperationHooks): Promise<{ changes: ChangeSummary }> {
    const { done, ...callbacks } = this.callbacks(hooks);
    try {
      const result = await this.automationStack.destroy(callbacks);
      return { changes: toChanges(result.summary.resourceChanges) };
    } finally {
      done();
    }
  }

  async outputs(): Promise<StackOutputs> {
    return toOutputs(await this.automationStack.outputs());
  }
}

/** The project's stacks, each selected through `LocalWorkspace` in `workDir`. */
export class LocalStackWorkspace implements StackWorkspace {
  readonly workDir: string;
  readonly org: string | undefined;
  private readonly envVars: Record<string, string> | undefined;
  private readonly automation: AutomationEntry;

  constructor(options: LocalStackWorkspaceOptions = {}) {
    this.workDir = options.workDir ?? REPO_ROOT;
    this.org = options.org;
    this.envVars = options.envVars;
    this.automation = options.automation ?? LocalWorkspace;
  }

  qualifiedName(stack: StackName): string {
    return qualifiedStackName(stack, this.org);
  }

  /** The arguments handed to `LocalWorkspace` for `stack` (exposed so they can be checked without a CLI). */
  programArgs(stack: StackName): { args: LocalProgramArgs; opts: LocalWorkspaceOptions } {
    return {
      args: { stackName: this.qualifiedName(stack), workDir: this.workDir },
      opts: { workDir: this.workDir, ...(this.envVars ? { envVars: this.envVars } : {}) },
    };
  }

  async selectStack(stack: StackName, options: { create?: boolean } = {}): Promise<StackHandle> {
    const { args, opts } = this.programArgs(stack);
    let automationStack: AutomationStack;
    try {
      automationStack = options.create
        ? await this.automation.createOrSelectStack(args, opts)
        : await this.automation.selectStack(args, opts);
    } catch (err) {
      if (err instanceof StackNotFoundError) throw new StackNotFound(args.stackName);
      throw err;
    }
    return new LocalStackHandle(stack, args.stackName, automationStack);
  }
}
