/**
 * One replay worker of `iot-dr bench replay --workers N`, in its own process (as a replay Lambda
 * container is): it applies each group the parent sends at once, as the state machine hands a
 * replay invocation its group, with the deployed replay core and pacer,
 * its IoT calls going through the shared quota emulator, its pacing schedule in the shared
 * DynamoDB item (functions/replication/sharedPacing.ts) when the wave is paced.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as iotSdk from "@aws-sdk/client-iot";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as lib from "@aws-sdk/lib-dynamodb";
import { CALL_DEADLINES, sdkClientOptions } from "../functions/deadlines.js";
import { iotArnPrefixOf, iotPortFromSdk, type IotRegistryPort } from "../functions/registry/iotPort.js";
import { DEFAULT_ACCOUNT } from "../peers/moto.js";
import {
  markerTableFromSdk,
  opsTableFromSdk,
  type MarkerTablePort,
  type OpsTablePort,
} from "../functions/registry/table.js";
import type { RegistryRecord } from "../functions/registry/records.js";
import type { ApplyDeps } from "../functions/replication/apply.js";
import { noMetrics, silentLogger } from "../functions/shared/observability.js";
import {
  createPacer,
  DEFAULT_IOT_QUOTAS,
  systemClock,
  type ApiStats,
} from "../functions/replication/pacing.js";
import { blockSlots, dynamoSlotStore } from "../functions/replication/sharedPacing.js";
import { applyWithRetries } from "./harness.js";
import { withApiHeader } from "./quotaEmulator.js";

export interface WorkerInit {
  type: "init";
  region: string;
  /** The quota emulator in front of moto's IoT. */
  iotEndpoint: string;
  /** moto (serial) holding the marker table (the pacing schedule and replay's applied markers) and the ops table. */
  scheduleEndpoint: string;
  scheduleTable: string;
  /** The ops table, holding every record of the backlog. */
  opsTable: string;
}

export interface WorkerWave {
  type: "wave";
  /** This message's id (the reply names it). */
  id: number;
  /**
   * The wave it belongs to: a worker keeps one pacer (and its blocks) for all the groups of a wave,
   * as a warm replay container keeps its pacer across invocations.
   */
  waveId: number;
  /** One group of the wave, applied at once as one replay invocation applies its group (stateMachine.ts). */
  records: RegistryRecord[];
  /** Pace at these rates (TPS) through the shared schedule; undefined: unpaced (calibration). */
  rates?: Record<string, number>;
  utilisation: number;
  /** Pace with a schedule of this process only (the design before the shared schedule). */
  localOnly?: boolean;
}

/** What one message's records did; every counter is for this message alone (deltas). */
export interface WorkerWaveDone {
  type: "waveDone";
  id: number;
  failed: [string, string][];
  stats: Record<string, ApiStats>;
  cpuMicros: number;
  scheduleWrites: number;
  /** Reservations (blocks) this worker made in the shared schedule and the starts it spent from them. */
  blocks: { blocks: number; spent: number };
  /** This process's event-loop delay during the wave (ms): how late its timers, and so its calls, fired. */
  loopDelayMs: { p50: number; p99: number; max: number };
}

export type ToWorker = WorkerInit | WorkerWave | { type: "exit" };
export type FromWorker = WorkerWaveDone | { type: "ready" } | { type: "error"; message: string };

const credentials = { accessKeyId: "bench", secretAccessKey: "bench" };

function main(): void {
  let init: WorkerInit | undefined;
  let iot: iotSdk.IoTClient | undefined;
  let doc: lib.DynamoDBDocumentClient | undefined;
  /** The applied markers, in the same table as the schedule (as deployed), on a client of their own. */
  let markers: MarkerTablePort | undefined;
  let ops: OpsTablePort | undefined;
  let scheduleWrites = 0;
  let current: ({ waveId: number; port: IotRegistryPort } & ReturnType<typeof pacing>) | undefined;
  const send = (m: FromWorker) => process.send!(m);
  process.on("message", (m: ToWorker) => {
    void (async () => {
      try {
        if (m.type === "exit") process.exit(0);
        if (m.type === "init") {
          init = m;
          iot = new iotSdk.IoTClient({
            region: m.region,
            endpoint: m.iotEndpoint,
            credentials,
            // The deployed replay's client: one attempt, its deadline; the pacer owns the retries.
            ...sdkClientOptions("replayIot"),
          });
          withApiHeader(iot as unknown as Parameters<typeof withApiHeader>[0]);
          const ddb = new DynamoDBClient({
            region: m.region,
            endpoint: m.scheduleEndpoint,
            credentials,
            maxAttempts: 3,
          });
          ddb.middlewareStack.add(
            (next) => async (args) => {
              scheduleWrites++;
              return next(args);
            },
            { step: "initialize", name: "countScheduleWrites" },
          );
          doc = lib.DynamoDBDocumentClient.from(ddb);
          const tables = lib.DynamoDBDocumentClient.from(
            new DynamoDBClient({
              region: m.region,
              endpoint: m.scheduleEndpoint,
              credentials,
              maxAttempts: 3,
            }),
          );
          markers = markerTableFromSdk(lib, tables, m.scheduleTable);
          ops = opsTableFromSdk(lib, tables, m.opsTable);
          send({ type: "ready" });
          return;
        }
        if (!init || !iot || !doc || !markers || !ops) throw new Error("wave before init");
        // One pacer and port per wave, kept across its groups as a warm replay container keeps
        // them across invocations; a fresh one per wave (no ARNs cached from calibration).
        if (current?.waveId !== m.waveId)
          current = {
            waveId: m.waveId,
            // As the deployed replay function builds ARNs from its own (moto's account).
            port: iotPortFromSdk(iotSdk, iot, {
              knownArnPrefix: () =>
                iotArnPrefixOf(`arn:aws:lambda:${init!.region}:${DEFAULT_ACCOUNT}:function:bench-replay`),
            }) as IotRegistryPort,
            ...pacing(m, init, doc),
          };
        const { pacer, blocks, port } = current;
        const stats0 = pacer.stats();
        const blocks0 = blocks?.stats() ?? { blocks: 0, spent: 0 };
        const deps: ApplyDeps = {
          region: init.region,
          iot: port,
          pacer,
          table: ops,
          markers,
          clock: systemClock,
          logger: silentLogger,
          metrics: noMetrics,
        };
        const failed: [string, string][] = [];
        const writes0 = scheduleWrites;
        const cpu0 = process.cpuUsage();
        const loop = monitorEventLoopDelay({ resolution: 10 });
        loop.enable();
        await Promise.all(
          m.records.map(async (record) => {
            const why = await applyWithRetries(record, deps);
            if (why) failed.push([record.key, why]);
          }),
        );
        const cpu = process.cpuUsage(cpu0);
        loop.disable();
        const ms = (ns: number) => Math.round(ns / 1e5) / 10;
        send({
          type: "waveDone",
          id: m.id,
          failed,
          stats: statsSince(stats0, pacer.stats()),
          cpuMicros: cpu.user + cpu.system,
          scheduleWrites: scheduleWrites - writes0,
          blocks: {
            blocks: (blocks?.stats().blocks ?? 0) - blocks0.blocks,
            spent: (blocks?.stats().spent ?? 0) - blocks0.spent,
          },
          loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
        });
      } catch (err) {
        send({ type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    })();
  });
}

/** The pacer of a wave: through the shared schedule in blocks, alone (`localOnly`), or unpaced (calibration). */
function pacing(m: WorkerWave, init: WorkerInit, doc: lib.DynamoDBDocumentClient) {
  const rates = m.rates;
  const blocks =
    rates && !m.localOnly ? blockSlots(dynamoSlotStore(lib, doc, init.scheduleTable)) : undefined;
  const unlimited = Object.fromEntries(Object.keys(DEFAULT_IOT_QUOTAS).map((k) => [k, 1e6]));
  const pacer = rates
    ? createPacer({
        rates: { ...unlimited, ...rates },
        utilisation: m.utilisation,
        slots: blocks,
        transientAttempts: CALL_DEADLINES.replayIot.pacedAttempts,
      })
    : createPacer({ defaultRate: 1e6, rates: unlimited });
  return { pacer, blocks };
}

/** Per-API counters accrued between two snapshots of a pacer's stats. */
function statsSince(
  before: Record<string, ApiStats>,
  after: Record<string, ApiStats>,
): Record<string, ApiStats> {
  const zero: ApiStats = { calls: 0, throttles: 0, retries: 0, waitedMs: 0, lateStarts: 0 };
  return Object.fromEntries(
    Object.entries(after).map(([api, a]) => {
      const b = before[api] ?? zero;
      return [
        api,
        {
          calls: a.calls - b.calls,
          throttles: a.throttles - b.throttles,
          retries: a.retries - b.retries,
          waitedMs: a.waitedMs - b.waitedMs,
          lateStarts: a.lateStarts - b.lateStarts,
        },
      ];
    }),
  );
}

if (process.send && process.env.IOT_DR_BENCH_WORKER === "replay") main();
