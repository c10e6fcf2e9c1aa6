/**
 * Store failures are sanitized and never invisible: `describeError` and `storeFailure` on crafted
 * driver-shaped errors and on non-Error throwables, the `Reporter` (listener, rate-limited log
 * lines on a fake clock, warnOnce) and `insecureCookieWarning`. The same checks on errors thrown
 * by real drivers against real servers are in store_errors_drivers.test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { describeError, SessionError, storeFailure } from "../core/errors.ts";
import { insecureCookieWarning, Reporter } from "../core/report.ts";
import { fakeClock } from "./_env.ts";
import { reachableStrings } from "./_leaks.ts";

const ID = "k3j5h2g7f8d9s0a1q2w3e4r5t6y7u8i9"; // 32 of [a-z0-9], like a session id
const KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // 64 hex, like a store key
const DATA = "ada-lovelace-secret-cart";


/** Assert that no secret shows up in the message, the JSON, util.inspect, or any reachable string. */
function assertClean(error: unknown, secrets: string[]): void {
  const views = [
    ["message", error instanceof Error ? error.message : String(error)],
    ["JSON.stringify", JSON.stringify(error) ?? ""],
    ["inspect", inspect(error, { showHidden: true, depth: Infinity })],
    ["own properties", reachableStrings(error).join("\n")],
  ] as const;
  for (const [view, text] of views) {
    for (const secret of secrets) assert.ok(!text.includes(secret), `${view} contains a secret: ${text.slice(0, 400)}`);
  }
}

/** A driver-shaped error: postgres.js-like class with the query and its values hung on it. */
class FakeDriverError extends Error {
  override name = "PostgresError";
  code = "42P01";
  query = `select data from sessions where key = '${KEY}'`;
  parameters = [KEY, DATA];
  detail = `Key (session_key)=(${KEY}) already exists.`;
}

describe("describeError()", () => {
  test("redacts session ids, 64-hex store keys and long tokens, keeping class, code and the rest of the text", () => {
    const error = Object.assign(new Error(`relation "satchel_sessions" has no row for ${ID} / key:${KEY}`), { code: "XX000" });
    const described = describeError(error);
    assert.deepEqual(Object.keys(described).sort(), ["code", "message", "name"]);
    assert.equal(described.name, "Error");
    assert.equal(described.code, "XX000");
    assert.match(described.message, /^relation "satchel_sessions" has no row for \[redacted\] \/ key:\[redacted\]$/);
    const cookie = `s%3A${"Ab-_".repeat(20)}`;
    assert.ok(!describeError(new Error(`bad cookie ${cookie}`)).message.includes("Ab-_Ab-_"));
    // An id glued to a prefix with ':' or '_' is still an id; a 31-character run is left alone.
    assert.ok(!describeError(new Error(`sess_${ID}`)).message.includes(ID));
    assert.ok(describeError(new Error(`x ${ID.slice(1)} y`)).message.includes(ID.slice(1)));
  });

  test("redacts the values drivers quote: Key (...)=(...), Duplicate entry, for key, failed casts, Upstash commands", () => {
    const cases: Array<[string, string]> = [
      [`Key (session_key)=(${DATA}) already exists.`, "Key (session_key)=([redacted]) already exists."],
      [`Key (a, b)=(x), (${DATA}) is not present in table "users".`, `Key (a, b)=([redacted]) is not present in table "users".`],
      [`Duplicate entry '${DATA}' for key 'PRIMARY'`, "Duplicate entry '[redacted]' for key '[redacted]'"],
      [`no session for key "${DATA}"`, `no session for key "[redacted]"`],
      [`invalid input syntax for type integer: "${DATA}"`, `invalid input syntax for type integer: "[redacted]"`],
      [`Incorrect integer value: '${DATA}' for column \`test\`.\`t\`.\`n\` at row 1`, "Incorrect integer value: '[redacted]' for column `test`.`t`.`n` at row 1"],
      [`WRONGTYPE Operation against a key, command was: ["set","s:${DATA}","x"]`, "WRONGTYPE Operation against a key, command was: [redacted]"],
      [`null value in column "data" violates not-null constraint. Failing row contains (${DATA}, null).`, `null value in column "data" violates not-null constraint. Failing row contains ([redacted]).`],
      // Cut short before the closing delimiter: the value runs to the end and goes whole.
      [`Key (session_key)=(${DATA}`, "Key (session_key)=([redacted]"],
      [`Duplicate entry '${DATA}`, "Duplicate entry '[redacted]"],
      [`invalid input syntax for type json: "${DATA}`, `invalid input syntax for type json: "[redacted]`],
      [`no session for key '${DATA}`, "no session for key '[redacted]"],
    ];
    for (const [input, expected] of cases) assert.equal(describeError(new Error(input)).message, expected);
  });

  test("names the class (pg's lowercase 'error' name gives way to the class; DOMException keeps its name)", () => {
    class DatabaseError extends Error {}
    const pgLike = new DatabaseError("relation does not exist");
    pgLike.name = "error";
    assert.equal(describeError(pgLike).name, "DatabaseError");
    assert.equal(describeError(new DOMException("The operation timed out.", "TimeoutError")).name, "TimeoutError");
    assert.equal(describeError(new TypeError("x")).name, "TypeError");
  });

  test("takes a Redis reply prefix as the code when the error has none; numbers are kept, objects are not", () => {
    assert.equal(describeError(new Error("WRONGTYPE Operation against a key holding the wrong kind of value")).code, "WRONGTYPE");
    assert.equal(describeError(Object.assign(new Error("x"), { code: 1146 })).code, 1146);
    assert.equal(describeError(Object.assign(new Error("x"), { code: { secret: DATA } })).code, undefined);
    assert.equal(describeError(new Error("lower case text")).code, undefined);
  });

  test("summarises the cause one level deep inside the message and drops its properties", () => {
    const inner = Object.assign(new Error(`connect ECONNREFUSED for ${ID}`), { code: "ECONNREFUSED", parameters: [DATA] });
    const outer = new Error("Connection failed", { cause: inner });
    const described = describeError(outer);
    assert.equal(described.message, "Connection failed (cause: Error ECONNREFUSED: connect ECONNREFUSED for [redacted])");
    assertClean(described, [ID, DATA]);
    assert.equal(describeError(new Error("x", { cause: `text ${KEY}` })).message, "x (cause: text [redacted])");
  });

  test("describes an AggregateError with an empty message (Node's connect errors) by its first error", () => {
    const first = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6379"), { code: "ECONNREFUSED" });
    const aggregate = Object.assign(new AggregateError([first], ""), { code: "ECONNREFUSED" });
    assert.deepEqual(describeError(aggregate), { name: "AggregateError", code: "ECONNREFUSED", message: "connect ECONNREFUSED 127.0.0.1:6379" });
  });

  test("describes non-Error throwables without serializing them", () => {
    assert.deepEqual(describeError(`boom ${ID}`), { name: "string", message: "boom [redacted]" });
    assert.deepEqual(describeError(""), { name: "string", message: "(empty)" });
    assert.deepEqual(describeError(null), { name: "null", message: "null" });
    assert.deepEqual(describeError(undefined), { name: "undefined", message: "undefined" });
    assert.deepEqual(describeError(42), { name: "number", message: "42" });
    assert.deepEqual(describeError(Symbol("s")), { name: "symbol", message: "symbol" });
    assert.deepEqual(describeError(() => DATA), { name: "function", message: "function" });
    assert.deepEqual(describeError({ code: "ETIMEDOUT", message: "timed out", data: DATA }), { name: "Error", code: "ETIMEDOUT", message: "timed out" });
    assert.deepEqual(describeError({ session: DATA }), { name: "Error", message: "(no message)" });
    const hostile = new Proxy({}, { get() { throw new Error(DATA); } });
    assert.deepEqual(describeError(hostile), { name: "Error", message: "(no message)" });
  });

  test("keeps the message on one line and caps its length", () => {
    const described = describeError(new Error(`line one\nline two\r\n${"word ".repeat(500)}`));
    assert.ok(!/[\r\n]/.test(described.message));
    assert.ok(described.message.startsWith("line one line two"));
    assert.ok(described.message.length <= 400);
    // A huge message full of ids: bounded work, and no id survives, whole or cut in two.
    const huge = describeError(new Error(`${`${ID} `.repeat(200_000)}`));
    assert.ok(!huge.message.includes(ID.slice(0, 8)), huge.message.slice(0, 100));
    const glued = describeError(new Error(`${"x ".repeat(2040)}${ID}${ID}`));
    assert.ok(!glued.message.includes(ID.slice(0, 8)));
  });
});

describe("storeFailure()", () => {
  test("wraps a driver error: STORE_UNAVAILABLE, names operation, class and code, keeps no driver property", () => {
    const driver = new FakeDriverError(`relation "sessions" does not exist (key ${KEY})`, {
      cause: Object.assign(new Error("socket"), { parameters: [DATA], sql: `where k='${ID}'` }),
    });
    const failure = storeFailure("load", driver);
    assert.ok(failure instanceof SessionError);
    assert.equal(failure.code, "STORE_UNAVAILABLE");
    assert.equal(failure.message, 'The session store failed on load: PostgresError [42P01]: relation "sessions" does not exist (key [redacted]) (cause: Error: socket)');
    const cause = failure.cause as Error & { code?: unknown };
    assert.ok(cause instanceof Error && !(cause instanceof FakeDriverError));
    assert.notEqual(cause, driver);
    assert.equal(cause.name, "PostgresError");
    assert.equal(cause.code, "42P01");
    assert.equal(cause.cause, undefined);
    assert.deepEqual(Object.keys(cause).sort(), ["code", "name"]);
    assertClean(failure, [ID, KEY, DATA, "parameters", "sessions where key"]);
  });

  test("re-sanitizes a STORE_UNAVAILABLE SessionError: message redacted, cause replaced", () => {
    const wrapped = new SessionError("STORE_UNAVAILABLE", `lock held on ${KEY}`, { cause: new FakeDriverError("gone") });
    const failure = storeFailure("save", wrapped);
    assert.notEqual(failure, wrapped);
    assert.equal(failure.message, "The session store failed on save: lock held on [redacted] (PostgresError [42P01]: gone)");
    assert.equal((failure.cause as Error).name, "PostgresError");
    assertClean(failure, [KEY, DATA]);
    const timeout = storeFailure("load", new SessionError("STORE_UNAVAILABLE", "The session store did not answer within 300 ms"));
    assert.equal(timeout.message, "The session store failed on load: The session store did not answer within 300 ms");
    assert.equal(timeout.cause, undefined);
  });

  test("returns its own result unchanged, and handles other SessionErrors and non-errors like any thrown value", () => {
    const once = storeFailure("delete", new Error("x"));
    assert.equal(storeFailure("delete", once), once);
    assert.equal(storeFailure("create", new SessionError("SESSION_EXISTS", "taken")).message, "The session store failed on create: SessionError [SESSION_EXISTS]: taken");
    assert.equal(storeFailure("list", `oops ${ID}`).message, "The session store failed on list: string: oops [redacted]");
    assert.equal(storeFailure("revoke", null).message, "The session store failed on revoke: null: null");
    assert.equal(storeFailure("clearExpired", undefined).code, "STORE_UNAVAILABLE");
  });
});

/** A log that records lines. */
function recorder(): { error: string[]; warn: string[]; log: { error(line: string): void; warn(line: string): void } } {
  const error: string[] = [];
  const warn: string[] = [];
  return { error, warn, log: { error: (line) => error.push(line), warn: (line) => warn.push(line) } };
}

describe("Reporter", () => {
  test("with a listener: every failure becomes a store.failure event carrying the sanitized error; nothing is logged", () => {
    const events: unknown[] = [];
    const lines = recorder();
    const reporter = new Reporter({ onEvent: (event) => events.push(event), log: lines.log });
    const failure = storeFailure("load", new FakeDriverError("x"));
    reporter.storeFailure("load", failure);
    reporter.storeFailure("load", failure);
    assert.deepEqual(events, [{ type: "store.failure", operation: "load", error: failure }, { type: "store.failure", operation: "load", error: failure }]);
    assert.deepEqual([lines.error, lines.warn], [[], []]);
  });

  test("a listener that throws fails nothing, and one warning says so", () => {
    const lines = recorder();
    const reporter = new Reporter({ onEvent: () => { throw new Error(DATA); }, log: lines.log });
    for (let i = 0; i < 3; i++) reporter.storeFailure("save", storeFailure("save", new Error("x")));
    assert.equal(lines.warn.length, 1);
    assert.match(lines.warn[0]!, /^satchel: the onEvent listener threw/);
    assert.ok(!lines.warn[0]!.includes(DATA));
  });

  test("without a listener: one console line per operation and code per 60 s, with the suppressed count on the next", () => {
    const clock = fakeClock(1_000_000);
    const lines = recorder();
    const reporter = new Reporter({ now: clock.now, log: lines.log });
    const missingTable = storeFailure("load", new FakeDriverError(`relation "s" does not exist ${ID}`));
    for (let i = 0; i < 5; i++) {
      reporter.storeFailure("load", missingTable);
      clock.advance(10_000);
    }
    assert.equal(lines.error.length, 1, "five failures within 50 s: one line");
    assert.match(lines.error[0]!, /^satchel: The session store failed on load: PostgresError \[42P01\]: relation "s" does not exist \[redacted\]\. Fix: the sessions table is missing/);
    reporter.storeFailure("save", storeFailure("save", new FakeDriverError("x"))); // other operation: its own line
    reporter.storeFailure("load", storeFailure("load", Object.assign(new Error("refused"), { code: "ECONNREFUSED" }))); // other code
    assert.equal(lines.error.length, 3);
    assert.match(lines.error[2]!, /Fix: check that the store's server is running/);
    clock.advance(10_000); // 60 s after the first line
    reporter.storeFailure("load", missingTable);
    assert.equal(lines.error.length, 4);
    assert.match(lines.error[3]!, /\(4 similar lines suppressed since the last one\)$/);
    clock.advance(60_000);
    reporter.storeFailure("load", missingTable);
    assert.ok(!lines.error[4]!.includes("suppressed"));
    for (const line of lines.error) assert.ok(line.startsWith("satchel:") && !line.includes(ID) && !line.includes("\n"));
  });

  test("logs a timeout with its fix, re-sanitizes an error it did not build, and survives a console that throws", () => {
    const lines = recorder();
    const reporter = new Reporter({ now: () => 0, log: lines.log });
    reporter.storeFailure("load", storeFailure("load", new SessionError("STORE_UNAVAILABLE", "The session store did not answer within 300 ms")));
    assert.match(lines.error[0]!, /did not answer within 300 ms\. Fix: check the store's health, or raise the storeTimeout option\.$/);
    reporter.storeFailure("delete", new SessionError("STORE_UNAVAILABLE", `raw ${KEY}`));
    assert.equal(lines.error[1], "satchel: The session store failed on delete: raw [redacted].");
    const broken = new Reporter({ log: { error() { throw new Error("closed"); }, warn() { throw new Error("closed"); } } });
    broken.storeFailure("load", storeFailure("load", new Error("x")));
    broken.warnOnce("w", "x");
  });

  test("warnOnce() warns once per id per Reporter, with the satchel: prefix", () => {
    const lines = recorder();
    const reporter = new Reporter({ log: lines.log });
    reporter.warnOnce("secure", "cookie.secure is on over http");
    reporter.warnOnce("secure", "cookie.secure is on over http");
    reporter.warnOnce("other", "satchel: already prefixed");
    assert.deepEqual(lines.warn, ["satchel: cookie.secure is on over http", "satchel: already prefixed"]);
    const again = recorder();
    new Reporter({ log: again.log }).warnOnce("secure", "x");
    assert.equal(again.warn.length, 1, "a new Reporter warns again");
  });
});

describe("insecureCookieWarning()", () => {
  test("warns for a Secure cookie over plain HTTP to a public host, naming cookie.secure and the host only", () => {
    const warning = insecureCookieWarning(`http://example.com:8080/account/${ID}?token=${DATA}#x`, true);
    assert.ok(warning !== null);
    assert.match(warning, /^satchel: /);
    assert.ok(warning.includes("cookie.secure") && warning.includes("example.com:8080"));
    assert.ok(!warning.includes(ID) && !warning.includes(DATA) && !warning.includes("/account"));
    assert.ok(insecureCookieWarning("http://192.168.1.20/", true) !== null);
  });

  test("says nothing for https, local hosts, secure: false, or a URL that does not parse", () => {
    for (const url of ["https://example.com/", "http://localhost:3000/", "http://127.0.0.1:8787/x", "http://[::1]:8000/"]) {
      assert.equal(insecureCookieWarning(url, true), null, url);
    }
    assert.equal(insecureCookieWarning("http://example.com/", false), null);
    assert.equal(insecureCookieWarning("not a url", true), null);
  });
});
