/**
 * Capture's quota guarantee where it is counted: at the wire. Each capture container paces its
 * reads at 95 % of a whole share of every read quota (captureSizing.ts), but the pacer's schedule is
 * not what reaches IoT: a request can leave its start late (a timer fired late on a busy event loop,
 * the SDK's middleware, credentials or signing waiting behind other work) and the next ones on time,
 * and then six of a 5-per-second share fall in one sliding second (issue #20, run B: 11 sends of a
 * 10-TPS quota from two containers). The guard keeps the times this container actually handed each
 * API's requests to the HTTP handler and holds a request until fewer than its share left in the
 * last `windowMs`. Shares are whole numbers and sum to at most the quota over the containers, so the
 * account never sees more than its quota from capture in any window of `windowMs`, however late
 * any request left.
 *
 * It bites only on bunching: at 95 % of a share, `share` consecutive sends span 1000 / 0.95 ms
 * (1,052.6 ms), more than `windowMs`, so a container that sends on schedule is never held and the
 * rate capture clears a burst at (captureSizing.ts predictBurstClearSeconds) is the pacer's.
 *
 * Why here and not in the pacer: the pacer grants a start and the request still has the SDK's
 * middleware and the event loop ahead of it (the capture bench measured up to 46-77 ms from the
 * pacer's call to the HTTP handler). Last in the client's middleware, only the handler's own
 * synchronous set-up and the socket write are left.
 */
import type { Clock } from "../shared/clock.js";

/**
 * Milliseconds added to the one-second window each container counts its shares in: room for the
 * wire (the socket, the network, the service's front end) to move a send this much closer to the
 * next one before the service could count one more in a second. A share paced at 95 % leaves
 * 52.6 ms between `share` consecutive starts and one second; 50 ms of it go here, 2.6 ms are left
 * for timers. A hold then shortens by 2.6 ms each window and never lowers the rate: the pacer's
 * schedule does not move. The capture bench measured 55-65 ms at most (20 ms at p99) from a
 * container's HTTP handler to the quota emulator on a loaded two-core machine (BENCHMARKS.md).
 */
export const CAPTURE_SEND_MARGIN_MS = 50;

export interface SendGuardStats {
  /** Requests admitted (each is sent at once). */
  sends: number;
  /** Requests that had to wait: without the guard they would have put one more in a window. */
  held: number;
  heldMs: number;
}

export interface SendGuard {
  /** Resolves when one request of `api` may go out now, and counts it as sent. APIs without a limit pass. */
  admit(api: string): Promise<void>;
  stats(): Record<string, SendGuardStats>;
}

export interface SendGuardOptions {
  /** Requests of each API at most in any window of `windowMs` (whole numbers >= 1). */
  limits: Record<string, number>;
  windowMs: number;
  clock: Clock;
}

export function createSendGuard(options: SendGuardOptions): SendGuard {
  const { limits, windowMs, clock } = options;
  for (const [api, limit] of Object.entries(limits))
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(`send guard: ${api} needs a whole number of requests >= 1 per window, got ${limit}`);
  if (!(windowMs > 0)) throw new Error(`send guard: windowMs must be > 0, got ${windowMs}`);
  /** The last `limit` send times of each API, oldest first. */
  const sent = new Map<string, number[]>();
  const stats = new Map<string, SendGuardStats>();
  return {
    async admit(api) {
      const limit = limits[api];
      if (limit === undefined) return;
      let s = stats.get(api);
      if (!s) stats.set(api, (s = { sends: 0, held: 0, heldMs: 0 }));
      let times = sent.get(api);
      if (!times) sent.set(api, (times = []));
      let held = false;
      for (;;) {
        const now = clock.now();
        // The oldest of the last `limit` sends must be a whole window back, or this one would be the
        // limit + 1st inside (now - windowMs, now].
        const wait = times.length < limit ? 0 : times[times.length - limit] + windowMs - now;
        if (wait <= 0) {
          times.push(now);
          if (times.length > limit) times.shift();
          s.sends++;
          return;
        }
        if (!held) s.held++;
        held = true;
        s.heldMs += wait;
        await clock.sleep(wait);
      }
    },
    stats: () => Object.fromEntries([...stats].map(([k, v]) => [k, { ...v }])),
  };
}

/** The part of an SDK v3 client the guard needs (structural: functions/ imports no SDK at run time). */
export interface GuardableClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: "deserialize"; priority: "low"; name: string },
    ): void;
  };
}

/**
 * Puts the guard last in an SDK client's middleware (the deserialize step at low priority, the
 * innermost; its `next` is the HTTP handler's `handle`), so a request is admitted after everything
 * the client does before the wire: signing, credentials, endpoint. What is left is the handler's own
 * synchronous request set-up and the socket write (the capture bench measures it: `wireLagMs`).
 */
export function guardSends(client: GuardableClient, guard: SendGuard): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      await guard.admit((context.commandName ?? "").replace(/Command$/, ""));
      return next(args);
    },
    { step: "deserialize", priority: "low", name: "captureSendGuard" },
  );
}
