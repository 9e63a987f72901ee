import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Backoff } from "../../device/backoff.js";

/** A random source that replays the given values. */
const replay = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length];
};

describe("reconnect backoff", () => {
  it("draws each delay uniformly below a window that doubles per attempt up to the cap", () => {
    const backoff = new Backoff({ minDelayMs: 1_000, maxDelayMs: 5_000 }, replay(0.999999));
    const delays = Array.from({ length: 6 }, () => backoff.next());
    expect(delays).toEqual([999, 1_999, 3_999, 4_999, 4_999, 4_999]);
    const low = new Backoff({ minDelayMs: 1_000, maxDelayMs: 5_000 }, replay(0));
    expect(Array.from({ length: 3 }, () => low.next())).toEqual([0, 0, 0]);
  });

  it("keeps every delay in [0, window) for any random sequence (full jitter)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 40,
        }),
        (minDelayMs, factor, randoms) => {
          const maxDelayMs = minDelayMs * factor;
          const backoff = new Backoff({ minDelayMs, maxDelayMs }, replay(...randoms));
          for (let attempt = 0; attempt < randoms.length; attempt++) {
            const window = Math.min(maxDelayMs, minDelayMs * 2 ** attempt);
            const delay = backoff.next();
            expect(delay).toBeGreaterThanOrEqual(0);
            expect(delay).toBeLessThan(window);
          }
        },
      ),
    );
  });

  it("a connection that stayed up for the stable period starts the next outage from the first window", () => {
    const backoff = new Backoff({ minDelayMs: 100, maxDelayMs: 10_000, resetAfterMs: 20_000 }, replay(0.5));
    backoff.next();
    backoff.next();
    backoff.next();
    expect(backoff.window()).toBe(800);
    expect(backoff.connectionLasted(19_999)).toBe(false);
    expect(backoff.window()).toBe(800);
    expect(backoff.connectionLasted(20_000)).toBe(true);
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(50);
  });

  it("spreads 10,000 first reconnects evenly over the first window", () => {
    let seed = 42;
    // A small LCG keeps the test deterministic; the property is about the shape, not the generator.
    const lcg = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const slots = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++)
      slots[Math.floor(new Backoff({ minDelayMs: 10_000 }, lcg).next() / 1_000)]++;
    for (const count of slots) expect(count).toBeGreaterThan(800);
    for (const count of slots) expect(count).toBeLessThan(1_200);
  });

  it("rejects settings that cannot work, naming the setting", () => {
    expect(() => new Backoff({ minDelayMs: 0 })).toThrow(/backoff.minDelayMs must be a positive number/);
    expect(() => new Backoff({ minDelayMs: 5_000, maxDelayMs: 1_000 })).toThrow(
      /minDelayMs \(5000\) is larger than backoff.maxDelayMs \(1000\)/,
    );
    expect(() => new Backoff({ resetAfterMs: -1 })).toThrow(/backoff.resetAfterMs/);
    expect(() => new Backoff({}, () => 1).next()).toThrow(/random source returned 1/);
  });
});
