/** A seeded PRNG (xorshift32) so property tests are reproducible on every runtime. */
export function prng(seed: number): { next(): number; int(max: number): number; pick<T>(items: readonly T[]): T } {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
  return { next, int: (max) => Math.floor(next() * max), pick: (items) => items[Math.floor(next() * items.length)]! };
}
