/**
 * `iot-dr bench replay --workers N`: the replay backlog applied by N worker processes at once (as N
 * replay functions, batches or shards run in a region), every IoT call of every worker going
 * through ONE emulated account quota (quotaEmulator.ts, a proxy in front of moto) and every worker
 * pacing through the region's shared schedule (functions/replication/sharedPacing.ts) in a serial
 * moto's DynamoDB. Each wave (launcher.planWaves: one kind each) is cut into groups as the state
 * machine cuts it, and each group goes to the next free worker, as the Map hands them out. Before
 * each wave, the same mix on other names is replayed by the same workers unpaced and
 * unthrottled, and the wave's quota scale is fitted to 85 % of what that setup served (as the
 * single-process bench does).
 */
import { fork, type ChildProcess } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as path from "node:path";
import * as iotSdk from "@aws-sdk/client-iot";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createPkTable } from "../peers/tables.js";
import * as lib from "@aws-sdk/lib-dynamodb";
import { iotPortFromSdk } from "../functions/registry/iotPort.js";
import { markerTableFromSdk, opsTableFromSdk, putRecordIfNewer } from "../functions/registry/table.js";
import type { RegistryRecord } from "../functions/registry/records.js";
import type { ApiStats } from "../functions/replication/pacing.js";
import { REPLAY_GROUP_SIZE } from "../functions/replication/stateMachine.js";
import { MIX, calibrationWave } from "./backlog.js";
import {
  apiReport,
  fitScale,
  lostRecords,
  ratesOf,
  runReport,
  sampleLoad,
  scaledQuota,
  pool,
  prepareBacklogs,
  type ReplayRunReport,
} from "./harness.js";
import { startMoto } from "../peers/moto.js";
import { startQuotaEmulator } from "./quotaEmulator.js";
import type { FromWorker, ToWorker, WorkerWave, WorkerWaveDone } from "./replayWorker.js";

export interface WorkersBenchOptions {
  ops: number;
  workers: number;
  /** Records each worker applies at once, as one replay invocation applies a group; default REPLAY_GROUP_SIZE. */
  groupSize?: number;
  scale?: number;
  /** Each worker paces alone at the whole quota (the design before the shared schedule), for comparison. */
  localOnly?: boolean;
}

export interface WorkersBenchResult extends ReplayRunReport {
  workers: number;
  /** Records each worker applied at once (one group, as one replay invocation). */
  groupSize: number;
  pacing: "shared" | "local";
  /** Throttled calls over all calls (accepted + throttled). */
  throttledShare: number;
  /** DynamoDB writes to the shared schedule per IoT call (1 when every API stays busy). */
  scheduleWritesPerIotCall: number;
  /** Starts spent per reservation in the shared schedule (blocks, sharedPacing.ts blockSlots); 1 without blocks. */
  startsPerBlock: number;
  /** Records per worker in the measured waves (as free workers took the groups). */
  recordsPerWorker: number[];
  /**
   * Event-loop delay (ms) of the workers during the measured waves (highest p99 and max over
   * workers and waves) and of the process running the quota emulator: a call fires that late after
   * its reserved start, and evenly spaced starts at 95 % tolerate 50 ms before the emulator's
   * sliding second counts one too many.
   */
  loopDelayMs: { workersP99: number; workersMax: number; emulatorP99: number; emulatorMax: number };
}

class WorkerProcess {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<string, (m: FromWorker) => void>();
  private failure?: Error;

  constructor() {
    this.child = fork(path.join(__dirname, "replayWorker.ts"), [], {
      execArgv: ["--require", require.resolve("tsx/cjs")],
      env: { ...process.env, IOT_DR_BENCH_WORKER: "replay" },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    this.child.on("message", (m: FromWorker) => {
      if (m.type === "error") return this.fail(new Error(`replay worker: ${m.message}`));
      const key = m.type === "waveDone" ? `wave:${m.id}` : m.type;
      this.waiting.get(key)?.(m);
      this.waiting.delete(key);
    });
    this.child.on("exit", (code) => this.fail(new Error(`replay worker exited (${code})`)));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const [, resolve] of this.waiting) resolve({ type: "error", message: err.message });
    this.waiting.clear();
  }

  request(m: ToWorker, reply: string): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.set(reply, (r) => (r.type === "error" ? reject(new Error(r.message)) : resolve(r)));
      this.child.send(m);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.pid) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await exited;
  }
}

/** `items` cut into consecutive groups of `size` (States.ArrayPartition). */
export function groupsOf<T>(items: readonly T[], size: number): T[][] {
  const groups: T[][] = [];
  for (let at = 0; at < items.length; at += size) groups.push(items.slice(at, at + size));
  return groups;
}

export async function runReplayWorkersBench(
  options: WorkersBenchOptions,
  log: (line: string) => void,
): Promise<WorkersBenchResult> {
  const region = "eu-west-1";
  const [moto, scheduleMoto] = await Promise.all([startMoto(), startMoto({ serial: true })]);
  const emulator = await startQuotaEmulator(moto.endpoint);
  // The workers reach the tables through a pass-through (no quota) that keeps their connections
  // open, as DynamoDB does: moto closes each one after its answer, and a new connection per call
  // cost the workers CPU that a replay function on AWS does not spend.
  const tables = await startQuotaEmulator(scheduleMoto.endpoint);
  const workers = Array.from({ length: options.workers }, () => new WorkerProcess());
  try {
    const credentials = { accessKeyId: "bench", secretAccessKey: "bench" };
    const scheduleTable = "markers";
    // The ops table (the global table's replica in this region) next to the marker table: replay
    // reads a record there before and after applying it (apply.ts), as deployed.
    const opsTable = "ops";
    const ddb = new DynamoDBClient({ region, endpoint: scheduleMoto.endpoint, credentials });
    for (const table of [scheduleTable, opsTable]) await createPkTable(ddb, table);
    await Promise.all(
      workers.map((w) =>
        w.request(
          {
            type: "init",
            region,
            iotEndpoint: emulator.endpoint,
            scheduleEndpoint: tables.endpoint,
            scheduleTable,
            opsTable,
          },
          "ready",
        ),
      ),
    );
    const setupPort = iotPortFromSdk(
      iotSdk,
      new iotSdk.IoTClient({ region, endpoint: moto.endpoint, credentials, maxAttempts: 1 }),
    );
    const markerDoc = lib.DynamoDBDocumentClient.from(ddb);
    const { backlog, calibration, records } = await prepareBacklogs(setupPort, options.ops, options.scale, {
      region,
      markers: markerTableFromSdk(lib, markerDoc, scheduleTable),
    });
    // Every record the waves replay is in the ops table, as capture left it.
    const ops = opsTableFromSdk(lib, markerDoc, opsTable);
    await pool([...records, ...(calibration?.waves.flat() ?? [])], 8, async (r) => {
      await putRecordIfNewer(ops, r);
    });
    const groupSize = options.groupSize ?? REPLAY_GROUP_SIZE;
    let messageId = 0;
    let waveSeq = 0;
    /** A wave as the Map runs it: its groups in order, each to the next free worker. */
    const runWave = async (wave: RegistryRecord[], rates: Record<string, number> | undefined) => {
      const groups = groupsOf(wave, groupSize);
      const waveId = ++waveSeq;
      const perWorker = workers.map(() => 0);
      const done: WorkerWaveDone[] = [];
      let next = 0;
      await Promise.all(
        workers.map(async (w, i) => {
          while (next < groups.length) {
            const records = groups[next++];
            const m: WorkerWave = {
              type: "wave",
              id: ++messageId,
              waveId,
              records,
              rates,
              utilisation: 0.95,
              localOnly: options.localOnly,
            };
            done.push((await w.request(m, `wave:${m.id}`)) as WorkerWaveDone);
            perWorker[i] += records.length;
          }
        }),
      );
      return { perWorker, done };
    };
    const scales = backlog.waves.map(() => options.scale ?? 1);
    const motoByWave: number[] = [];
    const emulatedQuota = new Map<string, number>();
    const failed = new Map<string, string>();
    const stats: Record<string, ApiStats>[] = [];
    const recordsPerWorker = workers.map(() => 0);
    let cpuMicros = 0;
    const loopDelay = { workersP99: 0, workersMax: 0, emulatorP99: 0, emulatorMax: 0 };
    let scheduleWrites = 0;
    const blockTotals = { blocks: 0, spent: 0 };
    const load = sampleLoad();
    const okCalls = () => [...emulator.counters.values()].reduce((a, c) => a + c.ok, 0);
    const started = performance.now();
    // Windows of the measured waves: calls in them are the bench's; calibration's are not.
    const windows: { wave: number; from: number; to: number }[] = [];
    for (const [i, wave] of backlog.waves.entries()) {
      if (calibration) {
        emulator.setQuota(() => Number.POSITIVE_INFINITY);
        const calls0 = okCalls();
        const t0 = performance.now();
        // Unthrottled and at unlimited rates, but through the same schedule (its round trips count).
        const unlimited = ratesOf(() => 1e6);
        const cal = await runWave(calibrationWave(backlog, calibration, i), unlimited);
        const why = cal.done.flatMap((d) => d.failed);
        if (why.length > 0) throw new Error(`calibration record ${why[0][0]} still failed (${why[0][1]})`);
        motoByWave[i] = Math.round((okCalls() - calls0) / ((performance.now() - t0) / 1000));
        scales[i] = fitScale(backlog, i, motoByWave[i]);
        // The emulator's sliding second still holds the calibration's calls of this wave's own
        // APIs (a wave is one kind): the measured wave starts once they have left it, as no
        // calibration runs before a wave on AWS. Without the pause the wave's first calls were
        // throttled for the calibration's (AttachPolicy: 9 of its first 14).
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      const scale = scales[i];
      const rateOf = (api: string) => scaledQuota(api, scale);
      const rates = ratesOf(rateOf);
      for (const m of MIX) if (backlog.waveOf[m.api] === i) emulatedQuota.set(m.api, rateOf(m.api));
      emulator.setQuota(rateOf);
      log(
        `wave ${i}: ${wave.length} records over ${workers.length} workers, moto ${motoByWave[i] ?? "-"} calls/s, quotas x${scale}\n`,
      );
      const from = performance.now();
      // A histogram per wave: one disabled and enabled again records the pause between as a delay
      // (the calibration's whole duration), which earlier runs reported as the emulator's stall.
      const emulatorLoop = monitorEventLoopDelay({ resolution: 10 });
      emulatorLoop.enable();
      const { perWorker, done } = await runWave(wave, rates);
      perWorker.forEach((n, w) => (recordsPerWorker[w] += n));
      for (const d of done) {
        for (const [k, v] of d.failed) failed.set(k, v);
        stats.push(d.stats);
        cpuMicros += d.cpuMicros;
        scheduleWrites += d.scheduleWrites;
        blockTotals.blocks += d.blocks.blocks;
        blockTotals.spent += d.blocks.spent;
        loopDelay.workersP99 = Math.max(loopDelay.workersP99, d.loopDelayMs.p99);
        loopDelay.workersMax = Math.max(loopDelay.workersMax, d.loopDelayMs.max);
      }
      windows.push({ wave: i, from, to: performance.now() });
      emulatorLoop.disable();
      const ms = (ns: number) => Math.round(ns / 1e5) / 10;
      loopDelay.emulatorP99 = Math.max(loopDelay.emulatorP99, ms(emulatorLoop.percentile(99)));
      loopDelay.emulatorMax = Math.max(loopDelay.emulatorMax, ms(emulatorLoop.max));
    }
    const durationSeconds = (performance.now() - started) / 1000;
    const loadAverage = load.stop();
    const lostKeys = await lostRecords(records, failed, setupPort);
    const retries = (api: string) => stats.reduce((a, s) => a + (s[api]?.retries ?? 0), 0);
    const inWaves = (t: number) => windows.some((w) => t >= w.from && t <= w.to);
    const apis = [...emulator.counters.entries()]
      .map(([api, c]) => {
        const quota = emulatedQuota.get(api);
        const ok = c.acceptedAt.filter(inWaves);
        // A write API's rate over its own wave's active span (its first to its last call).
        const own = windows.find((w) => w.wave === backlog.waveOf[api]);
        const mine = own ? ok.filter((t) => t >= own.from && t <= own.to) : [];
        const achievedTps =
          mine.length > 1 ? (mine.length - 1) / Math.max(0.001, (mine.at(-1)! - mine[0]) / 1000) : 0;
        return apiReport(api, quota, {
          calls: ok.length,
          achievedTps,
          throttles: c.throttledAt.filter(inWaves).length,
          retries: retries(api),
        });
      })
      .filter((a) => a.calls + a.throttles > 0)
      .sort((a, b) => a.api.localeCompare(b.api));
    const calls = apis.reduce((a, x) => a + x.calls, 0);
    const throttles = apis.reduce((a, x) => a + x.throttles, 0);
    return {
      workers: options.workers,
      groupSize,
      pacing: options.localOnly ? "local" : "shared",
      ...runReport(records.length, lostKeys, failed, {
        durationSeconds,
        scales,
        motoByWave,
        apis,
        cpuMicros,
        loadAverage,
      }),
      throttledShare: Math.round((throttles / Math.max(1, calls + throttles)) * 10000) / 10000,
      startsPerBlock: Math.round((blockTotals.spent / Math.max(1, blockTotals.blocks)) * 100) / 100,
      scheduleWritesPerIotCall: options.localOnly
        ? 0
        : Math.round((scheduleWrites / Math.max(1, calls)) * 100) / 100,
      recordsPerWorker,
      loopDelayMs: loopDelay,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all([emulator.close(), tables.close()]);
    await Promise.all([moto.stop(), scheduleMoto.stop()]);
  }
}
