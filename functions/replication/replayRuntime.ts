/**
 * The deployed replay task, built from environment variables and the modules the callback adapter in
 * infra/ `require()`s inside its body (nothing is imported here at run time). Every variable is
 * read and checked once, and a wrong one is named. One module per function: a callback's archive
 * carries what its module references.
 */
import { CALL_DEADLINES, sdkClientOptions } from "../deadlines.js";
import { iotArnPrefixOf, iotPortFromSdk } from "../registry/iotPort.js";
import type { RegistryRecord } from "../registry/records.js";
import { markerTableFromSdk, opsTableFromSdk } from "../registry/table.js";
import { optionalJson, required, type Env } from "../shared/env.js";
import { replayHandler, type ReplayOutcome } from "./apply.js";
import type { RegistryModules } from "./captureRuntime.js";
import type { PublishingMetrics } from "../shared/observability.js";
import { replayReadRates } from "./captureSizing.js";
import { createPacer } from "./pacing.js";
import { systemClock } from "../shared/clock.js";
import { blockSlots, dynamoSlotStore } from "./sharedPacing.js";
import type { ReplayEntry, ReplayGroupInput, ReplayGroupResult } from "./stateMachine.js";
import { atReplicationLogLevel, replicationLogLevelFromEnv } from "./observability.js";

/** What the replay function is handed: a group of a wave, or one record on the per-record path. */
export type ReplayInput = ReplayEntry<RegistryRecord> | ReplayGroupInput<RegistryRecord>;
export type ReplayResult = ReplayOutcome | ReplayGroupResult<RegistryRecord>;

/**
 * The replay task (a group of records, or one record on the per-record path). Environment: AWS_REGION,
 * OPS_TABLE, MARKER_TABLE (also the shared pacing schedule), IOT_API_RATES (JSON, optional),
 * REPLICATION_LOG_LEVEL (WARN or INFO; default WARN: no per-record INFO line).
 */
export function replayFromEnv(
  env: Env,
  m: RegistryModules & { metrics: PublishingMetrics },
): (input: ReplayInput, context?: { invokedFunctionArn?: string }) => Promise<ReplayResult> {
  const region = required(env, "AWS_REGION", "set by Lambda");
  const opsTable = required(env, "OPS_TABLE", "the ops table's name");
  const markerTable = required(env, "MARKER_TABLE", "the applied-markers table's name");
  const iotApiRates = optionalJson<Record<string, number>>(
    env,
    "IOT_API_RATES",
    'the JSON IoT API rates per second, e.g. {"CreateThing":100}',
    {},
  );
  const logger = atReplicationLogLevel(m.logger, replicationLogLevelFromEnv(env));
  // DescribeThing is shared with capture in this region: replay paces at what capture leaves.
  let rates: Record<string, number>;
  try {
    rates = replayReadRates(iotApiRates);
  } catch (err) {
    throw new Error(`environment variable IOT_API_RATES: ${(err as Error).message}`, { cause: err });
  }
  const doc = m.libDynamodb.DynamoDBDocumentClient.from(
    new m.dynamodb.DynamoDBClient(sdkClientOptions("table")),
  );
  let arnPrefix: string | undefined;
  const task = replayHandler({
    region,
    // Attachments need ARNs: built from the function's own account and region (its ARN in the
    // invocation's context), so a cold container sends no describe outside the pacer for them.
    iot: iotPortFromSdk(m.iot, new m.iot.IoTClient(sdkClientOptions("replayIot")), {
      knownArnPrefix: () => arnPrefix,
    }),
    // Every replay function in the region (all waves, batches and shards) reserves its
    // IoT calls in one schedule per API, so together they stay inside the account's quota; the
    // client makes one attempt and the pacer every retry, each at a new start.
    pacer: createPacer({
      rates,
      // Each container reserves blocks of starts, one write per block (cost), and spends them itself.
      slots: blockSlots(dynamoSlotStore(m.libDynamodb, doc, markerTable)),
      transientAttempts: CALL_DEADLINES.replayIot.pacedAttempts,
    }),
    table: opsTableFromSdk(m.libDynamodb, doc, opsTable),
    markers: markerTableFromSdk(m.libDynamodb, doc, markerTable),
    clock: systemClock,
    logger,
    metrics: m.metrics,
  });
  return async (input, context) => {
    arnPrefix ??= iotArnPrefixOf(context?.invokedFunctionArn);
    try {
      return await task(input);
    } finally {
      m.metrics.publishStoredMetrics();
    }
  };
}
