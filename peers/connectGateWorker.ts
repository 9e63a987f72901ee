/**
 * Connect gates (connectGate.ts) on their own thread. Every byte a device sends or receives passes
 * through a gate; on the drill's main thread a thousand devices' traffic delays the health probes
 * and the emulated Route 53 enough to read as an outage (both regions unhealthy). Each named gate
 * keeps one token bucket for the worker's life, so a broker restart does not refill its quota.
 *
 *   const gates = await GateWorker.start();
 *   await gates.open("primary", { host, port, target, ratePerSecond: 500 });
 *   await gates.kill("primary");           // connections reset, connects refused
 *   (await gates.counts()).primary;        // { admitted, refused }
 *   await gates.terminate();
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { startConnectGate, tokenBucket, type ConnectGate, type TokenBucket } from "./connectGate.js";

export interface GateSpec {
  host: string;
  port: number;
  target: { host: string; port: number };
  ratePerSecond: number;
  burst?: number;
}

type Counts = { admitted: number; refused: number };
type Request =
  | { id: number; type: "open"; name: string; spec: GateSpec }
  | { id: number; type: "kill"; name: string }
  | { id: number; type: "counts" };
type Reply = { id: number; error?: string; counts?: Record<string, Counts> };
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

export class GateWorker {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  private constructor(private readonly worker: Worker) {
    worker.on("message", (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.error) w?.reject(new Error(reply.error));
      else w?.resolve(reply);
    });
    const failAll = (err: Error) => {
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on("error", failAll);
    worker.on("exit", () => failAll(new Error("the connect gate worker exited")));
  }

  static async start(): Promise<GateWorker> {
    const worker = new Worker(__filename, {
      workerData: { kind: "connect-gates" },
      // TypeScript in the worker through tsx's require hook, as in the main thread.
      execArgv: ["--require", require.resolve("tsx/cjs")],
    });
    return new GateWorker(worker);
  }

  private request(message: WithoutId<Request>): Promise<Reply> {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id });
    });
  }

  /** Starts listening as gate `name` (after a kill, with the same bucket). */
  async open(name: string, spec: GateSpec): Promise<void> {
    await this.request({ type: "open", name, spec });
  }

  /** Resets the gate's connections and stops listening. */
  async kill(name: string): Promise<void> {
    await this.request({ type: "kill", name });
  }

  /** Connects admitted and refused per gate since the worker started. */
  async counts(): Promise<Record<string, Counts>> {
    return (await this.request({ type: "counts" })).counts ?? {};
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

function runWorker(): void {
  const port = parentPort!;
  const buckets = new Map<string, TokenBucket>();
  const gates = new Map<string, ConnectGate>();
  const retired = new Map<string, Counts>();
  const countsOf = (name: string): Counts => {
    const before = retired.get(name) ?? { admitted: 0, refused: 0 };
    const gate = gates.get(name);
    return {
      admitted: before.admitted + (gate?.counts.admitted ?? 0),
      refused: before.refused + (gate?.counts.refused ?? 0),
    };
  };
  const kill = async (name: string) => {
    const gate = gates.get(name);
    if (!gate) return;
    retired.set(name, countsOf(name));
    gates.delete(name);
    await gate.kill();
  };
  port.on("message", (request: Request) => {
    const run = async (): Promise<Reply> => {
      if (request.type === "open") {
        await kill(request.name);
        const { spec } = request;
        if (!buckets.has(request.name))
          buckets.set(
            request.name,
            tokenBucket({ ratePerSecond: spec.ratePerSecond, ...(spec.burst ? { burst: spec.burst } : {}) }),
          );
        gates.set(
          request.name,
          await startConnectGate({
            host: spec.host,
            port: spec.port,
            target: spec.target,
            bucket: buckets.get(request.name)!,
          }),
        );
        return { id: request.id };
      }
      if (request.type === "kill") {
        await kill(request.name);
        return { id: request.id };
      }
      return {
        id: request.id,
        counts: Object.fromEntries(
          [...new Set([...gates.keys(), ...retired.keys()])].map((name) => [name, countsOf(name)]),
        ),
      };
    };
    run().then(
      (reply) => port.postMessage(reply),
      (err: Error) => port.postMessage({ id: request.id, error: err.message }),
    );
  });
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind === "connect-gates") runWorker();
