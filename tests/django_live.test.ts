/**
 * satchel against a real Django (Debian's python3-django, run by /usr/bin/python3 through
 * tests/_django/helper.py): Django writes signed cookies and `django_session` rows and satchel
 * reads them; satchel writes them and Django reads them; compressed and uncompressed, non-ASCII
 * data, the SESSION_COOKIE_AGE boundary, and tampered, expired, wrong-key and wrong-salt values
 * refused by both. Databases: a SQLite file (Django creates the table) and PostgreSQL through
 * psycopg2 (satchel creates it). django.contrib.auth (migrated into a SQLite file): Django's
 * login() is `session.user` in satchel and satchel's `session.login()` is accepted by Django's
 * get_user(), on the db and signed_cookies engines; after a password change both sides end the
 * session (satchel through the `authHash` option); refreshAuth() and SECRET_KEY rotation of the
 * hash. Without Django: fails under CI=true, a loud skip otherwise.
 * (SECRET_KEY_FALLBACKS arrived in Django 4.1; tests/django_codec.test.ts checks rotation.)
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import pg from "pg";
import { cookieStore, createSessions } from "../mod.ts";
import { sqlStore } from "../stores/sql.ts";
import type { SqlClient, SqliteDatabaseLike, SqlStore } from "../stores/sql.ts";
import {
  SESSION_STORE_SALT,
  decodeSessionData,
  decodeSignedCookie,
  encodeSessionData,
  encodeSignedCookie,
} from "../core/django.ts";
import { runtime, serviceAvailable } from "./_env.ts";

const PYTHON = process.env.DJANGO_PYTHON ?? "/usr/bin/python3"; // Debian's, where python3-django lives (a pyenv python3 may shadow it on PATH)
const HELPER = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "_django", "helper.py");
const SECRET = "django-live-test-secret-key-0123456789abcdef";
const T = 1_700_000_000_000;
const RUN = `${runtime.slice(0, 2)}${Date.now().toString(36)}${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;
const AGE = 1_209_600;

function pythonEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^PYTHON(PATH|HOME)$/.test(k)) env[k] = v;
  env.PYTHONNOUSERSITE = "1";
  return env;
}

const djangoUp = serviceAvailable(`Django (apt-get install python3-django; run by ${PYTHON})`, async () => {
  const probe = spawnSync(PYTHON, ["-c", "import django; print(django.get_version())"], { env: pythonEnv(), encoding: "utf8" });
  if (probe.status !== 0) throw new Error(probe.error?.message ?? (probe.stderr || "python3 failed").trim().split("\n").pop());
});

/** One long-lived Django process; `call` sends one request line and resolves its answer line. */
class Django {
  #child: ChildProcessWithoutNullStreams;
  #buffer = "";
  #waiting: ((line: string) => void)[] = [];
  #stderr = "";
  readonly ready: Promise<unknown>;
  constructor(config: Record<string, unknown>) {
    this.#child = spawn(PYTHON, [HELPER, JSON.stringify({ secret: SECRET, ...config })], { env: pythonEnv() });
    this.#child.stdout.setEncoding("utf8");
    this.#child.stdout.on("data", (chunk: string) => {
      this.#buffer += chunk;
      for (let i = this.#buffer.indexOf("\n"); i >= 0; i = this.#buffer.indexOf("\n")) {
        const line = this.#buffer.slice(0, i);
        this.#buffer = this.#buffer.slice(i + 1);
        this.#waiting.shift()?.(line);
      }
    });
    this.#child.stderr.on("data", (chunk: Buffer) => { this.#stderr += chunk.toString(); });
    this.#child.on("exit", () => { for (const w of this.#waiting.splice(0)) w(JSON.stringify({ error: `helper exited: ${this.#stderr.trim().split("\n").pop()}` })); });
    this.ready = this.#next();
  }
  #next(): Promise<unknown> {
    return new Promise<string>((resolve) => this.#waiting.push(resolve)).then((line) => {
      const answer = JSON.parse(line) as { ok?: unknown; error?: string };
      if (answer.error !== undefined) throw new Error(`Django: ${answer.error}`);
      return answer.ok;
    });
  }
  async call<R = unknown>(op: string, request: Record<string, unknown> = {}): Promise<R> {
    await this.ready;
    const answer = this.#next();
    this.#child.stdin.write(JSON.stringify({ op, ...request }) + "\n");
    return answer as Promise<R>;
  }
  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once("exit", resolve));
    this.#child.stdin.end();
    await exited;
  }
}

type CookieRead = { data: Record<string, unknown>; valid: boolean };
type RowRead = { data: Record<string, unknown>; key: string | null; expire_date: number; raw: string };

/** The serialized JSON inside a signed value, inflated when it starts with "." (the signature is not checked). */
async function payloadText(value: string): Promise<string> {
  const payload = value.split(":")[0]!;
  const bytes = Uint8Array.from(atob(payload.replace(/^\./, "").replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  if (!payload.startsWith(".")) return new TextDecoder().decode(bytes);
  return await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"))).text();
}

const SAMPLES: Record<string, unknown>[] = [
  { a: 1 },
  {},
  { user: "ada", "clé": "é€😀\u007f\n\"\\", nested: { list: [1, 2.5, 1.5e-5, null, true], big: 12345678901234 } },
  { cart: Array.from({ length: 40 }, (_, i) => `sku-${i}`), _session_expiry: 600 }, // compresses
];

describe("Django's signed_cookies engine", () => {
  let django: Django | null = null;
  before(async () => {
    if (!(await djangoUp)) return;
    django = new Django({ engine: null });
    await django.ready;
  });
  after(async () => { await django?.close(); });

  test("Django writes, satchel reads; satchel's encoding is byte-identical (deflate bytes aside)", async (t) => {
    if (!django) return t.skip("Django unavailable");
    for (const data of SAMPLES) {
      const value: string = await django.call<string>("cookie_write", { data, now: T / 1000 });
      assert.deepEqual(await decodeSignedCookie(value, SECRET, AGE, T), data);
      const ours: string = await encodeSignedCookie(data, SECRET, T);
      if (value.startsWith(".")) {
        // zlib implementations differ in their bytes (Node bundles Chromium's); the JSON inside must not.
        assert.ok(ours.startsWith("."));
        assert.equal(await payloadText(ours), await payloadText(value), JSON.stringify(data));
        assert.equal(ours.split(":")[1], value.split(":")[1]);
      } else {
        assert.equal(ours, value, JSON.stringify(data));
      }
    }
    assert.ok((await django.call<string>("cookie_write", { data: SAMPLES[3], now: T / 1000 })).startsWith("."), "one sample is compressed");
  });

  test("satchel writes, Django reads (compressed and not)", async (t) => {
    if (!django) return t.skip("Django unavailable");
    for (const data of [...SAMPLES, { blob: "z".repeat(3000) }]) {
      const value = await encodeSignedCookie(data, SECRET, T);
      assert.deepEqual(await django.call<CookieRead>("cookie_read", { value, now: T / 1000 }), { data, valid: true });
    }
  });

  test('createSessions({ store: cookieStore({ format: "django" }) }): one cookie, two frameworks', async (t) => {
    if (!django) return t.skip("Django unavailable");
    const sessions = createSessions<Record<string, unknown>>({ secret: SECRET, store: cookieStore({ format: "django" }), now: () => T });
    // Django's cookie is the session on the satchel side...
    const value: string = await django.call<string>("cookie_write", { data: { user: "ada", cart: ["sku-1"] }, now: T / 1000 });
    const seen = await sessions.handle(new Request("https://a.example/", { headers: { cookie: `sessionid=${value}` } }), (_r, s) => {
      s.modify("cart", (cart) => [...(cart as string[]), "sku-2"]);
      return new Response(String(s.get("user")));
    });
    assert.equal(await seen.text(), "ada");
    // ...and the cookie satchel sends back is the session on the Django side.
    const back = seen.headers.getSetCookie()[0]!.split(";")[0]!.slice("sessionid=".length);
    assert.deepEqual(await django.call<CookieRead>("cookie_read", { value: back, now: T / 1000 }), {
      data: { user: "ada", cart: ["sku-1", "sku-2"] },
      valid: true,
    });
    // A tampered Django cookie is no session.
    const tampered = await sessions.handle(new Request("https://a.example/", { headers: { cookie: `sessionid=${value}x` } }), (_r, s) => new Response(String(s.get("user"))));
    assert.equal(await tampered.text(), "undefined");
  });

  test("SESSION_COOKIE_AGE: both accept an age of exactly max_age and refuse a millisecond more", async (t) => {
    if (!django) return t.skip("Django unavailable");
    const ours = await encodeSignedCookie({ a: 1 }, SECRET, T);
    const theirs = await django.call<string>("cookie_write", { data: { a: 1 }, now: T / 1000 });
    for (const value of [ours, theirs]) {
      for (const [age, at, valid] of [[3600, T + 3_600_000, true], [3600, T + 3_600_001, false], [AGE, T + AGE * 1000, true], [AGE, T + AGE * 1000 + 1, false]] as const) {
        const read: CookieRead = await django.call<CookieRead>("cookie_read", { value, age, now: at / 1000 });
        assert.equal(read.valid, valid, `Django, age ${age}, at +${at - T} ms`);
        assert.equal((await decodeSignedCookie(value, SECRET, age, at)) !== null, valid, `satchel, age ${age}, at +${at - T} ms`);
      }
    }
  });

  test("tampered, wrong-key and wrong-salt values: refused by both", async (t) => {
    if (!django) return t.skip("Django unavailable");
    const good = await django.call<string>("cookie_write", { data: { user: "ada" }, now: T / 1000 });
    const [payload, ts, sig] = good.split(":") as [string, string, string];
    const flip = (s: string) => (s[0] === "e" ? "f" : "e") + s.slice(1);
    const bad = [
      `${flip(payload)}:${ts}:${sig}`,
      `${payload}:${flip(ts)}:${sig}`,
      `${payload}:${ts}:${flip(sig)}`,
      `.${payload}:${ts}:${sig}`,
      `${payload}:${ts}`,
      await encodeSignedCookie({ user: "ada" }, "not-the-secret", T),
      await encodeSessionData({ user: "ada" }, SECRET, T), // session_data's salt
    ];
    for (const value of bad) {
      assert.deepEqual(await django.call<CookieRead>("cookie_read", { value, now: T / 1000 }), { data: {}, valid: false }, value);
      assert.equal(await decodeSignedCookie(value, SECRET, AGE, T), null, value);
    }
    const wrongSalt = await django.call<{ valid: boolean }>("signing_loads", { value: good, salt: SESSION_STORE_SALT, now: T / 1000 });
    assert.equal(wrongSalt.valid, false);
    assert.equal(await decodeSessionData(good, SECRET), null);
  });
});

// ---- django_session rows, shared by Django's db engine and sqlStore({ layout: "django", secret }) ----

interface Backend {
  name: string;
  up(): Promise<boolean>;
  /** The Django helper config and a satchel store on the same table. */
  open(table: string): Promise<{ config: Record<string, unknown>; store: SqlStore; raw(sql: string, params: unknown[]): Promise<void>; close(): Promise<void> }>;
}

async function openSqlite(path: string): Promise<SqliteDatabaseLike & { close(): void; exec(sql: string): void }> {
  if (runtime === "bun") {
    const specifier = "bun:sqlite";
    const { Database } = await import(specifier);
    return new Database(path);
  }
  const { DatabaseSync } = await import("node:sqlite");
  return new DatabaseSync(path) as unknown as SqliteDatabaseLike & { close(): void; exec(sql: string): void };
}

const dir = mkdtempSync(join(tmpdir(), "satchel-django-"));
const BACKENDS: Backend[] = [
  {
    name: "SQLite file (Django creates the table)",
    up: () => djangoUp,
    async open(table) {
      const file = join(dir, `${table}.sqlite3`);
      const config = { engine: "sqlite", name: file, table, create_table: true };
      const db = await openSqlite(file);
      const store = sqlStore({ client: db, layout: "django", table, secret: SECRET, ensureSchema: false });
      return {
        config,
        store,
        raw: async (sql, params) => { (db.prepare(sql) as unknown as { run(...p: unknown[]): unknown }).run(...params); },
        close: async () => db.close(),
      };
    },
  },
  {
    name: "PostgreSQL via psycopg2 (satchel creates the table)",
    up: async () =>
      (await djangoUp) &&
      (await serviceAvailable("psycopg2 (apt-get install python3-psycopg2)", async () => {
        const probe = spawnSync(PYTHON, ["-c", "import psycopg2"], { env: pythonEnv(), encoding: "utf8" });
        if (probe.status !== 0) throw new Error("import psycopg2 failed");
      })) &&
      (await serviceAvailable("PostgreSQL at 127.0.0.1:5432", async () => {
        const client = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test", connectionTimeoutMillis: 2000 });
        await client.connect();
        await client.end();
      })),
    async open(table) {
      const pool = new pg.Pool({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test", max: 2 });
      const store = sqlStore({ client: pool as unknown as SqlClient, layout: "django", table, secret: SECRET });
      await store.ensureSchema();
      return {
        config: { engine: "postgres", name: "test", table },
        store,
        raw: async (sql, params) => { await pool.query(sql.replace(/\?/g, ((n) => () => `$${++n}`)(0)), params); },
        close: async () => {
          try {
            await pool.query(`DROP TABLE IF EXISTS "${table}"`);
          } finally {
            await pool.end();
          }
        },
      };
    },
  },
];

for (const backend of BACKENDS) {
  describe(`Django's db engine and sqlStore(django, secret) on ${backend.name}`, () => {
    let django: Django | null = null;
    let env: Awaited<ReturnType<Backend["open"]>> | null = null;
    const table = `satchel_t_${RUN}_djlive`;
    before(async () => {
      if (!(await backend.up())) return;
      env = await backend.open(table);
      django = new Django(env.config);
      await django.ready;
      await env.store.ensureSchema(); // on SQLite: adds satchel's columns to the table Django made
    });
    after(async () => {
      await django?.close();
      await env?.close();
    });

    test("a session Django saved is live in satchel, with its data and set_expiry()", async (t) => {
      if (!django || !env) return t.skip("Django or the database unavailable");
      const key = await django.call<string>("db_write", { data: { user: "ada", "clé": "é😀" }, expiry: 300 });
      const { expire_date } = await django.call<{ expire_date: number }>("db_read", { key });
      const now = Date.now();
      const loaded = await env.store.load(key, now);
      assert.ok(loaded);
      assert.deepEqual(JSON.parse(loaded.data), { user: "ada", "clé": "é😀" });
      assert.equal(loaded.expiry, 300);
      assert.ok(Math.abs(loaded.expires - expire_date * 1000) <= 1, "expire_date read to the millisecond (rounded up)");
    });

    test("a session satchel saved is live in Django; Django's update is seen by satchel", async (t) => {
      if (!django || !env) return t.skip("Django or the database unavailable");
      const key = "k".repeat(24) + RUN.slice(-8).replace(/[^a-z0-9]/g, "x");
      const now = Date.now();
      const data = { cart: Array.from({ length: 40 }, (_, i) => `sku-${i}`), note: "naïve" };
      await env.store.create(key, { data: JSON.stringify(data), expires: now + 600_000, created: now, active: now, expiry: 600 });
      const read: RowRead = await django.call<RowRead>("db_read", { key });
      assert.equal(read.key, key, "Django found the row live");
      assert.deepEqual(read.data, { ...data, _session_expiry: 600 });
      assert.ok(read.raw.startsWith("."), "compressed, as Django would");
      assert.equal(Math.round(read.expire_date * 1000), now + 600_000);
      assert.deepEqual(await django.call("db_decode", { value: read.raw }), { ...data, _session_expiry: 600 });

      await django.call("db_write", { key, data: { note: "changed by Django" } });
      const after = await env.store.load(key, Date.now());
      assert.deepEqual(JSON.parse(after!.data), { ...data, note: "changed by Django" });
      assert.equal(after!.expiry, 600);
    });

    test("satchel's createSessions() serves a Django session from its cookie and Django sees the change", async (t) => {
      if (!django || !env) return t.skip("Django or the database unavailable");
      const key = await django.call<string>("db_write", { data: { user: "ada", visits: 1 } });
      const sessions = createSessions({ secret: "satchel-app-secret-0123456789abcdef", store: env.store });
      const response = await sessions.handle(
        new Request("https://app.example/", { headers: { cookie: `sessionid=${key}` } }),
        (_request, session) => {
          assert.equal(session.get("user"), "ada");
          session.set("visits", (session.get("visits") as number) + 1);
          return new Response("ok");
        },
      );
      assert.equal(response.status, 200);
      assert.match(response.headers.getSetCookie()[0] ?? "", new RegExp(`^sessionid=${key};`));
      assert.deepEqual((await django.call<{ data: unknown }>("db_read", { key })).data, { user: "ada", visits: 2 });
    });

    test("tampered, foreign-key, wrong-salt and expired rows: an empty or no session on both sides", async (t) => {
      if (!django || !env) return t.skip("Django or the database unavailable");
      const now = Date.now();
      const cases: [string, string][] = [];
      const blob = await encodeSessionData({ user: "ada" }, SECRET, now);
      cases.push(["tampered", blob.replace(/:([^:]*)$/, (_m, sig: string) => `:${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`)]);
      cases.push(["foreign key", await encodeSessionData({ user: "ada" }, "another-secret", now)]);
      cases.push(["cookie salt", await encodeSignedCookie({ user: "ada" }, SECRET, now)]);
      for (const [name, value] of cases) {
        const key = `${name.replace(/\W/g, "")}${"z".repeat(32)}`.slice(0, 32);
        await env.store.create(key, { data: "{}", expires: now + 60_000, created: now, active: now });
        await env.raw(`UPDATE "${table}" SET session_data = ? WHERE session_key = ?`, [value, key]);
        const read: RowRead = await django.call<RowRead>("db_read", { key });
        assert.deepEqual(read.data, {}, `Django, ${name}`);
        assert.equal(read.key, key, `Django keeps the key (${name})`);
        assert.equal((await env.store.load(key, Date.now()))?.data, "{}", `satchel, ${name}`);
      }
      const expired = await django.call<string>("db_write", { data: { user: "ada" }, expiry: -10 });
      assert.equal(await env.store.load(expired, Date.now()), null, "satchel: Django's expired row");
      const mine = "y".repeat(32);
      await env.store.create(mine, { data: '{"a":1}', expires: Date.now() - 1, created: now, active: now });
      const read: RowRead = await django.call<RowRead>("db_read", { key: mine });
      assert.deepEqual(read, { ...read, data: {}, key: null }, "Django: satchel's expired row");
    });
  });
}

// ---- django.contrib.auth: login() on one side, get_user() / session.user on the other ----

type AuthUser = { pk: number; password: string; auth_hash: string };
type AuthSession = { value: string; data: Record<string, unknown> };
type GotUser = { username: string | null; data: Record<string, unknown> };
type Engine = "db" | "cookie";

/** One request through `sessions` carrying `value` as the sessionid cookie; `run` sees the session. */
async function through<T extends object>(
  sessions: ReturnType<typeof createSessions<T>>,
  value: string | null,
  run: (session: Parameters<Parameters<ReturnType<typeof createSessions<T>>["handle"]>[1]>[1]) => unknown,
): Promise<{ cookie: string | null | undefined; body: string }> {
  const headers: Record<string, string> = value === null ? {} : { cookie: `sessionid=${value}` };
  const response = await sessions.handle(new Request("https://app.example/", { headers }), async (_request, session) =>
    new Response(JSON.stringify((await run(session)) ?? null)));
  const set = response.headers.getSetCookie().find((c) => c.startsWith("sessionid="));
  // undefined: no Set-Cookie; null: the cookie was deleted; else the new value.
  const cookie = set === undefined ? undefined : /max-age=0|expires=thu, 01 jan 1970/i.test(set) ? null : set.split(";")[0]!.slice("sessionid=".length);
  return { cookie, body: await response.text() };
}

describe("django.contrib.auth: Django's login() and satchel's session.login() on a SQLite file", () => {
  let django: Django | null = null;
  let db: (SqliteDatabaseLike & { close(): void }) | null = null;
  let store: SqlStore | null = null;
  let ada: AuthUser;
  const events: string[] = [];
  /** The user's password field as Django stores it now, read from Django's own auth_user table. */
  const password = (userKey: string): string | null => {
    const row = db!.prepare("SELECT password FROM auth_user WHERE id = ?").get(Number(userKey)) as { password: string } | null | undefined;
    return row ? row.password : null;
  };
  const dbSessions = (options: { authHash?: boolean } = {}) =>
    createSessions({
      secret: SECRET,
      store: store!,
      authHash: options.authHash ? password : undefined,
      onEvent: (e) => { if (e.type === "session.expired") events.push(`expired:${e.reason}`); },
    });
  const cookieSessions = (options: { authHash?: boolean } = {}) =>
    createSessions({
      secret: SECRET,
      store: cookieStore({ format: "django" }),
      authHash: options.authHash ? password : undefined,
      onEvent: (e) => { if (e.type === "session.expired") events.push(`expired:${e.reason}`); },
    });
  const sessionsFor = (engine: Engine, options: { authHash?: boolean } = {}) =>
    engine === "db" ? dbSessions(options) : cookieSessions(options);
  let users = 0;
  /** A fresh user per test, so password changes stay local to their test. */
  const newUser = async (): Promise<AuthUser & { username: string }> => {
    const username = `user${++users}`;
    return { username, ...(await django!.call<AuthUser>("user_create", { username, password: `pw-${username}` })) };
  };

  before(async () => {
    if (!(await djangoUp)) return;
    const file = join(dir, "auth.sqlite3");
    django = new Django({ engine: "sqlite", name: file, auth: true }); // migrate: auth_user, django_session
    await django.ready;
    db = await openSqlite(file);
    store = sqlStore({ client: db, layout: "django", secret: SECRET, ensureSchema: false });
    await store.ensureSchema();
    ada = await django.call<AuthUser>("user_create", { username: "ada", password: "lovelace" });
  });
  after(async () => {
    await django?.close();
    db?.close();
  });

  for (const engine of ["db", "cookie"] as const) {
    const label = engine === "db" ? "db engine (django_session)" : "signed_cookies engine";

    test(`${label}: Django's login() is session.user in satchel, with or without the authHash check`, async (t) => {
      if (!django) return t.skip("Django unavailable");
      const login = await django.call<AuthSession>("auth_login", { engine, username: "ada" });
      assert.equal(login.data._auth_user_id, String(ada.pk));
      for (const authHash of [false, true]) {
        const seen = await through(sessionsFor(engine, { authHash }), login.value, (s) => s.user);
        assert.equal(JSON.parse(seen.body), String(ada.pk), `authHash option ${authHash}`);
        assert.notEqual(seen.cookie, null, "the session was not ended");
      }
      assert.equal((await django.call<GotUser>("auth_get_user", { engine, value: login.value })).username, "ada");
    });

    test(`${label}: satchel's session.login() is accepted by Django's get_user()`, async (t) => {
      if (!django) return t.skip("Django unavailable");
      const sessions = sessionsFor(engine);
      // An anonymous session with data first: login() cycles the key and keeps the data, as Django does.
      const anon = await through(sessions, null, (s) => { s.set("cart", ["apple"]); });
      assert.ok(anon.cookie);
      const login = await through(sessions, anon.cookie, async (s) => {
        await s.login(String(ada.pk), { authHash: ada.password });
        return s.user;
      });
      assert.equal(JSON.parse(login.body), String(ada.pk));
      assert.ok(login.cookie);
      assert.notEqual(login.cookie, anon.cookie, "the key was cycled");
      const got = await django.call<GotUser>("auth_get_user", { engine, value: login.cookie });
      assert.equal(got.username, "ada", "Django's get_user() returns the user, not AnonymousUser");
      assert.deepEqual(got.data, {
        cart: ["apple"],
        _auth_user_id: String(ada.pk),
        _auth_user_backend: "django.contrib.auth.backends.ModelBackend",
        _auth_user_hash: ada.auth_hash, // byte-identical to user.get_session_auth_hash()
      });
      if (engine === "db") {
        assert.equal((await django.call<RowRead>("db_read", { key: anon.cookie })).key, null, "the pre-login key is dead for Django");
      }
      // The authHash option supplies the hash when login() is given none.
      const viaOption = await through(sessionsFor(engine, { authHash: true }), null, async (s) => { await s.login(String(ada.pk)); });
      const again = await django.call<GotUser>("auth_get_user", { engine, value: viaOption.cookie });
      assert.equal(again.username, "ada");
      assert.equal(again.data._auth_user_hash, ada.auth_hash);
    });

    test(`${label}: another user's login() flushes the session (Django's rule, both directions)`, async (t) => {
      if (!django) return t.skip("Django unavailable");
      const bob = await newUser();
      const sessions = sessionsFor(engine);
      const first = await django.call<AuthSession>("auth_login", { engine, username: bob.username });
      const asAda = await through(sessions, first.value, async (s) => {
        s.set("bob-private", 1);
        await s.login(String(ada.pk), { authHash: ada.password });
        return s.get("bob-private") ?? null;
      });
      assert.equal(JSON.parse(asAda.body), null, "bob's data is gone");
      const got = await django.call<GotUser>("auth_get_user", { engine, value: asAda.cookie });
      assert.equal(got.username, "ada");
      assert.equal(got.data["bob-private"], undefined);
      // And Django's login() of bob over satchel's session of ada flushes ada's data.
      const mine = await through(sessions, asAda.cookie!, (s) => { s.set("ada-private", 1); });
      const byDjango = await django.call<AuthSession>("auth_login", { engine, username: bob.username, value: mine.cookie ?? asAda.cookie });
      assert.equal(byDjango.data["ada-private"], undefined);
      assert.equal(JSON.parse((await through(sessions, byDjango.value, (s) => s.user)).body), String(bob.pk));
    });

    test(`${label}: after a password change on the Django side, both satchel (authHash) and Django's get_user() end the session`, async (t) => {
      if (!django) return t.skip("Django unavailable");
      const grace = await newUser();
      const checked = sessionsFor(engine, { authHash: true });
      // Two logins: one made by satchel, one by Django; each is checked on one side only after the
      // change (Django's get_user() deletes the row it rejects, which would decide for satchel).
      const bySatchel = async (): Promise<string> =>
        (await through(sessionsFor(engine), null, async (s) => { await s.login(String(grace.pk), { authHash: grace.password }); })).cookie!;
      const byDjango = async (): Promise<string> => (await django!.call<AuthSession>("auth_login", { engine, username: grace.username })).value;
      const values = { satchelSide: [await bySatchel(), await byDjango()], djangoSide: [await bySatchel(), await byDjango()] };
      for (const value of [...values.satchelSide, ...values.djangoSide]) {
        assert.equal(JSON.parse((await through(checked, value, (s) => s.user)).body), String(grace.pk), "valid before the change");
      }

      await django.call("user_set_password", { username: grace.username, password: "changed" });
      assert.notEqual(password(String(grace.pk)), grace.password);

      for (const value of values.satchelSide) {
        events.length = 0;
        const seen = await through(checked, value, (s) => ({ user: s.user, keys: [...s.keys()] }));
        assert.deepEqual(JSON.parse(seen.body), { user: null, keys: [] }, "an empty session");
        assert.deepEqual(events, ["expired:credentials"]);
        assert.equal(seen.cookie, null, "the cookie is deleted");
        if (engine === "db") assert.equal((await django.call<RowRead>("db_read", { key: value })).key, null, "the row is gone");
        // Without the check, satchel still reads the login keys (the db row is gone, so nothing).
        const unchecked = await through(sessionsFor(engine), value, (s) => s.user);
        assert.equal(JSON.parse(unchecked.body), engine === "db" ? null : String(grace.pk));
      }
      for (const value of values.djangoSide) {
        const got: GotUser = await django.call<GotUser>("auth_get_user", { engine, value });
        assert.deepEqual(got, { username: null, data: {} }, "Django: AnonymousUser, session flushed");
      }
      // A fresh login under the new password is good on both sides.
      const fresh = (await through(checked, null, async (s) => { await s.login(String(grace.pk)); })).cookie!;
      assert.equal((await django.call<GotUser>("auth_get_user", { engine, value: fresh })).username, grace.username);
      assert.equal(JSON.parse((await through(checked, fresh, (s) => s.user)).body), String(grace.pk));
    });
  }

  test("db engine: refreshAuth() after a password change keeps this session logged in on both sides", async (t) => {
    if (!django) return t.skip("Django unavailable");
    const hopper = await newUser();
    const checked = dbSessions({ authHash: true });
    const mine = (await through(checked, null, async (s) => { await s.login(String(hopper.pk)); })).cookie!;
    const other = (await through(checked, null, async (s) => { await s.login(String(hopper.pk)); })).cookie!;
    const changed = await django.call<{ password: string; auth_hash: string }>("user_set_password", { username: hopper.username, password: "new" });
    // This request changed the password (on Django's side here) and refreshes its own session.
    const refreshed = await through(dbSessions(), mine, async (s) => { await s.refreshAuth(changed.password); });
    assert.ok(refreshed.cookie);
    assert.notEqual(refreshed.cookie, mine, "the key was cycled");
    const got = await django.call<GotUser>("auth_get_user", { engine: "db", value: refreshed.cookie });
    assert.equal(got.username, hopper.username);
    assert.equal(got.data._auth_user_hash, changed.auth_hash);
    assert.equal(JSON.parse((await through(checked, refreshed.cookie, (s) => s.user)).body), String(hopper.pk));
    assert.equal(JSON.parse((await through(checked, other, (s) => s.user)).body), null, "the other session ended");
  });

  test("SECRET_KEY rotation: a login hashed under the old key is accepted and rewritten under the new one", async (t) => {
    if (!django) return t.skip("Django unavailable");
    // Django 3.2 has no SECRET_KEY_FALLBACKS: a second Django on the same file with the old key makes
    // the login; satchel, given [new, old], accepts it and rewrites the hash; Django with the new key accepts it.
    const OLD = `${SECRET}-old`;
    const old = new Django({ secret: OLD, engine: "sqlite", name: join(dir, "auth.sqlite3"), auth: true });
    t.after(() => old.close());
    const login = await old.call<AuthSession>("auth_login", { engine: "db", username: "ada" });
    assert.equal((await django.call<GotUser>("auth_get_user", { engine: "db", value: login.value })).username, null, "the new key alone refuses it");
    const login2 = await old.call<AuthSession>("auth_login", { engine: "db", username: "ada" });
    const rotating = createSessions({
      secret: [SECRET, OLD],
      store: sqlStore({ client: db!, layout: "django", secret: [SECRET, OLD], ensureSchema: false }),
      authHash: password,
    });
    const seen = await through(rotating, login2.value, (s) => s.user);
    assert.equal(JSON.parse(seen.body), String(ada.pk));
    const got = await django.call<GotUser>("auth_get_user", { engine: "db", value: login2.value });
    assert.equal(got.username, "ada", "Django with the new SECRET_KEY accepts the rewritten hash");
    assert.equal(got.data._auth_user_hash, ada.auth_hash);
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));
