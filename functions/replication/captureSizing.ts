/**
 * Capture under bursts: how the capture queue's consumer is sized from the account's IoT quotas
 * (`iotApiRates`, AWS defaults otherwise), and how long a burst takes to clear. One module for the
 * deployment (infra/capture.ts sets the event source mapping from it), the function (each container
 * paces at its share), `iot-dr rto` (the burst's clear time is part of the registry-event RPO) and
 * `iot-dr bench capture` (which compares the prediction with what it measures).
 *
 * Why a fixed share per container and not the shared schedule replay uses (sharedPacing.ts): the
 * event source mapping's `maximumConcurrency` bounds the containers, so the number of workers is
 * known here, which is what replay lacks; during a burst every poller is busy, so no share idles;
 * and a share costs no DynamoDB write and no round trip per read (the schedule would add one write
 * per enrichment read, ~5 per provisioned thing). Replay reads DescribeThing for every thing
 * record, and (echo) capture in the same region for every thing event: that quota is split
 * between them (`REPLAY_READ_SHARE`, `replayReadRates`), so neither spends the other's share. Other
 * callers of a read (the reconciler, the CLI) meet the pacer's jittered backoff and the queue's
 * redelivery; nothing is dead-lettered for it before `maxReceiveCount` receives.
 */
import { DEFAULT_IOT_QUOTAS } from "./pacing.js";
import { CAPTURE_GUARD_WINDOW_MS } from "./sendGuard.js";

/** The IoT reads capture's enrichment makes (capture.ts; the IAM list in infra/capture.ts matches). */
export const CAPTURE_READ_APIS = [
  "DescribeThing",
  "DescribeThingType",
  "DescribeThingGroup",
  "DescribeCertificate",
  "GetPolicy",
  "ListPolicyVersions",
  "ListThingGroupsForThing",
  "ListThingPrincipals",
  "ListAttachedPolicies",
  "ListTargetsForPolicy",
] as const;
export type CaptureReadApi = (typeof CAPTURE_READ_APIS)[number];

/**
 * Reads per provisioned thing (a thing with one certificate, one policy on it, one group
 * membership; the policy and group already recorded): the `thing/created` event reads the thing,
 * its principals, the certificate and the certificate's policies; the `thingGroupMembership/added`
 * event reads the thing's groups. Counted from capture.ts, and checked against the calls the
 * capture bench counts (tests/replication/core/captureBurst.test.ts).
 */
export const BURST_READS_PER_THING: Partial<Record<CaptureReadApi, number>> = {
  DescribeThing: 1,
  ListThingPrincipals: 1,
  DescribeCertificate: 1,
  ListAttachedPolicies: 1,
  ListThingGroupsForThing: 1,
};

/**
 * The part of a read quota kept for replay in the same region, where replay and capture both make
 * the read for every record (DescribeThing: replay plans each thing record with it; capture, the
 * source's and the echo's, enriches each thing event with it). Capture's containers share the rest.
 */
export const REPLAY_READ_SHARE: Partial<Record<CaptureReadApi, number>> = { DescribeThing: 0.5 };

/** Share of each quota capture uses, as replay's pacer (5 % headroom for calls that reach IoT late). */
export const CAPTURE_UTILISATION = 0.95;
/**
 * Calls per second of one API that one capture container keeps busy with its batch in flight
 * (10 records at once, each a chain of reads of ~40 ms): containers beyond the slowest read's
 * quota / this only split the quota further.
 */
export const PER_CONTAINER_TPS = 25;
/** Lambda's least `maximumConcurrency` for an SQS event source mapping. */
export const MIN_SQS_CONCURRENCY = 2;
/**
 * Largest batch: Lambda allows 10,000 from a standard queue with a batching window; 100 keeps a
 * failed batch's redelivery small. Above 10 the mapping needs a batching window.
 */
export const MAX_BATCH = 100;
/** The batching window when the batch is above 10 (Lambda requires one): at most this much latency. */
export const BATCH_WINDOW_SECONDS = 1;

export interface CaptureSizing {
  /** Event source mapping `scalingConfig.maximumConcurrency`: capture containers at most. */
  maximumConcurrency: number;
  /**
   * Event source mapping batch size (messages per invocation): as many as the share lets a
   * container read within half the timeout, so that a container's reads stay busy through a batch.
   */
  batchSize: number;
  /** Event source mapping `maximumBatchingWindowInSeconds` (0 for batches up to 10). */
  batchWindowSeconds: number;
  /** Calls per second each container may make per read API (its share, before utilisation). */
  shareRates: Record<string, number>;
  /** Queue visibility timeout: six times the function timeout, as Lambda advises for SQS sources. */
  visibilityTimeoutSeconds: number;
  /** Receives before SQS moves a message to the dead-letter queue. */
  maxReceiveCount: number;
  /** The slowest read per provisioned thing and its account rate (what a burst's clear time follows). */
  bindingApi: { api: string; rate: number };
}

export interface CaptureSizingOptions {
  /** The capture function's timeout in seconds; a batch paced at the share must fit in half of it. */
  timeoutSeconds: number;
  /** Receives before dead-lettering; default 5. */
  maxReceiveCount?: number;
}

const rateIn = (rates: Record<string, number>, api: string) =>
  rates[api] ?? (DEFAULT_IOT_QUOTAS as Record<string, number>)[api] ?? 10;

/**
 * Each container's share of every read quota when `containers` run at once: whole calls per second,
 * since M containers at floor(q / M) never exceed q together in any sliding second (evenly spaced
 * starts at <= 100 % of a whole rate cannot). Throws naming `iotApiRates` when a quota is below M.
 */
export function captureShareRates(
  iotApiRates: Record<string, number>,
  containers: number,
): Record<string, number> {
  if (!Number.isInteger(containers) || containers < 1)
    throw new Error(`capture containers must be a whole number >= 1, got ${containers}`);
  const shareRates: Record<string, number> = {};
  for (const api of CAPTURE_READ_APIS) {
    const rate = rateIn(iotApiRates, api);
    const part = 1 - (REPLAY_READ_SHARE[api] ?? 0);
    const share = Math.floor((rate * part) / containers);
    if (share < 1)
      throw new Error(
        `iotApiRates: ${api} at ${rate} calls/s leaves ${Math.round(rate * part * 100) / 100} for the ${containers} capture containers (one call per second each${part < 1 ? `, replay keeps ${Math.round((1 - part) * 100)} %` : ""}); raise it (e.g. ${api}=${Math.ceil(containers / part)}) or ask AWS for the quota`,
      );
    shareRates[api] = share;
  }
  return shareRates;
}

/** Capture containers at most (the event source mapping's `maximumConcurrency`) for these quotas. */
export function captureContainers(iotApiRates: Record<string, number>): number {
  const slowest = Math.min(...CAPTURE_READ_APIS.map((api) => rateIn(iotApiRates, api)));
  return Math.min(1000, Math.max(MIN_SQS_CONCURRENCY, Math.ceil(slowest / PER_CONTAINER_TPS)));
}

/**
 * Replay's rates in a region: `iotApiRates` with each read of `REPLAY_READ_SHARE` lowered to what
 * capture's containers leave of its quota, so that replay (all its workers, through the shared
 * schedule) and capture (every container at its share) together never exceed it.
 */
export function replayReadRates(iotApiRates: Record<string, number>): Record<string, number> {
  const containers = captureContainers(iotApiRates);
  const shares = captureShareRates(iotApiRates, containers);
  const rates = { ...iotApiRates };
  for (const api of Object.keys(REPLAY_READ_SHARE) as CaptureReadApi[])
    rates[api] = rateIn(iotApiRates, api) - containers * shares[api];
  return rates;
}

/**
 * Sizes the capture queue's consumer. Throws naming `iotApiRates` when a read's quota is below the
 * number of containers (each needs at least one call per second).
 */
export function captureSizing(
  iotApiRates: Record<string, number>,
  options: CaptureSizingOptions,
): CaptureSizing {
  if (!(options.timeoutSeconds > 0))
    throw new Error(`capture timeoutSeconds must be > 0, got ${options.timeoutSeconds}`);
  const maxReceiveCount = options.maxReceiveCount ?? 5;
  if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000)
    throw new Error(`capture maxReceiveCount must be a whole number from 1 to 1000, got ${maxReceiveCount}`);
  const maximumConcurrency = captureContainers(iotApiRates);
  const shareRates = captureShareRates(iotApiRates, maximumConcurrency);
  // A batch's reads, paced at the share, must end within half the timeout.
  const perEvent = Math.min(
    ...Object.entries(BURST_READS_PER_THING).map(
      ([api, n]) => (shareRates[api] * CAPTURE_UTILISATION) / (n ?? 1),
    ),
  );
  const batchSize = Math.max(1, Math.min(MAX_BATCH, Math.floor((options.timeoutSeconds / 2) * perEvent)));
  const binding = Object.entries(BURST_READS_PER_THING)
    .map(([api, n]) => ({
      api,
      rate: rateIn(iotApiRates, api),
      per: (n ?? 1) / (maximumConcurrency * shareRates[api]),
    }))
    .sort((a, b) => b.per - a.per)[0];
  return {
    maximumConcurrency,
    batchSize,
    batchWindowSeconds: batchSize > 10 ? BATCH_WINDOW_SECONDS : 0,
    shareRates,
    visibilityTimeoutSeconds: 6 * options.timeoutSeconds,
    maxReceiveCount,
    bindingApi: { api: binding.api, rate: binding.rate },
  };
}

/**
 * Latencies of one request as a capture container sees it, milliseconds: what a batch's chains wait
 * on outside the binding read's share (captureBurstChain).
 */
export interface CaptureLatencies {
  /** One IoT control-plane read, sent to answered. */
  iotReadMs: number;
  /** One DynamoDB GetItem or PutItem on the ops or marker table. */
  tableMs: number;
  /** One round of the poller's SQS requests (a batch's ReceiveMessage calls, or its deletes, side by side). */
  queueMs: number;
}

/**
 * What `iot-dr rto` plans with. `tableMs`: AWS gives GetItem and PutItem an average latency "in
 * single-digit milliseconds" (Knowledge Center, "DynamoDB high latency",
 * repost.aws/knowledge-center/dynamodb-high-latency), taken at its top. `iotReadMs` and `queueMs`
 * are assumptions, not documented: AWS publishes no latency for IoT Core's control-plane reads or
 * for SQS requests; measure them (the capture function's X-Ray traces, or `iot-dr bench capture`'s
 * `callLatencyMs`) and pass them in.
 */
export const AWS_CAPTURE_LATENCIES: CaptureLatencies = { iotReadMs: 100, tableMs: 10, queueMs: 20 };

/** Requests of a chain, in sequence: IoT reads and table calls. */
export interface ChainLength {
  iot: number;
  table: number;
}

/**
 * The chains a burst's events run in capture (capture.ts captureWithEnrichment), per read: the
 * requests in sequence before its call (`before`, from the event's start) and from its call on to
 * the end of the longest chain that follows it (`after`, its own answer included). A thing event:
 * DescribeThing, the thing's record (get: an echo of replay's lists nothing), then side by side its
 * marker and put and ListThingPrincipals ->
 * ListAttachedPolicies -> side by side the principal's record (get, marker, put), the certificate's
 * (get, DescribeCertificate, marker, put), the policy target's (get, marker, put) and the policy's
 * (get: present). A membership event: ListThingGroupsForThing, then its record (get, marker, put).
 * Checked against capture itself in virtual time (tests/replication/core/captureBurst.test.ts).
 */
export const BURST_CHAIN: Partial<Record<CaptureReadApi, { before: ChainLength; after: ChainLength }>> = {
  DescribeThing: { before: { iot: 0, table: 0 }, after: { iot: 4, table: 4 } },
  ListThingPrincipals: { before: { iot: 1, table: 1 }, after: { iot: 3, table: 3 } },
  ListAttachedPolicies: { before: { iot: 2, table: 1 }, after: { iot: 2, table: 3 } },
  DescribeCertificate: { before: { iot: 3, table: 2 }, after: { iot: 1, table: 2 } },
  ListThingGroupsForThing: { before: { iot: 0, table: 0 }, after: { iot: 1, table: 3 } },
};

/**
 * Milliseconds each batch of a burst keeps the binding read's share idle: the chain before its first
 * call (`head`), after its last (`tail`), and the poller between two invocations of a container
 * (deleting the batch, receiving the next: two rounds of queue requests). A container's invocations
 * never overlap (Lambda), so this repeats every batch.
 */
export function burstBatchOverheadMs(
  api: string,
  latencies: CaptureLatencies = AWS_CAPTURE_LATENCIES,
): { headMs: number; tailMs: number; betweenMs: number } {
  const chain = BURST_CHAIN[api as CaptureReadApi];
  if (!chain) throw new Error(`no burst chain for ${api}: add it to BURST_CHAIN (counted from capture.ts)`);
  const ms = (c: ChainLength) => c.iot * latencies.iotReadMs + c.table * latencies.tableMs;
  return { headMs: ms(chain.before), tailMs: ms(chain.after), betweenMs: 2 * latencies.queueMs };
}

/**
 * Milliseconds one container takes for `share` calls of a read in a row: the pacer spaces them over
 * 1000 / utilisation (1,052.6 ms), and the send guard holds each until the one `share` before has
 * been answered for a window (sendGuard.ts), so a read answered in `iotReadMs` takes the window plus
 * its round trip when that is longer (1,102 ms at AWS_CAPTURE_LATENCIES' 100 ms).
 */
export function shareWindowMs(latencies: CaptureLatencies = AWS_CAPTURE_LATENCIES): number {
  return Math.max(1000 / CAPTURE_UTILISATION, CAPTURE_GUARD_WINDOW_MS + latencies.iotReadMs);
}

/**
 * Seconds a burst of `things` provisioned things (each with a certificate, a policy and a
 * membership) takes to clear capture. Per container and batch: the binding read's calls at the
 * container's share, `floor(q / M)` calls per shareWindowMs (the pacer's 95 %, or the send guard's
 * window plus the read's round trip when slower), from the first to the last (calls - 1
 * intervals), plus the batch's head, tail and poller time (burstBatchOverheadMs) at `latencies`;
 * the containers take the batches in turn. A read quota that is raised far enough makes the chains,
 * not the share, the limit: then the batch is the chains' length, which this takes as the larger.
 */
export function predictBurstClearSeconds(
  things: number,
  iotApiRates: Record<string, number>,
  options: CaptureSizingOptions & { latencies?: CaptureLatencies },
): number {
  if (!Number.isInteger(things) || things < 0)
    throw new Error(`burst must be a whole number of things >= 0, got ${things}`);
  if (things === 0) return 0;
  const s = captureSizing(iotApiRates, options);
  const latencies = options.latencies ?? AWS_CAPTURE_LATENCIES;
  // Two events per thing (thing/created, thingGroupMembership/added), in batches of batchSize.
  const batchesPerContainer = (2 * things) / s.batchSize / s.maximumConcurrency;
  let seconds = 0;
  for (const [api, n] of Object.entries(BURST_READS_PER_THING)) {
    const intervalMs = shareWindowMs(latencies) / s.shareRates[api];
    const callsPerBatch = (s.batchSize * (n ?? 1)) / 2;
    const o = burstBatchOverheadMs(api, latencies);
    const batchMs = o.headMs + intervalMs * Math.max(0, callsPerBatch - 1) + o.tailMs + o.betweenMs;
    seconds = Math.max(seconds, (batchesPerContainer * batchMs) / 1000);
  }
  return Math.round(seconds * 10) / 10;
}

/** The clear time without the batches' overhead: the binding read's calls at the containers' paced shares. */
export function burstReadSeconds(
  things: number,
  iotApiRates: Record<string, number>,
  options: CaptureSizingOptions,
): number {
  const s = captureSizing(iotApiRates, options);
  let seconds = 0;
  for (const [api, n] of Object.entries(BURST_READS_PER_THING))
    seconds = Math.max(
      seconds,
      (things * (n ?? 1)) / (s.maximumConcurrency * s.shareRates[api] * CAPTURE_UTILISATION),
    );
  return Math.round(seconds * 10) / 10;
}
