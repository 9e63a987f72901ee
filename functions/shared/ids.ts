/**
 * Random identifiers (event ids of record versions, run ids) from an injected `random` in [0, 1):
 * `Math.random` in production, a seeded one in tests, so runs are reproducible.
 */

/** `words` random 32-bit words as lower-case hex, 8 digits each. */
export function randomHex(random: () => number, words: number): string {
  let s = "";
  for (let i = 0; i < words; i++)
    s += Math.floor(random() * 0x100000000)
      .toString(16)
      .padStart(8, "0");
  return s;
}

/** An event id: `prefix` then 128 random bits as hex (`words` 32-bit words). */
export function newEventId(random: () => number, prefix = "", words = 4): string {
  return prefix + randomHex(random, words);
}
