/**
 * Capture's quota guarantee where it is counted: at the service's arrival. Each capture container
 * paces its reads at 95 % of a whole share of every read quota (captureSizing.ts), but neither the
 * pacer's schedule nor the time a request leaves is what IoT counts: a request can leave its start
 * late (a busy event loop, the SDK's middleware, credentials or signing) and the wire (the socket,
 * the network, the service's front end) can hold one request longer than the next, so six of a
 * 5-per-second share can arrive in one sliding second (issue #20: run B, 11 sends of a 10-TPS quota
 * from two containers; then 1-8 throttles a run with a guard on send times and 50 ms for the wire).
 *
 * What is certain without knowing the wire: a request arrives at the service after it was sent and
 * before its response is back at the client. So the guard holds a request of an API while `share`
 * of that API's requests are in flight or had their response back (or failed) within the last
 * `windowMs`. Then no window of `windowMs` at the service holds more than `share` of this
 * container's arrivals, however long any request takes: were there share + 1, take the last of them
 * admitted, k. It was admitted no later than it arrived, so before the window's end; the others were
 * admitted before k and arrived after the window's start, so their responses came back after it,
 * which is at most `windowMs` before k's admission: at k's admission those `share` requests were in
 * flight or back within `windowMs`, and k would have been held. Shares are whole numbers and sum to
 * at most the quota over the containers, so the account sees at most its quota from capture in any
 * such window. (A request the client gives up on, at its 5 s timeout, counts as back then; one
 * still reaching IoT after that is the one case outside the bound.)
 *
 * It costs nothing on schedule with short round trips: at 95 % of a share, `share` consecutive
 * starts span 1000 / 0.95 ms (1,052.6 ms), so the request `share` before has been back for a window
 * (1,002 ms) whenever its round trip is at most 50.6 ms. With longer round trips r, a share takes
 * 1,002 + r ms per `share` requests (captureSizing.ts predictBurstClearSeconds).
 *
 * Why here and not in the pacer: the pacer grants a start and the request still has the SDK's
 * middleware and the event loop ahead of it. Last in the client's middleware, its admission is the
 * latest time the client knows before the wire, and its `next` settles when the response is back.
 */
import type { Clock } from "../shared/clock.js";

/**
 * The window capture counts a share in: IoT's one second, plus 2 ms for whole-millisecond clocks.
 * Our clock reads the response's return and the next admission in whole milliseconds, down: the
 * real gap can be up to 1 ms under the one read; and the service, counting in milliseconds, can
 * read two arrivals just over a second apart as exactly 1,000 ms, which a window closed at both
 * ends counts together. A gap of 1,002 read ms is over 1,001 real ms, over 1,000 at the service.
 */
export const CAPTURE_GUARD_WINDOW_MS = 1002;

export interface SendGuardStats {
  /** Requests admitted (each is sent at once). */
  sends: number;
  /** Requests that had to wait: sent when asked, they could have arrived with `limit` others in a window. */
  held: number;
  /** Milliseconds the held requests waited, from asking to admission, summed. */
  heldMs: number;
}

/** Call when the request's response is back or it failed: it can no longer arrive at the service. */
export type Completed = () => void;

export interface SendGuard {
  /**
   * Resolves when one request of `api` may go out now, counting it as in flight, to the function
   * to call once it completes (once; later calls are ignored). APIs without a limit pass at once.
   */
  admit(api: string): Promise<Completed>;
  stats(): Record<string, SendGuardStats>;
}

export interface SendGuardOptions {
  /** Requests of each API at most in any window of `windowMs` (whole numbers >= 1). */
  limits: Record<string, number>;
  windowMs: number;
  clock: Clock;
}

interface ApiState {
  limit: number;
  inFlight: number;
  /** Completion times within the last window (pruned on every admission). */
  completed: number[];
  /** Wakes the request waiting on a completion (there is at most one: admissions run in turn). */
  onComplete?: () => void;
  /** The previous admission, which this one waits behind: requests go out in the order they asked. */
  turn: Promise<unknown>;
  stats: SendGuardStats;
}

const pass: Completed = () => {};

export function createSendGuard(options: SendGuardOptions): SendGuard {
  const { limits, windowMs, clock } = options;
  for (const [api, limit] of Object.entries(limits))
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(`send guard: ${api} needs a whole number of requests >= 1 per window, got ${limit}`);
  if (!(windowMs > 0)) throw new Error(`send guard: windowMs must be > 0, got ${windowMs}`);
  const states = new Map<string, ApiState>();

  const completion = (s: ApiState): Completed => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      s.inFlight--;
      s.completed.push(clock.now());
      s.onComplete?.();
    };
  };

  async function admitInTurn(s: ApiState, asked: number): Promise<Completed> {
    for (;;) {
      const now = clock.now();
      // A response back a whole window ago can no longer share a window with this request's arrival.
      s.completed = s.completed.filter((t) => t + windowMs > now);
      if (s.inFlight + s.completed.length < s.limit) {
        s.inFlight++;
        s.stats.sends++;
        // Waiting behind a held request is being held too.
        if (now > asked) {
          s.stats.held++;
          s.stats.heldMs += now - asked;
        }
        return completion(s);
      }
      if (s.completed.length > 0) await clock.sleep(Math.min(...s.completed) + windowMs - now);
      else await new Promise<void>((resolve) => (s.onComplete = resolve));
      s.onComplete = undefined;
    }
  }

  return {
    admit(api) {
      const limit = limits[api];
      if (limit === undefined) return Promise.resolve(pass);
      let s = states.get(api);
      if (!s)
        states.set(
          api,
          (s = {
            limit,
            inFlight: 0,
            completed: [],
            turn: Promise.resolve(),
            stats: { sends: 0, held: 0, heldMs: 0 },
          }),
        );
      const state = s;
      const asked = clock.now();
      const admitted = state.turn.then(() => admitInTurn(state, asked));
      state.turn = admitted.catch(() => undefined);
      return admitted;
    },
    stats: () => Object.fromEntries([...states].map(([k, v]) => [k, { ...v.stats }])),
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
 * the client does before the wire (signing, credentials, endpoint), and is complete when the handler
 * has its response or has failed: each SDK attempt passes here once.
 */
export function guardSends(client: GuardableClient, guard: SendGuard): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const completed = await guard.admit((context.commandName ?? "").replace(/Command$/, ""));
      try {
        return await next(args);
      } finally {
        completed();
      }
    },
    { step: "deserialize", priority: "low", name: "captureSendGuard" },
  );
}
