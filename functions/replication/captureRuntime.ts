/**
 * The deployed capture function, built from environment variables and the modules the callback adapter in
 * infra/ `require()`s inside its body (nothing is imported here at run time). Every variable is
 * read and checked once, and a wrong one is named. One module per function: a callback's archive
 * carries what its module references.
 */
import type * as IotSdk from "@aws-sdk/client-iot";
import type * as DynamoSdk from "@aws-sdk/client-dynamodb";
import type * as DocSdk from "@aws-sdk/lib-dynamodb";
import { CALL_DEADLINES, sdkClientOptions } from "../deadlines.js";
import { iotPortFromSdk } from "../registry/iotPort.js";
import { markerTableFromSdk, opsTableFromSdk } from "../registry/table.js";
import { integer, optionalJson, required, type Env } from "../shared/env.js";
import { captureDelivery, type CaptureOutcome } from "./capture.js";
import { CAPTURE_TOPIC_FIELD } from "./deadLetter.js";
import { captureBatch, isSqsEvent, type SQSBatchResponse } from "./captureQueue.js";
import { CAPTURE_UTILISATION, captureShareRates } from "./captureSizing.js";
import type { Logger } from "../shared/observability.js";
import { createPacer, systemClock, type Clock, type Pacer } from "./pacing.js";
import {
  CAPTURE_GUARD_WINDOW_MS,
  createSendGuard,
  guardSends,
  type GuardableClient,
  type SendGuard,
} from "./sendGuard.js";
import { atReplicationLogLevel, replicationLogLevelFromEnv } from "./observability.js";

/** The SDK modules capture and replay build their clients from. */
export interface RegistryModules {
  iot: typeof IotSdk;
  dynamodb: typeof DynamoSdk;
  libDynamodb: typeof DocSdk;
  logger: Logger;
}

const RATES_HINT = 'the JSON IoT API rates per second, e.g. {"CreateThing":100}';

/**
 * A capture container's IoT: the SDK client (one attempt; the pacer owns every retry, each at a new
 * start of the share) behind the pacer at the container's shares of the read quotas, and the send
 * guard at the client's wire end, which holds a request while a share of its API's requests could
 * still arrive at IoT within a second of it, however long the wire takes (sendGuard.ts).
 */
export function captureIot(
  iot: typeof IotSdk,
  rates: Record<string, number>,
  shares: Record<string, number>,
  clock: Clock = systemClock,
): { client: IotSdk.IoTClient; pacer: Pacer; guard: SendGuard } {
  const client = new iot.IoTClient(sdkClientOptions("captureIot"));
  const guard = createSendGuard({ limits: shares, windowMs: CAPTURE_GUARD_WINDOW_MS, clock });
  guardSends(client as unknown as GuardableClient, guard);
  const pacer = createPacer({
    rates: { ...rates, ...shares },
    utilisation: CAPTURE_UTILISATION,
    maxLateMs: 25,
    transientAttempts: CALL_DEADLINES.captureIot.pacedAttempts,
    clock,
  });
  return { client, pacer, guard };
}

/**
 * The capture function: a batch from the capture queue (SQS event source mapping; the failed
 * messages come back as batch item failures), or, invoked directly, a registry event from an IoT
 * rule (its topic under CAPTURE_TOPIC_FIELD) or a CloudTrail API call from the EventBridge rule.
 * Environment: AWS_REGION, OPS_TABLE, MARKER_TABLE, IOT_API_RATES (JSON, optional),
 * TOMBSTONE_RETENTION_DAYS (default 30), CAPTURE_CONTAINERS (the mapping's maximumConcurrency:
 * each container paces its reads at floor(quota / containers); default 1, the whole quota),
 * REPLICATION_LOG_LEVEL (WARN or INFO; default WARN: no per-record INFO line).
 */
export function captureFromEnv(
  env: Env,
  m: RegistryModules,
): (event: Record<string, unknown>) => Promise<CaptureOutcome[] | SQSBatchResponse> {
  const region = required(env, "AWS_REGION", "set by Lambda");
  const opsTable = required(env, "OPS_TABLE", "the ops table's name");
  const markerTable = required(env, "MARKER_TABLE", "the applied-markers table's name");
  const rates = optionalJson<Record<string, number>>(env, "IOT_API_RATES", RATES_HINT, {});
  const tombstoneRetentionDays = integer(env, "TOMBSTONE_RETENTION_DAYS", 30);
  const containers = integer(env, "CAPTURE_CONTAINERS", 1);
  const logger = atReplicationLogLevel(m.logger, replicationLogLevelFromEnv(env));
  let shares: Record<string, number>;
  try {
    shares = captureShareRates(rates, containers);
  } catch (err) {
    throw new Error(`environment variables IOT_API_RATES and CAPTURE_CONTAINERS: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const doc = m.libDynamodb.DynamoDBDocumentClient.from(
    new m.dynamodb.DynamoDBClient(sdkClientOptions("table")),
  );
  // Every container at its share of each read quota, so all of them together stay inside it.
  const paced = captureIot(m.iot, rates, shares);
  const deps = {
    region,
    iot: iotPortFromSdk(m.iot, paced.client),
    pacer: paced.pacer,
    table: opsTableFromSdk(m.libDynamodb, doc, opsTable, { tombstoneRetentionDays }),
    markers: markerTableFromSdk(m.libDynamodb, doc, markerTable),
    clock: systemClock,
    logger,
  };
  return async (event) => {
    if (isSqsEvent(event)) return captureBatch(event, (d) => captureDelivery(d, deps), logger);
    // A CloudTrail API call from the EventBridge rule.
    if (event["detail-type"] !== undefined) return captureDelivery(event, deps);
    // Not a computed-key destructuring: Pulumi's closure analysis misses the key's variable there.
    const payload: Record<string, unknown> = { ...event };
    const topic = payload[CAPTURE_TOPIC_FIELD];
    delete payload[CAPTURE_TOPIC_FIELD];
    return captureDelivery({ topic: String(topic), payload }, deps);
  };
}
