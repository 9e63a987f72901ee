/**
 * Ordered deploys and drift previews over a StackWorkspace: the logic behind `iot-dr deploy` and
 * `iot-dr drift`, free of command-line concerns so that other tools (the drill) can reuse it.
 */
import { UsageError } from "../errors.js";
import { countChanges, isDrift, summarizeError } from "./events.js";
import {
  resolveStackDeadlines,
  withDeadline,
  type StackDeadlines,
  type StackOperationKind,
} from "./deadlines.js";
import {
  STACK_DEPENDENCIES,
  STACK_NAMES,
  referenceConfig,
  unselectedDependencies,
  unselectedDependents,
  type StackName,
} from "./stacks.js";
import {
  StackNotFound,
  type ChangeSummary,
  type ProgressEvent,
  type StackOutputs,
  type StackWorkspace,
} from "./workspace.js";

/** Where progress goes while stacks run. */
export interface RunHooks {
  /** A line of engine output from `stack`. */
  onOutputLine?: (stack: StackName, line: string) => void;
  onProgress?: (event: ProgressEvent) => void;
  /** A stack is about to run (`detail` names the config set on it, if any). */
  onStackStart?: (stack: StackName, action: "up" | "destroy" | "refresh preview", detail: string) => void;
  /** Deadlines per operation (cli/automation/deadlines.ts). Default: the table's. */
  deadlines?: StackDeadlines;
  /** Ctrl-C: interrupts the operation in flight; no later stack starts. */
  signal?: AbortSignal;
}

/** One step of a run under its deadline, named by its stack and operation. */
function step<T>(
  workspace: StackWorkspace,
  hooks: Pick<RunHooks, "deadlines" | "signal">,
  stack: StackName,
  kind: StackOperationKind,
  label: string,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadlines = hooks.deadlines ?? resolveStackDeadlines(undefined, {});
  const hint =
    kind === "read"
      ? "; change the deadline with IOT_DR_STACK_READ_TIMEOUT=SECONDS"
      : `; change the deadline (${deadlines.source}) with --op-timeout SECONDS or IOT_DR_STACK_TIMEOUT`;
  return withDeadline(
    `${label} on stack ${workspace.qualifiedName(stack)}`,
    deadlines.ms[kind],
    hooks.signal,
    run,
    hint,
  );
}

export type DeployAction = "deploy" | "destroy";

/** The stacks to run, in the order they run: dependency order for deploy, reverse for destroy. */
export function runOrder(selected: readonly StackName[], action: DeployAction): StackName[] {
  const ordered = STACK_NAMES.filter((stack) => selected.includes(stack));
  return action === "destroy" ? ordered.reverse() : ordered;
}

/**
 * Why a stack does not count as deployed (it does not exist, or its last `up` left no outputs, while
 * every stack of the project exports some), or undefined when it is deployed. A failure to ask
 * (no CLI, no backend login) is not a usage error and propagates.
 */
async function notDeployedReason(
  workspace: StackWorkspace,
  stack: StackName,
  hooks: Pick<RunHooks, "deadlines" | "signal">,
): Promise<string | undefined> {
  try {
    const handle = await step(workspace, hooks, stack, "read", "pulumi stack select", (signal) =>
      workspace.selectStack(stack, { signal }),
    );
    const outputs = await step(workspace, hooks, stack, "read", "pulumi stack output", (signal) =>
      handle.outputs({ signal }),
    );
    return Object.keys(outputs).length > 0 ? undefined : "has no outputs (never deployed)";
  } catch (err) {
    if (err instanceof StackNotFound) return "does not exist";
    if (err instanceof Error && /Deadline|Interrupted/.test(err.name)) throw err;
    throw new Error(`cannot read stack ${workspace.qualifiedName(stack)}: ${summarizeError(err)}`, {
      cause: err,
    });
  }
}

/**
 * Refuses, before anything runs, a deploy that would `up` a stack whose referenced stacks are
 * neither selected nor deployed, and a destroy that would leave a deployed stack referencing a
 * destroyed one. Only reads the workspace.
 */
export async function checkSelection(
  workspace: StackWorkspace,
  selected: readonly StackName[],
  action: DeployAction,
  hooks: Pick<RunHooks, "deadlines" | "signal"> = {},
): Promise<void> {
  const valid = `valid stacks, in deploy order: ${STACK_NAMES.join(", ")}`;
  if (action === "deploy") {
    const problems: string[] = [];
    const missing: StackName[] = [];
    for (const dep of unselectedDependencies(selected)) {
      const reason = await notDeployedReason(workspace, dep, hooks);
      if (reason !== undefined) {
        missing.push(dep);
        const readers = selected.filter((stack) => STACK_DEPENDENCIES[stack].includes(dep));
        problems.push(`${readers.join(" and ")} reads "${dep}", which is not selected and ${reason}`);
      }
    }
    if (problems.length > 0) {
      const fix = STACK_NAMES.filter((s) => selected.includes(s) || missing.includes(s));
      throw new UsageError(
        `cannot deploy ${selected.join(",")}: ${problems.join("; ")}. ` +
          `Deploy the dependencies too: --stacks ${fix.join(",")} (${valid})`,
      );
    }
    return;
  }
  const dangling: string[] = [];
  for (const dependent of unselectedDependents(selected)) {
    if ((await notDeployedReason(workspace, dependent, hooks)) === undefined) dangling.push(dependent);
  }
  if (dangling.length > 0) {
    const fix = STACK_NAMES.filter((s) => selected.includes(s) || dangling.includes(s));
    throw new UsageError(
      `cannot destroy ${selected.join(",")}: ${dangling.join(", ")} is deployed and reads it. ` +
        `Destroy the dependents too: --stacks ${fix.join(",")} (${valid})`,
    );
  }
}

export interface StackRunResult {
  stack: StackName;
  status: "deployed" | "destroyed" | "failed" | "skipped";
  changes?: ChangeSummary;
  /** Outputs after `up`; secret values are replaced by "[secret]". */
  outputs?: Record<string, unknown>;
  error?: string;
}

export interface DeployReport {
  action: DeployAction;
  order: StackName[];
  /** Stacks that finished (deployed, or destroyed for `--destroy`), in the order they ran. */
  succeeded: StackName[];
  failed: StackName | null;
  skipped: StackName[];
  stacks: StackRunResult[];
  /** True when Ctrl-C (or SIGTERM) stopped the run. */
  interrupted?: boolean;
}

function redact(outputs: StackOutputs): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(outputs).map(([key, output]) => [key, output.secret ? "[secret]" : output.value]),
  );
}

/**
 * Runs `up` (or `destroy`) stack by stack in `order`, setting each stack's reference config from
 * this run's stack names before `up`; stops at the first failure and marks the rest skipped.
 */
export async function runDeploy(
  workspace: StackWorkspace,
  order: readonly StackName[],
  action: DeployAction,
  hooks: RunHooks = {},
): Promise<DeployReport> {
  const stacks: StackRunResult[] = [];
  let failed: StackName | null = null;
  for (const stack of order) {
    if (failed !== null) {
      stacks.push({ stack, status: "skipped" });
      continue;
    }
    const errors: string[] = [];
    const operationHooks = (signal: AbortSignal) => ({
      onOutputLine: (line: string) => hooks.onOutputLine?.(stack, line),
      onProgress: (event: ProgressEvent) => {
        if (event.kind === "diagnostic" && event.severity === "error") errors.push(event.message);
        hooks.onProgress?.(event);
      },
      signal,
    });
    let cut: Error | undefined;
    try {
      if (action === "destroy") {
        hooks.onStackStart?.(stack, "destroy", "");
        const handle = await step(workspace, hooks, stack, "read", "pulumi stack select", (signal) =>
          workspace.selectStack(stack, { signal }),
        );
        const { changes } = await step(workspace, hooks, stack, "destroy", "pulumi destroy", (signal) =>
          handle.destroy(operationHooks(signal)),
        );
        stacks.push({ stack, status: "destroyed", changes });
      } else {
        const config = referenceConfig(stack, workspace.org);
        const detail = Object.entries(config)
          .map(([key, value]) => `${key}=${value}`)
          .join(" ");
        hooks.onStackStart?.(stack, "up", detail);
        const handle = await step(workspace, hooks, stack, "read", "pulumi stack select", (signal) =>
          workspace.selectStack(stack, { create: true, signal }),
        );
        for (const [key, value] of Object.entries(config))
          await step(workspace, hooks, stack, "read", `pulumi config set ${key}`, (signal) =>
            handle.setConfig(key, value, { signal }),
          );
        const { changes, outputs } = await step(workspace, hooks, stack, "up", "pulumi up", (signal) =>
          handle.up(operationHooks(signal)),
        );
        stacks.push({ stack, status: "deployed", changes, outputs: redact(outputs) });
      }
    } catch (err) {
      failed = stack;
      if (err instanceof Error && /Deadline|Interrupted/.test(err.name)) cut = err;
      // The engine's own error diagnostics say more than the CLI's exit transcript; a cut says why.
      const engine = errors.length > 0 ? [...new Set(errors)].join("; ") : undefined;
      const error = cut
        ? `${cut.message}${engine ? ` (engine: ${engine})` : ""}`
        : (engine ?? summarizeError(err));
      stacks.push({ stack, status: "failed", error });
    }
  }
  return {
    action,
    ...(hooks.signal?.aborted ? { interrupted: true } : {}),
    order: [...order],
    succeeded: stacks.filter((s) => s.status === "deployed" || s.status === "destroyed").map((s) => s.stack),
    failed,
    skipped: stacks.filter((s) => s.status === "skipped").map((s) => s.stack),
    stacks,
  };
}

/** One resource whose cloud state differs from the stack's. */
export interface DriftedResource {
  urn: string;
  type: string;
  name: string;
  /** What the refresh would do to state: `update` (changed in the cloud) or `delete` (gone). */
  op: string;
  /** Changed property paths where the engine reports them; empty otherwise. */
  diffs: string[];
}

export interface StackDrift {
  stack: StackName;
  drift: DriftedResource[];
  /** Resource counts per operation from the refresh preview. */
  changes?: ChangeSummary;
  /** Changes the summary counts but no resource event named (old CLIs); counted as drift. */
  unattributed?: number;
  error?: string;
}

export interface DriftReport {
  stacks: StackDrift[];
  driftCount: number;
  errorCount: number;
}

/** Runs a refresh preview (changes nothing) on each stack and collects every drifted resource. */
export async function runDrift(
  workspace: StackWorkspace,
  order: readonly StackName[],
  hooks: RunHooks = {},
): Promise<DriftReport> {
  const stacks: StackDrift[] = [];
  let stoppedAt: string | undefined;
  for (const stack of order) {
    const drifted = new Map<string, DriftedResource>();
    const errors: string[] = [];
    if (hooks.signal?.aborted || stoppedAt) {
      const why = hooks.signal?.aborted ? "the run was interrupted" : `${stoppedAt} ran out of time`;
      stacks.push({ stack, drift: [], error: `not previewed: ${why}` });
      continue;
    }
    hooks.onStackStart?.(stack, "refresh preview", "");
    try {
      const handle = await step(workspace, hooks, stack, "read", "pulumi stack select", (signal) =>
        workspace.selectStack(stack, { signal }),
      );
      const { changes } = await step(
        workspace,
        hooks,
        stack,
        "refreshPreview",
        "pulumi refresh --preview-only",
        (signal) =>
          handle.previewRefresh({
            signal,
            onOutputLine: (line) => hooks.onOutputLine?.(stack, line),
            onProgress: (event) => {
              if (isDrift(event)) {
                const { urn, type, name, op, diffs } = event;
                drifted.set(urn, { urn, type, name, op, diffs });
              }
              if (event.kind === "diagnostic" && event.severity === "error") errors.push(event.message);
              hooks.onProgress?.(event);
            },
          }),
      );
      const drift = [...drifted.values()];
      const unattributed = Math.max(0, countChanges(changes) - drift.length);
      stacks.push({ stack, drift, changes, ...(unattributed > 0 ? { unattributed } : {}) });
    } catch (err) {
      const cut = err instanceof Error && /Deadline|Interrupted/.test(err.name) ? err.message : undefined;
      if (cut) stoppedAt = workspace.qualifiedName(stack);
      const engine = errors.length > 0 ? [...new Set(errors)].join("; ") : undefined;
      const error = cut ? `${cut}${engine ? ` (engine: ${engine})` : ""}` : (engine ?? summarizeError(err));
      stacks.push({ stack, drift: [...drifted.values()], error });
    }
  }
  return {
    stacks,
    driftCount: stacks.reduce((total, s) => total + s.drift.length + (s.unattributed ?? 0), 0),
    errorCount: stacks.filter((s) => s.error !== undefined).length,
  };
}
