/**
 * How long one AWS call may wait, per kind of call: the one table that the deployed functions'
 * adapters (infra/) and the operations tool (cli/aws.ts) build their SDK clients from. Without it
 * the SDK waits forever on an endpoint that accepts a connection and never answers, which is how a
 * half-dead region usually looks.
 *
 * Plain data and arithmetic only (no SDK import): callback functions serialize it as is.
 */

/** Deadlines of one SDK client: each attempt, and how many attempts the SDK makes. */
export interface CallDeadline {
  /** Time to open the TCP/TLS connection, ms. */
  connectionTimeoutMs: number;
  /** Time for the whole request and response of one attempt, ms (the SDK throws `TimeoutError`). */
  requestTimeoutMs: number;
  /** Attempts the SDK makes (first try plus retries of transient errors and throttling). */
  maxAttempts: number;
  /**
   * Paced calls only (maxAttempts 1): attempts the pacer makes of a call that times out or fails
   * transiently, each at a new start of its schedule, so that a retry is counted in the quota.
   */
  pacedAttempts?: number;
}

/**
 * The deadlines per purpose. Healthy IoT and DynamoDB calls answer in well under a second; the
 * margins allow a slow region, not a dead one.
 */
export const CALL_DEADLINES = {
  /** IoT control plane (list, describe, write) from the reconciler and the CLI. */
  iot: { connectionTimeoutMs: 3_000, requestTimeoutMs: 8_000, maxAttempts: 3 },
  /**
   * IoT calls of the deployed replay, all paced: one SDK attempt, the pacer (pacing.ts) owns every
   * retry, so none goes out outside the shared schedule and over the quota.
   */
  replayIot: { connectionTimeoutMs: 3_000, requestTimeoutMs: 8_000, maxAttempts: 1, pacedAttempts: 3 },
  /**
   * IoT reads inside capture (Lambda timeout 30 s), all paced at the container's share: one SDK
   * attempt, the pacer owns the retries; capture re-runs on the queue's redelivery.
   */
  captureIot: { connectionTimeoutMs: 3_000, requestTimeoutMs: 5_000, maxAttempts: 1, pacedAttempts: 2 },
  /** The peer region's IoT from the scheduled reconciler: a region that is down must fail fast. */
  peerIot: { connectionTimeoutMs: 3_000, requestTimeoutMs: 8_000, maxAttempts: 2 },
  /** DynamoDB item reads and writes, one query page. */
  table: { connectionTimeoutMs: 3_000, requestTimeoutMs: 5_000, maxAttempts: 3 },
  /** SQS short-poll receive, delete and visibility changes; DynamoDB Streams reads. */
  queue: { connectionTimeoutMs: 3_000, requestTimeoutMs: 8_000, maxAttempts: 3 },
  /**
   * Every call of the C&C function (STS, IoT, DynamoDB): its timeout is 25 s (API Gateway waits
   * 30 s), so a silent first call must fail by 2 × (1 + 4) s + one backoff ≈ 11 s.
   */
  cc: { connectionTimeoutMs: 1_000, requestTimeoutMs: 4_000, maxAttempts: 2 },
  /** EventBridge PutEvents of the analytics forwarder (timeout 30 s): worst case ≈ 24 s. */
  forwarder: { connectionTimeoutMs: 2_000, requestTimeoutMs: 5_000, maxAttempts: 3 },
  /**
   * Reads of the health functions (probes, override, readiness metrics, canary secret): one attempt
   * each, a backstop behind the round's abort signal, inside Route 53's 2 s answer budget.
   */
  healthProbe: { connectionTimeoutMs: 1_000, requestTimeoutMs: 1_500, maxAttempts: 1 },
  /** The fail-over notifier's STS and IoT data-plane Publish calls; the server-side mover's STS. */
  notice: { connectionTimeoutMs: 2_000, requestTimeoutMs: 3_000, maxAttempts: 2 },
  /** The server-side mover's scans of the failing region's presence table. */
  moverScan: { connectionTimeoutMs: 2_000, requestTimeoutMs: 3_000, maxAttempts: 3 },
  /** DeleteConnection: one try; the mover's own pacing and give-up rule decide about the next call. */
  moverDisconnect: { connectionTimeoutMs: 2_000, requestTimeoutMs: 3_000, maxAttempts: 1 },
  /**
   * Control-plane reads of the operations tool that are not IoT or tables: STS, Lambda account
   * settings, Route 53, ACM, Service Quotas, OAM (preflight), SSM (the drill's override).
   */
  control: { connectionTimeoutMs: 3_000, requestTimeoutMs: 8_000, maxAttempts: 2 },
  /**
   * StartSyncExecution answers when the Express workflow ends (at most 5 minutes); never retried
   * by the SDK: the launcher reports a failed batch and the stream mapping retries it.
   */
  syncExecution: { connectionTimeoutMs: 3_000, requestTimeoutMs: 302_000, maxAttempts: 1 },
} as const satisfies Record<string, CallDeadline>;

export type CallPurpose = keyof typeof CALL_DEADLINES;

/** The SDK's standard retry waits at most base × 2^attempt between attempts (500 ms for throttling). */
const RETRY_BASE_MS = 500;
const RETRY_CAP_MS = 20_000;

/**
 * The longest one call can take, every attempt timing out and the longest backoff between (the
 * SDK's, or for a paced call the pacer's, bounded here by the SDK's larger one).
 */
export function worstCaseMs(d: CallDeadline): number {
  const attempts = d.maxAttempts * (d.pacedAttempts ?? 1);
  let backoff = 0;
  for (let attempt = 1; attempt < attempts; attempt++)
    backoff += Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt);
  return attempts * (d.connectionTimeoutMs + d.requestTimeoutMs) + backoff;
}

/**
 * SDK client options for a purpose, e.g. `new IoTClient({ region, ...sdkClientOptions("iot") })`.
 * `requestTimeoutMs` overrides the per-attempt time (the CLI's `--call-timeout`).
 */
export function sdkClientOptions(
  purpose: CallPurpose,
  override: { requestTimeoutMs?: number } = {},
): {
  maxAttempts: number;
  requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true };
} {
  const d: CallDeadline = CALL_DEADLINES[purpose];
  const requestTimeout = override.requestTimeoutMs ?? d.requestTimeoutMs;
  return {
    maxAttempts: d.maxAttempts,
    requestHandler: {
      connectionTimeout: Math.min(d.connectionTimeoutMs, requestTimeout),
      requestTimeout,
      // Without it the SDK only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
  };
}
