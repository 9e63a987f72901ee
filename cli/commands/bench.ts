/**
 * `iot-dr bench <what>`: benchmarks that run on this machine; results belong in BENCHMARKS.md.
 * This module registers `bench replay`, `bench reconcile`, `bench capture` and `bench capture-cost`;
 * their harnesses live in bench/.
 * Adding a subcommand is one line in BENCH_SUBCOMMANDS (or a module of its own using benchGroup).
 */
import type { Command } from "commander";
import { runReconcileBench, formatReconcileBench } from "../../bench/reconcile.js";
import { formatReplayBench, formatWorkersReport, runReplayBench, workersReport } from "../../bench/replay.js";
import { runReplayWorkersBench } from "../../bench/replayWorkers.js";
import { formatCaptureBurst, runCaptureBurstBench } from "../../bench/captureBurst.js";
import { formatCaptureCost, runCaptureCostBench } from "../../bench/captureCost.js";
import { UsageError } from "../errors.js";
import { MAX_GROUP_SIZE, REPLAY_GROUP_SIZE } from "../../functions/replication/stateMachine.js";
import { benchGroup, type RegisterCommand } from "./register.js";

/** Registrars of `bench` subcommands: one line each. */
export const BENCH_SUBCOMMANDS: ((bench: Command, setExitCode: (code: number) => void) => void)[] = [
  (bench, setExitCode) => addReplayBench(bench, setExitCode),
  (bench, setExitCode) => addReconcileBench(bench, setExitCode),
  (bench, setExitCode) => addCaptureBench(bench, setExitCode),
  (bench, setExitCode) => addCaptureCostBench(bench, setExitCode),
];

/** Default operations of the capture legs `bench replay --workers` measures for its cost model. */
const CAPTURE_COST_OPS = 1000;

/** `--ops` / `--capture-ops` as a whole number of at least `min`, or a usage error naming the flag. */
function opsOption(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > 100_000)
    throw new UsageError(`${flag} '${value}' must be a whole number from ${min} to 100000`);
  return n;
}

export const registerBench: RegisterCommand = (program, setExitCode) => {
  const bench = benchGroup(program);
  for (const add of BENCH_SUBCOMMANDS) add(bench, setExitCode);
};

export function addReplayBench(bench: Command, setExitCode: (code: number) => void): void {
  bench
    .command("replay")
    .description("replay a backlog of mixed registry operations into moto behind emulated IoT quotas")
    .option("--ops <n>", "operations in the backlog", "5000")
    .option("--scale <f>", "quota scale factor (default: fitted to what moto serves on this machine)")
    .option("--concurrency <n>", "records applied at once in one process (default 32; not with --workers)")
    .option(
      "--group-size <n>",
      `with --workers: records each worker applies at once, a group at a time as one replay invocation does (default ${REPLAY_GROUP_SIZE}, the deployed group; 1: one record per invocation)`,
    )
    .option(
      "--workers <n>",
      "worker processes sharing one emulated account quota and the shared pacing schedule (default: one process, its own pacer)",
    )
    .option(
      "--local-pacing",
      "with --workers: each worker paces alone at the whole quota (the design before the shared schedule)",
    )
    .option(
      "--capture-ops <n>",
      `with --workers: operations of the same mix captured at the source and as echoes in the target after the replay (\`bench capture-cost\`), whose CPU, IoT calls and reads per operation the cost model takes for capture (default the smaller of --ops and ${CAPTURE_COST_OPS}; 0: not measured, replay's CPU stands in)`,
    )
    .option("--json", "print one JSON report on stdout; progress stays on stderr")
    .action(
      async (o: {
        ops: string;
        scale?: string;
        concurrency?: string;
        groupSize?: string;
        workers?: string;
        localPacing?: boolean;
        captureOps?: string;
        json?: boolean;
      }) => {
        const ops = Number(o.ops);
        if (!Number.isInteger(ops) || ops < 20)
          throw new UsageError(`--ops '${o.ops}' must be an integer of at least 20`);
        const scale = o.scale === undefined ? undefined : Number(o.scale);
        if (scale !== undefined && !(scale > 0 && scale <= 1))
          throw new UsageError(`--scale '${o.scale}' must be in (0, 1]`);
        const concurrency = Number(o.concurrency ?? "32");
        if (!Number.isInteger(concurrency) || concurrency < 1)
          throw new UsageError(`--concurrency '${o.concurrency}' must be a positive integer`);
        const workers = o.workers === undefined ? undefined : Number(o.workers);
        if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= 32))
          throw new UsageError(`--workers '${o.workers}' must be an integer from 1 to 32, e.g. --workers 4`);
        if (o.localPacing && workers === undefined)
          throw new UsageError("--local-pacing needs --workers N (one process always paces alone)");
        if (workers !== undefined && o.concurrency !== undefined)
          throw new UsageError(
            "--concurrency is for one process; with --workers each worker applies --group-size records at once",
          );
        if (workers === undefined && o.groupSize !== undefined)
          throw new UsageError("--group-size needs --workers N (each worker stands for one replay function)");
        if (workers === undefined && o.captureOps !== undefined)
          throw new UsageError(
            "--capture-ops needs --workers N (the one-process bench keeps its own model inputs)",
          );
        const captureOps =
          o.captureOps === undefined
            ? Math.min(ops, CAPTURE_COST_OPS)
            : o.captureOps === "0"
              ? 0
              : opsOption("--capture-ops", o.captureOps, 20);
        const groupSize = Number(o.groupSize ?? REPLAY_GROUP_SIZE);
        if (!(Number.isInteger(groupSize) && groupSize >= 1 && groupSize <= MAX_GROUP_SIZE))
          throw new UsageError(
            `--group-size '${o.groupSize}' must be an integer from 1 to ${MAX_GROUP_SIZE}`,
          );
        const log = (l: string) => process.stderr.write(l);
        if (workers !== undefined) {
          const replayed = await runReplayWorkersBench(
            { ops, scale, groupSize, workers, localOnly: o.localPacing },
            log,
          );
          const capture = captureOps > 0 ? await runCaptureCostBench({ ops: captureOps }, log) : undefined;
          const report = workersReport(replayed, capture);
          process.stdout.write(o.json ? JSON.stringify(report) + "\n" : formatWorkersReport(report));
          setExitCode(report.lost + report.deadLettered + (capture?.echo.recordsWritten ?? 0) > 0 ? 1 : 0);
          return;
        }
        const report = await runReplayBench({ ops, scale, concurrency }, log);
        process.stdout.write(o.json ? JSON.stringify(report) + "\n" : formatReplayBench(report));
        setExitCode(report.lost + report.deadLettered > 0 ? 1 : 0);
      },
    );
}

/** Adds `reconcile` under `iot-dr bench` . */
export function addReconcileBench(bench: Command, setExitCode: (code: number) => void): void {
  bench
    .command("reconcile")
    .description(
      "compare two moto regions of N things each: wall time, IoT calls per compared resource, peak memory",
    )
    .option("--things <n>", "things per region", "10000")
    .option(
      "--concurrency <n>",
      "parallel calls per region while filling (one moto_server per region; its transient failures are retried)",
      "4",
    )
    .option("--json", "print one JSON report on stdout; progress stays on stderr")
    .action(async (o: { things: string; concurrency: string; json?: boolean }) => {
      const things = Number(o.things);
      if (!Number.isInteger(things) || things < 100 || things > 1_000_000)
        throw new UsageError(`--things must be a whole number from 100 to 1000000, got '${o.things}'`);
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
        throw new UsageError(`--concurrency must be a whole number from 1 to 256, got '${o.concurrency}'`);
      const report = await runReconcileBench({ things, concurrency }, (l) => process.stderr.write(l));
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatReconcileBench(report));
      setExitCode(report.drift === report.expectedDrift && report.countsAsExpected ? 0 : 1);
    });
}

/** Adds `capture` under `iot-dr bench`: a provisioning burst through capture's queue, containers and quotas. */
export function addCaptureBench(bench: Command, setExitCode: (code: number) => void): void {
  bench
    .command("capture")
    .description(
      "provision a burst of things (certificate, policy, group) in moto and capture their registry events through the capture queue, its containers and one emulated account quota",
    )
    .option("--burst <n>", "things provisioned in the burst", "5000")
    .option("--json", "print one JSON report on stdout; progress stays on stderr")
    .action(async (o: { burst: string; json?: boolean }) => {
      const burst = Number(o.burst);
      if (!Number.isInteger(burst) || burst < 1 || burst > 100_000)
        throw new UsageError(
          `--burst must be a whole number from 1 to 100000, got '${o.burst}' (e.g. --burst 5000)`,
        );
      const report = await runCaptureBurstBench({ burst }, (l) => process.stderr.write(l));
      process.stdout.write(o.json ? JSON.stringify(report) + "\n" : formatCaptureBurst(report));
      setExitCode(report.captured === report.burst && report.deadLettered === 0 ? 0 : 1);
    });
}

/** Adds `capture-cost` under `iot-dr bench`: capture's own CPU, IoT calls and reads per operation. */
export function addCaptureCostBench(bench: Command, setExitCode: (code: number) => void): void {
  bench
    .command("capture-cost")
    .description(
      "make the replay bench's mix of operations in one moto region, capture their events there, replay what was captured into a second region and capture the echoes of replay's own calls: CPU, IoT calls and DynamoDB calls per operation of each capture (the cost model's inputs); the echo capture must write nothing",
    )
    .option("--ops <n>", "operations of the mix", String(CAPTURE_COST_OPS))
    .option("--json", "print one JSON report on stdout; progress stays on stderr")
    .action(async (o: { ops: string; json?: boolean }) => {
      const ops = opsOption("--ops", o.ops, 20);
      const report = await runCaptureCostBench({ ops }, (l) => process.stderr.write(l));
      process.stdout.write(o.json ? JSON.stringify(report) + "\n" : formatCaptureCost(report));
      setExitCode(report.echo.recordsWritten === 0 && report.source.redelivered === 0 ? 0 : 1);
    });
}
