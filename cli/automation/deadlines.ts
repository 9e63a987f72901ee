/**
 * How long `iot-dr deploy` and `iot-dr drift` wait on one stack operation. Each operation is one
 * Pulumi CLI process that talks to the state backend and the providers; a half-dead backend or
 * region looks like a process that never ends. On expiry the process is interrupted (SIGINT through
 * the Automation API's abort signal, which is what Ctrl-C sends), the command waits a short grace
 * for it to exit, reports the stack and operation, and exits 1; no later stack starts.
 */
import { UsageError } from "../errors.js";

/** Deadlines per kind of stack operation, seconds. */
export const STACK_DEADLINES_S = {
  /** Backend reads and small writes: stack select, stack outputs, config set. */
  read: 120,
  /** `pulumi up` of one stack (a first deploy creates CloudFront-free stacks in minutes; margin for IoT domain configs). */
  up: 3600,
  /** `pulumi destroy` of one stack. */
  destroy: 3600,
  /** `pulumi refresh --preview-only` of one stack (reads every resource once). */
  refreshPreview: 1800,
} as const;

export type StackOperationKind = keyof typeof STACK_DEADLINES_S;

/** After interrupting a process, how long to wait for it to exit before reporting anyway, ms. */
export const INTERRUPT_GRACE_MS = 10_000;

export interface StackDeadlines {
  /** Per kind, ms. */
  ms: Record<StackOperationKind, number>;
  /** Where the operation deadline came from, for the message. */
  source: string;
}

function secondsValue(source: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${source} must be a positive number of seconds (e.g. 1800), got '${value}'`);
  return n * 1000;
}

/**
 * The deadlines of one run: `--op-timeout` (else `IOT_DR_STACK_TIMEOUT`) replaces the up, destroy
 * and refresh-preview deadlines; `IOT_DR_STACK_READ_TIMEOUT` the read deadline.
 */
export function resolveStackDeadlines(
  flag: string | undefined,
  env: Record<string, string | undefined>,
): StackDeadlines {
  const ms = Object.fromEntries(Object.entries(STACK_DEADLINES_S).map(([k, s]) => [k, s * 1000])) as Record<
    StackOperationKind,
    number
  >;
  let source = "the default";
  const op =
    flag !== undefined
      ? secondsValue("--op-timeout", flag)
      : env.IOT_DR_STACK_TIMEOUT
        ? secondsValue("IOT_DR_STACK_TIMEOUT", env.IOT_DR_STACK_TIMEOUT)
        : undefined;
  if (op !== undefined) {
    ms.up = ms.destroy = ms.refreshPreview = op;
    source = flag !== undefined ? "--op-timeout" : "IOT_DR_STACK_TIMEOUT";
  }
  if (env.IOT_DR_STACK_READ_TIMEOUT)
    ms.read = secondsValue("IOT_DR_STACK_READ_TIMEOUT", env.IOT_DR_STACK_READ_TIMEOUT);
  return { ms, source };
}

/** A stack operation ran out of time; the run stops there. */
export class StackDeadlineExceeded extends Error {
  override name = "StackDeadlineExceeded";
}

/** The run was interrupted (Ctrl-C, SIGTERM); the operation in flight was interrupted too. */
export class StackRunInterrupted extends Error {
  override name = "StackRunInterrupted";
}

/**
 * Runs `operation` with its own abort signal, cut at `ms` or when `parent` aborts. On either, the
 * signal aborts (the Pulumi process gets SIGINT), the operation gets up to INTERRUPT_GRACE_MS to
 * end, and the returned promise rejects naming `what`.
 */
export async function withDeadline<T>(
  what: string,
  ms: number,
  parent: AbortSignal | undefined,
  operation: (signal: AbortSignal) => Promise<T>,
  hint = "",
): Promise<T> {
  if (parent?.aborted) throw new StackRunInterrupted(`${what}: not started, the run was interrupted`);
  const controller = new AbortController();
  const running = operation(controller.signal);
  let timer: NodeJS.Timeout | undefined;
  let onParentAbort: (() => void) | undefined;
  const cut = new Promise<Error>((resolve) => {
    timer = setTimeout(
      () =>
        resolve(
          new StackDeadlineExceeded(
            `${what} gave no result within ${ms / 1000} s (the backend or a provider is not answering); ` +
              `the pulumi process was interrupted and no later stack ran${hint}`,
          ),
        ),
      ms,
    );
    onParentAbort = () => resolve(new StackRunInterrupted(`${what} was interrupted`));
    parent?.addEventListener("abort", onParentAbort, { once: true });
  });
  try {
    const outcome = await Promise.race([
      running.then((value) => ({ value })),
      cut.then((error) => ({ error })),
    ]);
    if ("value" in outcome) return outcome.value;
    controller.abort();
    // Give the interrupted process time to end, so nothing is left running behind the report.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      running.catch(() => undefined),
      new Promise<void>((resolve) => (grace = setTimeout(resolve, INTERRUPT_GRACE_MS))),
    ]);
    clearTimeout(grace);
    throw outcome.error;
  } finally {
    clearTimeout(timer);
    if (onParentAbort) parent?.removeEventListener("abort", onParentAbort);
  }
}
