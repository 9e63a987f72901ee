/**
 * The harness of `iot-dr bench replay [--ops N]` (cli/commands/bench.ts): a backlog of N mixed registry operations replayed into a
 * moto_server (started here, stopped by PID) behind an emulated quota that throttles each IoT API
 * above its configured rate, with the deployed pacer and retries. Reports per API the achieved rate
 * against the quota, throttles and retries; lost operations; own CPU per operation; and the cost
 * model. moto is far slower than AWS, so the quotas are scaled down, one factor per wave (printed),
 * until the wave's calls fit what moto serves on this machine for that wave's own calls (measured
 * right before the wave with a small calibration backlog of the same mix on other names), and
 * rounded down to whole calls per second; utilisation is measured against that emulated quota.
 */
import * as iotSdk from "@aws-sdk/client-iot";
import { iotPortFromSdk, type IotRegistryPort } from "../functions/registry/iotPort.js";
import { MIX, buildBacklog, calibrationWave } from "./backlog.js";
import { startMoto } from "../peers/moto.js";
import { memoryOpsTable } from "../functions/registry/table.js";
import type { WorkersBenchResult } from "./replayWorkers.js";
import {
  apiReport,
  applyWithRetries,
  drainingCost,
  fitScale,
  formatApiTable,
  lostRecords,
  pool,
  runReport,
  ratesOf,
  sampleLoad,
  scaledQuota,
  prepareBacklogs,
  type ReplayRunReport,
} from "./harness.js";
import type { ApplyDeps } from "../functions/replication/apply.js";
import { DEPLOYED_DEFAULTS, estimateCost, type CostEstimate } from "../functions/replication/costModel.js";
import type { CaptureCostReport } from "./captureCost.js";
import { noMetrics, silentLogger } from "../functions/shared/observability.js";
import { createPacer, systemClock } from "../functions/replication/pacing.js";

// ---------------------------------------------------------------------------------------------
// The emulated quota: what IoT does when a caller exceeds an API's rate. A quota of q calls per
// second (a whole number) throttles the call that would be the (q+1)th in any sliding second.

interface ApiCounter {
  ok: number;
  throttled: number;
  first: number;
  last: number;
  window: number[];
}

function emulateQuota(client: iotSdk.IoTClient, quotaOf: (api: string) => number): Map<string, ApiCounter> {
  const counters = new Map<string, ApiCounter>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const api = ((context as { commandName?: string }).commandName ?? "").replace(/Command$/, "");
      let c = counters.get(api);
      if (!c) counters.set(api, (c = { ok: 0, throttled: 0, first: 0, last: 0, window: [] }));
      const now = performance.now();
      while (c.window.length > 0 && now - c.window[0] >= 1000) c.window.shift();
      if (c.window.length >= quotaOf(api)) {
        c.throttled++;
        throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
      }
      c.window.push(now);
      const result = await next(args);
      c.ok++;
      if (c.first === 0) c.first = now;
      c.last = now;
      return result;
    },
    { step: "finalizeRequest", name: "emulatedIotQuota" },
  );
  return counters;
}

export { buildBacklog };

// ---------------------------------------------------------------------------------------------

export interface ReplayBenchReport extends ReplayRunReport {
  cost: CostEstimate;
  /** The same with the replay function at 512 MB (the default before 256 MB). */
  costWithReplay512Mb: number;
  /**
   * The pipeline cost while a backlog of this mix drains at AWS's default quotas, with one or four
   * batches (stream shards) in flight: replay functions then wait for the pacer, billed like work.
   */
  costWhileDraining: { batchesInFlight: number; pacingWaitMs: number; pipelinePerMillion: number }[];
  targets: { quota90: boolean; lost0: boolean; costUnder5: boolean };
}

/** A pacer with `rate(api)` for every API of the quota table. */
const pacerAt = (rate: (api: string) => number, options: { utilisation?: number; defaultRate?: number }) =>
  createPacer({ rates: ratesOf(rate), ...options });

export async function runReplayBench(
  options: { ops: number; scale?: number; concurrency: number },
  log: (line: string) => void,
): Promise<ReplayBenchReport> {
  const moto = await startMoto();
  try {
    const config = (region: string) => ({
      region,
      endpoint: moto.endpoint,
      credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
      maxAttempts: 1,
    });
    const region = "eu-west-1";
    const setupPort = iotPortFromSdk(iotSdk, new iotSdk.IoTClient(config(region)));

    // The target's marker table, in memory here (the workers bench has it in DynamoDB, as deployed).
    const markers = memoryOpsTable();
    const { backlog, calibration, records } = await prepareBacklogs(setupPort, options.ops, options.scale, {
      region,
      markers,
    });
    // How many calls per second moto serves here bounds what any quota can show. moto's cost differs
    // by call (a DeleteThing or ListThingGroupsForThing scans more than a DescribeThing), so before
    // each wave a calibration backlog of the same mix on other names ("c…") replays that wave
    // unthrottled and unpaced, and the calls/s it got is what the wave's scale is fitted to. It is
    // measured right before the wave because the machine's load changes during a run.
    // One factor per wave, so that the wave's calls fit what moto serves here (fitScale).
    const scales = backlog.waves.map(() => options.scale ?? 1);
    const motoByWave: number[] = [];
    let scale = scales[0];
    const rateOf = (api: string) => scaledQuota(api, scale);
    log(
      calibration
        ? `quotas scaled per wave to what moto serves of that wave's calls (calibration backlog of ${calibration.waves.flat().length} records)\n`
        : `quotas scaled by ${options.scale}\n`,
    );

    const calibrationClient = new iotSdk.IoTClient(config(region));
    const calibrationCalls = emulateQuota(calibrationClient, () => Number.POSITIVE_INFINITY);
    const calibrate = async (wave: number): Promise<number> => {
      const sample = calibrationWave(backlog, calibration!, wave);
      const deps: ApplyDeps = {
        region,
        iot: iotPortFromSdk(iotSdk, calibrationClient) as IotRegistryPort,
        // Unpaced: every API at a million calls per second.
        pacer: pacerAt(() => 1e6, { defaultRate: 1e6 }),
        markers,
        clock: systemClock,
        logger: silentLogger,
        metrics: noMetrics,
      };
      const callsSoFar = () => [...calibrationCalls.values()].reduce((a, c) => a + c.ok, 0);
      const calls0 = callsSoFar();
      const t0 = performance.now();
      await pool(sample, options.concurrency, async (record) => {
        const why = await applyWithRetries(record, deps);
        if (why)
          throw new Error(`calibration record ${record.key} still failed (${why}); moto cannot be measured`);
      });
      return (callsSoFar() - calls0) / ((performance.now() - t0) / 1000);
    };

    const client = new iotSdk.IoTClient(config(region));
    const counters = emulateQuota(client, rateOf);
    // 5% headroom, as an operator would configure it: the service sees a call a little after the
    // pacer released it, with jitter; evenly spaced calls at 95% tolerate 50 ms of it.
    const pacerFor = () => pacerAt(rateOf, { utilisation: 0.95 });
    const pacers = [] as ReturnType<typeof createPacer>[];
    const deps: ApplyDeps = {
      region,
      iot: iotPortFromSdk(iotSdk, client) as IotRegistryPort,
      pacer: pacerFor(),
      markers,
      clock: systemClock,
      logger: silentLogger,
      metrics: noMetrics,
    };
    const failed = new Map<string, string>();
    const load = sampleLoad();
    const started = performance.now();
    const cpu = { user: 0, system: 0 };
    const emulatedQuota = new Map<string, number>();
    for (const [i, wave] of backlog.waves.entries()) {
      if (calibration) {
        motoByWave[i] = Math.round(await calibrate(i));
        scales[i] = fitScale(backlog, i, motoByWave[i]);
      }
      scale = scales[i];
      deps.pacer = pacerFor();
      pacers.push(deps.pacer);
      // A fresh port per wave, like a fresh replay function: no ARNs cached from an earlier wave.
      deps.iot = iotPortFromSdk(iotSdk, client) as IotRegistryPort;
      for (const m of MIX) if (backlog.waveOf[m.api] === i) emulatedQuota.set(m.api, rateOf(m.api));
      log(`wave ${i}: ${wave.length} records, moto ${motoByWave[i] ?? "-"} calls/s, quotas x${scale}\n`);
      // Own CPU counts the waves only (not the calibration between them).
      const cpu0 = process.cpuUsage();
      await pool(wave, options.concurrency, async (record) => {
        const why = await applyWithRetries(record, deps);
        if (why) failed.set(record.key, why);
      });
      const used = process.cpuUsage(cpu0);
      cpu.user += used.user;
      cpu.system += used.system;
    }
    const durationSeconds = (performance.now() - started) / 1000;
    const loadAverage = load.stop();

    // Verify in the target what the backlog asked for: a record that was neither applied nor
    // dead-lettered is lost.
    const lostKeys = await lostRecords(records, failed, setupPort);

    const retries = (api: string) => pacers.reduce((a, p) => a + (p.stats()[api]?.retries ?? 0), 0);
    const apis = [...counters.entries()]
      .map(([api, c]) => {
        // Rates only mean something for the APIs a wave is made of (reads span several waves).
        const active = Math.max(0.001, (c.last - c.first) / 1000);
        const achievedTps = c.ok > 1 ? (c.ok - 1) / active : c.ok;
        return apiReport(api, emulatedQuota.get(api), {
          calls: c.ok,
          achievedTps,
          throttles: c.throttled,
          retries: retries(api),
        });
      })
      .sort((a, b) => a.api.localeCompare(b.api));
    const totalCalls = apis.reduce((a, x) => a + x.calls, 0);
    const cpuMsPerOp = (cpu.user + cpu.system) / 1000 / records.length;
    const iotCallsPerOp = totalCalls / records.length;
    const measured = {
      ...DEPLOYED_DEFAULTS,
      replayCpuMs: cpuMsPerOp,
      // The single-process bench keeps its published assumption: both captures at replay's CPU.
      captureCpuMs: cpuMsPerOp,
      echoCaptureCpuMs: cpuMsPerOp,
      replayIotCalls: iotCallsPerOp,
      // One process paces alone here (no shared schedule): the design before sharedPacing.ts.
      scheduleWritesPerOp: 0,
    };
    const cost = estimateCost(measured);
    // While a backlog drains, each write API runs at its (AWS) quota and the replay functions in
    // flight wait for the pacer between operations; Lambda bills that. Averaged over this mix.
    const draining = [1, 4].map((batchesInFlight) => ({
      batchesInFlight,
      ...drainingCost(measured, backlog.counts, measured.waveConcurrency * batchesInFlight),
    }));
    const costWithReplay512Mb = estimateCost({ ...measured, replayMemoryMb: 512 }).pipelinePerMillion;
    const writeApis = apis.filter((a) => MIX.some((m) => m.api === a.api) && a.calls >= 20);
    return {
      ...runReport(records.length, lostKeys, failed, {
        durationSeconds,
        scales,
        motoByWave,
        apis,
        cpuMicros: cpu.user + cpu.system,
        loadAverage,
      }),
      cost,
      costWithReplay512Mb: Math.round(costWithReplay512Mb * 100) / 100,
      costWhileDraining: draining,
      targets: {
        quota90: writeApis.every((a) => a.utilisation >= 0.9),
        lost0: lostKeys.size === 0 && failed.size === 0,
        costUnder5: cost.pipelinePerMillion <= 5,
      },
    };
  } finally {
    await moto.stop();
  }
}

export function formatReplayBench(r: ReplayBenchReport): string {
  const lines = [
    `replayed ${r.ops} operations in ${r.durationSeconds} s; lost ${r.lost}; dead-lettered ${r.deadLettered} ${JSON.stringify(r.deadLetterReasons)}`,
    ...r.deadLetterSample.map((x) => `  e.g. ${x}`),
    r.motoCallsPerSecondByWave.length > 0
      ? `moto served ${r.motoCallsPerSecondByWave.join(", ")} calls/s of each wave's calls right before it; quotas scaled per wave by ${r.scales.join(", ")}`
      : `quotas scaled by ${r.scales[0]} (--scale)`,
    ...formatApiTable(r.apis.filter((a) => a.emulatedQuota > 0)),
    `reads: ${r.apis
      .filter((a) => a.emulatedQuota === 0)
      .map((a) => `${a.api} ${a.calls} calls, ${a.throttles} throttled`)
      .join("; ")}`,
    `own CPU per operation: ${r.cpuMsPerOp} ms; IoT calls per operation: ${r.iotCallsPerOp}`,
    `cost per million operations: pipeline $${r.cost.pipelinePerMillion.toFixed(2)} (target <= $5), IoT charges $${r.cost.iotPerMillion.toFixed(2)}, one Standard execution per record instead: $${r.cost.standardAlternativePerMillion.toFixed(2)}; with replay at 512 MB: $${r.costWithReplay512Mb.toFixed(2)}`,
    `while a backlog of this mix drains at AWS's quotas: ${r.costWhileDraining.map((d) => `$${d.pipelinePerMillion.toFixed(2)} with ${d.batchesInFlight} batch(es) in flight (${d.pacingWaitMs} ms pacing wait per operation)`).join("; ")}`,
    `load average (1 min): start ${r.loadAverage.start}, end ${r.loadAverage.end}, max ${r.loadAverage.max}`,
    `targets: >=90% of each write quota ${r.targets.quota90 ? "met" : "NOT met"}; 0 lost ${r.targets.lost0 ? "met" : "NOT met"}; <= $5/M ${r.targets.costUnder5 ? "met" : "NOT met"}`,
  ];
  return lines.join("\n") + "\n";
}

export interface WorkersReport extends WorkersBenchResult {
  /**
   * Capture's own figures per operation (`runCaptureCostBench` on the same mix), which the cost
   * model takes for capture and the echo capture; absent, it takes replay's CPU for both and its
   * default IoT calls and reads (`captureMeasured` false).
   */
  capture?: CaptureCostReport;
  captureMeasured: boolean;
  cost: CostEstimate;
  costWithReplay512Mb: number;
  /** The pipeline cost while a backlog of this mix drains with 1, 4 and 16 replay functions in flight. */
  costWhileDraining: { workers: number; pacingWaitMs: number; pipelinePerMillion: number }[];
  targets: {
    quota90: boolean;
    throttled2: boolean;
    lost0: boolean;
    deadLettered0: boolean;
    costUnder5At4: boolean;
  };
}

/**
 * The multi-process run priced with the cost model: replay's measured CPU, IoT calls and schedule
 * writes, and capture's and the echo capture's measured CPU, IoT calls and DynamoDB reads when
 * `capture` is given.
 */
export function workersReport(r: WorkersBenchResult, capture?: CaptureCostReport): WorkersReport {
  const measured = {
    ...DEPLOYED_DEFAULTS,
    replayCpuMs: r.cpuMsPerOp,
    replayIotCalls: r.iotCallsPerOp,
    scheduleWritesPerOp: r.scheduleWritesPerIotCall * r.iotCallsPerOp,
    ...(capture
      ? {
          captureMessages: capture.source.messages / capture.ops,
          echoCaptureMessages: capture.echo.messages / capture.ops,
          captureCpuMs: capture.source.cpuMsPerOp,
          echoCaptureCpuMs: capture.echo.cpuMsPerOp,
          captureIotCalls: capture.source.iotCallsPerOp,
          echoCaptureIotCalls: capture.echo.iotCallsPerOp,
          captureReads: capture.source.dynamodbReadsPerOp,
          echoCaptureReads: capture.echo.dynamodbReadsPerOp,
          captureEventualReads: capture.source.dynamodbEventualReadsPerOp,
          captureWrites: capture.source.dynamodbWritesPerOp,
          captureRefusedWrites: capture.source.dynamodbRefusedWritesPerOp,
          echoCaptureEventualReads: capture.echo.dynamodbEventualReadsPerOp,
        }
      : { captureCpuMs: r.cpuMsPerOp, echoCaptureCpuMs: r.cpuMsPerOp }),
  };
  const counts = buildBacklog(r.ops, 0).counts;
  const costWhileDraining = [1, 4, 16].map((workers) => ({
    workers,
    ...drainingCost(measured, counts, workers),
  }));
  const writeApis = r.apis.filter((a) => MIX.some((m) => m.api === a.api) && a.calls >= 20);
  return {
    ...r,
    ...(capture ? { capture } : {}),
    captureMeasured: capture !== undefined,
    cost: estimateCost(measured),
    costWithReplay512Mb:
      Math.round(estimateCost({ ...measured, replayMemoryMb: 512 }).pipelinePerMillion * 100) / 100,
    costWhileDraining,
    targets: {
      quota90: writeApis.length > 0 && writeApis.every((a) => a.utilisation >= 0.9),
      throttled2: r.throttledShare <= 0.02,
      lost0: r.lost === 0,
      deadLettered0: r.deadLettered === 0,
      costUnder5At4: costWhileDraining[1].pipelinePerMillion <= 5,
    },
  };
}

export function formatWorkersReport(r: WorkersReport): string {
  const lines = [
    `${r.workers} worker processes, ${r.pacing} pacing: replayed ${r.ops} operations in ${r.durationSeconds} s (records per worker ${r.recordsPerWorker.join(", ")}); lost ${r.lost}; dead-lettered ${r.deadLettered} ${JSON.stringify(r.deadLetterReasons)}`,
    ...r.deadLetterSample.map((x) => `  e.g. ${x}`),
    `quotas scaled per wave by ${r.scales.join(", ")} (setup served ${r.motoCallsPerSecondByWave.join(", ") || "-"} calls/s)`,
    ...formatApiTable(r.apis),
    `throttled ${(r.throttledShare * 100).toFixed(2)}% of calls; schedule writes per IoT call ${r.scheduleWritesPerIotCall} (${r.startsPerBlock} starts per block); own CPU per operation ${r.cpuMsPerOp} ms; IoT calls per operation ${r.iotCallsPerOp}`,
    r.capture
      ? `capture per operation (capture-cost bench, ${r.capture.ops} operations of this mix): source ${r.capture.source.cpuMsPerOp} ms CPU, ${r.capture.source.iotCallsPerOp} IoT calls, ${r.capture.source.dynamodbReadsPerOp} DynamoDB reads; echo ${r.capture.echo.cpuMsPerOp} ms, ${r.capture.echo.iotCallsPerOp}, ${r.capture.echo.dynamodbReadsPerOp}; echo records written ${r.capture.echo.recordsWritten}`
      : "capture not measured: the cost model takes replay's CPU per operation for capture and the echo capture",
    `cost per million operations: pipeline $${r.cost.pipelinePerMillion.toFixed(2)}; while draining: ${r.costWhileDraining.map((d) => `$${d.pipelinePerMillion.toFixed(2)} with ${d.workers} replay functions in flight (${d.pacingWaitMs} ms wait per operation)`).join("; ")}`,
    `event-loop delay: workers p99 ${r.loopDelayMs.workersP99} ms (max ${r.loopDelayMs.workersMax}), emulator p99 ${r.loopDelayMs.emulatorP99} ms (max ${r.loopDelayMs.emulatorMax}); 95 % pacing tolerates 50 ms`,
    `load average (1 min): start ${r.loadAverage.start}, end ${r.loadAverage.end}, max ${r.loadAverage.max}`,
    `targets: ${Object.entries(r.targets)
      .map(([k, v]) => `${k} ${v ? "met" : "NOT met"}`)
      .join("; ")}`,
  ];
  return lines.join("\n") + "\n";
}
