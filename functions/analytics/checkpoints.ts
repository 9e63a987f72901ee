/**
 * Health checkpoints of the analytics account in one region, as probes the health API's checkpoint
 * framework runs (functions/health/probes.ts: a probe resolves when the dependency works and
 * rejects with the reason when it does not). `probeOutcome` turns one into `{ ok, detail }`.
 */
import type * as EventBridgeSdk from "@aws-sdk/client-eventbridge";
import type * as KinesisSdk from "@aws-sdk/client-kinesis";
import type * as SqsSdk from "@aws-sdk/client-sqs";

export type Probe = (signal: AbortSignal) => Promise<void>;

export interface ProbeOutcome {
  ok: boolean;
  detail?: string;
}

/** Runs a probe and reports `{ ok, detail }` instead of rejecting. */
export async function probeOutcome(
  probe: Probe,
  signal: AbortSignal = new AbortController().signal,
): Promise<ProbeOutcome> {
  try {
    await probe(signal);
    return { ok: true };
  } catch (err) {
    const e = err as { name?: string; message?: string };
    return { ok: false, detail: `${e?.name ?? "Error"}: ${e?.message ?? String(err)}`.slice(0, 300) };
  }
}

/** A failed checkpoint (a named plain Error: deployed code cannot rely on Error subclasses). */
export const checkpointFailed = (message: string): Error =>
  Object.assign(new Error(message), { name: "CheckpointFailed" });

export interface AnalyticsPorts {
  /** Resolves when the bus exists. */
  describeEventBus(name: string, signal: AbortSignal): Promise<void>;
  /** The stream's status (ACTIVE, UPDATING, CREATING, DELETING). */
  streamStatus(name: string, signal: AbortSignal): Promise<string>;
  /** Approximate number of visible messages in a queue. */
  queueDepth(queueUrl: string, signal: AbortSignal): Promise<number>;
  /** Sends one canary event to the bus (a source no data rule matches); resolves when accepted. */
  putCanaryEvent(busName: string, signal: AbortSignal): Promise<void>;
}

export interface AnalyticsCheckpointConfig {
  eventBusName: string;
  streamName: string;
  /** Dead-letter queues of the rule, the targets and the forwarder, by name. */
  deadLetterQueueUrls: Record<string, string>;
  /** Messages a dead-letter queue may hold before its checkpoint fails; default 0. */
  deadLetterTolerance?: number;
}

export const CANARY_SOURCE = "iot-dr.health";

/**
 * Probes by name: `analytics-bus` (bus exists), `analytics-ingest` (a canary event is accepted),
 * `analytics-stream` (the Kinesis target is writable), `analytics-dead-letters` (no dead letters
 * piling up). Register them under these names with the health API.
 */
export function analyticsProbes(
  config: AnalyticsCheckpointConfig,
  ports: AnalyticsPorts,
): Record<string, Probe> {
  const tolerance = config.deadLetterTolerance ?? 0;
  return {
    "analytics-bus": (signal) => ports.describeEventBus(config.eventBusName, signal),
    "analytics-ingest": (signal) => ports.putCanaryEvent(config.eventBusName, signal),
    "analytics-stream": async (signal) => {
      const status = await ports.streamStatus(config.streamName, signal);
      if (status !== "ACTIVE" && status !== "UPDATING") {
        throw checkpointFailed(`stream ${config.streamName} is ${status}`);
      }
    },
    "analytics-dead-letters": async (signal) => {
      const depths = await Promise.all(
        Object.entries(config.deadLetterQueueUrls).map(
          async ([name, url]) => [name, await ports.queueDepth(url, signal)] as const,
        ),
      );
      const piling = depths.filter(([, n]) => n > tolerance);
      if (piling.length > 0) {
        throw checkpointFailed(`dead letters waiting: ${piling.map(([n, d]) => `${n}=${d}`).join(", ")}`);
      }
    },
  };
}

/**
 * The ports over SDK v3 clients (modules passed in). `streamStatus` may come from elsewhere (the
 * health API reads it over signed HTTP); otherwise the Kinesis module and client are required.
 */
export function analyticsPortsFromSdk(m: {
  eventbridge: Pick<typeof EventBridgeSdk, "DescribeEventBusCommand" | "PutEventsCommand">;
  kinesis?: Pick<typeof KinesisSdk, "DescribeStreamSummaryCommand">;
  sqs: Pick<typeof SqsSdk, "GetQueueAttributesCommand">;
  clients: {
    eventbridge: { send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> };
    kinesis?: { send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> };
    sqs: { send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> };
  };
  streamStatus?: AnalyticsPorts["streamStatus"];
  clock?: () => number;
}): AnalyticsPorts {
  const clock = m.clock ?? Date.now;
  const kinesis = m.kinesis;
  const kinesisClient = m.clients.kinesis;
  if (!m.streamStatus && (!kinesis || !kinesisClient)) {
    throw new Error("analyticsPortsFromSdk needs the Kinesis module and client, or a streamStatus port");
  }
  return {
    async describeEventBus(name, signal) {
      await m.clients.eventbridge.send(new m.eventbridge.DescribeEventBusCommand({ Name: name }), {
        abortSignal: signal,
      });
    },
    streamStatus:
      m.streamStatus ??
      async function streamStatus(name, signal) {
        const out = (await kinesisClient!.send(
          new kinesis!.DescribeStreamSummaryCommand({ StreamName: name }),
          {
            abortSignal: signal,
          },
        )) as KinesisSdk.DescribeStreamSummaryCommandOutput;
        return out.StreamDescriptionSummary?.StreamStatus ?? "UNKNOWN";
      },
    async queueDepth(queueUrl, signal) {
      const out = (await m.clients.sqs.send(
        new m.sqs.GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages"],
        }),
        { abortSignal: signal },
      )) as SqsSdk.GetQueueAttributesCommandOutput;
      return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    },
    async putCanaryEvent(busName, signal) {
      const out = (await m.clients.eventbridge.send(
        new m.eventbridge.PutEventsCommand({
          Entries: [
            {
              Source: CANARY_SOURCE,
              DetailType: "Canary",
              Detail: JSON.stringify({ at: clock() }),
              EventBusName: busName,
            },
          ],
        }),
        { abortSignal: signal },
      )) as EventBridgeSdk.PutEventsCommandOutput;
      if ((out.FailedEntryCount ?? 0) > 0) {
        throw checkpointFailed(
          `the bus refused the canary event: ${out.Entries?.[0]?.ErrorCode ?? "unknown"}`,
        );
      }
    },
  };
}
