/**
 * sqlStore() on its real backends: SQLite in memory (node:sqlite under Node and Deno, bun:sqlite
 * under Bun), PostgreSQL on 127.0.0.1:5432 (or $PG_URL) through node-postgres and postgres.js,
 * MariaDB/MySQL on 127.0.0.1:3306 (or $MYSQL_URL) through mysql2; the satchel layout everywhere and
 * the Django layout on all three engines (PostgreSQL and MariaDB in a non-UTC session time zone).
 * Every table is unique to this run and dropped afterwards. D1 runs in workerd, in its own file.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import pg from "pg";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { SessionError } from "../core/errors.ts";
import type { SessionRecord, SessionStore } from "../core/types.ts";
import { sqlStore } from "../stores/sql.ts";
import type { SqlClient, SqlLayout, SqliteDatabaseLike, SqliteStatementLike, SqlStore } from "../stores/sql.ts";
import { testStore, freshKey } from "./_store_suite.ts";
import { decodeSessionData, encodeSessionData } from "../core/django.ts";
import type { StoreFixture } from "./_store_suite.ts";
import { runtime, serviceAvailable } from "./_env.ts";

const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const RUN = `${runtime.slice(0, 2)}${Date.now().toString(36)}${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;
const tableFor = (name: string): string => `satchel_t_${RUN}_${name}`;

type Row = Record<string, unknown>;
type Param = string | number | null;

/** A connected client plus a raw query function for assertions and cleanup. */
interface Conn {
  client: SqlClient;
  exec(sql: string, params?: Param[]): Promise<Row[]>;
  close(): Promise<void>;
}

interface Engine {
  name: string;
  /** How placeholders are written in `exec` SQL. */
  ph(n: number): string;
  quote(name: string): string;
  up(): Promise<boolean>;
  connect(options?: { timeZone?: boolean }): Promise<Conn>;
}

// ---- engines ----

/** The part of `DatabaseSync` / bun's `Database` the tests use directly. */
interface SqliteDb extends SqliteDatabaseLike {
  prepare(sql: string): SqliteStatementLike & { all(...params: Param[]): unknown[] };
  close(): void;
}

async function openSqliteDb(): Promise<SqliteDb> {
  if (runtime === "bun") {
    const specifier = "bun:sqlite"; // a variable, so Node and Deno never resolve it
    const { Database } = await import(specifier);
    return new Database(":memory:") as SqliteDb;
  }
  const { DatabaseSync } = await import("node:sqlite");
  return new DatabaseSync(":memory:") as unknown as SqliteDb;
}

const sqlite: Engine = {
  name: runtime === "bun" ? "sqlite (bun:sqlite)" : "sqlite (node:sqlite)",
  ph: () => "?",
  quote: (name) => `"${name}"`,
  up: async () => true,
  async connect() {
    const db = await openSqliteDb();
    return {
      client: db,
      exec: async (sql, params = []) => db.prepare(sql).all(...params) as Row[],
      close: async () => db.close(),
    };
  },
};

const probes = new Map<string, Promise<boolean>>();
/** Probe a service once per file: in CI a missing one fails the run, elsewhere one loud skip line. */
function once(service: string, probe: () => Promise<unknown>): Promise<boolean> {
  let result = probes.get(service);
  if (!result) {
    result = serviceAvailable(service, probe);
    probes.set(service, result);
  }
  return result;
}

const pgUp = (): Promise<boolean> =>
  once(`PostgreSQL (${PG_URL})`, async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
      await client.query("SELECT 1");
    } finally {
      await client.end();
    }
  });

const nodePostgres: Engine = {
  name: "postgres (pg)",
  ph: (n) => `$${n}`,
  quote: (name) => `"${name}"`,
  up: pgUp,
  async connect(options) {
    const pool = new pg.Pool({
      connectionString: PG_URL,
      max: 4,
      connectionTimeoutMillis: 3000,
      ...(options?.timeZone ? { options: "-c TimeZone=Asia/Kolkata" } : {}),
    });
    return {
      client: pool,
      exec: async (sql, params = []) => (await pool.query(sql, params)).rows as Row[],
      close: () => pool.end(),
    };
  },
};

const postgresJs: Engine = {
  name: "postgres (postgres.js)",
  ph: (n) => `$${n}`,
  quote: (name) => `"${name}"`,
  up: pgUp,
  async connect(options) {
    const sql = postgres(PG_URL, {
      max: 4,
      connect_timeout: 3,
      onnotice: () => {},
      ...(options?.timeZone ? { connection: { TimeZone: "America/New_York" } } : {}),
    });
    return {
      client: sql,
      exec: async (text, params = []) => Array.from(await sql.unsafe(text, params)) as Row[],
      close: () => sql.end({ timeout: 2 }),
    };
  },
};

const mysqlUp = (): Promise<boolean> =>
  once(`MariaDB/MySQL (${MYSQL_URL})`, async () => {
    const connection = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    try {
      await connection.query("SELECT 1");
    } finally {
      await connection.end();
    }
  });

const mysql2: Engine = {
  name: "mysql (mysql2)",
  ph: () => "?",
  quote: (name) => `\`${name}\``,
  up: mysqlUp,
  async connect(options) {
    const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 4, connectTimeout: 3000 });
    if (options?.timeZone) {
      // Queued before any query the pool hands this connection out for.
      pool.pool.on("connection", (connection) => void connection.query("SET time_zone = '+05:00'"));
    }
    return {
      client: pool,
      exec: async (sql, params = []) => (await pool.query(sql, params))[0] as Row[],
      close: () => pool.end(),
    };
  },
};

/** Bun's built-in PostgreSQL client: postgres.js-shaped (`unsafe(text, params)`), so the same driver. */
interface BunSql {
  unsafe(text: string, params?: Param[]): Promise<Row[] & { count: number }>;
  close(): Promise<void>;
}
const bunSql: Engine = {
  name: "postgres (Bun.SQL)",
  ph: (n) => `$${n}`,
  quote: (name) => `"${name}"`,
  up: pgUp,
  async connect() {
    const { SQL } = (globalThis as unknown as { Bun: { SQL: new (url: string) => BunSql } }).Bun;
    const sql = new SQL(PG_URL);
    return {
      client: sql,
      exec: async (text, params = []) => Array.from(await sql.unsafe(text, params)),
      close: () => sql.close(),
    };
  },
};
const BUN_ONLY = "Bun.SQL exists only in Bun";

const ENGINES: Engine[] = [sqlite, nodePostgres, postgresJs, mysql2, ...(runtime === "bun" ? [bunSql] : [])];

/** A store on a fresh table of `engine`; closing drops the table and the client. */
async function openStore(
  engine: Engine,
  name: string,
  options: { layout?: SqlLayout; timeZone?: boolean; secret?: string | string[] } = {},
): Promise<(StoreFixture & { store: SqlStore; conn: Conn; table: string }) | null> {
  if (!(await engine.up())) return null;
  const conn = await engine.connect({ timeZone: options.timeZone ?? false });
  const table = tableFor(name);
  const store = sqlStore({ client: conn.client, table, layout: options.layout, secret: options.secret });
  return {
    store,
    conn,
    table,
    close: async () => {
      try {
        await conn.exec(`DROP TABLE IF EXISTS ${engine.quote(table)}`);
      } finally {
        await conn.close();
      }
    },
  };
}

function record(now: number, data = '{"a":1}', ttl = 60_000): SessionRecord {
  return { data, expires: now + ttl, created: now, active: now };
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SessionError, `expected a SessionError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

// ---- the shared conformance suite, per engine and layout ----

testStore(`sqlStore(${sqlite.name})`, () => openStore(sqlite, "suite"), { cas: true, clearExpired: true });
testStore(`sqlStore(${sqlite.name}, django)`, () => openStore(sqlite, "dj_suite", { layout: "django" }), { cas: true, clearExpired: true });
testStore(`sqlStore(${nodePostgres.name})`, () => openStore(nodePostgres, "suite_pg"), { cas: true, clearExpired: true });
testStore(`sqlStore(${postgresJs.name})`, () => openStore(postgresJs, "suite_pgjs"), { cas: true, clearExpired: true });
testStore(
  `sqlStore(${postgresJs.name}, django, TimeZone=America/New_York)`,
  () => openStore(postgresJs, "dj_suite_pgjs", { layout: "django", timeZone: true }),
  { cas: true, clearExpired: true },
);
// The Django layout with Django's signed session_data: the whole contract still holds.
const DJANGO_SECRET = "django-insecure-store-test-secret-key-0123456789";
testStore(`sqlStore(${sqlite.name}, django, secret)`, () => openStore(sqlite, "djs_suite", { layout: "django", secret: DJANGO_SECRET }), { cas: true, clearExpired: true });
testStore(
  `sqlStore(${postgresJs.name}, django, secret)`,
  () => openStore(postgresJs, "djs_suite_pgjs", { layout: "django", timeZone: true, secret: DJANGO_SECRET }),
  { cas: true, clearExpired: true },
);
testStore(
  `sqlStore(${mysql2.name}, django, secret)`,
  () => openStore(mysql2, "djs_suite_my", { layout: "django", timeZone: true, secret: [DJANGO_SECRET, "an-old-secret"] }),
  { cas: true, clearExpired: true },
);
if (runtime === "bun") testStore(`sqlStore(${bunSql.name})`, () => openStore(bunSql, "suite_bunsql"), { cas: true, clearExpired: true });
else test(`sqlStore(${bunSql.name}) conformance`, { skip: BUN_ONLY }, () => {});
testStore(`sqlStore(${mysql2.name})`, () => openStore(mysql2, "suite_my"), { cas: true, clearExpired: true });
testStore(
  `sqlStore(${mysql2.name}, django, time_zone=+05:00)`,
  () => openStore(mysql2, "dj_suite_my", { layout: "django", timeZone: true }),
  { cas: true, clearExpired: true },
);

// ---- construction and validation, on a spy in front of a real SQLite database ----

/** Wrap a SQLite database so every prepare and every execution is logged (and may be made to fail). */
function spy(db: SqliteDatabaseLike, log: string[], fail?: (sql: string) => boolean): SqliteDatabaseLike {
  return {
    prepare(sql: string) {
      log.push(`prepare:${sql}`);
      if (fail?.(sql)) throw new Error("injected failure");
      const statement = db.prepare(sql);
      return {
        run: (...params) => {
          log.push(`exec:${sql}`);
          return statement.run(...params);
        },
        get: (...params) => {
          log.push(`exec:${sql}`);
          return statement.get(...params);
        },
      };
    },
  };
}

describe("sqlStore() construction", () => {
  const fakeSqlite: SqliteDatabaseLike = { prepare: () => { throw new Error("not used"); } };

  test("sqlStore() refuses table names that are not plain identifiers, before any query", () => {
    const log: string[] = [];
    const client = spy(fakeSqlite, log);
    for (const table of ["x; drop table y", "", "1abc", "a".repeat(64), "a-b", 'a"b', "a`b", "public.sessions", "ta ble", "sessions\u00e9", "x\n"]) {
      assert.throws(() => sqlStore({ client, table }), TypeError, JSON.stringify(table));
      assert.throws(() => sqlStore({ client, table, layout: "django" }), TypeError, JSON.stringify(table));
    }
    for (const table of ["a".repeat(63), "_x", "Sessions_2"]) assert.equal(sqlStore({ client, table }).table, table);
    assert.equal(log.length, 0);
  });

  test("sqlStore() recognises each client by its shape and refuses unknown ones", () => {
    const fn = Object.assign(() => {}, { unsafe: () => Promise.resolve([]) });
    const cases: [unknown, string, string][] = [
      [fn, "postgres.js", "postgres"],
      [{ query: async () => ({ rows: [], rowCount: 0 }) }, "pg", "postgres"],
      [{ execute: async () => [[], []], query: async () => [[], []] }, "mysql2", "mysql"],
      [{ prepare: () => ({}) }, "sqlite", "sqlite"],
      [{ prepare: () => ({}), batch: async () => [] }, "d1", "d1"],
    ];
    for (const [client, api, dialect] of cases) {
      const store = sqlStore({ client: client as SqlClient });
      assert.equal(store.api, api);
      assert.equal(store.dialect, dialect);
    }
    for (const client of [{}, null, undefined, "postgres://localhost/db", 42, { query: 1 }, { execute: () => {} }]) {
      assert.throws(() => sqlStore({ client: client as SqlClient }), TypeError);
    }
    assert.throws(() => sqlStore(undefined as never), TypeError);
  });

  test("sqlStore() checks an explicit dialect against the client", () => {
    const sqliteLike = { prepare: () => ({}) } as unknown as SqlClient;
    const d1Like = { prepare: () => ({}), batch: async () => [] } as unknown as SqlClient;
    const pgLike = { query: async () => ({ rows: [], rowCount: 0 }) } as unknown as SqlClient;
    assert.equal(sqlStore({ client: sqliteLike, dialect: "sqlite" }).dialect, "sqlite");
    assert.throws(() => sqlStore({ client: sqliteLike, dialect: "postgres" }), TypeError);
    assert.throws(() => sqlStore({ client: sqliteLike, dialect: "d1" }), TypeError);
    assert.equal(sqlStore({ client: d1Like, dialect: "sqlite" }).dialect, "sqlite");
    assert.throws(() => sqlStore({ client: d1Like, dialect: "mysql" }), TypeError);
    assert.throws(() => sqlStore({ client: pgLike, dialect: "mysql" }), TypeError);
    assert.throws(() => sqlStore({ client: pgLike, dialect: "oracle" as never }), TypeError);
    assert.throws(() => sqlStore({ client: pgLike, layout: "rails" as never }), TypeError);
  });

  test("sqlStore() defaults: satchel layout keyed by HMACs, Django layout keyed by raw ids", () => {
    const satchel = sqlStore({ client: fakeSqlite });
    assert.equal(satchel.kind, "server");
    assert.equal(satchel.layout, "satchel");
    assert.equal(satchel.table, "satchel_sessions");
    assert.equal(satchel.rawIds, undefined);
    assert.equal(satchel.client, fakeSqlite);
    const django = sqlStore({ client: fakeSqlite, layout: "django" });
    assert.equal(django.table, "django_session");
    assert.equal(django.rawIds, true);
    // SQLite identifiers in backticks: with double quotes, a missing column reads as a string literal on DQS builds.
    assert.match(django.schema[0]!, /^CREATE TABLE IF NOT EXISTS `django_session` \(`session_key` varchar\(40\) NOT NULL PRIMARY KEY, `session_data` text NOT NULL, `expire_date` datetime NOT NULL/);
    assert.match(django.schema[1]!, /CREATE INDEX IF NOT EXISTS `django_session_expire_date_a5c62663`/);
    const pgStore = sqlStore({ client: { query: async () => ({ rows: [], rowCount: 0 }) } as unknown as SqlClient, layout: "django" });
    assert.match(pgStore.schema[0]!, /^CREATE TABLE IF NOT EXISTS "django_session" \("session_key" varchar\(40\) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL/);
    const my = sqlStore({ client: { execute: async () => [[], []], query: async () => [[], []] } as unknown as SqlClient, table: "s" });
    assert.match(my.schema[0]!, /^CREATE TABLE IF NOT EXISTS `s` \(.*`data` longtext NOT NULL.*INDEX `expires_idx` \(`expires`\)\) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4/);
  });

  test("sqlStore() uses the promise API of a callback-style mysql2 client", async () => {
    const calls: string[] = [];
    const promiseApi = {
      execute: async (sql: string) => {
        calls.push(sql);
        return [{ affectedRows: 1, insertId: 0 }, []];
      },
      query: async () => [[], []],
    };
    const callbackApi = { execute: () => ({}), query: () => ({}), promise: () => promiseApi };
    const store = sqlStore({ client: callbackApi as unknown as SqlClient, ensureSchema: false });
    await store.delete(freshKey());
    assert.equal(calls.length, 1);
    assert.match(calls[0]!, /^DELETE FROM `satchel_sessions`/);
  });
});

describe("sqlStore() keys, records and schema memoization (SQLite spy)", () => {
  let db: SqliteDb;
  before(async () => {
    db = await openSqliteDb();
  });
  after(() => db.close());

  test("sqlStore() validates keys and records before touching the database", async () => {
    for (const layout of ["satchel", "django"] as const) {
      const log: string[] = [];
      const store = sqlStore({ client: spy(db, log), table: `keys_${layout}`, layout });
      const bad = ["../../etc/passwd", "x'; DROP TABLE s; --", "", "ABCDEFGHIJ", "short", "a".repeat(65), "abc def ghi", "\u0000".repeat(10)];
      if (layout === "django") bad.push("a".repeat(41), "f".repeat(64));
      for (const key of bad) {
        assert.equal(await store.load(key, Date.now()), null, JSON.stringify(key));
        await assert.rejects(store.create(key, record(Date.now())), TypeError);
        await assert.rejects(store.save(key, record(Date.now())), TypeError);
        await assert.rejects(store.save(key, record(Date.now()), 1), TypeError);
        await assert.rejects(store.delete(key), TypeError);
      }
      assert.equal(await store.load(null as never, Date.now()), null);
      const key = freshKey();
      const now = Date.now();
      await assert.rejects(store.create(key, { ...record(now), expires: now + 0.5 }), TypeError);
      await assert.rejects(store.create(key, { ...record(now), created: Number.NaN }), TypeError);
      await assert.rejects(store.create(key, { ...record(now), data: 42 as never }), TypeError);
      await assert.rejects(store.create(key, { ...record(now), expiry: Number.POSITIVE_INFINITY }), TypeError);
      await assert.rejects(store.create(key, { ...record(now), expiry: {} as never }), TypeError);
      await assert.rejects(store.save(key, record(now), "v1"), TypeError);
      await assert.rejects(store.save(key, record(now), -1), TypeError);
      await assert.rejects(store.load(key, Number.NaN), TypeError);
      await assert.rejects(store.clearExpired(Number.NaN), TypeError);
      assert.equal(log.length, 0, `${layout}: no statement was prepared`);
      // The longest keys each layout accepts do reach the database.
      const longest = layout === "django" ? "k".repeat(40) : "f".repeat(64);
      await store.create(longest, record(now));
      assert.equal((await store.load(longest, now))?.data, '{"a":1}');
    }
  });

  test("sqlStore() creates the schema once, lazily, and retries after a failure", async () => {
    const log: string[] = [];
    let failures = 1;
    const store = sqlStore({
      client: spy(db, log, (sql) => sql.startsWith("CREATE TABLE") && failures-- > 0),
      table: "lazy",
    });
    assert.equal(log.length, 0, "construction runs nothing");
    await assert.rejects(store.load(freshKey(), Date.now()), /injected failure/);
    const key = freshKey();
    const now = Date.now();
    assert.equal(await store.load(key, now), null, "the second call retries the schema and succeeds");
    const probesAfterSetup = log.filter((line) => line.startsWith("exec:") && line.includes("WHERE 1 = 0")).length;
    assert.ok(probesAfterSetup > 0);
    await store.create(key, record(now));
    await store.save(key, record(now, '{"b":2}'));
    await store.load(key, now);
    await store.delete(key);
    await store.clearExpired(now);
    const probesAtEnd = log.filter((line) => line.startsWith("exec:") && line.includes("WHERE 1 = 0")).length;
    assert.equal(probesAtEnd, probesAfterSetup, "no schema work after the first success");
    assert.equal(log.filter((line) => line.startsWith("exec:CREATE TABLE")).length, 1);
  });

  test("sqlStore({ ensureSchema: false }) issues no DDL until ensureSchema() is called", async () => {
    const log: string[] = [];
    const store = sqlStore({ client: spy(db, log), table: "manual", ensureSchema: false });
    await assert.rejects(store.load(freshKey(), Date.now()));
    assert.equal(log.filter((line) => /CREATE|ALTER/.test(line)).length, 0);
    await store.ensureSchema();
    assert.ok(log.some((line) => line.startsWith("exec:CREATE TABLE")));
    const key = freshKey();
    await store.create(key, record(Date.now()));
    assert.ok(await store.load(key, Date.now()));
  });
});

// ---- per engine: schema, data safety, versions, exact round-trips ----

for (const engine of ENGINES) {
  describe(`sqlStore(${engine.name}) specifics`, () => {
    let fixture: Awaited<ReturnType<typeof openStore>> = null;
    before(async () => {
      fixture = await openStore(engine, "spec");
    });
    after(async () => {
      await fixture?.close?.();
    });
    const it = (title: string, fn: (f: NonNullable<typeof fixture>) => Promise<void>) =>
      test(`sqlStore(${engine.name}) ${title}`, async (t) => {
        if (!fixture) return t.skip("backend unavailable");
        await fn(fixture);
      });

    it("creates its table on first use; ensureSchema() twice is harmless and keeps the rows", async ({ store, conn, table }) => {
      await assert.rejects(conn.exec(`SELECT 1 FROM ${engine.quote(table)}`), "no table before the first call");
      const key = freshKey();
      const now = Date.now();
      assert.equal(await store.load(key, now), null);
      assert.deepEqual(await conn.exec(`SELECT COUNT(*) AS n FROM ${engine.quote(table)}`).then((r) => Number(r[0]!.n)), 0);
      await store.create(key, record(now));
      await store.ensureSchema();
      await store.ensureSchema();
      const again = sqlStore({ client: conn.client, table });
      await again.ensureSchema();
      assert.equal((await again.load(key, now))?.data, '{"a":1}');
    });

    it("keeps SQL metacharacters in data and expiry as data", async ({ store, conn, table }) => {
      const now = Date.now();
      const payloads = [
        `'); DROP TABLE ${table}; --`,
        `"; DELETE FROM ${table}; --`,
        "$1 $2 ? ?? :name @p1 %s %_ \\' \\\\ ` ``",
        "\u0000\u0001\u001f' OR '1'='1",
        "é€😀\u202e\uFEFF 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
      ];
      const keys: string[] = [];
      for (const payload of payloads) {
        const key = freshKey();
        keys.push(key);
        const data = JSON.stringify({ payload });
        await store.create(key, { ...record(now, data), expiry: payload });
        const loaded = await store.load(key, now);
        assert.equal(loaded?.data, data);
        assert.equal(loaded?.expiry, payload);
      }
      for (const key of keys) assert.ok(await store.load(key, now), "every row is still there");
      const rows = await conn.exec(`SELECT COUNT(*) AS n FROM ${engine.quote(table)}`);
      assert.ok(Number(rows[0]!.n) >= payloads.length);
    });

    it("round-trips every field exactly, including each kind of expiry override", async ({ store }) => {
      const now = Date.now();
      const expiries: (number | string | undefined)[] = [undefined, 0, -1, 1.5, 1_209_600, "0", "", "2031-01-02T03:04:05.000Z", "2026-11-22T03:18:15.764876+00:00"];
      for (const expiry of expiries) {
        const key = freshKey();
        const rec: SessionRecord = { data: "x".repeat(300_000), expires: now + 1_234_567, created: now - 98_765, active: now - 1, ...(expiry === undefined ? {} : { expiry }) };
        await store.create(key, rec);
        const loaded = await store.load(key, now);
        assert.ok(loaded);
        const { version, ...rest } = loaded;
        assert.deepEqual(rest, rec, `expiry ${JSON.stringify(expiry)}`);
        assert.equal("expiry" in loaded, expiry !== undefined);
        assert.equal(version, 1);
      }
    });

    it("versions: create is 1, every save increments, stale or vanished saves fail", async ({ store }) => {
      const key = freshKey();
      const now = Date.now();
      assert.equal(await store.create(key, record(now)), 1);
      assert.equal((await store.load(key, now))?.version, 1);
      assert.equal(await store.save(key, record(now, '{"n":2}'), 1), 2);
      assert.equal(await store.save(key, record(now, '{"n":3}')), 3, "an unversioned save returns the new version");
      assert.equal(await store.save(key, record(now, '{"n":4}'), "3"), 4, "a numeric string version is accepted");
      assert.equal((await store.load(key, now))?.version, 4);
      await rejectsWithCode(store.save(key, record(now, '{"n":"stale"}'), 3), "SESSION_CONFLICT");
      assert.equal((await store.load(key, now))?.data, '{"n":4}');
      await store.delete(key);
      await rejectsWithCode(store.save(key, record(now), 4), "SESSION_INTERRUPTED");
      await rejectsWithCode(store.save(key, record(now)), "SESSION_INTERRUPTED");
      assert.equal(await store.load(key, now), null);
      await rejectsWithCode(store.create(key, record(now)).then(() => store.create(key, record(now))), "SESSION_EXISTS");
    });

    it("clearExpired() deletes exactly the rows with expires <= now and counts them", async ({ conn }) => {
      const store = sqlStore({ client: conn.client, table: `${fixture!.table}_c` });
      try {
        const now = Date.now();
        const dead = [freshKey(), freshKey()];
        const live = freshKey();
        await store.create(dead[0]!, record(now - 10_000, "{}", 5_000));
        await store.create(dead[1]!, record(now - 5_000, "{}", 5_000)); // expires == now
        await store.create(live, record(now - 5_000, "{}", 5_001));
        assert.equal(await store.clearExpired(now), 2);
        assert.equal(await store.clearExpired(now), 0);
        assert.ok(await store.load(live, now));
        assert.equal(await store.clearExpired(now + 1), 1);
      } finally {
        await conn.exec(`DROP TABLE IF EXISTS ${engine.quote(`${fixture!.table}_c`)}`);
      }
    });
  });
}

// ---- the Django layout against tables Django itself created ----

/** `django_session` as Django's migration creates it on each engine (sqlmigrate output). */
function djangoDdl(engine: Engine, table: string): string[] {
  const t = engine.quote(table);
  if (engine === sqlite) {
    return [
      `CREATE TABLE ${t} ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)`,
      `CREATE INDEX "${table}_expire_date_a5c62663" ON ${t} ("expire_date")`,
    ];
  }
  if (engine === mysql2) {
    return [
      `CREATE TABLE ${t} (\`session_key\` varchar(40) NOT NULL PRIMARY KEY, \`session_data\` longtext NOT NULL, \`expire_date\` datetime(6) NOT NULL)`,
      `CREATE INDEX \`${table}_expire_date_a5c62663\` ON ${t} (\`expire_date\`)`,
    ];
  }
  return [
    `CREATE TABLE ${t} ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL)`,
    `CREATE INDEX "${table}_expire_date_a5c62663" ON ${t} ("expire_date")`,
    `CREATE INDEX "${table}_session_key_c0390e0f_like" ON ${t} ("session_key" varchar_pattern_ops)`,
  ];
}

/** A UTC instant as each engine's Django column takes it (and as `exec` reads it back, as epoch ms). */
function djangoInsert(engine: Engine, table: string): string {
  const t = engine.quote(table);
  const p = engine.ph;
  const date = engine === mysql2 ? `CAST(${p(3)} AS DATETIME(6))` : engine === sqlite ? p(3) : `CAST(${p(3)} AS timestamptz)`;
  return `INSERT INTO ${t} (session_key, session_data, expire_date) VALUES (${p(1)}, ${p(2)}, ${date})`;
}
function djangoExpireMs(engine: Engine, table: string): string {
  const t = engine.quote(table);
  const ms = engine === mysql2
    ? "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', expire_date) DIV 1000"
    : engine === sqlite
    ? "expire_date"
    : "FLOOR(EXTRACT(EPOCH FROM expire_date) * 1000)";
  return `SELECT ${ms} AS ms, session_data FROM ${t} WHERE session_key = ${engine.ph(1)}`;
}
/** Django's own text for a UTC instant with microseconds (PostgreSQL takes it with a Z). */
function djangoText(engine: Engine, ms: number, micros: number): string {
  const iso = new Date(ms).toISOString().slice(0, 19);
  const fraction = `${String(ms % 1000).padStart(3, "0")}${String(micros).padStart(3, "0")}`;
  return engine === sqlite || engine === mysql2 ? `${iso.replace("T", " ")}.${fraction}` : `${iso}.${fraction}Z`;
}

for (const engine of [sqlite, nodePostgres, mysql2]) {
  describe(`sqlStore(${engine.name}, django) on a table Django created`, () => {
    let conn: Conn | null = null;
    const table = tableFor("dj");
    before(async () => {
      if (!(await engine.up())) return;
      conn = await engine.connect({ timeZone: true });
      for (const ddl of djangoDdl(engine, table)) await conn.exec(ddl);
    });
    after(async () => {
      if (!conn) return;
      try {
        await conn.exec(`DROP TABLE IF EXISTS ${engine.quote(table)}`);
      } finally {
        await conn.close();
      }
    });

    test(`sqlStore(${engine.name}, django) adds its columns, reads Django's rows and writes rows Django reads`, async (t) => {
      if (!conn) return t.skip("backend unavailable");
      if (engine === nodePostgres) assert.equal((await conn.exec("SHOW TimeZone"))[0]!.TimeZone, "Asia/Kolkata");
      if (engine === mysql2) assert.equal((await conn.exec("SELECT @@session.time_zone AS tz"))[0]!.tz, "+05:00");
      const now = Math.floor(Date.now() / 1000) * 1000 + 764;
      const djangoKey = "d".repeat(32);
      const pastKey = "p".repeat(32);
      // Django's rows: one live with a sub-millisecond expiry (764.400 ms past `now`'s second), one expired.
      await conn.exec(djangoInsert(engine, table), [djangoKey, "django-signed:payload", djangoText(engine, now + 3_600_000, 400)]);
      await conn.exec(djangoInsert(engine, table), [pastKey, "old", djangoText(engine, now - 1000, 0)]);

      const store = sqlStore({ client: conn.client, table, layout: "django" });
      await store.ensureSchema();
      await store.ensureSchema();

      const loaded = await store.load(djangoKey, now);
      assert.ok(loaded);
      assert.equal(loaded.data, "django-signed:payload");
      assert.equal(loaded.expires, now + 3_600_001, "Django's 764.400 ms rounds up, never down past the SQL filter");
      assert.equal(loaded.created, now, "rows Django wrote load with created = now");
      assert.equal(loaded.active, now);
      assert.equal(loaded.version, 0);
      assert.equal("expiry" in loaded, false);
      assert.equal(await store.load(djangoKey, now + 3_600_001), null, "dead at the rounded-up millisecond");
      assert.equal(await store.load(pastKey, now), null);

      // A satchel write on Django's row: compare-and-set from version 0, then Django sees it.
      const expires = now + 7_200_000;
      assert.equal(await store.save(djangoKey, { data: "satchel-data", expires, created: now - 5, active: now, expiry: 0 }, 0), 1);
      await rejectsWithCode(store.save(djangoKey, record(now), 0), "SESSION_CONFLICT");
      const [row] = await conn.exec(djangoExpireMs(engine, table), [djangoKey]);
      assert.equal(row!.session_data, "satchel-data");
      if (engine === sqlite) assert.equal(row!.ms, `${new Date(expires).toISOString().slice(0, 23).replace("T", " ")}000`);
      else assert.equal(Number(row!.ms), expires, "expire_date holds the UTC instant whatever the session time zone");
      const reloaded = await store.load(djangoKey, now);
      assert.deepEqual(reloaded, { data: "satchel-data", expires, created: now - 5, active: now, expiry: 0, version: 1 });

      // Django's own insert (satchel columns NULL) next to satchel's, and clearExpired on both.
      const key = "s".repeat(32);
      await store.create(key, record(now, "{}", 1000));
      assert.equal(await store.clearExpired(now), 1, "Django's expired row");
      assert.equal(await store.clearExpired(now + 1000), 1, "satchel's row, at its boundary");
      assert.ok(await store.load(djangoKey, now + 1000));
    });

    test(`sqlStore(${engine.name}, django, secret): session_data is Django's signed encoding, both ways`, async (t) => {
      if (!conn) return t.skip("backend unavailable");
      const OLD = "old-django-secret-for-rotation";
      const store = sqlStore({ client: conn.client, table, layout: "django", secret: [DJANGO_SECRET, OLD] });
      await store.ensureSchema();
      const now = Math.floor(Date.now() / 1000) * 1000;
      // A row as Django writes it: signed under the old key (a fallback), integer _session_expiry in the data.
      const djangoKey = "e".repeat(32);
      const blob = await encodeSessionData({ cart: ["sku-1"], "clé": "é😀", _session_expiry: 300 }, OLD, now - 1000);
      await conn.exec(djangoInsert(engine, table), [djangoKey, blob, djangoText(engine, now + 300_000, 0)]);
      const loaded = await store.load(djangoKey, now);
      assert.ok(loaded);
      assert.equal(loaded.data, '{"cart":["sku-1"],"clé":"é😀"}', "_session_expiry is bookkeeping, not data");
      assert.equal(loaded.expiry, 300);
      assert.equal(loaded.expires, now + 300_000);

      // satchel writes it back: signed with the current secret at the record's activity time, expiry inside.
      const expires = now + 3_600_000;
      await store.save(djangoKey, { data: '{"cart":[]}', expires, created: now, active: now, expiry: "2031-01-02T03:04:05.120Z" }, loaded.version);
      const [row] = await conn.exec(djangoExpireMs(engine, table), [djangoKey]);
      const written = String(row!.session_data);
      assert.equal(written, await encodeSessionData({ cart: [], _session_expiry: "2031-01-02T03:04:05.120000+00:00" }, DJANGO_SECRET, now));
      assert.deepEqual(await decodeSessionData(written, DJANGO_SECRET), { cart: [], _session_expiry: "2031-01-02T03:04:05.120000+00:00" });
      assert.equal(await decodeSessionData(written, OLD), null, "the old key alone no longer verifies it");
      assert.equal((await store.load(djangoKey, now))?.expiry, "2031-01-02T03:04:05.120Z");

      // Data under a key nobody configured: Django's "Session data corrupted", an empty session that keeps its key.
      const foreignKey = "f".repeat(32);
      await conn.exec(djangoInsert(engine, table), [foreignKey, await encodeSessionData({ a: 1 }, "someone-else", now), djangoText(engine, now + 60_000, 0)]);
      const foreign = await store.load(foreignKey, now);
      assert.equal(foreign?.data, "{}");
      assert.equal(foreign?.expiry, undefined);
      await store.save(foreignKey, record(now, '{"b":2}'));
      assert.equal((await store.load(foreignKey, now))?.data, '{"b":2}');

      // Data that is not a JSON object cannot be written in Django's format.
      await rejectsWithCode(store.create("n".repeat(32), record(now, "not json")), "SERIALIZATION_FAILED");
      for (const key of [djangoKey, foreignKey]) await store.delete(key);
    });
  });
}

test("sqlStore() secret: Django layout only, and never empty", () => {
  const client = { query: async () => ({ rows: [], rowCount: 0 }) } as unknown as SqlClient;
  assert.throws(() => sqlStore({ client, secret: "x" }), TypeError);
  for (const secret of ["", [], [""], [1]] as unknown as string[]) {
    assert.throws(() => sqlStore({ client, layout: "django", secret }), TypeError);
  }
  assert.equal(sqlStore({ client, layout: "django", secret: ["a", "b"] }).layout, "django");
});

// ---- a dead server fails fast ----

describe("sqlStore() against a closed port", () => {
  const cases: [string, () => Promise<{ client: SqlClient; close: () => Promise<void> }>][] = [
    ["pg", async () => {
      const pool = new pg.Pool({ host: "127.0.0.1", port: 1, user: "postgres", database: "test", connectionTimeoutMillis: 2000 });
      return { client: pool, close: () => pool.end() };
    }],
    ["postgres.js", async () => {
      const sql = postgres({ host: "127.0.0.1", port: 1, user: "postgres", database: "test", connect_timeout: 2, max: 1 });
      return { client: sql, close: () => sql.end({ timeout: 1 }) };
    }],
    ["mysql2", async () => {
      const pool = mysql.createPool({ host: "127.0.0.1", port: 1, user: "root", database: "test", connectTimeout: 2000 });
      return { client: pool, close: () => pool.end() };
    }],
  ];
  for (const [name, connect] of cases) {
    test(`sqlStore(${name}) rejects within seconds when nothing listens`, async () => {
      const { client, close } = await connect();
      const store: SessionStore = sqlStore({ client });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const started = Date.now();
      try {
        const outcome = await Promise.race([
          store.load(freshKey(), Date.now()).then(() => "resolved", (error: unknown) => error),
          new Promise((resolve) => { timer = setTimeout(() => resolve("timeout"), 5000); }),
        ]);
        assert.ok(outcome instanceof Error, `expected an error, got ${String(outcome)}`);
        assert.ok(!(outcome instanceof SessionError), "a dead server is not a session condition");
        assert.ok(Date.now() - started < 5000);
      } finally {
        clearTimeout(timer);
        await close();
      }
    });
  }
});
