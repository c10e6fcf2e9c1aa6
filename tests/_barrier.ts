/**
 * A barrier for deterministic races: `const all = barrier(n)`; each of n concurrent requests
 * `await all()`s, and all of them go on together once the n-th has arrived. No `node:*` import,
 * so the workerd checks can bundle it.
 */
export function barrier(count: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const all = new Promise<void>((resolve) => (open = resolve));
  return () => {
    arrived += 1;
    if (arrived === count) open();
    return all;
  };
}
