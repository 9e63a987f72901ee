/**
 * The slice of the Pulumi Automation API that the operations tool needs, as an interface:
 * `local.ts` implements it over `LocalWorkspace` (the Pulumi CLI), `fake.ts` in memory for tests.
 */
import type { StackName } from "./stacks.js";

/** What happens to one resource, as the engine reports it (`op` is the engine's step op). */
export interface ResourceProgress {
  kind: "resource";
  stack: StackName;
  /** `pre`: about to act; `done`: finished (or planned, in a preview); `failed`: the step failed. */
  phase: "pre" | "done" | "failed";
  /** same | create | update | delete | replace | refresh | read | ... (Pulumi's OpType). */
  op: string;
  urn: string;
  type: string;
  name: string;
  /** Changed property paths, when the engine reports them (detailed diff first, then top-level diffs). */
  diffs: string[];
}

/** A diagnostic (warning or error) from the engine or a provider. */
export interface DiagnosticProgress {
  kind: "diagnostic";
  stack: StackName;
  severity: string;
  message: string;
  urn?: string;
}

/** The end of an operation, with the count of resources per operation. */
export interface SummaryProgress {
  kind: "summary";
  stack: StackName;
  changes: Record<string, number>;
  durationSeconds: number;
}

/** The common progress type every workspace reports, whatever drives the stacks. */
export type ProgressEvent = ResourceProgress | DiagnosticProgress | SummaryProgress;

/** Callbacks for one stack operation. */
export interface OperationHooks {
  /** One line of the engine's human-readable output (no trailing newline). */
  onOutputLine?: (line: string) => void;
  /** One structured engine event, already mapped to the common progress type. */
  onProgress?: (event: ProgressEvent) => void;
  /** Aborting it interrupts the operation (the Pulumi process gets SIGINT, as with Ctrl-C). */
  signal?: AbortSignal;
}

/** A stack output value; secrets stay marked so that reports can hide them. */
export interface StackOutput {
  value: unknown;
  secret: boolean;
}

export type StackOutputs = Record<string, StackOutput>;

/** Resource counts per engine operation (`{ same: 10, update: 1 }`). */
export type ChangeSummary = Record<string, number>;

/** One selected stack. Every method runs the Pulumi CLI in the real implementation. */
export interface StackHandle {
  /** The role of the stack in the project. */
  readonly stack: StackName;
  /** The name the backend knows it by: `primary`, or `org/iot-dr/primary`. */
  readonly qualifiedName: string;
  /** Sets a plain (non-secret) config value in the stack's settings. */
  setConfig(key: string, value: string, options?: { signal?: AbortSignal }): Promise<void>;
  up(hooks?: OperationHooks): Promise<{ outputs: StackOutputs; changes: ChangeSummary }>;
  /** `pulumi preview`, optionally refreshing state first: what an `up` would change now. */
  preview(options: { refresh: boolean }, hooks?: OperationHooks): Promise<{ changes: ChangeSummary }>;
  /** `pulumi refresh --preview-only`: how the cloud differs from state, changing nothing (drift). */
  previewRefresh(hooks?: OperationHooks): Promise<{ changes: ChangeSummary }>;
  destroy(hooks?: OperationHooks): Promise<{ changes: ChangeSummary }>;
  /** The outputs of the last successful `up` (empty when the stack was never deployed). */
  outputs(options?: { signal?: AbortSignal }): Promise<StackOutputs>;
}

/** Thrown by `selectStack` (without `create`) when the backend has no such stack. */
export class StackNotFound extends Error {
  override name = "StackNotFound";
  constructor(readonly qualifiedName: string) {
    super(`no stack named '${qualifiedName}' found`);
  }
}

/** The project's stacks. */
export interface StackWorkspace {
  /** The directory holding Pulumi.yaml and Pulumi.<stack>.yaml. */
  readonly workDir: string;
  /** The Pulumi organization when stacks are addressed as `org/iot-dr/<stack>`. */
  readonly org: string | undefined;
  /** The name the backend knows `stack` by. */
  qualifiedName(stack: StackName): string;
  /** Selects an existing stack (StackNotFound when there is none); with `create`, creates it first. */
  selectStack(stack: StackName, options?: { create?: boolean; signal?: AbortSignal }): Promise<StackHandle>;
}
