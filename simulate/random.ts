/**
 * Counter-based random numbers: draw k of device d under a seed is a hash of (seed, d, k), so a
 * simulated device needs only its draw counter (4 bytes) instead of a generator object, and a real
 * FailoverClient given `deviceStream(seed, d)` draws exactly the numbers its simulated twin draws.
 */

/** murmur3's 32-bit finalizer: a bijection that spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A number in [0, 1) from (seed, stream, k). */
export function unitHash(seed: number, stream: number, k: number): number {
  const h = fmix32(fmix32(fmix32(seed ^ 0x9e3779b9) ^ stream) + Math.imul(k, 0x27d4eb2d));
  return h / 4294967296;
}

/** Device d's decision stream as the `random` option of a FailoverClient. */
export function deviceStream(seed: number, device: number): () => number {
  let k = 0;
  return () => unitHash(seed, device, k++);
}

/** Streams of the world (resolver phases, publish phases, checkers) never collide with devices'. */
export const WORLD_SEED_SALT = 0x5bd1e995;
