/** `iot-dr bench health`: flags and output of the health-check latency bench (harness: bench/health.ts). */
import { runHealthBench, type HealthBenchResult } from "../../bench/health.js";
import { UsageError } from "../errors.js";
import { benchGroup, type RegisterCommand } from "./register.js";

function intArg(value: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got '${value}'`);
  }
  return Number(value);
}

function formatText(r: HealthBenchResult): string {
  const lines = [
    `health-check answer latency (deadline ${r.deadlineMs} ms, bound ${r.boundMs} ms, concurrency ${r.concurrency}, ${r.cpus} CPUs, load ${r.loadAverage}, Node ${r.node})`,
    ...r.scenarios.map(
      (s) =>
        `  ${s.scenario.padEnd(46)} ${String(s.rounds).padStart(4)} rounds  p50 ${s.latencyMs.p50} ms  p99 ${s.latencyMs.p99} ms  max ${s.latencyMs.max} ms  status ${JSON.stringify(s.status)}`,
    ),
    r.withinBound ? "every p99 within the bound" : "a p99 exceeds the bound",
  ];
  return lines.join("\n") + "\n";
}

export const registerBenchHealth: RegisterCommand = (program, setExitCode) => {
  benchGroup(program)
    .command("health")
    .description(
      "health-check answer latency with four factors, one hanging: p50/p99 against deadline + 50 ms",
    )
    .option("--rounds <n>", "requests per scenario", "200")
    .option("--concurrency <n>", "requests in flight (Route 53's checkers send several a second)", "4")
    .option("--deadline-ms <ms>", "the health check's answer deadline", "1500")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts: { rounds: string; concurrency: string; deadlineMs: string; json?: boolean }) => {
      const options = {
        rounds: intArg(opts.rounds, "--rounds", 1, 100_000),
        concurrency: intArg(opts.concurrency, "--concurrency", 1, 1000),
        deadlineMs: intArg(opts.deadlineMs, "--deadline-ms", 300, 2000),
      };
      const result = await runHealthBench(options);
      process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : formatText(result));
      setExitCode(result.withinBound ? 0 : 1);
    });
};
