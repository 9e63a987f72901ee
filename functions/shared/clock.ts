/** The one clock of the cores: injected, `systemClock` in production, a fake in tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** A core that only reads the time (deadlines, timestamps) takes `Clock["now"]`. */
export type Now = Clock["now"];

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
