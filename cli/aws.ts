/**
 * The operations tool's AWS clients and its time budget. Every client the commands build comes from
 * `awsClient`: per-call deadlines from functions/deadlines.ts, plus a watch that knows each call
 * in flight (region, API, endpoint). A command run has two budgets:
 * - idle budget (`--idle-budget`, `IOT_DR_IDLE_BUDGET`, default 60 s): the longest the command may
 *   go without a successful AWS answer while it waits on AWS or after a failed call;
 * - overall budget (`--budget`, `IOT_DR_BUDGET`, default none): wall-clock time of the whole run.
 * When one runs out the watch destroys every client (sockets close, calls in flight fail), every
 * later call fails at once with `DeadlineExceeded` naming region, API and endpoint, and the command
 * exits 1. Checkpoints are written whole or not at all (write, then rename), so a rerun resumes.
 */
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { AwsCredentialIdentity, MiddlewareStack } from "@smithy/types";
import { sdkClientOptions, type CallPurpose } from "../functions/deadlines.js";
import { UsageError } from "./errors.js";

/** A call the watch saw: what an expired budget names. */
export interface WatchedCall {
  region: string;
  /** e.g. "IoT ListThings" */
  api: string;
  /** e.g. https://iot.eu-west-1.amazonaws.com */
  endpoint: string;
}

/** The budget ran out: a plain Error with a name, like the replication errors. */
export type DeadlineExceeded = Error & { name: "DeadlineExceeded"; call?: WatchedCall };
export function deadlineExceeded(message: string, call?: WatchedCall): DeadlineExceeded {
  return Object.assign(new Error(message), { name: "DeadlineExceeded" as const, call });
}

export interface Budget {
  /** Longest time without a successful AWS answer while waiting on AWS, ms. */
  idleMs: number;
  /** Wall-clock budget of the whole command, ms; undefined for none. */
  totalMs?: number;
  /** Per-attempt request timeout of every client, ms; undefined for functions/deadlines.ts's. */
  callTimeoutMs?: number;
}

export const DEFAULT_IDLE_BUDGET_S = 60;

function seconds(source: string, value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${source} must be a positive number of seconds (e.g. 30 or 0.5), got '${value}'`);
  return n * 1000;
}

/** The budget from the global options, else the environment, else the defaults. */
export function resolveBudget(
  opts: { budget?: string; idleBudget?: string; callTimeout?: string },
  env: Record<string, string | undefined>,
): Budget {
  const idleMs =
    seconds("--idle-budget", opts.idleBudget) ??
    seconds("IOT_DR_IDLE_BUDGET", env.IOT_DR_IDLE_BUDGET) ??
    DEFAULT_IDLE_BUDGET_S * 1000;
  const totalMs = seconds("--budget", opts.budget) ?? seconds("IOT_DR_BUDGET", env.IOT_DR_BUDGET);
  const callTimeoutMs =
    seconds("--call-timeout", opts.callTimeout) ?? seconds("IOT_DR_CALL_TIMEOUT", env.IOT_DR_CALL_TIMEOUT);
  return {
    idleMs,
    ...(totalMs !== undefined ? { totalMs } : {}),
    ...(callTimeoutMs ? { callTimeoutMs } : {}),
  };
}

const TICK_MS = 100;

/** Watches the AWS calls of one command run against its budget. */
export class CallWatch {
  private readonly inFlight = new Set<WatchedCall>();
  private readonly clients = new Set<{ destroy(): void }>();
  private lastCall: WatchedCall | undefined;
  private lastError: string | undefined;
  private stalledMs = 0;
  private readonly started = Date.now();
  private last = Date.now();
  private readonly timer: NodeJS.Timeout;
  private expiredWith: DeadlineExceeded | undefined;
  private readonly listeners: ((err: DeadlineExceeded) => void)[] = [];

  constructor(readonly budget: Budget) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** The error once a budget ran out. */
  get expired(): DeadlineExceeded | undefined {
    return this.expiredWith;
  }

  onExpire(listener: (err: DeadlineExceeded) => void): void {
    this.listeners.push(listener);
  }

  register(client: { destroy(): void }): void {
    this.clients.add(client);
  }

  begin(call: WatchedCall): void {
    if (this.expiredWith) throw this.expiredWith;
    this.inFlight.add(call);
    this.lastCall = call;
  }

  end(call: WatchedCall, error?: unknown): void {
    this.inFlight.delete(call);
    if (error === undefined) {
      this.stalledMs = 0;
      this.lastError = undefined;
    } else {
      this.lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = Date.now();
    // Idle time runs while a call is in flight or the last call failed; any success resets it.
    if (this.inFlight.size > 0 || this.lastError !== undefined) this.stalledMs += now - this.last;
    this.last = now;
    if (this.expiredWith) return;
    if (this.budget.totalMs !== undefined && now - this.started > this.budget.totalMs)
      this.expire(
        `the overall budget of ${this.budget.totalMs / 1000} s ran out`,
        "--budget",
        "IOT_DR_BUDGET",
      );
    else if (this.stalledMs > this.budget.idleMs)
      this.expire(
        `no answer from AWS within the idle budget of ${this.budget.idleMs / 1000} s`,
        "--idle-budget",
        "IOT_DR_IDLE_BUDGET",
      );
  }

  private expire(what: string, flag: string, env: string): void {
    const call = [...this.inFlight][0] ?? this.lastCall;
    const waiting = call
      ? `${this.inFlight.size > 0 ? "waiting on" : "last call"} ${call.api} in ${call.region} at ${call.endpoint}`
      : "no AWS call was made";
    const last = this.lastError ? ` (last error: ${this.lastError})` : "";
    this.expiredWith = deadlineExceeded(
      `${what}: ${waiting}${last}. Change it with ${flag} SECONDS or ${env}; a --checkpoint written so far stays valid for a rerun.`,
      call,
    );
    this.stop();
    for (const client of this.clients) client.destroy();
    for (const listener of this.listeners) listener(this.expiredWith);
  }
}

let active: CallWatch | undefined;

/** Starts watching a command run; `stopWatch` ends it. */
export function startWatch(budget: Budget): CallWatch {
  active?.stop();
  active = new CallWatch(budget);
  return active;
}

export function stopWatch(): void {
  active?.stop();
  active = undefined;
}

/** The watch of the current command run, if any. */
export function currentWatch(): CallWatch | undefined {
  return active;
}

const SERVICE_LABEL: Record<string, string> = {
  IoTClient: "IoT",
  DynamoDBClient: "DynamoDB",
  DynamoDBStreamsClient: "DynamoDB Streams",
  SQSClient: "SQS",
  SFNClient: "Step Functions",
  STSClient: "STS",
  OAMClient: "OAM",
  SSMClient: "SSM",
  ACMClient: "ACM",
  Route53Client: "Route 53",
};

/** Settings a caller may add: explicit credentials (assumed roles) and an explicit endpoint. */
export interface ClientExtras {
  credentials?: AwsCredentialIdentity;
  endpoint?: string;
}

/**
 * A client with the deadlines of its purpose, watched by the current command run:
 * `awsClient(IoTClient, "iot", region)`. Endpoints and credentials still come from the SDK's
 * standard settings (AWS_ENDPOINT_URL, AWS_PROFILE ...).
 */
export function awsClient<C extends { destroy(): void }>(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- SDK client configs differ per client (and per SDK release)
  Client: new (config: any) => C,
  purpose: CallPurpose,
  region: string,
  extras: ClientExtras = {},
): C {
  const watch = active;
  const options = sdkClientOptions(
    purpose,
    watch?.budget.callTimeoutMs ? { requestTimeoutMs: watch.budget.callTimeoutMs } : {},
  );
  // A handler instance, not its options: clients of older SDK releases (client-oam 3.332) take only an instance.
  const client = new Client({
    region,
    ...options,
    requestHandler: new NodeHttpHandler(options.requestHandler),
    ...(extras.credentials ? { credentials: extras.credentials } : {}),
    ...(extras.endpoint ? { endpoint: extras.endpoint } : {}),
  });
  if (!watch) return client;
  watch.register(client);
  const service = SERVICE_LABEL[Client.name] ?? Client.name.replace(/Client$/, "");
  (client as unknown as { middlewareStack: MiddlewareStack<object, object> }).middlewareStack.add(
    (next, context) => async (args) => {
      const request = (args as { request?: { protocol?: string; hostname?: string; port?: number } }).request;
      const endpoint = request?.hostname
        ? `${request.protocol ?? "https:"}//${request.hostname}${request.port ? `:${request.port}` : ""}`
        : "(endpoint unknown)";
      const command = String((context as { commandName?: string }).commandName ?? "call");
      const table = (args as { input?: { TableName?: unknown } }).input?.TableName;
      const on = typeof table === "string" ? ` on table ${table}` : "";
      const call: WatchedCall = {
        region,
        api: `${service} ${command.replace(/Command$/, "")}${on}`,
        endpoint,
      };
      watch.begin(call);
      try {
        const out = await next(args);
        watch.end(call);
        return out;
      } catch (err) {
        watch.end(call, err);
        // A call cut by the budget says so, with where it was waiting.
        throw watch.expired ? deadlineExceeded(watch.expired.message, call) : withPlace(err, call);
      }
    },
    { step: "build", name: "iotDrCallWatch", priority: "low" },
  );
  // Inside the SDK's retry loop: once the budget ran out no attempt starts (a destroyed client's
  // agent would open new sockets for the retries).
  (client as unknown as { middlewareStack: MiddlewareStack<object, object> }).middlewareStack.add(
    (next) => async (args) => {
      if (watch.expired) throw watch.expired;
      return next(args);
    },
    { step: "finalizeRequest", name: "iotDrCallWatchAttempt", priority: "low" },
  );
  return client;
}

/** Adds region, API and endpoint to a transport error that names none ("socket hang up"). */
function withPlace(err: unknown, call: WatchedCall): unknown {
  if (!(err instanceof Error)) return err;
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  const where = `${call.api} in ${call.region} at ${call.endpoint}`;
  if (meta?.httpStatusCode === undefined && !err.message.includes(where))
    err.message = `${where}: ${err.message}`;
  else if (!err.message.includes(call.region)) err.message = `${err.message} (${where})`;
  return err;
}
