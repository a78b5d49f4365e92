/**
 * A seeded xorshift32 generator, uniform in [0, 1): the same seed gives the same sequence on every
 * machine (permutation tests, synthetic data). Seed 0 is taken as 1 (xorshift's zero state is stuck).
 */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}
