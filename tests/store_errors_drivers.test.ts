/**
 * storeFailure() on errors thrown by the real drivers against the real servers: postgres.js and
 * pg on PostgreSQL (127.0.0.1:5432 or $PG_URL), mysql2 on MariaDB/MySQL (127.0.0.1:3306 or
 * $MYSQL_URL), node-redis and ioredis on Redis (127.0.0.1:6379 or $REDIS_URL).
 *
 * Each case makes the server fail on a query or command that carries a session id, a 64-hex
 * store key or session data (in the parameters, the key name, the quoted duplicate, the failed
 * cast), first checks that the raw driver error really does carry the secret somewhere (so the
 * check below can bite), then checks that the STORE_UNAVAILABLE error storeFailure builds carries
 * it nowhere: not in its message, not in JSON.stringify, not in util.inspect with hidden
 * properties, not in any string reachable through own properties along the cause chain, while
 * the message still names the driver error's class and code. The console line the Reporter prints
 * for it is checked the same way.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { inspect } from "node:util";
import pg from "pg";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { createClient } from "redis";
import { Redis as IORedis } from "ioredis";
import { SessionError, storeFailure } from "../core/errors.ts";
import type { StoreOperation } from "../core/errors.ts";
import { newSessionId } from "../core/id.ts";
import { Reporter } from "../core/report.ts";
import { runtime, serviceAvailable } from "./_env.ts";
import { redisFixtures } from "./_store_fixtures.ts";
import { reachableStrings } from "./_leaks.ts";

const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const RUN = `${runtime.slice(0, 2)}${Date.now().toString(36)}${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;
const TABLE = `satchel_err_${RUN}`;
const MISSING = `satchel_err_${RUN}_missing`;

/** The secrets: a session id, a store key (64 hex) and a marker inside session data. */
const ID = newSessionId();
const KEY = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("");
const MARK = `ada-lovelace-${RUN}`;
const DATA = JSON.stringify({ user: MARK, cart: ["sku-1"] });
const SECRETS = [ID, KEY, MARK];


/** Run `fn`, which must reject; return what it rejected with. */
async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected the driver to throw");
}

interface Expectation {
  operation: StoreOperation;
  /** The driver error's class as the message must name it, and its code. */
  name: string;
  code: string | number;
  /** Text the sanitized message must still contain (what an operator needs). */
  mentions?: string[];
}

/** The heart of the file: the raw error carries a secret, the sanitized one carries none. */
function expectSanitized(raw: unknown, expected: Expectation): void {
  const rawText = [inspect(raw, { showHidden: true, depth: Infinity }), ...reachableStrings(raw)].join("\n");
  assert.ok(SECRETS.some((secret) => rawText.includes(secret)), "the raw driver error carries a secret (else this case proves nothing)");
  const failure = storeFailure(expected.operation, raw);
  assert.ok(failure instanceof SessionError);
  assert.equal(failure.code, "STORE_UNAVAILABLE");
  assert.ok(failure.message.includes(`failed on ${expected.operation}: ${expected.name} [${expected.code}]: `), failure.message);
  for (const text of expected.mentions ?? []) assert.ok(failure.message.includes(text), `${failure.message} mentions ${text}`);
  assert.notEqual(failure.cause, raw);
  const lines: string[] = [];
  new Reporter({ log: { error: (line) => lines.push(line), warn: (line) => lines.push(line) } }).storeFailure(expected.operation, failure);
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.startsWith("satchel: "));
  const views = [
    ["message", failure.message],
    ["the console line", lines[0]!],
    ["JSON.stringify", JSON.stringify(failure)],
    ["inspect", inspect(failure, { showHidden: true, depth: Infinity })],
    ["own properties along the cause chain", reachableStrings(failure).join("\n")],
  ] as const;
  for (const [view, text] of views) {
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `${view} leaks a secret:\n${text.slice(0, 600)}`);
  }
}

const pgUp = (() => {
  let probe: Promise<boolean> | undefined;
  return () =>
    probe ??= serviceAvailable(`PostgreSQL (${PG_URL})`, async () => {
      const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
      await client.connect();
      await client.end();
    });
})();

describe("PostgreSQL errors through postgres.js and pg", () => {
  let sql: ReturnType<typeof postgres> | undefined;
  let client: pg.Client | undefined;
  before(async () => {
    if (!(await pgUp())) return;
    sql = postgres(PG_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
    client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.query(`CREATE TABLE ${TABLE} (k text PRIMARY KEY, n integer)`);
    await client.query(`INSERT INTO ${TABLE} (k) VALUES ($1), ($2)`, [KEY, ID]);
  });
  after(async () => {
    await client?.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await client?.end();
    await sql?.end({ timeout: 2 });
  });

  test("postgres.js: a missing table, with the id and data in the parameters", async (t) => {
    if (!sql) return t.skip("PostgreSQL unavailable");
    const db = sql;
    const raw = await thrown(() => db`SELECT data FROM ${db(MISSING)} WHERE k = ${ID} AND d = ${DATA}`);
    expectSanitized(raw, { operation: "load", name: "PostgresError", code: "42P01", mentions: [`relation "${MISSING}" does not exist`] });
  });

  test("postgres.js: a duplicate key, quoted in the detail", async (t) => {
    if (!sql) return t.skip("PostgreSQL unavailable");
    const raw = await thrown(() => sql!.unsafe(`INSERT INTO ${TABLE} (k) VALUES ($1)`, [KEY]));
    expectSanitized(raw, { operation: "create", name: "PostgresError", code: "23505", mentions: ["duplicate key value violates unique constraint"] });
  });

  test("postgres.js: a failed cast, whose message quotes the value", async (t) => {
    if (!sql) return t.skip("PostgreSQL unavailable");
    const raw = await thrown(() => sql!.unsafe(`UPDATE ${TABLE} SET n = $1::integer WHERE k = $2`, [MARK, ID]));
    expectSanitized(raw, { operation: "save", name: "PostgresError", code: "22P02", mentions: ['invalid input syntax for type integer: "[redacted]"'] });
  });

  test("pg: a failed cast quoting the session id", async (t) => {
    if (!client) return t.skip("PostgreSQL unavailable");
    const raw = await thrown(() => client!.query(`SELECT $1::integer`, [ID]));
    expectSanitized(raw, { operation: "load", name: "DatabaseError", code: "22P02", mentions: ["invalid input syntax for type integer"] });
  });

  test("pg: a duplicate 64-hex store key, quoted in `detail`", async (t) => {
    if (!client) return t.skip("PostgreSQL unavailable");
    const raw = await thrown(() => client!.query(`INSERT INTO ${TABLE} (k, n) VALUES ($1, 1)`, [KEY]));
    assert.ok(String((raw as { detail?: unknown }).detail).includes(KEY));
    expectSanitized(raw, { operation: "create", name: "DatabaseError", code: "23505", mentions: ["duplicate key value"] });
  });

  test("pg: a failed cast of session data", async (t) => {
    if (!client) return t.skip("PostgreSQL unavailable");
    const raw = await thrown(() => client!.query(`UPDATE ${TABLE} SET n = $1 WHERE k = $2`, [MARK, KEY]));
    expectSanitized(raw, { operation: "save", name: "DatabaseError", code: "22P02" });
  });
});

describe("MariaDB/MySQL errors through mysql2", () => {
  let db: mysql.Connection | undefined;
  before(async () => {
    const up = await serviceAvailable(`MariaDB/MySQL (${MYSQL_URL})`, async () => {
      db = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    });
    if (!up || !db) return;
    await db.query(`CREATE TABLE ${TABLE} (k varchar(64) PRIMARY KEY, n integer) ENGINE=InnoDB`);
    await db.execute(`INSERT INTO ${TABLE} (k) VALUES (?), (?)`, [KEY, ID]);
  });
  after(async () => {
    await db?.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await db?.end();
  });

  test("a missing table, through query() (values interpolated into `sql`)", async (t) => {
    if (!db) return t.skip("MariaDB unavailable");
    const raw = await thrown(() => db!.query(`SELECT data FROM ${MISSING} WHERE k = ? AND d = ?`, [ID, DATA]));
    assert.ok(String((raw as { sql?: unknown }).sql).includes(ID));
    expectSanitized(raw, { operation: "load", name: "Error", code: "ER_NO_SUCH_TABLE", mentions: [`${MISSING}' doesn't exist`] });
  });

  test("a duplicate entry, quoting the session id in the message", async (t) => {
    if (!db) return t.skip("MariaDB unavailable");
    const raw = await thrown(() => db!.execute(`INSERT INTO ${TABLE} (k) VALUES (?)`, [ID]));
    expectSanitized(raw, { operation: "create", name: "Error", code: "ER_DUP_ENTRY", mentions: ["Duplicate entry '[redacted]' for key"] });
  });

  test("a value the column refuses, quoted in the message", async (t) => {
    if (!db) return t.skip("MariaDB unavailable");
    const raw = await thrown(() => db!.query(`UPDATE ${TABLE} SET n = ? WHERE k = ?`, [MARK, KEY]));
    expectSanitized(raw, { operation: "save", name: "Error", code: "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD", mentions: ["Incorrect integer value: '[redacted]'"] });
  });
});

describe("Redis errors through node-redis and ioredis", () => {
  const fixtures = redisFixtures({ createClient, serviceAvailable, url: REDIS_URL, namespace: "errors:" });
  const prefix = fixtures.prefixFor("drivers");
  const stringKey = `${prefix}${ID}`; // a key named with a session id, holding a string
  let admin: Awaited<ReturnType<typeof fixtures.connect>> | undefined;
  let io: IORedis | undefined;
  before(async () => {
    if (!(await fixtures.up())) return;
    admin = await fixtures.connect();
    await admin.sendCommand(["SET", stringKey, DATA]);
    io = new IORedis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
    io.on("error", () => {});
    await io.connect();
  });
  after(async () => {
    if (admin) await fixtures.dropPrefix(admin, prefix);
    admin?.destroy();
    io?.disconnect();
  });

  /** A script whose error reply quotes its key and argument, as a store's Lua script could. */
  const ECHO = "return redis.error_reply('ERR no session ' .. KEYS[1] .. ' ' .. ARGV[1])";

  test("node-redis: an error reply that quotes the key (64 hex) and the session id", async (t) => {
    if (!admin) return t.skip("Redis unavailable");
    const raw = await thrown(() => admin!.sendCommand(["EVAL", ECHO, "1", `${prefix}${KEY}`, ID]));
    expectSanitized(raw, { operation: "save", name: "SimpleError", code: "ERR", mentions: [`ERR no session ${prefix}[redacted] [redacted]`] });
  });

  test("node-redis: WRONGTYPE on a key named with a session id, inside a script", async (t) => {
    if (!admin) return t.skip("Redis unavailable");
    const script = "return redis.call('HSET', KEYS[1], 'data', ARGV[1]) .. KEYS[1]";
    const raw = await thrown(() => admin!.sendCommand(["EVAL", script, "1", stringKey, DATA]));
    // node-redis keeps nothing of the command, so only the message could leak; check it anyway.
    const failure = storeFailure("save", raw);
    assert.match(failure.message, /failed on save: SimpleError \[WRONGTYPE\]: WRONGTYPE/);
    for (const secret of SECRETS) assert.ok(!inspect(failure, { showHidden: true, depth: Infinity }).includes(secret));
  });

  test("ioredis: WRONGTYPE on a key named with a session id, with the key and data in `command.args`", async (t) => {
    if (!io) return t.skip("Redis unavailable");
    const raw = await thrown(() => io!.hset(stringKey, "data", DATA));
    expectSanitized(raw, { operation: "save", name: "ReplyError", code: "WRONGTYPE", mentions: ["Operation against a key holding the wrong kind of value"] });
  });

  test("ioredis: an error reply from a script quoting the key and the session id", async (t) => {
    if (!io) return t.skip("Redis unavailable");
    const raw = await thrown(() => io!.eval(ECHO, 1, `${prefix}${KEY}`, ID));
    expectSanitized(raw, { operation: "load", name: "ReplyError", code: "ERR", mentions: ["ERR no session"] });
  });
});
