/**
 * The quota emulator (quotaEmulator.ts) in a process of its own, for the capture bench. In the
 * bench's process it shares an event loop with the SQS stand-in, the queue's depth polls and the
 * source, and on a loaded machine the time it noted a request moved by up to 340 ms from when the
 * container sent it (`wireLagMs`, bench capture --burst 5000, 2026-12-04): the emulator then
 * counted arrivals a container had spaced apart as one second's. IoT's front end does not wait on
 * the client's queue; a process of its own is the nearer stand-in. Same counting, same answers.
 */
import { fork, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { startQuotaEmulator, type EmulatedApiCounter, type QuotaEmulator } from "./quotaEmulator.js";

type Counter = Omit<EmulatedApiCounter, "arrivalsBySender"> & { arrivalsBySender: [string, number[]][] };

type ToEmulator =
  | { type: "start"; target: string; quotas: Record<string, number>; defaultQuota: number }
  | { type: "counters" };
type FromEmulator =
  | { type: "started"; endpoint: string }
  | { type: "counters"; counters: [string, Counter][] }
  | { type: "error"; message: string };

export interface QuotaEmulatorProcess {
  endpoint: string;
  /** The emulator's counters as they are now. */
  counters(): Promise<Map<string, EmulatedApiCounter>>;
  close(): Promise<void>;
}

/** Starts the emulator in front of `target` with `quotas` per API (others at `defaultQuota`). */
export async function startQuotaEmulatorProcess(
  target: string,
  quotas: Record<string, number>,
  defaultQuota: number,
): Promise<QuotaEmulatorProcess> {
  const child: ChildProcess = fork(path.join(__dirname, "quotaEmulatorProcess.ts"), [], {
    execArgv: ["--require", require.resolve("tsx/cjs")],
    env: { ...process.env, IOT_DR_BENCH_WORKER: "quotaEmulator" },
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const next = () =>
    new Promise<FromEmulator>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`quota emulator process exited (${code})`));
      child.once("exit", onExit);
      child.once("message", (m: FromEmulator) => {
        child.off("exit", onExit);
        if (m.type === "error") reject(new Error(`quota emulator process: ${m.message}`));
        else resolve(m);
      });
    });
  const send = (m: ToEmulator) => child.send(m);
  const started = next();
  send({ type: "start", target, quotas, defaultQuota });
  const first = await started;
  if (first.type !== "started") throw new Error(`quota emulator process answered ${first.type}`);
  return {
    endpoint: first.endpoint,
    async counters() {
      const answer = next();
      send({ type: "counters" });
      const m = await answer;
      if (m.type !== "counters") throw new Error(`quota emulator process answered ${m.type}`);
      return new Map(
        m.counters.map(([api, c]) => [api, { ...c, arrivalsBySender: new Map(c.arrivalsBySender) }]),
      );
    },
    async close() {
      if (child.exitCode !== null || !child.pid) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

function main(): void {
  let emulator: QuotaEmulator | undefined;
  const reply = (m: FromEmulator) => process.send!(m);
  process.on("disconnect", () => process.exit(0));
  process.on("message", (m: ToEmulator) => {
    void (async () => {
      try {
        if (m.type === "start") {
          emulator = await startQuotaEmulator(m.target);
          emulator.setQuota((api) => m.quotas[api] ?? m.defaultQuota);
          reply({ type: "started", endpoint: emulator.endpoint });
        } else {
          const counters = [...(emulator?.counters ?? new Map<string, EmulatedApiCounter>())].map(
            ([api, c]): [string, Counter] => [api, { ...c, arrivalsBySender: [...c.arrivalsBySender] }],
          );
          reply({ type: "counters", counters });
        }
      } catch (err) {
        reply({ type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    })();
  });
}

if (process.send && process.env.IOT_DR_BENCH_WORKER === "quotaEmulator") main();
