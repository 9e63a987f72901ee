/** The work of `iot-dr replay` (cli/commands/replay.ts): event files through capture and replay. */
import { readFile } from "node:fs/promises";
import * as iotSdk from "@aws-sdk/client-iot";
import * as lib from "@aws-sdk/lib-dynamodb";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { UsageError } from "../errors.js";
import { awsClient } from "../aws.js";
import { iotPortFromSdk, type IotRegistryPort } from "../../functions/registry/iotPort.js";
import {
  getRecord,
  memoryOpsTable,
  opsTableFromSdk,
  type OpsTablePort,
} from "../../functions/registry/table.js";
import { applyRecord, type ApplyDeps } from "../../functions/replication/apply.js";
import { captureDelivery, type RegistryEventMessage } from "../../functions/replication/capture.js";
import { isCloudTrailEvent, type CloudTrailApiCallEvent } from "../../functions/replication/cloudTrail.js";
import { describeError } from "../../functions/replication/errors.js";
import { jsonLogger, noMetrics, silentLogger } from "../../functions/shared/observability.js";
import { createPacer, systemClock } from "../../functions/replication/pacing.js";

export interface ReplayCommandDeps {
  iot(region: string): IotRegistryPort;
  table(name: string, region: string): OpsTablePort;
  readFile(path: string): Promise<string>;
  stdout(text: string): void;
  stderr(text: string): void;
}

export const defaultReplayDeps = (): ReplayCommandDeps => ({
  iot: (region) => iotPortFromSdk(iotSdk, awsClient(iotSdk.IoTClient, "iot", region)),
  table: (name, region) =>
    opsTableFromSdk(lib, lib.DynamoDBDocumentClient.from(awsClient(DynamoDBClient, "table", region)), name),
  // `--events -`: the event lines come from stdin.
  readFile: (path) => (path === "-" ? text(process.stdin) : readFile(path, "utf8")),
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
});

/** All of a stream as UTF-8 text. */
export async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

export interface ReplaySummary {
  read: number;
  applied: number;
  unchanged: number;
  failed: { key: string; error: string }[];
}

/** One delivery of an event file: a registry event message or a CloudTrail API-call event. */
export type EventDelivery = RegistryEventMessage | CloudTrailApiCallEvent;

/** What a file entry must be, for the error of one that is neither. */
export const EXPECTED_ENTRY =
  'expected a registry event {"topic": "$aws/events/...", "payload": {...}} or an EventBridge CloudTrail event {"detail-type": "AWS API Call via CloudTrail", "detail": {...}}';

export function entryOf(value: unknown): EventDelivery | string {
  if (isCloudTrailEvent(value))
    return typeof value.detail === "object" && value.detail !== null
      ? value
      : "CloudTrail event without a 'detail' object";
  const v = value as Partial<RegistryEventMessage> | null;
  if (
    !v ||
    typeof v !== "object" ||
    typeof v.topic !== "string" ||
    !v.payload ||
    typeof v.payload !== "object"
  )
    return EXPECTED_ENTRY;
  return { topic: v.topic, payload: v.payload };
}

/**
 * Reads an event file: JSON Lines, or one JSON array (the file's first character is '['). Returns
 * the deliveries with their line (JSON Lines) or 1-based item number (array) and the malformed ones' problems.
 */
export function parseEventLines(text: string): {
  messages: { line: number; message: EventDelivery }[];
  malformed: { line: number; error: string }[];
} {
  const messages: { line: number; message: EventDelivery }[] = [];
  const malformed: { line: number; error: string }[] = [];
  const take = (line: number, value: unknown) => {
    const entry = entryOf(value);
    if (typeof entry === "string") malformed.push({ line, error: entry });
    else messages.push({ line, message: entry });
  };
  if (text.trimStart().startsWith("[")) {
    let items: unknown;
    try {
      items = JSON.parse(text);
    } catch (err) {
      malformed.push({ line: 1, error: `not a JSON array (${(err as Error).message})` });
      return { messages, malformed };
    }
    (items as unknown[]).forEach((item, i) => take(i + 1, item));
    return { messages, malformed };
  }
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      malformed.push({ line, error: `not JSON (${(err as Error).message})` });
      return;
    }
    take(line, value);
  });
  return { messages, malformed };
}

export async function runReplay(
  options: {
    events: string;
    sourceRegion: string;
    targetRegion: string;
    table?: string;
    markerTable?: string;
    verbose?: boolean;
  },
  deps: ReplayCommandDeps,
): Promise<ReplaySummary> {
  let text: string;
  try {
    text = await deps.readFile(options.events);
  } catch (err) {
    throw new UsageError(`cannot read --events ${options.events}: ${(err as Error).message}`);
  }
  const { messages, malformed } = parseEventLines(text);
  const summary: ReplaySummary = {
    read: messages.length + malformed.length,
    applied: 0,
    unchanged: 0,
    failed: [],
  };
  for (const m of malformed) {
    deps.stderr(`line ${m.line}: skipped: ${m.error}\n`);
    summary.failed.push({ key: `line:${m.line}`, error: m.error });
  }
  const table = options.table ? deps.table(options.table, options.targetRegion) : memoryOpsTable();
  const logger = options.verbose ? jsonLogger((l) => deps.stderr(l + "\n")) : silentLogger;
  const captureDeps = {
    region: options.sourceRegion,
    iot: deps.iot(options.sourceRegion),
    table,
    clock: systemClock,
    logger,
  };
  const applyDeps: ApplyDeps = {
    region: options.targetRegion,
    iot: deps.iot(options.targetRegion),
    pacer: createPacer(),
    table,
    ...(options.markerTable ? { markers: deps.table(options.markerTable, options.targetRegion) } : {}),
    clock: systemClock,
    logger,
    metrics: noMetrics,
  };
  const retry: string[] = [];
  const apply = async (key: string, final: boolean) => {
    const record = await getRecord(table, key);
    if (!record) return;
    try {
      const out = await applyRecord(record, applyDeps);
      if (out.outcome === "applied") summary.applied++;
      else summary.unchanged++;
    } catch (err) {
      const e = describeError(err);
      if (!final && e.name === "DependencyNotReady") retry.push(key);
      else {
        deps.stderr(`${key}: ${e.name}: ${e.message}\n`);
        summary.failed.push({ key, error: `${e.name}: ${e.message}` });
      }
    }
  };
  for (const { line, message } of messages) {
    let touched: string[];
    try {
      touched = (await captureDelivery(message, captureDeps)).map((o) => o.key);
    } catch (err) {
      const e = describeError(err);
      deps.stderr(`line ${line}: ${e.name}: ${e.message}\n`);
      summary.failed.push({ key: `line:${line}`, error: `${e.name}: ${e.message}` });
      continue;
    }
    // The record now current for each key is applied, whoever wrote it.
    for (const key of touched) await apply(key, false);
  }
  // Events may come before the events of what they depend on: one more pass for those.
  for (const key of [...new Set(retry)]) await apply(key, true);
  return summary;
}
