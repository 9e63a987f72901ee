/** Pieces every bench harness shares: a work pool and replay with the state machine's retries. */
import { loadavg } from "node:os";
import type { IotRegistryPort } from "../functions/registry/iotPort.js";
import { parseKey, type RegistryRecord } from "../functions/registry/records.js";
import { applyRecord, type ApplyDeps } from "../functions/replication/apply.js";
import { estimateCost, pacingWaitMs, type Workload } from "../functions/replication/costModel.js";
import { describeError } from "../functions/replication/errors.js";
import { createPacer, DEFAULT_IOT_QUOTAS, systemClock } from "../functions/replication/pacing.js";
import type { MarkerTablePort } from "../functions/registry/table.js";
import { noMetrics, silentLogger } from "../functions/shared/observability.js";
import { CALIBRATION_OPS, MIX, buildBacklog, type Backlog } from "./backlog.js";

/** Runs `work` over `items`, `concurrency` at a time. */
export async function pool<T>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

/**
 * Applies a record with the state machine's retries: Throttled, DependencyNotReady and transient
 * faults (moto answers a request it raced on with a 500 page) go again with a pause. Returns why it
 * still failed (it would be dead-lettered with that reason, not lost), or undefined once applied.
 */
export async function applyWithRetries(record: RegistryRecord, deps: ApplyDeps): Promise<string | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      await applyRecord(record, deps);
      return undefined;
    } catch (err) {
      const e = describeError(err);
      if (attempt >= 6 || e.name === "InvalidRecord") return `${e.name}: ${e.message}`;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

/**
 * Keys of records whose desired state is not in the target (through `port`, unpaced): neither
 * applied nor in `failed` (dead-lettered with a reason), so lost.
 */
export async function lostRecords(
  records: RegistryRecord[],
  failed: Map<string, string>,
  port: IotRegistryPort,
): Promise<Set<string>> {
  const lostKeys = new Set<string>();
  await pool(records, 16, async (r) => {
    if (failed.has(r.key)) return;
    const s = r.state as Record<string, unknown> | null;
    let ok = true;
    const key = parseKey(r.key);
    if (key.kind === "thing") ok = ((await port.describeThing(key.name)) !== null) === (s !== null);
    else if (r.kind === "thingGroup") ok = (await port.describeThingGroup(String(s!.name))) !== null;
    else if (r.kind === "policy") ok = (await port.getPolicy(String(s!.name))) !== null;
    else if (r.kind === "certificate")
      ok = (await port.describeCertificate(String(s!.certificateId)))?.status === s!.status;
    else if (r.kind === "membership")
      ok = (await port.listThingGroupsForThing(String(s!.thingName))).includes(String(s!.groupName));
    else if (r.kind === "principal")
      ok = (await port.listThingPrincipals(String(s!.thingName))).includes(String(s!.certificateId));
    else if (r.kind === "policyTarget")
      ok = (await port.listAttachedPolicies(s!.target as never)).includes(String(s!.policyName));
    if (!ok) lostKeys.add(r.key);
  });
  return lostKeys;
}

/**
 * What a backlog of `counts` (operations per write API) costs per million while it drains at AWS's
 * quotas with `functionsInFlight` replay functions at once: each waits for its pacer between
 * operations (costModel.ts pacingWaitMs), averaged over the mix.
 */
export function drainingCost(
  measured: Workload,
  counts: Record<string, number>,
  functionsInFlight: number,
): { pacingWaitMs: number; pipelinePerMillion: number } {
  let weighted = 0;
  let n = 0;
  for (const [api, count] of Object.entries(counts)) {
    const quota = DEFAULT_IOT_QUOTAS[api as keyof typeof DEFAULT_IOT_QUOTAS];
    if (!quota) continue;
    weighted += count * pacingWaitMs(measured, quota, functionsInFlight);
    n += count;
  }
  const wait = n > 0 ? weighted / n : 0;
  return {
    pacingWaitMs: Math.round(wait * 10) / 10,
    pipelinePerMillion:
      Math.round(estimateCost({ ...measured, pacingWaitMs: wait }).pipelinePerMillion * 100) / 100,
  };
}

/** One IoT API's line in a replay bench report. */
export interface ApiReport {
  api: string;
  awsQuota: number;
  emulatedQuota: number;
  calls: number;
  achievedTps: number;
  /** achieved / emulated quota */
  utilisation: number;
  throttles: number;
  retries: number;
}

/** What every replay bench (one process or several workers) reports about its run. */
export interface ReplayRunReport {
  ops: number;
  /** Neither applied nor dead-lettered: must be 0. */
  lost: number;
  /** Still failing after the state machine's retries: would sit in the dead-letter queue with the reason. */
  deadLettered: number;
  deadLetterReasons: Record<string, number>;
  deadLetterSample: string[];
  durationSeconds: number;
  /** Quota scale factor of each wave (groups/policies/certificates, things, attachments, deletes). */
  scales: number[];
  /** Calls/s moto served of each wave's own calls right before it (the wave's scale was fitted to it); empty with --scale. */
  motoCallsPerSecondByWave: number[];
  apis: ApiReport[];
  cpuMsPerOp: number;
  iotCallsPerOp: number;
  /** 1-minute load average of this machine at the start, the end, and the highest seen during the run. */
  loadAverage: { start: number; end: number; max: number };
}

/** Where the backlog's replay runs: its region and that region's marker table. */
export interface ReplayTarget {
  region: string;
  /** Where replay leaves its applied markers; none for a region where the seeds are made, not replayed. */
  markers?: MarkerTablePort;
}

/**
 * The measured backlog of `ops` records and, unless `scale` fixes the quotas, a calibration backlog
 * (the same mix on other names, "c…"), with what their updates and deletes act on created through
 * `port` before the clock starts.
 */
export async function prepareBacklogs(
  port: IotRegistryPort,
  ops: number,
  scale: number | undefined,
  target: ReplayTarget,
) {
  const backlog = buildBacklog(ops, Date.now());
  const calibration = calibrationBacklog(ops, scale);
  await seedBacklogs(port, calibration ? [backlog, calibration] : [backlog], target);
  return { backlog, calibration, records: backlog.waves.flat() };
}

function calibrationBacklog(ops: number, scale: number | undefined): Backlog | undefined {
  return scale === undefined
    ? buildBacklog(Math.min(CALIBRATION_OPS, ops), Date.now(), "us-east-1", "c")
    : undefined;
}

/**
 * What the backlog's updates and deletes act on. The certificates whose status the backlog changes
 * came to this region through replay earlier, as a standby's do: replicated by the deployed replay
 * (unpaced), so the marker table holds what replay leaves behind (apply.ts reads a certificate
 * first only where it has a marker).
 */
export async function seedBacklogs(
  port: IotRegistryPort,
  backlogs: Backlog[],
  target: ReplayTarget,
): Promise<void> {
  const deps: ApplyDeps = {
    region: target.region,
    iot: port,
    pacer: createPacer({ rates: {}, defaultRate: 1e6, utilisation: 1 }),
    markers: target.markers,
    clock: systemClock,
    logger: silentLogger,
    metrics: noMetrics,
  };
  for (const b of backlogs) {
    await pool(b.seed.things, 8, (t) => port.createThing({ name: t, attributes: {} }));
    await pool(b.seed.deleteThings, 8, (t) => port.createThing({ name: t, attributes: {} }));
    await pool(b.seed.certs, 8, async (record) => void (await applyRecord(record, deps)));
  }
}

const awsQuota = (api: string) => DEFAULT_IOT_QUOTAS[api as keyof typeof DEFAULT_IOT_QUOTAS] ?? 10;

/**
 * A wave's quota scale: its calls at AWS's quotas fitted to 85 % of what moto served of the same
 * calls (`motoCps`), rounded down to 0.001, at most 1 (waves never overlap).
 */
export function fitScale(backlog: Backlog, wave: number, motoCps: number): number {
  const callRate = MIX.filter((m) => backlog.waveOf[m.api] === wave).reduce(
    (a, m) => a + DEFAULT_IOT_QUOTAS[m.api] * m.callsPerOp,
    0,
  );
  return Math.min(1, Math.floor(((0.85 * motoCps) / callRate) * 1000) / 1000);
}

/** An API's emulated quota at `scale`: whole calls per second, at least 1. */
export const scaledQuota = (api: string, scale: number): number =>
  Math.max(1, Math.floor(awsQuota(api) * scale));

/** `rate(api)` for every API of the quota table. */
export const ratesOf = (rate: (api: string) => number): Record<string, number> =>
  Object.fromEntries(Object.keys(DEFAULT_IOT_QUOTAS).map((k) => [k, rate(k)]));

/** Samples this machine's 1-minute load average every 5 s until `stop()`. */
export function sampleLoad(): { stop(): ReplayRunReport["loadAverage"] } {
  const load = { start: loadavg()[0], end: 0, max: loadavg()[0] };
  // unref: a failed run must still let the process exit.
  const sampler = setInterval(() => (load.max = Math.max(load.max, loadavg()[0])), 5000).unref();
  return {
    stop() {
      clearInterval(sampler);
      load.end = loadavg()[0];
      load.max = Math.max(load.max, load.end);
      const r2 = (x: number) => Math.round(x * 100) / 100;
      return { start: r2(load.start), end: r2(load.end), max: r2(load.max) };
    },
  };
}

/** The dead-letter part of a report: how many, how many per error name, and three examples. */
function deadLetters(
  failed: Map<string, string>,
): Pick<ReplayRunReport, "deadLettered" | "deadLetterReasons" | "deadLetterSample"> {
  const reasons: Record<string, number> = {};
  for (const why of failed.values()) {
    const name = why.split(":")[0];
    reasons[name] = (reasons[name] ?? 0) + 1;
  }
  return {
    deadLettered: failed.size,
    deadLetterReasons: reasons,
    deadLetterSample: [...failed.entries()].slice(0, 3).map(([k, v]) => `${k}: ${v}`),
  };
}

/** One API's line; rates only mean something for an API with an emulated quota (a wave's own). */
export function apiReport(
  api: string,
  quota: number | undefined,
  c: { calls: number; achievedTps: number; throttles: number; retries: number },
): ApiReport {
  return {
    api,
    awsQuota: awsQuota(api),
    emulatedQuota: quota ?? 0,
    calls: c.calls,
    achievedTps: quota ? Math.round(c.achievedTps * 100) / 100 : 0,
    utilisation: quota ? Math.round((c.achievedTps / quota) * 1000) / 1000 : 0,
    throttles: c.throttles,
    retries: c.retries,
  };
}

/** The per-API table of a replay bench's text report. */
export const formatApiTable = (apis: ApiReport[]): string[] => [
  "api                              quota  emulated  calls  achieved/s  util   throttles  retries",
  ...apis.map(
    (a) =>
      `${a.api.padEnd(32)} ${String(a.awsQuota).padStart(5)} ${a.emulatedQuota.toFixed(2).padStart(9)} ${String(a.calls).padStart(6)} ${a.achievedTps.toFixed(2).padStart(11)} ${(a.utilisation * 100).toFixed(0).padStart(4)}% ${String(a.throttles).padStart(10)} ${String(a.retries).padStart(8)}`,
  ),
];

/** What a replay bench run measured, rounded for its report. */
export function runReport(
  records: number,
  lostKeys: Set<string>,
  failed: Map<string, string>,
  m: {
    durationSeconds: number;
    scales: number[];
    motoByWave: number[];
    apis: ApiReport[];
    cpuMicros: number;
    loadAverage: ReplayRunReport["loadAverage"];
  },
): ReplayRunReport {
  const calls = m.apis.reduce((a, x) => a + x.calls, 0);
  return {
    ops: records,
    lost: lostKeys.size,
    ...deadLetters(failed),
    durationSeconds: Math.round(m.durationSeconds * 10) / 10,
    scales: m.scales,
    motoCallsPerSecondByWave: m.motoByWave,
    apis: m.apis,
    cpuMsPerOp: Math.round((m.cpuMicros / 1000 / records) * 1000) / 1000,
    iotCallsPerOp: Math.round((calls / records) * 100) / 100,
    loadAverage: m.loadAverage,
  };
}
