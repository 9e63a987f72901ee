/**
 * The real StackWorkspace: the project in the repository root driven through the Pulumi
 * Automation API (`LocalWorkspace`, which runs the Pulumi CLI). Nothing here calls the CLI until
 * a stack is selected.
 */
import * as path from "node:path";
import {
  LocalWorkspace,
  PulumiCommand,
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
import { StackNotFound } from "./workspace.js";
import type {
  ChangeSummary,
  OperationHooks,
  StackHandle,
  StackOutputs,
  StackWorkspace,
} from "./workspace.js";

/** The repository root: Pulumi.yaml and the Pulumi.<stack>.yaml files live here. */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** The part of a Pulumi `Stack` this adapter uses (lets tests stand in for the CLI). */
export type AutomationStack = Pick<
  Stack,
  "setConfig" | "up" | "preview" | "previewRefresh" | "destroy" | "outputs"
>;

/** What every engine operation of this adapter passes the Automation API. */
interface OperationCallbacks {
  onOutput(chunk: string): void;
  onEvent(event: EngineEvent): void;
  signal?: AbortSignal;
}

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
  /** The Pulumi CLI to run. Default: `pulumi` on PATH (`PulumiCommand.get()`); tests pass a stand-in CLI. */
  pulumiCommand?: PulumiCommand;
}

type RunFn = (
  args: string[],
  cwd: string,
  env: Record<string, string>,
  onOutput?: (data: string) => void,
  onError?: (data: string) => void,
  signal?: AbortSignal,
) => Promise<unknown>;

/**
 * The Pulumi CLI with an abort signal on every run. The Automation API takes a signal on up,
 * preview, refresh and destroy but not on `stack select`, `stack output` or `config set`; a backend
 * that never answers would leave those processes running. `run` is internal to the Automation API
 * (the one place every CLI process starts), so it is wrapped, not reimplemented.
 */
class SignalledPulumiCommand {
  current: AbortSignal | undefined;
  readonly command: PulumiCommand;
  constructor(base: PulumiCommand) {
    const run = (base as unknown as { run: RunFn }).run.bind(base);
    this.command = Object.create(base) as PulumiCommand;
    (this.command as unknown as { run: RunFn }).run = (args, cwd, env, onOutput, onError, signal) =>
      run(args, cwd, env, onOutput, onError, signal ?? this.current);
  }
  /** Runs `fn` with `signal` on every CLI process it starts. */
  async with<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    this.current = signal;
    try {
      return await fn();
    } finally {
      this.current = undefined;
    }
  }
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
    private readonly cli?: SignalledPulumiCommand,
  ) {}

  private guarded<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    return this.cli ? this.cli.with(signal, fn) : fn();
  }

  /**
   * Runs one engine operation with the `onOutput`/`onEvent` callbacks that feed `hooks`, under the
   * hooks' abort signal; the last output line is flushed however it ends.
   */
  private async operation<T>(
    hooks: OperationHooks | undefined,
    run: (callbacks: OperationCallbacks) => Promise<T>,
  ) {
    const splitter = new LineSplitter((line) => hooks?.onOutputLine?.(line));
    const callbacks: OperationCallbacks = {
      onOutput: (chunk: string) => splitter.push(chunk),
      onEvent: (event: EngineEvent) => {
        const progress = toProgressEvent(this.stack, event);
        if (progress) hooks?.onProgress?.(progress);
      },
      ...(hooks?.signal ? { signal: hooks.signal } : {}),
    };
    try {
      return await this.guarded(hooks?.signal, () => run(callbacks));
    } finally {
      splitter.flush();
    }
  }

  async setConfig(key: string, value: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.guarded(options.signal, () => this.automationStack.setConfig(key, { value, secret: false }));
  }

  async up(hooks?: OperationHooks): Promise<{ outputs: StackOutputs; changes: ChangeSummary }> {
    const result = await this.operation(hooks, (callbacks) => this.automationStack.up(callbacks));
    return { outputs: toOutputs(result.outputs), changes: toChanges(result.summary.resourceChanges) };
  }

  async preview(options: { refresh: boolean }, hooks?: OperationHooks): Promise<{ changes: ChangeSummary }> {
    const result = await this.operation(hooks, (callbacks) =>
      this.automationStack.preview({ ...callbacks, refresh: options.refresh, diff: true }),
    );
    return { changes: toChanges(result.changeSummary) };
  }

  async previewRefresh(hooks?: OperationHooks): Promise<{ changes: ChangeSummary }> {
    const result = await this.operation(hooks, (callbacks) => this.automationStack.previewRefresh(callbacks));
    return { changes: toChanges(result.changeSummary) };
  }

  async destroy(hooks?: OperationHooks): Promise<{ changes: ChangeSummary }> {
    const result = await this.operation(hooks, (callbacks) => this.automationStack.destroy(callbacks));
    return { changes: toChanges(result.summary.resourceChanges) };
  }

  async outputs(options: { signal?: AbortSignal } = {}): Promise<StackOutputs> {
    return toOutputs(await this.guarded(options.signal, () => this.automationStack.outputs()));
  }
}

/** The project's stacks, each selected through `LocalWorkspace` in `workDir`. */
export class LocalStackWorkspace implements StackWorkspace {
  readonly workDir: string;
  readonly org: string | undefined;
  private readonly envVars: Record<string, string> | undefined;
  private readonly automation: AutomationEntry;
  private readonly pulumiCommand: PulumiCommand | undefined;
  private cli: Promise<SignalledPulumiCommand> | undefined;

  constructor(options: LocalStackWorkspaceOptions = {}) {
    this.workDir = options.workDir ?? REPO_ROOT;
    this.org = options.org;
    this.envVars = options.envVars;
    this.automation = options.automation ?? LocalWorkspace;
    this.pulumiCommand = options.pulumiCommand;
  }

  /** The CLI, found once (`pulumi version`), unless a stand-in automation entry is used. */
  private signalledCli(): Promise<SignalledPulumiCommand> | undefined {
    if (this.automation !== LocalWorkspace && !this.pulumiCommand) return undefined;
    this.cli ??= (async () => {
      const skipVersionCheck = Boolean(
        this.envVars?.PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK ??
        process.env.PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK,
      );
      return new SignalledPulumiCommand(
        this.pulumiCommand ?? (await PulumiCommand.get({ skipVersionCheck })),
      );
    })();
    return this.cli;
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

  async selectStack(
    stack: StackName,
    options: { create?: boolean; signal?: AbortSignal } = {},
  ): Promise<StackHandle> {
    const { args, opts } = this.programArgs(stack);
    const cli = await this.signalledCli();
    const withCli = cli ? { ...opts, pulumiCommand: cli.command } : opts;
    const select = () =>
      options.create
        ? this.automation.createOrSelectStack(args, withCli)
        : this.automation.selectStack(args, withCli);
    let automationStack: AutomationStack;
    try {
      automationStack = cli ? await cli.with(options.signal, select) : await select();
    } catch (err) {
      if (err instanceof StackNotFoundError) throw new StackNotFound(args.stackName);
      throw err;
    }
    return new LocalStackHandle(stack, args.stackName, automationStack, cli);
  }
}
