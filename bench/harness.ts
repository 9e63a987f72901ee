/** Pieces every bench harness shares: a work pool and replay with the state machine's retries. */
import type { IotRegistryPort } from "../functions/registry/iotPort.js";
import { parseKey, type RegistryRecord } from "../functions/registry/records.js";
import { applyRecord, type ApplyDeps } from "../functions/replication/apply.js";
import { estimateCost, pacingWaitMs, type Workload } from "../functions/replication/costModel.js";
import { describeError } from "../functions/replication/errors.js";
import { DEFAULT_IOT_QUOTAS } from "../functions/replication/pacing.js";

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
