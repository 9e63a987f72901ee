/**
 * The deployed server-side move (optional, `iot-dr:serverSideMove`): one function per region,
 * running in that region's shared-services account, subscribed (cross-region) to the same
 * health-check alarm topic as the notifier. It decodes the alarm with the notifier's own
 * `noticeFor` (./notifier.ts), so both agree on the failing region and the target, and acts only
 * when devices are to move to the region it runs in: it reads who is connected to the failing
 * region (its presence table, ./presence.ts) and closes those connections through that region's
 * data-plane DeleteConnection (./mover.ts), after the fail-over record's TTL so that resolvers
 * already answer the target region.
 *
 * Why the healthy region runs it: a function in the failing region fails with it (Lambda, STS,
 * its logs), while the failing region's IoT data plane often still answers (e.g. a health check
 * red on application services or C&C). From the healthy region, the mover needs only that data
 * plane and the failing region's presence table to answer.
 *
 * Single flight: SNS delivers at least once, so one alarm transition may start two invocations
 * at once, which together would break the pace. Before listing anyone, an invocation claims the
 * transition (alarm name + StateChangeTime) in the failing region's presence table with a
 * conditional write; a delivery that finds the claim held or done moves nobody and says so. A
 * claim is held for the invocation's remaining time (it cannot run longer), and released when
 * the presence table could not be read, so that SNS's retry may claim it again.
 */
import type { Clock } from "../shared/clock.js";
import { disconnectClients, type DeleteConnection, type MoveOutcome } from "./mover.js";
import { noticeFor, type AlarmRegion } from "./notifier.js";

export interface ServerSideMoveDeps {
  /** The region this mover runs in; it acts only on a fail-over towards it. */
  ownRegion: string;
  /** Both regions, as the notifier gets them. */
  regions: readonly string[];
  alarms: readonly AlarmRegion[];
  /** Closed connections per second: a share of the target region's connect quota. */
  ratePerSecond: number;
  /** Wait before the first disconnect (the fail-over record's TTL), ms. */
  waitMs: number;
  /** Client ids connected to `region` (its presence table). */
  listConnected(region: string): Promise<string[]>;
  /**
   * Claims the move of one alarm transition (`key`) out of `region` until epoch ms `untilMs`:
   * "claimed", or what another invocation left ("running" and not expired, or "done").
   */
  claim(region: string, key: string, untilMs: number): Promise<"claimed" | "running" | "done">;
  /** Ends this invocation's claim: "done" (never again) or "released" (a retry may claim it). */
  settle(region: string, key: string, state: "done" | "released"): Promise<void>;
  /** DeleteConnection in `region`'s data plane. */
  deleteConnection(region: string): DeleteConnection;
  clock: Clock;
  /** What is left of the invocation, ms (Lambda context). */
  remainingMs(): number;
  logger: {
    info(m: string, e?: Record<string, unknown>): void;
    warn(m: string, e?: Record<string, unknown>): void;
  };
}

export interface ServerSideMoveResult {
  /** Alarm messages not acted on (another target, a recovery, not a health-check alarm). */
  ignored: number;
  /** Alarm transitions another invocation (a duplicate SNS delivery) has claimed: nobody moved. */
  alreadyClaimed: Array<{ noticeId: string; fromRegion: string; claim: string; state: "running" | "done" }>;
  moves: Array<
    MoveOutcome & {
      noticeId: string;
      fromRegion: string;
      targetRegion: string;
      /** Connected clients the presence table listed. */
      listed: number;
      /** Clients left to the notice and DNS because the invocation would end first. */
      beyondDeadline: number;
    }
  >;
}

/** Time kept back at the end of the invocation for the last answers and the log line, ms. */
const END_MARGIN_MS = 15_000;

interface SnsEvent {
  Records?: Array<{ Sns?: { Message?: string; MessageId?: string } }>;
}

export async function handleServerSideMove(
  event: SnsEvent,
  deps: ServerSideMoveDeps,
): Promise<ServerSideMoveResult> {
  const result: ServerSideMoveResult = { ignored: 0, alreadyClaimed: [], moves: [] };
  for (const record of event.Records ?? []) {
    let message: Parameters<typeof noticeFor>[0];
    try {
      message = JSON.parse(record.Sns?.Message ?? "") as Parameters<typeof noticeFor>[0];
    } catch {
      deps.logger.warn("ignored an SNS message that is not an alarm state change");
      result.ignored++;
      continue;
    }
    const notice = noticeFor(
      message,
      record.Sns?.MessageId ?? `${message.AlarmName}-${message.StateChangeTime}`,
      deps,
    );
    // A recovery moves devices back through DNS and the notice once the fail-back gate opens; no mass disconnect.
    if (!notice || notice.type !== "failover" || notice.targetRegion !== deps.ownRegion) {
      result.ignored++;
      continue;
    }
    const from = notice.fromRegion;
    // The transition, the same in every delivery of the alarm's message (MessageId may differ).
    const key = `${message.AlarmName}@${message.StateChangeTime}`;
    // Throws when the failing region's table does not answer: nothing was done, SNS retries.
    const claim = await deps.claim(from, key, deps.clock.now() + deps.remainingMs());
    if (claim !== "claimed") {
      const skipped = { noticeId: notice.id, fromRegion: from, claim: key, state: claim };
      deps.logger.info(
        `server-side move skipped: another invocation ${claim === "done" ? "has done" : "is doing"} this move (duplicate delivery)`,
        skipped,
      );
      result.alreadyClaimed.push(skipped);
      continue;
    }
    let ids: string[];
    try {
      ids = await deps.listConnected(from);
    } catch (e) {
      await deps.settle(from, key, "released").catch((release: unknown) =>
        deps.logger.warn("server-side move: could not release the claim (a retry waits for it to expire)", {
          claim: key,
          error: String(release),
        }),
      );
      throw e;
    }
    if (deps.waitMs > 0) await deps.clock.sleep(deps.waitMs);
    const budget = Math.max(
      0,
      Math.floor(((deps.remainingMs() - END_MARGIN_MS) / 1000) * deps.ratePerSecond),
    );
    const now = ids.slice(0, budget);
    const outcome = await disconnectClients(now, {
      deleteConnection: deps.deleteConnection(from),
      ratePerSecond: deps.ratePerSecond,
      clock: deps.clock,
    });
    const move = {
      noticeId: notice.id,
      fromRegion: from,
      targetRegion: notice.targetRegion,
      listed: ids.length,
      beyondDeadline: ids.length - now.length,
      ...outcome,
    };
    deps.logger.info("server-side move", move);
    if (move.beyondDeadline > 0)
      deps.logger.warn("server-side move: clients left to the notice and DNS (invocation deadline)", {
        beyondDeadline: move.beyondDeadline,
      });
    await deps.settle(from, key, "done").catch((e: unknown) =>
      deps.logger.warn("server-side move: could not mark the claim done (it expires with this invocation)", {
        claim: key,
        error: String(e),
      }),
    );
    result.moves.push(move);
  }
  return result;
}
