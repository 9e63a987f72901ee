/**
 * The drill's fleet on its own thread. A thousand MQTT clients (device/fleet.ts) are the heaviest
 * part of a local drill; on the main thread they delay the health probes and the emulated Route 53
 * enough to look like an outage. Here they get their own event loop (and core), and the main
 * thread reads their state from messages the worker posts every 100 ms.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { Fleet, type FleetOptions, type FleetStats } from "../device/fleet.js";

export type MovesByTrigger = FleetStats["movesByTrigger"];

type ToWorker = { type: "start" } | { type: "stop"; drainMs: number };
type FromWorker =
  | { type: "state"; connectedByTarget: Record<string, number>; sent: number; moves: MovesByTrigger }
  | { type: "started" }
  | { type: "stopped"; sent: number; lost: number }
  | { type: "error"; message: string };

/** Fleet options that can cross a thread boundary (no functions, no resolver instances). */
export type WorkerFleetOptions = Omit<FleetOptions, "client"> & {
  client?: Omit<NonNullable<FleetOptions["client"]>, "random" | "clock" | "resolver">;
};

export class WorkerFleet {
  private readonly worker: Worker;
  private state: { connectedByTarget: Record<string, number>; sent: number; moves: MovesByTrigger } = {
    connectedByTarget: {},
    sent: 0,
    moves: { notice: 0, reresolve: 0, "connection-lost": 0 },
  };
  private waiters: Array<{
    type: FromWorker["type"];
    resolve: (m: FromWorker) => void;
    reject: (e: Error) => void;
  }> = [];
  private failure?: Error;
  private exited = false;

  constructor(options: WorkerFleetOptions) {
    this.worker = new Worker(__filename, {
      workerData: { kind: "drill-fleet", options },
      // TypeScript in the worker through tsx's require hook, as in the main thread.
      execArgv: ["--require", require.resolve("tsx/cjs")],
    });
    this.worker.on("message", (message: FromWorker) => {
      if (message.type === "state") this.state = message;
      if (message.type === "error") this.fail(new Error(`fleet worker: ${message.message}`));
      for (const w of this.waiters.filter((x) => x.type === message.type)) w.resolve(message);
      this.waiters = this.waiters.filter((x) => x.type !== message.type);
    });
    this.worker.on("error", (err) => this.fail(err));
    this.worker.on("exit", () => {
      this.exited = true;
      this.fail(new Error("the fleet worker exited"));
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private request<T extends FromWorker["type"]>(
    message: ToWorker,
    reply: T,
  ): Promise<Extract<FromWorker, { type: T }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiters.push({ type: reply, resolve: resolve as (m: FromWorker) => void, reject });
      this.worker.postMessage(message);
    });
  }

  /** Starts every device (paced as the options say); resolves once all were started. */
  async start(): Promise<void> {
    await this.request({ type: "start" }, "started");
  }

  /** Devices connected per target `address:port`, as of the worker's last report (≤ 100 ms old). */
  connectedByTarget(): Record<string, number> {
    return this.state.connectedByTarget;
  }

  /** Moves so far by trigger, as of the worker's last report (≤ 100 ms old). */
  moves(): MovesByTrigger {
    return { ...this.state.moves };
  }

  /** Stops publishing, drains, stops the devices and ends the worker. */
  async stop(drainMs: number): Promise<{ sent: number; lost: number }> {
    const report = await this.request({ type: "stop", drainMs }, "stopped");
    await this.worker.terminate();
    return { sent: report.sent, lost: report.lost };
  }

  /** Ends the worker at once (abort and failure paths). */
  async terminate(): Promise<void> {
    if (!this.exited) await this.worker.terminate();
  }
}

/** Devices per shard: each shard has its own DNS socket (c-ares drops answers when ~1,000 queries share one). */
export const SHARD_SIZE = 100;

function runWorker(options: WorkerFleetOptions): void {
  const port = parentPort!;
  const post = (m: FromWorker) => port.postMessage(m);
  const shards: Fleet[] = [];
  const count = Math.ceil(options.count / SHARD_SIZE);
  const prefix = options.clientIdPrefix ?? "sim-device";
  for (let k = 0; k < count; k++) {
    shards.push(
      new Fleet({
        ...options,
        count: Math.min(SHARD_SIZE, options.count - k * SHARD_SIZE),
        clientIdPrefix: `${prefix}-${k}`,
        ...(options.startRatePerSecond !== undefined
          ? { startRatePerSecond: options.startRatePerSecond / count }
          : {}),
      }),
    );
  }
  const ticker = setInterval(() => {
    const connectedByTarget: Record<string, number> = {};
    let sent = 0;
    const moves: MovesByTrigger = { notice: 0, reresolve: 0, "connection-lost": 0 };
    for (const shard of shards) {
      const s = shard.snapshot();
      sent += s.messages.sent;
      for (const [trigger, n] of Object.entries(s.movesByTrigger))
        moves[trigger as keyof MovesByTrigger] += n;
      for (const [target, n] of Object.entries(s.connectedByTarget))
        connectedByTarget[target] = (connectedByTarget[target] ?? 0) + n;
    }
    post({ type: "state", connectedByTarget, sent, moves });
  }, 100);
  port.on("message", (message: ToWorker) => {
    if (message.type === "start") {
      Promise.all(shards.map((shard) => shard.start())).then(
        () => post({ type: "started" }),
        (err: Error) => post({ type: "error", message: err.message }),
      );
    } else if (message.type === "stop") {
      clearInterval(ticker);
      Promise.all(shards.map((shard) => shard.stop({ drainMs: message.drainMs }))).then(
        (reports) =>
          post({
            type: "stopped",
            sent: reports.reduce((n, r) => n + r.messages.sent, 0),
            lost: reports.reduce((n, r) => n + r.lost, 0),
          }),
        (err: Error) => post({ type: "error", message: err.message }),
      );
    }
  });
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind === "drill-fleet") {
  runWorker((workerData as { options: WorkerFleetOptions }).options);
}
