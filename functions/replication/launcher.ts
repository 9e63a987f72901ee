/**
 * The launcher: the ops-table stream's consumer in each region. It turns one stream batch into
 * dependency-ordered waves of registry records, runs them through the replay state machine
 * (Express, started synchronously) and answers Lambda with the sequence numbers that must be
 * retried (ReportBatchItemFailures), so that only failed records come back.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord, AttributeValue } from "aws-lambda";
import { fromItem, isRecordKey, replayWaves, type RegistryRecord } from "../registry/records.js";
import type { OpsTablePort, TableItem } from "../registry/table.js";
import type { ReplayBatchInput, ReplayEntry, ReplayEntryOutcome, ReplayGroupOutput } from "./stateMachine.js";
import type { Logger } from "../shared/observability.js";
import { matchesFilter, replayFilterPattern } from "./streamFilter.js";

/** What StartSyncExecution answers (the SDK output satisfies it). */
export interface SyncExecutionResult {
  status?: string;
  output?: string;
  error?: string;
  cause?: string;
}

export interface LauncherDeps {
  /** The region this launcher runs in: records that originated here are never replayed here. */
  region: string;
  startSyncExecution(input: ReplayBatchInput<RegistryRecord>): Promise<SyncExecutionResult>;
  logger: Logger;
  /**
   * Milliseconds left in this invocation (Lambda's context.getRemainingTimeInMillis); default
   * unlimited. A launch starts only while a whole Express execution still fits.
   */
  remainingTimeMs?: () => number;
  /**
   * This region's replica of the ops table, where a record that a replicated write replaced with an
   * older version is written back (see `regressionOf`). Deployed: always given (OPS_TABLE). Without
   * it such a stream record is reported failed, so the stream's retries and on-failure queue keep it.
   */
  opsTable?: Pick<OpsTablePort, "put">;
}

/** Longest a synchronous Express execution runs (5 minutes), plus room to answer the stream. */
export const LAUNCH_TIME_NEEDED_MS = 305_000;

export interface LaunchSummary {
  received: number;
  /** Dropped by the replay filter (own origin, removals, items that are not records). */
  filtered: number;
  /** Images that are not valid records; reported as failures so the stream's bounded retries and on-failure destination keep them. */
  malformed: number;
  /** Older images of a resource that appears again later in the same batch. */
  superseded: number;
  /**
   * Replicated writes that replaced a record with an older version (the global table's own last
   * writer, not the newer version, won): not replayed; the newer record was written back instead.
   */
  restored: number;
  applied: number;
  deadLettered: number;
  /** Transient failures handed back to the stream. */
  retryLater: number;
  /** Records without an outcome because the execution failed or could not start. */
  unprocessed: number;
}

export interface LaunchResult {
  response: DynamoDBBatchResponse;
  summary: LaunchSummary;
}

/** Converts a DynamoDB attribute value (the stream's wire format) to a plain value. */
export function fromAttributeValue(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) {
    const n = Number(value.N);
    if (!Number.isFinite(n)) throw new Error(`number attribute '${value.N}' is not finite`);
    return n;
  }
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  if (value.M !== undefined) return fromImage(value.M);
  if (value.L !== undefined) return value.L.map(fromAttributeValue);
  if (value.SS !== undefined) return [...value.SS];
  if (value.NS !== undefined) return value.NS.map(Number);
  throw new Error(`unsupported attribute value ${JSON.stringify(value)}`);
}

/** Converts a stream image (NewImage) to a plain item. */
export function fromImage(image: Record<string, AttributeValue>): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(image)) item[name] = fromAttributeValue(value);
  return item;
}

/** The registry record in a stream record's NewImage; throws with the reason when it is not one. */
export function recordOfStreamRecord(streamRecord: DynamoDBRecord): RegistryRecord {
  const image = streamRecord.dynamodb?.NewImage;
  if (!image) throw new Error("stream record has no NewImage (is the stream view NEW_AND_OLD_IMAGES?)");
  return fromItem(fromImage(image as Record<string, AttributeValue>));
}

/**
 * The newer record a stream record overwrote, when its NewImage carries an older version than its
 * OldImage; undefined otherwise. Capture and replay write the ops table only conditionally (newer
 * versions win), but across regions DynamoDB global tables settle concurrent writes by their own
 * write time: a region that captures late (events from before an outage, delivered after its
 * restore) writes an older version later than the other region wrote a newer one, and that older
 * write then replaces the newer record in both replicas. Such a write arrives here as a replicated
 * MODIFY whose old image is the newer record.
 */
export function regressionOf(streamRecord: DynamoDBRecord): TableItem | undefined {
  const oldImage = streamRecord.dynamodb?.OldImage;
  const newImage = streamRecord.dynamodb?.NewImage;
  if (streamRecord.eventName !== "MODIFY" || !oldImage || !newImage) return undefined;
  const before = fromImage(oldImage as Record<string, AttributeValue>);
  const after = fromImage(newImage as Record<string, AttributeValue>);
  if (typeof before.pk !== "string" || !isRecordKey(before.pk)) return undefined;
  if (typeof before.versionKey !== "string" || typeof after.versionKey !== "string") return undefined;
  return before.versionKey > after.versionKey ? before : undefined;
}

/** Waves of independent records of one kind, in dependency order (records.ts `replayWaves`). */
export function planWaves<T extends { record: RegistryRecord }>(entries: readonly T[]): T[][] {
  return replayWaves(entries, (entry) => entry.record);
}

/** What Step Functions accepts as execution input and keeps as state: 256 KiB of UTF-8. */
export const SFN_PAYLOAD_LIMIT_BYTES = 262_144;
/** Room left under the limit for what the outer Map adds around waves and outcomes. */
const PAYLOAD_MARGIN_BYTES = 8_192;
/**
 * What one record's outcome can take in the execution's output beyond its key and sequence number:
 * status, the replay result's actions, and an error name and cause (the replay function's message
 * is cut to MAX_TASK_ERROR_MESSAGE_CHARS and its stack to the error name, errors.ts
 * boundedTaskError; Lambda's own and Step Functions' causes are shorter).
 */
const OUTCOME_OVERHEAD_BYTES = 1_400;

const utf8Bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), "utf8");

/**
 * Splits waves into consecutive executions whose input and output each fit SFN_PAYLOAD_LIMIT_BYTES:
 * run one after the other, they keep the dependency order (a lower wave always ends before a higher
 * one starts). An entry too large for an execution of its own comes back in `oversized`.
 */
export function splitLaunches<R>(
  waves: readonly ReplayEntry<R>[][],
  limitBytes = SFN_PAYLOAD_LIMIT_BYTES,
): { launches: ReplayBatchInput<R>[]; oversized: ReplayEntry<R>[] } {
  const budget = limitBytes - PAYLOAD_MARGIN_BYTES;
  const launches: ReplayBatchInput<R>[] = [];
  const oversized: ReplayEntry<R>[] = [];
  let current: ReplayBatchInput<R> = { waves: [] };
  let inputBytes = 0;
  let outputBytes = 0;
  const flush = () => {
    if (current.waves.length > 0) launches.push(current);
    current = { waves: [] };
    inputBytes = 0;
    outputBytes = 0;
  };
  for (const wave of waves) {
    let open: ReplayEntry<R>[] | undefined;
    for (const entry of wave) {
      const input = utf8Bytes(entry) + 1;
      const key = (entry.record as { key?: string } | null)?.key ?? "";
      const output = OUTCOME_OVERHEAD_BYTES + utf8Bytes(entry.sequenceNumber) + 2 * utf8Bytes(key);
      if (input + 32 > budget || output > budget) {
        oversized.push(entry);
        continue;
      }
      if (inputBytes + input + 32 > budget || outputBytes + output > budget) {
        flush();
        open = undefined;
      }
      if (!open) {
        open = [];
        current.waves.push({ entries: open });
        inputBytes += 32; // {"entries":[]} and separators
      }
      open.push(entry);
      inputBytes += input;
      outputBytes += output;
    }
  }
  flush();
  return { launches, oversized };
}

/** The outcomes of an execution's output: waves of groups, each with what it applied and what went one by one. */
function parseOutcomes(output: string | undefined): ReplayEntryOutcome[] {
  const parsed: unknown = JSON.parse(output ?? "null");
  if (!Array.isArray(parsed)) throw new Error("execution output is not a list of waves");
  return (parsed.flat() as Partial<ReplayGroupOutput>[]).flatMap((g) => {
    if (!Array.isArray(g?.applied) || !Array.isArray(g?.retried))
      throw new Error("execution output: a group without its applied and retried lists");
    return [...g.applied, ...g.retried];
  });
}

function emptySummary(received: number): LaunchSummary {
  return {
    received,
    filtered: 0,
    malformed: 0,
    superseded: 0,
    restored: 0,
    applied: 0,
    deadLettered: 0,
    retryLater: 0,
    unprocessed: 0,
  };
}

/** Handles one stream batch; never throws for a bad record or a failed execution, it reports them. */
export async function launchReplay(
  event: { Records?: DynamoDBRecord[] },
  deps: LauncherDeps,
): Promise<LaunchResult> {
  const records = event.Records ?? [];
  const summary = emptySummary(records.length);
  const pattern = replayFilterPattern(deps.region);
  const failed = new Set<string>();
  // Latest entry per resource key; the stream delivers one key's changes in order.
  const latest = new Map<string, ReplayEntry<RegistryRecord>>();
  const supersededBy = new Map<string, string>();
  const order: string[] = [];

  for (const streamRecord of records) {
    const sequenceNumber = streamRecord.dynamodb?.SequenceNumber;
    if (!sequenceNumber) {
      // Cannot be reported per item without a sequence number, and cannot be applied: log and drop.
      deps.logger.error("stream record without a sequence number", { eventID: streamRecord.eventID });
      summary.malformed++;
      continue;
    }
    order.push(sequenceNumber);
    if (!matchesFilter(pattern, streamRecord)) {
      summary.filtered++;
      continue;
    }
    const newer = regressionOf(streamRecord);
    if (newer) {
      // Replaying the older image would undo the newer change here too. Writing the newer record
      // back (only while the replica still holds something older) makes it the last writer again,
      // so the global table carries it to both regions, and the other region's replay applies it.
      const log = {
        sequenceNumber,
        key: newer.pk,
        restored: newer.versionKey,
        replacedBy: fromImage(streamRecord.dynamodb!.NewImage as Record<string, AttributeValue>).versionKey,
      };
      if (!deps.opsTable) {
        deps.logger.error("an older version replaced a newer record, and no ops table to restore it", log);
        failed.add(sequenceNumber);
        continue;
      }
      try {
        const written = await deps.opsTable.put(newer, { ifVersionBelow: String(newer.versionKey) });
        deps.logger.warn(
          written
            ? "an older version replaced a newer record; the newer record is written back"
            : "an older version replaced a newer record; a newer one is already there",
          log,
        );
        summary.restored++;
      } catch (err) {
        deps.logger.error("could not write back the newer record; the stream retries", {
          ...log,
          reason: err instanceof Error ? err.message : String(err),
        });
        failed.add(sequenceNumber);
      }
      continue;
    }
    let record: RegistryRecord;
    try {
      record = recordOfStreamRecord(streamRecord);
    } catch (err) {
      summary.malformed++;
      failed.add(sequenceNumber);
      deps.logger.error("malformed ops-table image", {
        sequenceNumber,
        key: streamRecord.dynamodb?.Keys?.pk?.S,
        reason: err instanceof Error ? err.message : String(err),
      });
      continue;
    }
    const previous = latest.get(record.key);
    if (previous) {
      supersededBy.set(previous.sequenceNumber, sequenceNumber);
      summary.superseded++;
    }
    latest.set(record.key, { sequenceNumber, record });
  }

  const entries = [...latest.values()];
  const statusOf = new Map<string, ReplayEntryOutcome["status"] | "unprocessed">();
  if (entries.length > 0) {
    const { launches, oversized } = splitLaunches(planWaves(entries));
    for (const entry of oversized) {
      deps.logger.error("record too large for a replay execution; it goes back to the stream", {
        sequenceNumber: entry.sequenceNumber,
        key: entry.record.key,
        bytes: utf8Bytes(entry),
        limitBytes: SFN_PAYLOAD_LIMIT_BYTES,
      });
    }
    for (const [index, input] of launches.entries()) {
      if (index > 0 && deps.remainingTimeMs && deps.remainingTimeMs() < LAUNCH_TIME_NEEDED_MS) {
        // Not enough time for another execution: its records and the later ones go back to the stream.
        deps.logger.warn("no time left for another replay execution; the rest goes back to the stream", {
          executions: launches.length,
          started: index,
          remainingMs: deps.remainingTimeMs(),
        });
        break;
      }
      try {
        const result = await deps.startSyncExecution(input);
        if (result.status !== "SUCCEEDED") {
          throw new Error(
            `execution ${result.status ?? "without status"}: ${result.error ?? ""} ${result.cause ?? ""}`.trim(),
          );
        }
        for (const outcome of parseOutcomes(result.output)) {
          statusOf.set(outcome.sequenceNumber, outcome.status);
          if (outcome.status !== "applied") {
            deps.logger.warn("record not applied", {
              sequenceNumber: outcome.sequenceNumber,
              key: outcome.key,
              status: outcome.status,
              error: outcome.error,
              cause: outcome.cause,
            });
          }
        }
      } catch (err) {
        // Later launches hold higher waves that depend on this one: they go back to the stream too.
        const left = launches
          .slice(index)
          .reduce((a, l) => a + l.waves.reduce((b, w) => b + w.entries.length, 0), 0);
        deps.logger.error("replay execution failed; its records and the later ones go back to the stream", {
          records: left,
          execution: index + 1,
          executions: launches.length,
          reason: err instanceof Error ? err.message : String(err),
        });
        break;
      }
    }
    for (const { sequenceNumber, record } of entries) {
      const status = statusOf.get(sequenceNumber) ?? "unprocessed";
      summary[status]++;
      if (status === "retryLater" || status === "unprocessed") failed.add(sequenceNumber);
      if (status === "applied") {
        deps.logger.info("record replayed", {
          key: record.key,
          version: record.version,
          sequenceNumber,
        });
      }
    }
  }
  // A superseded image shares the fate of the image that replaced it.
  for (const [older, newer] of supersededBy) {
    let head = newer;
    while (supersededBy.has(head)) head = supersededBy.get(head)!;
    if (failed.has(head)) failed.add(older);
  }
  const batchItemFailures = order.filter((s) => failed.has(s)).map((itemIdentifier) => ({ itemIdentifier }));
  return { response: { batchItemFailures }, summary };
}
