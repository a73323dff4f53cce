// @ts-check
/**
 * A seeded PRNG (mulberry32): tests and benchmarks with randomness replay the same way on every
 * run. JavaScript so that the benchmarks (plain Node, no TypeScript) use this same one.
 *
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
