/**
 * Ordered deploys and drift previews over a StackWorkspace: the logic behind `iot-dr deploy` and
 * `iot-dr drift`, free of command-line concerns so that other tools (the drill) can reuse it.
 */
import { UsageError } from "../errors.js";
import { countChanges, isDrift, summarizeError } from "./events.js";
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
async function notDeployedReason(workspace: StackWorkspace, stack: StackName): Promise<string | undefined> {
  try {
    const outputs = await (await workspace.selectStack(stack)).outputs();
    return Object.keys(outputs).length > 0 ? undefined : "has no outputs (never deployed)";
  } catch (err) {
    if (err instanceof StackNotFound) return "does not exist";
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
): Promise<void> {
  const valid = `valid stacks, in deploy order: ${STACK_NAMES.join(", ")}`;
  if (action === "deploy") {
    const problems: string[] = [];
    const missing: StackName[] = [];
    for (const dep of unselectedDependencies(selected)) {
      const reason = await notDeployedReason(workspace, dep);
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
    if ((await notDeployedReason(workspace, dependent)) === undefined) dangling.push(dependent);
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
    const operationHooks = {
      onOutputLine: (line: string) => hooks.onOutputLine?.(stack, line),
      onProgress: (event: ProgressEvent) => {
        if (event.kind === "diagnostic" && event.severity === "error") errors.push(event.message);
        hooks.onProgress?.(event);
      },
    };
    try {
      if (action === "destroy") {
        hooks.onStackStart?.(stack, "destroy", "");
        const handle = await workspace.selectStack(stack);
        const { changes } = await handle.destroy(operationHooks);
        stacks.push({ stack, status: "destroyed", changes });
      } else {
        const config = referenceConfig(stack, workspace.org);
        const detail = Object.entries(config)
          .map(([key, value]) => `${key}=${value}`)
          .join(" ");
        hooks.onStackStart?.(stack, "up", detail);
        const handle = await workspace.selectStack(stack, { create: true });
        for (const [key, value] of Object.entries(config)) await handle.setConfig(key, value);
        const { changes, outputs } = await handle.up(operationHooks);
        stacks.push({ stack, status: "deployed", changes, outputs: redact(outputs) });
      }
    } catch (err) {
      failed = stack;
      // The engine's own error diagnostics say more than the CLI's exit transcript.
      const error = errors.length > 0 ? [...new Set(errors)].join("; ") : summarizeError(err);
      stacks.push({ stack, status: "failed", error });
    }
  }
  return {
    action,
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
  for (const stack of order) {
    const drifted = new Map<string, DriftedResource>();
    const errors: string[] = [];
    hooks.onStackStart?.(stack, "refresh preview", "");
    try {
      const handle = await workspace.selectStack(stack);
      const { changes } = await handle.previewRefresh({
        onOutputLine: (line) => hooks.onOutputLine?.(stack, line),
        onProgress: (event) => {
          if (isDrift(event)) {
            const { urn, type, name, op, diffs } = event;
            drifted.set(urn, { urn, type, name, op, diffs });
          }
          if (event.kind === "diagnostic" && event.severity === "error") errors.push(event.message);
          hooks.onProgress?.(event);
        },
      });
      const drift = [...drifted.values()];
      const unattributed = Math.max(0, countChanges(changes) - drift.length);
      stacks.push({ stack, drift, changes, ...(unattributed > 0 ? { unattributed } : {}) });
    } catch (err) {
      const error = errors.length > 0 ? [...new Set(errors)].join("; ") : summarizeError(err);
      stacks.push({ stack, drift: [...drifted.values()], error });
    }
  }
  return {
    stacks,
    driftCount: stacks.reduce((total, s) => total + s.drift.length + (s.unattributed ?? 0), 0),
    errorCount: stacks.filter((s) => s.error !== undefined).length,
  };
}
