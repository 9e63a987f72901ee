/**
 * The server-side move: on fail-over, close the failing region's device connections through IoT
 * Core's data-plane DeleteConnection (the SDK's `DeleteConnectionCommand`: `DELETE
 * /connections/<clientId>?cleanSession=…&preventWillMessage=…`, IAM action `iot:DeleteConnection` on
 * `arn:aws:iot:<region>:<account>:client/<clientId>`), so that devices reconnect through DNS to the
 * healthy region. Optional and complementary to the notice: it works for devices that ignore
 * notices, and only while the failing region's data plane still answers.
 *
 * Paced at the target region's connect quota (every closed connection is a connect there), and
 * never more than once per client id per second. Stops early when the data plane stops
 * answering (5xx or network errors in a row): nothing more it can do there.
 */
import type { Clock } from "../shared/clock.js";
/**
 * IoT data-plane DeleteConnection in the failing region (an `IoTDataPlaneClient`'s `send` wrapped
 * by the adapter, with that region's data endpoint); resolves on 2xx, rejects with the SDK's error
 * (`$metadata.httpStatusCode`) otherwise.
 */
export type DeleteConnection = (
  input: { clientId: string; cleanSession: boolean; preventWillMessage: boolean },
  signal: AbortSignal,
) => Promise<unknown>;

export interface MoverDeps {
  deleteConnection: DeleteConnection;
  /** Closed connections per second: the target region's connect quota share for this mover. */
  ratePerSecond: number;
  clock: Clock;
  /** Consecutive unanswered calls after which the region is given up; default 5. */
  maxConsecutiveFailures?: number;
}

export interface MoveOutcome {
  /** Connections closed (200). */
  disconnected: number;
  /** Clients that were not connected there (404). */
  notConnected: number;
  /** Calls that failed (throttled, refused, unanswered). */
  failed: number;
  /** Client ids not tried because the data plane stopped answering. */
  skipped: number;
  /** Client ids given twice within a second, tried once. */
  duplicates: number;
}

/**
 * Closes the connections of `clientIds` in the failing region. Keeps the persistent session
 * (`cleanSession=false`: queued QoS 1 messages survive a fail-back) and suppresses last-will
 * messages (`preventWillMessage=true`: the device did not die, it moved).
 */
export async function disconnectClients(clientIds: readonly string[], deps: MoverDeps): Promise<MoveOutcome> {
  if (!(deps.ratePerSecond > 0))
    throw new Error(
      `mover: ratePerSecond must be > 0 (the target region's connect quota), got ${deps.ratePerSecond}`,
    );
  const outcome: MoveOutcome = { disconnected: 0, notConnected: 0, failed: 0, skipped: 0, duplicates: 0 };
  const lastTried: Record<string, number> = {};
  const spacingMs = 1000 / deps.ratePerSecond;
  const maxFailures = deps.maxConsecutiveFailures ?? 5;
  let next = deps.clock.now();
  let failuresInRow = 0;
  for (let i = 0; i < clientIds.length; i++) {
    const clientId = clientIds[i]!;
    const now = deps.clock.now();
    if (lastTried[clientId] !== undefined && now - lastTried[clientId]! < 1000) {
      outcome.duplicates++;
      continue;
    }
    if (failuresInRow >= maxFailures) {
      outcome.skipped = clientIds.length - i;
      break;
    }
    if (next > now) await deps.clock.sleep(next - now);
    next = Math.max(next, deps.clock.now()) + spacingMs;
    lastTried[clientId] = deps.clock.now();
    let status: number;
    try {
      await deps.deleteConnection(
        { clientId, cleanSession: false, preventWillMessage: true },
        AbortSignal.timeout(2_000),
      );
      status = 200;
    } catch (err) {
      // No HTTP status: unanswered (network error, timeout).
      status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
    }
    if (status >= 200 && status < 300) outcome.disconnected++;
    else if (status === 404) outcome.notConnected++;
    else outcome.failed++;
    failuresInRow = status === 0 || status >= 500 ? failuresInRow + 1 : 0;
  }
  return outcome;
}
