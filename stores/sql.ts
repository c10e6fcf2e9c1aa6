/**
 * `@satchel/session/stores/sql`: sessions in one SQL table, on SQLite (`node:sqlite`, `bun:sqlite`,
 * Cloudflare D1), PostgreSQL (postgres.js, node-postgres) or MariaDB/MySQL (mysql2).
 *
 * You pass in a client you have already configured; the store never imports a driver. It recognises
 * the client by its shape and writes the matching SQL dialect:
 *
 * | client | how it is recognised | dialect |
 * |---|---|---|
 * | postgres.js `postgres(url)`, or Bun's `new Bun.SQL(postgresUrl)` | has `unsafe(text, params)` | `"postgres"` |
 * | node-postgres `Client` / `Pool` | has `query(text, values)` | `"postgres"` |
 * | mysql2 promise `Connection` / `Pool` (or a callback one, through its `.promise()`) | has `execute` and `query` | `"mysql"` |
 * | `node:sqlite` `DatabaseSync` (Node, Deno), `bun:sqlite` `Database` (Bun) | has `prepare()` | `"sqlite"` |
 * | Cloudflare D1 binding or D1 session | has `prepare()` and `batch()` | `"d1"` |
 *
 * Options:
 * - `client` (required): one of the clients above.
 * - `dialect` (default: detected): `"sqlite" | "postgres" | "mysql" | "d1"`. Optional; when given it
 *   must agree with the client (`"sqlite"` is also accepted for a D1 client), else `TypeError`.
 * - `layout` (default `"satchel"`): the table layout, see below.
 * - `table` (default `"satchel_sessions"`, or `"django_session"` with `layout: "django"`): must match
 *   `/^[A-Za-z_][A-Za-z0-9_]{0,62}$/` (else `TypeError` at construction); always quoted in SQL, so on
 *   PostgreSQL it is case-sensitive.
 * - `ensureSchema` (default `true`): create the table on first use (see `ensureSchema()` below). Set
 *   `false` when migrations own the table; the store then only needs SELECT, INSERT, UPDATE, DELETE.
 *
 * Layout `"satchel"` (the default): `id` (the core's 64-hex HMAC of the session id: `rawIds` stays
 * unset, so a leaked table yields no usable cookie), `data` (TEXT; LONGTEXT utf8mb4 on MariaDB/MySQL),
 * `expires`, `created`, `active` (BIGINT epoch milliseconds), `expiry` (nullable TEXT holding the
 * JSON of the per-session override, so `0` comes back as the number `0` and an ISO date as that
 * string), `version` (BIGINT, 1 on insert, incremented by every write), `user` (the bound user's
 * key, NULL when anonymous; `varchar(255)`, `utf8mb4_bin` on MariaDB/MySQL so it compares exactly;
 * on PostgreSQL write it `"user"` in your own SQL, as a bare `user` there is `CURRENT_USER`), an
 * index on `expires` and one on `(user, expires)` (`user(191), expires` on MariaDB/MySQL, within
 * InnoDB's 767-byte column prefix limit of older row formats).
 *
 * Layout `"django"`: Django's own `django_session` table, so a Django project and a satchel app can
 * share it and Django's `clearsessions` keeps working. Django keys rows by the raw session id, so
 * the store sets `rawIds: true` and accepts keys of 8 to 40 characters (the column is
 * `varchar(40)`). Columns: `session_key varchar(40)` primary key, `session_data text` (LONGTEXT on
 * MariaDB/MySQL), and `expire_date` (`timestamp with time zone` on
 * PostgreSQL, `datetime(6)` in UTC on MariaDB/MySQL, Django's `YYYY-MM-DD HH:MM:SS.ffffff` UTC text
 * on SQLite) with Django's index. The satchel-only fields live in five extra nullable columns,
 * `satchel_created`, `satchel_active`, `satchel_expiry`, `satchel_version` and `satchel_user` (typed
 * as the satchel layout's `user`, with the same index on `(satchel_user, expire_date)`), which
 * `ensureSchema()` adds to an existing Django table (`ALTER TABLE ... ADD COLUMN`, `CREATE INDEX`)
 * even though Django's migrations own it: Django's ORM names its columns in every INSERT, SELECT and
 * UPDATE (checked against Django 3.2), so it ignores them and its inserts leave them NULL. Set
 * `ensureSchema: false` to keep the store from altering the table, and apply `store.upgrade` in a
 * migration of your own. A row Django wrote loads with `created` and `active` equal to the load's
 * `now` and version `0`; a Django write does not bump `satchel_version`, so compare-and-set only
 * sees satchel writers.
 *
 * `session_data` with the `secret` option (Django's `SECRET_KEY`, or `[SECRET_KEY,
 * ...SECRET_KEY_FALLBACKS]`): Django's own encoding, `signing.dumps(data,
 * salt="django.contrib.sessions.SessionStore", compress=True)` (see `@satchel/session/django`),
 * signed at the record's last activity, with the expiry override inside the data as Django keeps it
 * (`_session_expiry`: seconds, or an ISO date written as Python's `isoformat()`), and `expire_date`
 * the record's expiry, which is Django's `get_expiry_date()`. So a row either side writes is a live
 * session for the other. On load the signature is checked under each secret in order; a row that
 * fails (another key, tampered) loads as an empty session that keeps its key, as Django's
 * `decode` does, and `_session_expiry` in the data wins over the `satchel_expiry` column (Django
 * never updates that column). The data must be JSON of an object (the `json` serializer; `tagged`
 * works between satchel apps), else a save throws `SERIALIZATION_FAILED`. Without `secret`,
 * `session_data` holds `record.data` verbatim, which Django cannot read.
 *
 * The user of a Django-layout record is `satchel_user`; when that is NULL (a row Django wrote) and
 * `secret` is set, the `_auth_user_id` in the verified `session_data`, so `load` and a plain
 * `list()` report the user of Django's rows too (without `secret` they are anonymous to satchel).
 * Django never moves a session to another user in place (its `login()` and `logout()` cycle or
 * flush the key), so a `satchel_user` and the data do not disagree. Known limit:
 * `list({ user })` reads the `satchel_user` index, which only satchel writes, so it finds the
 * sessions satchel created or saved, not those Django wrote (Django's `login()` cycles the key, so
 * a Django login is a row without `satchel_user` until satchel next saves it). `revokeUser()` thus
 * misses sessions only Django has written; end those with the `authHash` option (Django's
 * password-change invalidation, which both sides check). A plain `list()` reads every row and
 * does list them.
 *
 * Consistency: every operation is one statement. `create` is an INSERT that fails on the primary
 * key (`ON CONFLICT DO NOTHING` on SQLite/PostgreSQL/D1, the duplicate-key error on MariaDB/MySQL)
 * and throws `SESSION_EXISTS`; `save` is `UPDATE ... WHERE key = ? [AND version = ?]`, a
 * compare-and-set when the core passes the version `load` returned: no row updated means
 * `SESSION_CONFLICT` if the row still exists, `SESSION_INTERRUPTED` if it is gone. A save never
 * inserts, so a deleted session is never resurrected.
 *
 * Listing (`list({ user?, now })`, behind `sessions.list()`, `count()` and `revokeUser()`): the record
 * and its user are one row, so the user index is always exactly as current as the record. With
 * `user`, `WHERE user = ? AND expires > now` through the user index; without, every live row. Both
 * read pages of 200 rows in key order, each page starting after the previous page's last key
 * (keyset pagination: never one large result, never an OFFSET), so rows created or deleted during
 * a listing neither shift nor repeat the others. The user is compared again in JavaScript, exactly.
 * Rows written before the `user` column existed (an upgraded table) are anonymous until their next
 * save: `list({ user })` does not find them, `list()` does.
 *
 * TTL: SQL has no native expiry. `load(key, now)` filters on `expires > now` (the core's clock, not
 * the database's) and checks it again in JavaScript; `clearExpired(now)` deletes the rows with
 * `expires <= now` and returns how many went. Run it from a cron job or `satchel clear-expired`.
 *
 * Schema: `ensureSchema()` is idempotent. It first probes the table with `SELECT ... WHERE 1 = 0`
 * and the user index in the catalog (`pg_index`, `information_schema.statistics`, `sqlite_master`),
 * and issues DDL only when something is missing (`CREATE TABLE IF NOT EXISTS` plus the indexes,
 * inline on MariaDB/MySQL; on an existing table, `ALTER TABLE ... ADD COLUMN` for each missing
 * column, such as `user` on a table from before it existed, then the user index); losing a race to
 * another process doing the same is not an error. With `ensureSchema: true` the store runs it once
 * before its first query (memoized; a failed attempt is retried on the next call). `store.schema`
 * lists the CREATE statements and `store.upgrade` the ALTER and index statements for your
 * migrations. The user index is found by name, so on a large PostgreSQL table you can build it
 * first with `CREATE INDEX CONCURRENTLY` (a plain `CREATE INDEX` blocks writes while it runs).
 *
 * Keys are validated (`/^[a-z0-9]{8,64}$/`, 40 for the Django layout) before the database is
 * touched: an invalid key makes `load` resolve `null` and every other method throw `TypeError`.
 * Every value is a bound parameter. Driver errors (connection refused, timeouts) pass through
 * unchanged; the core reports them as `STORE_UNAVAILABLE`.
 *
 * Limits: MariaDB/MySQL connections must use a utf8mb4 charset (mysql2's default) for data outside
 * the BMP; PostgreSQL TEXT cannot hold a NUL character (JSON serializers escape it; a user key
 * holding one fails to save there). User keys longer than 255 characters are refused with a
 * `TypeError` (`session.login()` never makes one). Schema-qualified
 * table names are not accepted: point the connection's search path or database at the schema. An
 * existing Django table on PostgreSQL created with `USE_TZ = False` (`timestamp without time zone`)
 * is compared in the connection's TimeZone, so use UTC there.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { createSessions } from "@satchel/session";
 * import { sqlStore } from "@satchel/session/stores/sql";
 *
 * const store = sqlStore({ client: new DatabaseSync(":memory:") }); // or postgres(url), new pg.Pool(), mysql2 pool, env.DB
 * const sessions = createSessions({ secret: "a-secret-of-at-least-32-characters!", store });
 * const response = await sessions.handle(new Request("https://app.example/"), (_request, session) => {
 *   session.set("user", "ada");
 *   return new Response("ok");
 * });
 * if (!response.headers.getSetCookie()[0]?.startsWith("sessionid=")) throw new Error("no cookie");
 * ```
 *
 * @module
 */
import type { ListedRecord, ListOptions, LoadedRecord, SessionRecord, SessionStore, Version } from "../core/types.ts";
import { SessionError, interrupted } from "../core/errors.ts";
import { USER_KEY, userOf } from "../core/session.ts";
import { isKey, requireKey, requireRecord } from "./_record.ts";
import { createDriver, detectApi, dialectsOf } from "./_sql_driver.ts";
import { decodeSessionData, djangoToRecord, encodeSessionData, recordToDjango } from "../core/django.ts";
import type { Driver, SqlApi, SqlClient, SqlDialect, SqlParam, SqlRow } from "./_sql_driver.ts";

export type {
  D1DatabaseLike,
  D1StatementLike,
  Mysql2Like,
  PgLike,
  PostgresJsLike,
  SqlApi,
  SqlClient,
  SqlDialect,
  SqliteDatabaseLike,
  SqliteStatementLike,
} from "./_sql_driver.ts";

/** The table layouts `sqlStore()` can use. */
export type SqlLayout = "satchel" | "django";

/** Options of {@linkcode sqlStore}. */
export interface SqlStoreOptions {
  /** A configured client: postgres.js, pg `Client`/`Pool`, mysql2 promise API, `node:sqlite`, `bun:sqlite` or D1. */
  client: SqlClient;
  /** The SQL dialect. @default detected from the client */
  dialect?: SqlDialect | undefined;
  /** The table layout. @default "satchel" */
  layout?: SqlLayout | undefined;
  /** The table name, `/^[A-Za-z_][A-Za-z0-9_]{0,62}$/`. @default "satchel_sessions" ("django_session" for the Django layout) */
  table?: string | undefined;
  /** Create the table (and, for the Django layout, the satchel columns) lazily on first use. @default true */
  ensureSchema?: boolean | undefined;
  /**
   * Django layout only: Django's `SECRET_KEY`, or `[SECRET_KEY, ...SECRET_KEY_FALLBACKS]`. With it,
   * `session_data` holds Django's own signed encoding, so Django and satchel read each other's rows.
   * Without it, `session_data` holds `record.data` verbatim (Django cannot read those rows).
   */
  secret?: string | readonly string[] | undefined;
}

/** The store `sqlStore()` returns: a `SessionStore` plus schema management. */
export interface SqlStore extends SessionStore {
  readonly kind: "server";
  /** `true` for the Django layout (keys are raw session ids, as Django keeps them); absent otherwise. */
  readonly rawIds?: boolean;
  /** The dialect in use. */
  readonly dialect: SqlDialect;
  /** The client API that was recognised. */
  readonly api: SqlApi;
  /** The layout in use. */
  readonly layout: SqlLayout;
  /** The table name. */
  readonly table: string;
  /** The client passed in (escape hatch). */
  readonly client: SqlClient;
  /** The CREATE statements `ensureSchema()` issues on an empty database, for migrations. */
  readonly schema: readonly string[];
  /**
   * The statements that bring an existing table up to this layout, for migrations: an
   * `ALTER TABLE ... ADD COLUMN` per column an earlier table may lack, then the user index. Apply
   * the ones your table needs: a satchel table from before users lacks the `user` column and the
   * index; Django's own `django_session` lacks every column here, one the previous version of
   * this store extended lacks only `satchel_user` and the index. `ensureSchema()` runs only the
   * missing ones.
   */
  readonly upgrade: readonly string[];
  /** Create the table and indexes if missing, add missing columns and the user index. Idempotent. */
  ensureSchema(): Promise<void>;
  /** Live records, all or one user's, in key order, read in pages of a few hundred rows. */
  list(options: ListOptions): AsyncIterable<ListedRecord>;
  /** Delete every row with `expires <= now`; resolves to how many were deleted. */
  clearExpired(now: number): Promise<number>;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Django's `session_key` is `varchar(40)`: the Django layout takes keys of 8 to 40 characters. */
const DJANGO_KEY_LENGTH = 40;
/** Django's own name for the `expire_date` index of `django_session` (from its migration). */
const DJANGO_INDEX = "django_session_expire_date_a5c62663";

interface Statements {
  load: string;
  /** One page of every live row, after a key: `[now, after]`. */
  list: string;
  /** One page of a user's live rows, after a key, through the user index: `[user, now, after]`. */
  listUser: string;
  create: string;
  saveVersioned: string;
  saveAny: string;
  exists: string;
  delete: string;
  clear: string;
  probeAll: string;
  probeTable: string;
  /** A catalog query with a row when the user index exists, and its parameters. */
  probeIndex: [string, SqlParam[]];
  create_schema: string[];
  /** `[column, probe, ALTER]` for each column a table of an earlier layout may lack. */
  extraColumns: [string, string, string][];
  /** Create the user index on a table that lacks it. */
  userIndex: string;
  /** The user index's name. */
  userIndexName: string;
}

/**
 * Identifier quoting. SQLite (and D1) get backticks, not double quotes: builds with the
 * "double-quoted string literal" misfeature (Bun's among them) read `"missing_column"` as the string
 * 'missing_column', which would make a schema probe pass and a load return column names as values.
 */
function quoter(dialect: SqlDialect): (name: string) => string {
  return dialect === "postgres" ? (name) => `"${name}"` : (name) => `\`${name}\``;
}

/** An index name within the 63/64-character identifier limits, distinct per table. */
function indexName(table: string, suffix: string): string {
  const full = `${table}_${suffix}`;
  if (full.length <= 60) return full;
  let hash = 0x811c9dc5; // FNV-1a, only to keep long names distinct
  for (let i = 0; i < table.length; i++) hash = Math.imul(hash ^ table.charCodeAt(i), 0x01000193) >>> 0;
  return `${table.slice(0, 40)}_${hash.toString(16).padStart(8, "0")}_${suffix}`;
}

/** How many rows one `list()` query reads. */
const LIST_PAGE = 200;
/** The longest user key the user column holds (`session.login()` takes at most 255 characters). */
const USER_LENGTH = 255;

function buildStatements(dialect: SqlDialect, layout: SqlLayout, table: string): Statements {
  const q = quoter(dialect);
  const t = q(table);
  const pg = dialect === "postgres";
  const my = dialect === "mysql";
  const django = layout === "django";
  const c = django
    ? { key: "session_key", data: "session_data", expires: "expire_date", created: "satchel_created", active: "satchel_active", expiry: "satchel_expiry", version: "satchel_version", user: "satchel_user" }
    : { key: "id", data: "data", expires: "expires", created: "created", active: "active", expiry: "expiry", version: "version", user: "user" };
  const [key, data, expires, created, active, expiry, version, user] = [c.key, c.data, c.expires, c.created, c.active, c.expiry, c.version, c.user].map(q) as [string, string, string, string, string, string, string, string];

  // How a time parameter enters SQL and how the expiry column comes out as epoch ms.
  const timeIn = !django ? "?" : pg ? "CAST(? AS timestamptz)" : my ? "CAST(? AS DATETIME(6))" : "?";
  const expiresOut = !django
    ? expires
    : pg
    ? `CAST(CEIL(EXTRACT(EPOCH FROM ${expires}) * 1000) AS bigint)`
    : my
    ? `(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${expires}) + 999) DIV 1000`
    : expires; // SQLite text, parsed in JavaScript
  const versionIn = django ? `COALESCE(${version}, 0)` : version;
  const onConflict = my ? "" : ` ON CONFLICT (${key}) DO NOTHING`;
  const set = `${data} = ?, ${expires} = ${timeIn}, ${created} = ?, ${active} = ?, ${expiry} = ?, ${user} = ?`;
  const columns = `${key}, ${data}, ${expires}, ${created}, ${active}, ${expiry}, ${user}, ${version}`;

  const text = pg ? "text" : my ? "longtext" : "text";
  const bigint = dialect === "sqlite" || dialect === "d1" ? "integer" : "bigint";
  // Compared byte for byte: MariaDB/MySQL's default collations would match "Ada" to "ada".
  const userType = my ? `varchar(${USER_LENGTH}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin` : pg ? `varchar(${USER_LENGTH})` : "text";
  // Index names are per schema on PostgreSQL and SQLite: the Django layout's suffix must never
  // spell a satchel-layout table's (`django_session` + "_satchel_user_idx" was exactly what a
  // satchel table `django_session_satchel` + "_user_idx" gave), so it ends differently.
  const userIdxName = my ? `${c.user}_idx` : indexName(table, django ? "satchel_uidx" : "user_idx");
  // MariaDB/MySQL: a 191-character prefix (764 bytes) stays within InnoDB's 767-byte column
  // prefix limit of the COMPACT and REDUNDANT row formats an old Django table may still use.
  const userIdxColumns = `${my ? `${user}(191)` : user}, ${expires}`;
  const userIdx = `INDEX ${q(userIdxName)} (${userIdxColumns})`;
  const createUserIdx = `CREATE INDEX ${my ? "" : "IF NOT EXISTS "}${q(userIdxName)} ON ${t} (${userIdxColumns})`;
  let create_schema: string[];
  if (!django) {
    const idx = q(my ? "expires_idx" : indexName(table, "expires_idx"));
    const id = my ? "varchar(64) CHARACTER SET ascii COLLATE ascii_bin" : pg ? "varchar(64)" : "text";
    const body = `${key} ${id} NOT NULL PRIMARY KEY, ${data} ${text} NOT NULL, ${expires} ${bigint} NOT NULL, ` +
      `${created} ${bigint} NOT NULL, ${active} ${bigint} NOT NULL, ${expiry} ${text} NULL, ${version} ${bigint} NOT NULL, ` +
      `${user} ${userType} NULL`;
    create_schema = my
      ? [`CREATE TABLE IF NOT EXISTS ${t} (${body}, INDEX ${idx} (${expires}), ${userIdx}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`]
      : [`CREATE TABLE IF NOT EXISTS ${t} (${body})`, `CREATE INDEX IF NOT EXISTS ${idx} ON ${t} (${expires})`, createUserIdx];
  } else {
    const idx = q(table === "django_session" ? DJANGO_INDEX : indexName(table, "expire_date_idx"));
    const date = pg ? "timestamp with time zone" : my ? "datetime(6)" : "datetime";
    const body = `${key} varchar(40) NOT NULL PRIMARY KEY, ${data} ${text} NOT NULL, ${expires} ${date} NOT NULL, ` +
      `${created} ${bigint} NULL, ${active} ${bigint} NULL, ${expiry} ${text} NULL, ${version} ${bigint} NULL, ${user} ${userType} NULL`;
    create_schema = my
      ? [`CREATE TABLE IF NOT EXISTS ${t} (${body}, INDEX ${idx} (${expires}), ${userIdx}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`]
      : [`CREATE TABLE IF NOT EXISTS ${t} (${body})`, `CREATE INDEX IF NOT EXISTS ${idx} ON ${t} (${expires})`, createUserIdx];
  }
  const added: [string, string][] = django
    ? [[created, bigint], [active, bigint], [expiry, text], [version, bigint], [user, userType]]
    : [[user, userType]]; // the user column arrived after the first satchel layout
  const extraColumns = added.map(([col, type]): [string, string, string] =>
    [col, `SELECT ${col} FROM ${t} WHERE 1 = 0`, `ALTER TABLE ${t} ADD COLUMN ${col} ${type} NULL`]
  );
  const probeIndex: [string, SqlParam[]] = pg
    ? [`SELECT 1 AS one FROM pg_index WHERE indexrelid = to_regclass($1) AND indrelid = to_regclass($2)`, [q(userIdxName), t]]
    : my
    ? ["SELECT 1 AS one FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? LIMIT 1", [table, userIdxName]]
    : ["SELECT 1 AS one FROM sqlite_master WHERE type = 'index' AND name = ? AND tbl_name = ?", [userIdxName, table]];

  const fields = `${data} AS data, ${expiresOut} AS expires, ${created} AS created, ${active} AS active, ` +
    `${expiry} AS expiry, ${versionIn} AS version, ${user} AS bound_user`;
  // Keyset pagination: each page starts after the last key of the one before, so a page is one
  // short index range whatever the table's size, and rows deleted meanwhile shift nothing.
  const page = `AND ${expires} > ${timeIn} AND ${key} > ? ORDER BY ${key} LIMIT ${LIST_PAGE}`;
  const statements: Statements = {
    load: `SELECT ${fields} FROM ${t} WHERE ${key} = ? AND ${expires} > ${timeIn}`,
    list: `SELECT ${key} AS listed_key, ${fields} FROM ${t} WHERE 1 = 1 ${page}`,
    listUser: `SELECT ${key} AS listed_key, ${fields} FROM ${t} WHERE ${user} = ? ${page}`,
    create: `INSERT INTO ${t} (${columns}) VALUES (?, ?, ${timeIn}, ?, ?, ?, ?, 1)${onConflict}`,
    saveVersioned: `UPDATE ${t} SET ${set}, ${version} = ${versionIn} + 1 WHERE ${key} = ? AND ${versionIn} = ?`,
    saveAny: my
      ? `UPDATE ${t} SET ${set}, ${version} = LAST_INSERT_ID(${versionIn} + 1) WHERE ${key} = ?`
      : `UPDATE ${t} SET ${set}, ${version} = ${versionIn} + 1 WHERE ${key} = ? RETURNING ${version} AS version`,
    exists: `SELECT 1 AS one FROM ${t} WHERE ${key} = ?`,
    delete: `DELETE FROM ${t} WHERE ${key} = ?`,
    clear: `DELETE FROM ${t} WHERE ${expires} <= ${timeIn}`,
    probeAll: `SELECT ${columns} FROM ${t} WHERE 1 = 0`,
    probeTable: `SELECT ${key} FROM ${t} WHERE 1 = 0`,
    probeIndex,
    create_schema,
    extraColumns,
    userIndex: my ? `ALTER TABLE ${t} ADD ${userIdx}` : createUserIdx,
    userIndexName: userIdxName,
  };
  if (pg) {
    // All SQL above is ours and holds no literal "?": number the placeholders for PostgreSQL.
    for (const name of ["load", "list", "listUser", "create", "saveVersioned", "saveAny", "exists", "delete", "clear"] as const) {
      let n = 0;
      statements[name] = statements[name].replace(/\?/g, () => `$${++n}`);
    }
  }
  return statements;
}

function toInt(value: unknown, what: string): number {
  const n = typeof value === "bigint" ? Number(value) : typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n)) {
    throw new Error(`sqlStore: the database returned a non-integer ${what}`);
  }
  return n;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Epoch ms as the UTC text Django writes (`YYYY-MM-DD HH:MM:SS.ffffff`). */
function djangoTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}000`;
}

const DJANGO_TEXT_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:Z|[+-]00:?00)?$/;

/** Django's SQLite text time (UTC) as epoch ms, rounded up so sub-millisecond rows stay consistent with `> now`. */
function parseDjangoTime(value: unknown): number {
  const m = typeof value === "string" ? DJANGO_TEXT_TIME.exec(value) : null;
  if (!m) throw new Error("sqlStore: the database returned an unreadable expire_date");
  const micros = Number((m[7] ?? "").padEnd(6, "0"));
  const base = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return base + Math.ceil(micros / 1000);
}

/**
 * A session store on one SQL table. See the module documentation for the options, both layouts,
 * consistency and expiry.
 *
 * @param options the client and, optionally, dialect, layout, table and `ensureSchema`
 * @returns a `SessionStore` with `ensureSchema()` and `clearExpired(now)`
 * @throws {TypeError} for an unrecognised client, a dialect that does not match it, an unknown
 *   layout or an invalid table name
 *
 * @example Django's table, shared with a Django project (postgres.js connects lazily, on the first query)
 * ```ts
 * import postgres from "postgres";
 * import { sqlStore } from "@satchel/session/stores/sql";
 *
 * const store = sqlStore({ client: postgres("postgres://localhost/app"), layout: "django" });
 * if (store.table !== "django_session" || store.rawIds !== true || store.dialect !== "postgres") throw new Error("unexpected");
 * // await store.ensureSchema(); // optional: the first query runs it anyway
 * ```
 */
export function sqlStore(options: SqlStoreOptions): SqlStore {
  if (options === null || typeof options !== "object") throw new TypeError("sqlStore() needs an options object with a client");
  const { client } = options;
  const api = detectApi(client);
  if (!api) {
    throw new TypeError(
      "sqlStore() cannot use this client: pass postgres.js, a pg Client or Pool, a mysql2 promise connection or pool, a node:sqlite or bun:sqlite database, or a D1 binding",
    );
  }
  const allowed = dialectsOf(api);
  const dialect = options.dialect ?? allowed[0]!;
  if (!allowed.includes(dialect)) {
    throw new TypeError(`sqlStore() was given dialect "${String(dialect)}" but the client is ${api}, which speaks ${allowed.join(" or ")}`);
  }
  const layout = options.layout ?? "satchel";
  if (layout !== "satchel" && layout !== "django") {
    throw new TypeError(`sqlStore() layout must be "satchel" or "django": received ${JSON.stringify(String(layout))}`);
  }
  const secrets = options.secret === undefined ? undefined : typeof options.secret === "string" ? [options.secret] : options.secret;
  if (secrets !== undefined) {
    if (layout !== "django") throw new TypeError('sqlStore() secret only applies to layout: "django" (the satchel layout stores what the core hands it)');
    if (!Array.isArray(secrets) || secrets.length === 0 || !secrets.every((one) => typeof one === "string" && one.length > 0)) {
      throw new TypeError("sqlStore() secret must be a non-empty string or a non-empty array of them (Django's SECRET_KEY first, then its fallbacks)");
    }
  }
  const table = options.table ?? (layout === "django" ? "django_session" : "satchel_sessions");
  if (typeof table !== "string" || !TABLE_NAME.test(table)) {
    throw new TypeError("sqlStore() table must match /^[A-Za-z_][A-Za-z0-9_]{0,62}$/ (letters, digits and _ only)");
  }
  const driver: Driver = createDriver(client, api);
  const sql = buildStatements(dialect, layout, table);
  const django = layout === "django";
  const auto = options.ensureSchema ?? true;

  const time = (ms: number): SqlParam => !django ? ms : dialect === "postgres" ? new Date(ms).toISOString() : djangoTime(ms);
  const nowParam = (now: number): SqlParam => time(Math.floor(now));

  const probe = async (text: string): Promise<boolean> => {
    try {
      await driver.first(text, []);
      return true;
    } catch {
      return false;
    }
  };
  const runDdl = async (statements: readonly string[], done: () => Promise<boolean>): Promise<void> => {
    try {
      for (const statement of statements) await driver.ddl(statement);
    } catch (error) {
      if (!(await done())) throw error; // unless another process got there first
    }
  };
  const indexed = async (): Promise<boolean> => {
    try {
      return (await driver.first(sql.probeIndex[0], sql.probeIndex[1])) !== null;
    } catch {
      return false;
    }
  };
  const ensure = async (): Promise<void> => {
    if ((await probe(sql.probeAll)) && (await indexed())) return;
    if (!(await probe(sql.probeTable))) await runDdl(sql.create_schema, () => probe(sql.probeTable));
    for (const [, columnProbe, alter] of sql.extraColumns) {
      if (!(await probe(columnProbe))) await runDdl([alter], () => probe(columnProbe));
    }
    if (!(await indexed())) {
      await runDdl([sql.userIndex], indexed);
      // `CREATE INDEX IF NOT EXISTS` does nothing when another table holds an index of that name.
      if (!(await indexed())) {
        throw new Error(`sqlStore: cannot create the user index ${sql.userIndexName} on ${table}: another table has an index of that name; rename that index`);
      }
    }
    if (!(await probe(sql.probeAll))) {
      throw new Error(`sqlStore: table ${table} exists but does not have the columns of the "${layout}" layout`);
    }
  };
  let ready: Promise<void> | undefined;
  const prepared = (): Promise<void> | undefined => {
    if (!auto) return undefined;
    return ready ??= ensure().catch((error: unknown) => {
      ready = undefined; // retry on the next call
      throw error;
    });
  };

  /** A well-formed key that also fits the layout's key column. */
  const fits = (key: unknown): key is string => isKey(key) && (!django || key.length <= DJANGO_KEY_LENGTH);
  const checkKey = (key: string, action: string): void => {
    requireKey(key, action);
    if (!fits(key)) {
      throw new TypeError(`Cannot ${action} a session as the key is malformed: the Django layout takes at most ${DJANGO_KEY_LENGTH} characters`);
    }
  };
  /** Django layout with a secret: Django's signed `session_data`, signed at the record's last activity. */
  const djangoData = async (record: SessionRecord): Promise<string> => {
    let dict: Record<string, unknown>;
    try {
      // A retired record (already expired: the core's compare-and-set tombstone) holds no data.
      dict = record.expires <= record.active ? {} : recordToDjango(record);
    } catch (error) {
      throw new SessionError("SERIALIZATION_FAILED", "sqlStore: the Django layout with a secret needs session data serialized as a JSON object", { cause: error });
    }
    return await encodeSessionData(dict, secrets!, record.active);
  };
  const recordParams = async (record: SessionRecord, action: string): Promise<SqlParam[]> => {
    requireRecord(record, action);
    for (const field of ["expires", "created", "active"] as const) {
      if (!Number.isSafeInteger(record[field])) throw new TypeError(`sqlStore: record.${field} must be an integer of epoch milliseconds`);
    }
    const { expiry, user } = record;
    // Refused rather than cut short by the column, which would index the record under another user.
    if (user !== undefined && user.length > USER_LENGTH) throw new TypeError(`sqlStore: record.user must be at most ${USER_LENGTH} characters`);
    const data = secrets ? await djangoData(record) : record.data;
    return [data, time(record.expires), record.created, record.active, expiry === undefined ? null : JSON.stringify(expiry), user ?? null];
  };
  const toVersion = (version: Version): number => {
    const n = typeof version === "string" && /^\d{1,15}$/.test(version) ? Number(version) : version;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      throw new TypeError("sqlStore: save() received a version this store did not issue");
    }
    return n;
  };
  const decode = async (row: SqlRow, now: number): Promise<LoadedRecord | null> => {
    if (typeof row.data !== "string") throw new Error("sqlStore: the database returned non-text session data");
    const record = plainDecode(row, now);
    if (!record || !secrets) return record;
    // Django's decode: a row that fails verification is an empty session that keeps its key.
    const dict = await decodeSessionData(row.data, secrets);
    const { data, expiry } = dict ? djangoToRecord(dict) : { data: "{}", expiry: undefined };
    // satchel_user when satchel wrote it; else (a row Django wrote) the user in the data.
    const user = record.user ?? (dict ? userOf(dict[USER_KEY]) : null) ?? undefined;
    const { data: _data, expiry: _column, user: _user, version, ...times } = record;
    const out: { -readonly [K in keyof LoadedRecord]: LoadedRecord[K] } = { data, ...times };
    if (expiry !== undefined) out.expiry = expiry;
    if (user !== undefined) out.user = user;
    out.version = version;
    return out;
  };
  const plainDecode = (row: SqlRow, now: number): LoadedRecord | null => {
    const expires = django && (dialect === "sqlite" || dialect === "d1") ? parseDjangoTime(row.expires) : toInt(row.expires, "expiry time");
    if (!(expires > now)) return null;
    const created = row.created == null && django ? now : toInt(row.created, "creation time");
    const active = row.active == null && django ? now : toInt(row.active, "activity time");
    const version = toInt(row.version, "version");
    const user = row.bound_user;
    if (user != null && typeof user !== "string") throw new Error("sqlStore: the database returned a non-text user");
    const out: { -readonly [K in keyof LoadedRecord]: LoadedRecord[K] } = { data: row.data as string, expires, created, active };
    if (row.expiry != null && !secrets) {
      let expiry: unknown;
      try {
        expiry = JSON.parse(String(row.expiry));
      } catch {
        expiry = undefined;
      }
      if (typeof expiry !== "string" && !(typeof expiry === "number" && Number.isFinite(expiry))) {
        throw new Error("sqlStore: the database returned an unreadable expiry override");
      }
      out.expiry = expiry;
    }
    if (user != null) out.user = user;
    out.version = version;
    return out;
  };

  const store: SqlStore = {
    kind: "server",
    ...(django ? { rawIds: true } : {}),
    dialect,
    api,
    layout,
    table,
    client,
    schema: Object.freeze([...sql.create_schema]),
    upgrade: Object.freeze([...sql.extraColumns.map(([, , alter]) => alter), sql.userIndex]),

    async ensureSchema(): Promise<void> {
      await ensure();
      ready = Promise.resolve();
    },

    async load(key: string, now: number): Promise<LoadedRecord | null> {
      if (!fits(key)) return null;
      if (typeof now !== "number" || !Number.isFinite(now)) throw new TypeError("sqlStore: load() needs now as epoch milliseconds");
      await prepared();
      const row = await driver.first(sql.load, [key, nowParam(now)]);
      return row ? await decode(row, now) : null;
    },

    async create(key: string, record: SessionRecord): Promise<Version> {
      checkKey(key, "create");
      const params: SqlParam[] = [key, ...(await recordParams(record, "create"))];
      await prepared();
      if (dialect === "mysql") {
        try {
          await driver.write(sql.create, params);
        } catch (error) {
          const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
          // The driver's message quotes the key, so it is dropped rather than kept as the cause.
          if (code === "ER_DUP_ENTRY" || errno === 1062) throw new SessionError("SESSION_EXISTS", "A session record already exists under this key.");
          throw error;
        }
        return 1;
      }
      const { count } = await driver.write(sql.create, params);
      if (count === 0) throw new SessionError("SESSION_EXISTS", "A session record already exists under this key.");
      return 1;
    },

    async save(key: string, record: SessionRecord, version?: Version): Promise<Version | undefined> {
      checkKey(key, "save");
      const params = await recordParams(record, "save");
      const expected = version === undefined ? undefined : toVersion(version);
      await prepared();
      if (expected === undefined) {
        if (dialect === "mysql") {
          const { count, insertId } = await driver.write(sql.saveAny, [...params, key]);
          if (count === 0) throw interrupted();
          // LAST_INSERT_ID(expr) hands the new version back in the OK packet's insert id.
          return insertId !== undefined && insertId > 0 ? insertId : undefined;
        }
        const row = await driver.first(sql.saveAny, [...params, key]);
        if (!row) throw interrupted();
        return toInt(row.version, "version");
      }
      const { count } = await driver.write(sql.saveVersioned, [...params, key, expected]);
      if (count > 0) return expected + 1;
      if (await driver.first(sql.exists, [key])) {
        throw new SessionError("SESSION_CONFLICT", "The session was changed by another request since it was loaded.");
      }
      throw interrupted();
    },

    async delete(key: string): Promise<void> {
      checkKey(key, "delete");
      await prepared();
      await driver.write(sql.delete, [key]);
    },

    async *list(options: ListOptions): AsyncIterable<ListedRecord> {
      const { user, now } = (options ?? {}) as Partial<ListOptions>;
      if (typeof now !== "number" || !Number.isFinite(now)) throw new TypeError("sqlStore: list() needs now as epoch milliseconds");
      if (user !== undefined && typeof user !== "string") throw new TypeError("sqlStore: list() needs user as a string, or no user");
      if (user !== undefined && user.length > USER_LENGTH) return; // longer than any stored user
      await prepared();
      let after = "";
      for (;;) {
        const rows = user === undefined
          ? await driver.all(sql.list, [nowParam(now), after])
          : await driver.all(sql.listUser, [user, nowParam(now), after]);
        for (const row of rows) {
          const key = row.listed_key;
          if (typeof key !== "string") throw new Error("sqlStore: the database returned a non-text session key");
          after = key;
          if (!fits(key)) continue; // a row another program wrote under a key this store cannot address
          // The index only narrows: the user is compared exactly here (MariaDB/MySQL pad spaces).
          if (user !== undefined && row.bound_user !== user) continue;
          const record = await decode(row, now);
          if (!record) continue;
          const { version: _version, ...rest } = record;
          yield { key, record: rest };
        }
        if (rows.length < LIST_PAGE) return;
      }
    },

    async clearExpired(now: number): Promise<number> {
      if (typeof now !== "number" || !Number.isFinite(now)) throw new TypeError("sqlStore: clearExpired() needs now as epoch milliseconds");
      await prepared();
      const { count } = await driver.write(sql.clear, [nowParam(now)]);
      return count;
    },
  };
  return store;
}

