/** Shared by the tests that check errors and logs for leaked ids, keys, data and secrets. */

/**
 * Every string reachable from `root` through own properties, enumerable or not, string-keyed or
 * symbol-keyed, getters included (read, and skipped if they throw): what a logger walking the
 * error (util.inspect with showHidden, a JSON serializer of causes, Sentry's extractors) could see.
 */
export function reachableStrings(root: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<object>();
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === "string") out.push(value);
    else if (typeof value === "number" || typeof value === "bigint") out.push(String(value));
    if ((typeof value !== "object" && typeof value !== "function") || value === null || seen.has(value) || depth > 20) return;
    seen.add(value);
    for (const key of Reflect.ownKeys(value)) {
      out.push(String(key));
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      let child: unknown;
      try {
        child = descriptor && "value" in descriptor ? descriptor.value : descriptor?.get?.call(value);
      } catch {
        continue;
      }
      visit(child, depth + 1);
    }
  };
  visit(root, 0);
  return out;
}
