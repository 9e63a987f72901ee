/**
 * Virtual time for simulations of pacers (tests/replication/core): a clock whose sleeps resolve in
 * time order, so that a run (with tests/support/random.ts for its randomness) is deterministic and
 * takes no real time.
 */
import type { Clock } from "../../functions/replication/pacing.js";

/** Virtual time: sleeps resolve in time order, each after every microtask before it has run. */
export function virtualTime() {
  let t = 0;
  let seq = 0;
  const timers: { at: number; seq: number; resolve: () => void }[] = [];
  const clock: Clock = {
    now: () => t,
    sleep: (ms) =>
      new Promise<void>((resolve) => timers.push({ at: t + Math.max(0, ms), seq: seq++, resolve })),
  };
  const settle = () => new Promise<void>((r) => setImmediate(r));
  async function runUntil(work: Promise<unknown>): Promise<void> {
    let done = false;
    let failure: unknown;
    work.then(
      () => (done = true),
      (err: unknown) => ((done = true), (failure = err)),
    );
    for (;;) {
      await settle();
      if (done) break;
      if (timers.length === 0) throw new Error("simulation stalled: nothing to wake");
      timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = timers.shift()!;
      t = next.at;
      next.resolve();
    }
    if (failure) throw failure;
  }
  return { clock, runUntil };
}
