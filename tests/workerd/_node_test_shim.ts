/**
 * A stand-in for `node:test` inside workerd, where the real one does not exist.
 *
 * The worker bundles (see `_harness.ts`) resolve `node:test` to this file, so suites written
 * for `node --test` (tests/_store_suite.ts and the `_checks_*.ts` files here) register their
 * `describe`/`test`/`before`/`after` calls with it unchanged. A worker route then calls
 * `runTests()`, which runs them in order and returns one result per test; the Node side turns
 * each result back into a real `node:test` test, so a failure names its check.
 *
 * Only what those suites use is implemented: `describe` (nested, synchronous body), `test`/`it`
 * (with an optional options object carrying `skip`), `before`, `after`, `beforeEach`,
 * `afterEach`, and `t.skip()` / `t.diagnostic()` on the test context.
 */

type Fn = () => unknown;
type TestFn = (t: TestContext) => unknown;

/** The subset of node:test's `TestContext` the suites call. */
export interface TestContext {
  readonly name: string;
  skip(message?: string): void;
  todo(message?: string): void;
  diagnostic(message: string): void;
}

/** What one test came to. */
export interface TestResult {
  /** The test's own name (the suites already prefix it with the store's name). */
  name: string;
  /** The enclosing `describe` names, outermost first. */
  suite: string[];
  status: "pass" | "fail" | "skip";
  /** For failures: the error's name, message and stack; for skips: the reason. */
  error?: string;
  ms: number;
}

interface TestNode {
  kind: "test";
  name: string;
  fn: TestFn | undefined;
  skip: string | undefined;
}

interface SuiteNode {
  kind: "suite";
  name: string;
  children: (SuiteNode | TestNode)[];
  before: Fn[];
  after: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
}

function suiteNode(name: string): SuiteNode {
  return { kind: "suite", name, children: [], before: [], after: [], beforeEach: [], afterEach: [] };
}

const root = suiteNode("");
let current = root;

/** Per-test time limit, so a hung promise fails one check instead of the whole run. */
let timeoutMs = 15_000;

/** Change the per-test time limit. */
export function setTestTimeout(ms: number): void {
  timeoutMs = ms;
}

export function describe(name: string, optionsOrFn: unknown, maybeFn?: () => void): void {
  const fn = (typeof optionsOrFn === "function" ? optionsOrFn : maybeFn) as () => void;
  const node = suiteNode(name);
  current.children.push(node);
  const parent = current;
  current = node;
  try {
    const out = fn() as unknown;
    if (out instanceof Promise) throw new Error("the node:test shim needs synchronous describe() bodies");
  } finally {
    current = parent;
  }
}

export function test(name: string, optionsOrFn?: unknown, maybeFn?: TestFn): void {
  const fn = (typeof optionsOrFn === "function" ? optionsOrFn : maybeFn) as TestFn | undefined;
  const options = (typeof optionsOrFn === "object" && optionsOrFn !== null ? optionsOrFn : {}) as {
    skip?: boolean | string;
    todo?: boolean | string;
  };
  const skip = options.skip || options.todo;
  current.children.push({
    kind: "test",
    name,
    fn,
    skip: skip ? (typeof skip === "string" ? skip : "skipped") : undefined,
  });
}

export const it = test;
export function before(fn: Fn): void {
  current.before.push(fn);
}
export function after(fn: Fn): void {
  current.after.push(fn);
}
export function beforeEach(fn: Fn): void {
  current.beforeEach.push(fn);
}
export function afterEach(fn: Fn): void {
  current.afterEach.push(fn);
}

export default test;

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const stack = typeof error.stack === "string" ? error.stack : "";
    return stack.includes(error.message) ? stack : `${error.name}: ${error.message}\n${stack}`;
  }
  return String(error);
}

async function withTimeout(work: Promise<unknown>, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function runSuite(
  node: SuiteNode,
  path: string[],
  eachBefore: Fn[],
  eachAfter: Fn[],
  results: TestResult[],
): Promise<void> {
  const suitePath = node.name === "" ? path : [...path, node.name];
  const beforeEach = [...eachBefore, ...node.beforeEach];
  const afterEach = [...node.afterEach, ...eachAfter];
  let hookError: string | undefined;
  for (const hook of node.before) {
    try {
      await withTimeout(Promise.resolve().then(hook), "before()");
    } catch (error) {
      hookError = `before() hook failed: ${describeError(error)}`;
      break;
    }
  }
  for (const child of node.children) {
    if (child.kind === "suite") {
      if (hookError === undefined) await runSuite(child, suitePath, beforeEach, afterEach, results);
      else failAll(child, suitePath, hookError, results);
      continue;
    }
    const started = Date.now();
    if (hookError !== undefined) {
      results.push({ name: child.name, suite: suitePath, status: "fail", error: hookError, ms: 0 });
      continue;
    }
    if (child.skip !== undefined || child.fn === undefined) {
      results.push({ name: child.name, suite: suitePath, status: "skip", error: child.skip ?? "no body", ms: 0 });
      continue;
    }
    let skipped: string | undefined;
    const diagnostics: string[] = [];
    const context: TestContext = {
      name: child.name,
      skip(message) {
        skipped = message ?? "skipped";
      },
      todo(message) {
        skipped = message ?? "todo";
      },
      diagnostic(message) {
        diagnostics.push(message);
      },
    };
    try {
      for (const hook of beforeEach) await withTimeout(Promise.resolve().then(hook), "beforeEach()");
      const fn = child.fn;
      await withTimeout(Promise.resolve().then(() => fn(context)), `test ${JSON.stringify(child.name)}`);
      for (const hook of afterEach) await withTimeout(Promise.resolve().then(hook), "afterEach()");
      results.push(
        skipped === undefined
          ? { name: child.name, suite: suitePath, status: "pass", ms: Date.now() - started }
          : { name: child.name, suite: suitePath, status: "skip", error: skipped, ms: Date.now() - started },
      );
    } catch (error) {
      const detail = describeError(error) + (diagnostics.length ? `\n# ${diagnostics.join("\n# ")}` : "");
      results.push({ name: child.name, suite: suitePath, status: "fail", error: detail, ms: Date.now() - started });
    }
  }
  for (const hook of node.after) {
    try {
      await withTimeout(Promise.resolve().then(hook), "after()");
    } catch (error) {
      results.push({
        name: `${node.name || "root"} after() hook`,
        suite: suitePath,
        status: "fail",
        error: describeError(error),
        ms: 0,
      });
    }
  }
}

function failAll(node: SuiteNode, path: string[], error: string, results: TestResult[]): void {
  for (const child of node.children) {
    if (child.kind === "suite") failAll(child, [...path, node.name], error, results);
    else results.push({ name: child.name, suite: [...path, node.name], status: "fail", error, ms: 0 });
  }
}

/**
 * Run the registered top-level `describe` blocks whose name satisfies `select` (all when
 * omitted), plus top-level tests when `select` is omitted. Each block runs at most once per
 * call; results come back in registration order.
 */
export async function runTests(select?: (suiteName: string) => boolean): Promise<TestResult[]> {
  const results: TestResult[] = [];
  const chosen = suiteNode("");
  chosen.before = select ? [] : root.before;
  chosen.after = select ? [] : root.after;
  chosen.children = root.children.filter((child) => select ? child.kind === "suite" && select(child.name) : true);
  await runSuite(chosen, [], root.beforeEach, root.afterEach, results);
  return results;
}

/** The names of the registered top-level `describe` blocks. */
export function suiteNames(): string[] {
  return root.children.filter((c): c is SuiteNode => c.kind === "suite").map((c) => c.name);
}
