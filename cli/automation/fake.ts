/**
 * An in-memory StackWorkspace for tests (and for dry runs of tools built on the workspace).
 * It keeps each stack's config and outputs, resolves stack references the way the programs do
 * (through the `iot-dr:<stack>Stack` config), replays scripted engine events through the same
 * mapping as the real workspace, fails where told, and journals every call in order.
 */
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { toProgressEvent } from "./events.js";
import {
  STACK_DEPENDENCIES,
  STACK_NAMES,
  qualifiedStackName,
  referenceConfigKey,
  type StackName,
} from "./stacks.js";
import {
  StackNotFound,
  type ChangeSummary,
  type OperationHooks,
  type StackHandle,
  type StackOutputs,
  type StackWorkspace,
} from "./workspace.js";

export type FakeOperation =
  "select" | "setConfig" | "up" | "preview" | "previewRefresh" | "destroy" | "outputs";

/** How one fake stack behaves. */
export interface FakeStackScript {
  /** The stack exists in the backend. Default: true. */
  exists?: boolean;
  /** Outputs the stack already has (it was deployed before). Default: none. */
  outputs?: Record<string, unknown>;
  /** Outputs an `up` produces. Default: `{ stackName: <qualified name> }`. */
  upOutputs?: Record<string, unknown>;
  /** Output names the program marks secret (`pulumi.secret`); the Automation API reports them so. */
  secretOutputs?: string[];
  /** Operations that fail, with the message of the thrown error. */
  fail?: Partial<Record<FakeOperation, string>>;
  /** Engine events an operation emits (recorded shapes), mapped as the real workspace maps them. */
  events?: Partial<Record<FakeOperation, EngineEvent[]>>;
  /** Output lines an operation prints. */
  lines?: Partial<Record<FakeOperation, string[]>>;
  /**
   * Operations that never answer (a half-dead backend): they end only when their abort signal fires,
   * rejecting as the Automation API does for an interrupted CLI process; journaled as `aborted <op> <stack>`.
   */
  hang?: Partial<Record<FakeOperation, true>>;
  /** Change summary an operation returns. Default: `{ same: 1 }`. */
  changes?: Partial<Record<FakeOperation, ChangeSummary>>;
}

interface FakeStackState {
  exists: boolean;
  config: Record<string, string>;
  outputs: Record<string, unknown>;
}

export class FakeStackWorkspace implements StackWorkspace {
  readonly workDir = "/fake/iot-dr";
  /** Every call, in order: `"up primary"`, `"setConfig secondary iot-dr:primaryStack=primary"`, ... */
  readonly calls: string[] = [];
  /** What each `up` read through its stack references: `referencesRead.secondary.primary` = outputs. */
  readonly referencesRead: Partial<Record<StackName, Partial<Record<StackName, Record<string, unknown>>>>> =
    {};
  private readonly states: Record<StackName, FakeStackState>;

  constructor(
    private readonly scripts: Partial<Record<StackName, FakeStackScript>> = {},
    readonly org: string | undefined = undefined,
  ) {
    this.states = Object.fromEntries(
      STACK_NAMES.map((stack) => [
        stack,
        {
          exists: scripts[stack]?.exists ?? true,
          config: {},
          outputs: { ...(scripts[stack]?.outputs ?? {}) },
        },
      ]),
    ) as Record<StackName, FakeStackState>;
  }

  qualifiedName(stack: StackName): string {
    return qualifiedStackName(stack, this.org);
  }

  /** The config a stack holds now. */
  config(stack: StackName): Record<string, string> {
    return { ...this.states[stack].config };
  }

  /** The outputs a stack holds now. */
  outputsOf(stack: StackName): Record<string, unknown> {
    return { ...this.states[stack].outputs };
  }

  /** Only the calls that change something (config, up, destroy). */
  mutatingCalls(): string[] {
    return this.calls.filter((call) => /^(setConfig|up|destroy|create) /.test(call));
  }

  /** Operations still waiting on a backend that never answers (0 once every one was interrupted). */
  hanging = 0;

  /** Never settles until `signal` aborts, then rejects like an interrupted Pulumi process. */
  hang(operation: FakeOperation, stack: StackName, signal: AbortSignal | undefined): Promise<never> {
    this.hanging++;
    return new Promise((_, reject) =>
      signal?.addEventListener(
        "abort",
        () => {
          this.hanging--;
          this.calls.push(`aborted ${operation} ${stack}`);
          reject(new Error(`code: 255\n stderr: ^C received; cancelling`));
        },
        { once: true },
      ),
    );
  }

  async selectStack(
    stack: StackName,
    options: { create?: boolean; signal?: AbortSignal } = {},
  ): Promise<StackHandle> {
    const state = this.states[stack];
    this.calls.push(`${options.create && !state.exists ? "create" : "select"} ${stack}`);
    if (this.scripts[stack]?.hang?.select) await this.hang("select", stack, options.signal);
    const failure = this.scripts[stack]?.fail?.select;
    if (failure) throw new Error(failure);
    if (!state.exists) {
      if (!options.create) throw new StackNotFound(this.qualifiedName(stack));
      state.exists = true;
    }
    return new FakeStackHandle(this, stack, this.qualifiedName(stack), this.scripts[stack] ?? {}, state);
  }

  /** Resolves the references of `stack` as its program would, failing like a missing stack reference. */
  resolveReferences(stack: StackName, config: Record<string, string>): void {
    for (const dep of STACK_DEPENDENCIES[stack]) {
      const name = config[referenceConfigKey(dep)];
      if (name === undefined) {
        throw new Error(`error: Missing required configuration variable '${referenceConfigKey(dep)}'`);
      }
      const target = STACK_NAMES.find((candidate) => this.qualifiedName(candidate) === name);
      const outputs = target ? this.states[target].outputs : undefined;
      if (!target || !outputs || Object.keys(outputs).length === 0) {
        throw new Error(`error: stack reference '${name}' has no outputs: deploy it first`);
      }
      (this.referencesRead[stack] ??= {})[target] = { ...outputs };
    }
  }
}

class FakeStackHandle implements StackHandle {
  constructor(
    private readonly workspace: FakeStackWorkspace,
    readonly stack: StackName,
    readonly qualifiedName: string,
    private readonly script: FakeStackScript,
    private readonly state: FakeStackState,
  ) {}

  /** Journals the call, plays its lines and events, then fails if scripted to. */
  private async run(
    operation: FakeOperation,
    detail: string,
    hooks?: OperationHooks,
  ): Promise<ChangeSummary> {
    this.workspace.calls.push(`${operation} ${this.stack}${detail}`);
    if (this.script.hang?.[operation]) await this.workspace.hang(operation, this.stack, hooks?.signal);
    for (const line of this.script.lines?.[operation] ?? []) hooks?.onOutputLine?.(line);
    for (const event of this.script.events?.[operation] ?? []) {
      const progress = toProgressEvent(this.stack, event);
      if (progress) hooks?.onProgress?.(progress);
    }
    const failure = this.script.fail?.[operation];
    if (failure) throw new Error(failure);
    return this.script.changes?.[operation] ?? { same: 1 };
  }

  async setConfig(key: string, value: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.run("setConfig", ` ${key}=${value}`, options);
    this.state.config[key] = value;
  }

  async up(hooks?: OperationHooks): Promise<{ outputs: StackOutputs; changes: ChangeSummary }> {
    const changes = await this.run("up", "", hooks);
    this.workspace.resolveReferences(this.stack, this.state.config);
    this.state.outputs = { ...(this.script.upOutputs ?? { stackName: this.qualifiedName }) };
    const outputs = Object.fromEntries(
      Object.entries(this.state.outputs).map(([key, value]) => [
        key,
        { value, secret: this.script.secretOutputs?.includes(key) ?? false },
      ]),
    );
    return { outputs, changes };
  }

  async preview(options: { refresh: boolean }, hooks?: OperationHooks): Promise<{ changes: ChangeSummary }> {
    return { changes: await this.run("preview", options.refresh ? " --refresh" : "", hooks) };
  }

  async previewRefresh(hooks?: OperationHooks): Promise<{ changes: ChangeSummary }> {
    return { changes: await this.run("previewRefresh", "", hooks) };
  }

  async destroy(hooks?: OperationHooks): Promise<{ changes: ChangeSummary }> {
    const changes = await this.run("destroy", "", hooks);
    this.state.outputs = {};
    return { changes };
  }

  async outputs(options: { signal?: AbortSignal } = {}): Promise<StackOutputs> {
    await this.run("outputs", "", options);
    return Object.fromEntries(
      Object.entries(this.state.outputs).map(([key, value]) => [
        key,
        { value, secret: this.script.secretOutputs?.includes(key) ?? false },
      ]),
    );
  }
}
