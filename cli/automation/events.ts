/**
 * Pure translations from what the Pulumi CLI emits (engine events, output chunks, command errors)
 * to what the operations tool reports. No CLI is called here, so every function is unit-tested
 * with recorded shapes.
 */
import type { EngineEvent, StepEventMetadata } from "@pulumi/pulumi/automation";
import type { ProgressEvent, ResourceProgress } from "./workspace.js";
import type { StackName } from "./stacks.js";

/** The resource name is the last `::` segment of a URN (`urn:pulumi:stack::project::type::name`). */
export function nameFromUrn(urn: string): string {
  const index = urn.lastIndexOf("::");
  return index < 0 ? urn : urn.slice(index + 2);
}

/** Top-level keys whose values differ between two property bags. */
function changedKeys(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key])).sort();
}

/**
 * The changed properties of a step: the detailed diff's paths when present (most precise), else the
 * engine's top-level `diffs`, else, for an update whose engine reports neither (older CLIs on refresh),
 * the top-level outputs that differ between the old and new state.
 */
export function changedProperties(metadata: StepEventMetadata): string[] {
  if (metadata.detailedDiff && Object.keys(metadata.detailedDiff).length > 0) {
    return Object.keys(metadata.detailedDiff).sort();
  }
  if (metadata.diffs && metadata.diffs.length > 0) return [...metadata.diffs].sort();
  if (metadata.op === "update" && metadata.old && metadata.new) {
    return changedKeys(metadata.old.outputs ?? {}, metadata.new.outputs ?? {});
  }
  return [];
}

function resourceProgress(
  stack: StackName,
  phase: ResourceProgress["phase"],
  metadata: StepEventMetadata,
): ResourceProgress {
  return {
    kind: "resource",
    stack,
    phase,
    op: metadata.op,
    urn: metadata.urn,
    type: metadata.type,
    name: nameFromUrn(metadata.urn),
    diffs: changedProperties(metadata),
  };
}

/**
 * Maps one engine event to the common progress type; `undefined` for events the tool does not
 * report (prelude, stdout echoes, cancel, policy, debugger).
 */
export function toProgressEvent(stack: StackName, event: EngineEvent): ProgressEvent | undefined {
  if (event.resourcePreEvent) return resourceProgress(stack, "pre", event.resourcePreEvent.metadata);
  if (event.resOutputsEvent) return resourceProgress(stack, "done", event.resOutputsEvent.metadata);
  if (event.resOpFailedEvent) return resourceProgress(stack, "failed", event.resOpFailedEvent.metadata);
  if (event.diagnosticEvent) {
    const { severity, message, urn } = event.diagnosticEvent;
    return { kind: "diagnostic", stack, severity, message: message.trimEnd(), ...(urn ? { urn } : {}) };
  }
  if (event.summaryEvent) {
    const changes: Record<string, number> = {};
    for (const [op, count] of Object.entries(event.summaryEvent.resourceChanges ?? {})) {
      if (typeof count === "number") changes[op] = count;
    }
    return { kind: "summary", stack, changes, durationSeconds: event.summaryEvent.durationSeconds };
  }
  return undefined;
}

/**
 * Operations that, reported as finished by a refresh preview, mean the cloud no longer matches
 * the stack: the engine reports each refreshed resource as `same`, `update` (drifted) or `delete`
 * (gone from the cloud); the others cover `preview --refresh`, which plans against the program.
 */
const DRIFT_OPS = new Set(["update", "delete", "replace", "create", "create-replacement", "delete-replaced"]);

/** Whether a progress event reports a drifted resource. */
export function isDrift(event: ProgressEvent): event is ResourceProgress {
  return event.kind === "resource" && event.phase === "done" && DRIFT_OPS.has(event.op);
}

/** Counts of resources that changed (every op but `same`, `read` and `refresh`) in a summary. */
export function countChanges(changes: Record<string, number>): number {
  return Object.entries(changes)
    .filter(([op]) => op !== "same" && op !== "read" && op !== "refresh")
    .reduce((total, [, count]) => total + count, 0);
}

/**
 * Turns output chunks (which may split or join lines) into whole lines. `flush` emits the last
 * partial line at the end of an operation.
 */
export class LineSplitter {
  private pending = "";

  constructor(private readonly emit: (line: string) => void) {}

  push(chunk: string): void {
    const parts = (this.pending + chunk).split(/\r?\n/);
    this.pending = parts.pop() ?? "";
    for (const line of parts) this.emit(line);
  }

  flush(): void {
    if (this.pending !== "") this.emit(this.pending);
    this.pending = "";
  }
}

/**
 * One readable message for a failed operation. The Automation API's CommandError carries the whole
 * CLI transcript; the `error:` lines in it are what a person needs, the first line otherwise.
 */
export function summarizeError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // CommandError prefixes the first line of each stream with its label (" stderr: error: ...").
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim().replace(/^(?:code: \S+|stdout:|stderr:|err\?:)\s*/, ""))
    .filter((line) => line !== "");
  // Pulumi writes "error: ..." in lower case; "Error: ..." is the wrapped exception, not the cause.
  const errorLines = lines.filter((line) => /^error:/.test(line));
  const chosen = errorLines.length > 0 ? [...new Set(errorLines)].join("; ") : (lines[0] ?? "unknown error");
  const short = chosen.length > 500 ? `${chosen.slice(0, 497)}...` : chosen;
  // The Automation API runs `pulumi version` first; ENOENT there means no CLI on PATH.
  return /ENOENT/.test(short) && /pulumi/.test(short)
    ? `the Pulumi CLI is not installed or not on PATH; install it (https://www.pulumi.com/docs/iac/download-install/) and retry (${short})`
    : short;
}
