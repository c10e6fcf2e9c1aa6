/**
 * What start.ts and tests/browser/django_bridge.test.ts share: how to run Django (Debian's
 * /usr/bin/python3, where python3-django lives; a pyenv `python3` on PATH would not have it),
 * the one-off preparation of a fresh database, and the two server command lines.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** The interpreter that has Django. `DJANGO_PYTHON` overrides it. */
export const PYTHON: string = process.env.DJANGO_PYTHON ?? "/usr/bin/python3";
/** This directory, where manage.py is. */
export const HERE: string = new URL(".", import.meta.url).pathname;
/** The Node 24 running us: it also runs hono.ts. */
export const NODE: string = process.execPath;

/** A fresh demo: a random Django-style SECRET_KEY and a SQLite path in a new temporary directory. */
export function freshDemo(): { secret: string; dir: string; db: string } {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)";
  const bytes = crypto.getRandomValues(new Uint8Array(50));
  const secret = `django-insecure-${Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("")}`;
  const dir = mkdtempSync(join(tmpdir(), "satchel-django-bridge-"));
  return { secret, dir, db: join(dir, "db.sqlite3") };
}

/** The environment both servers get: the shared secret and database, and a clean Python. */
export function bridgeEnv(secret: string, db: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && name !== "PYTHONPATH" && name !== "PYTHONHOME") env[name] = value;
  }
  return { ...env, PYTHONNOUSERSITE: "1", PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", BRIDGE_SECRET_KEY: secret, BRIDGE_DB: db };
}

/** Django's version, or an Error saying why Django cannot run. */
export function djangoVersion(): string | Error {
  const probe = spawnSync(PYTHON, ["-c", "import django; print(django.get_version())"], {
    env: bridgeEnv("probe", "probe"),
    encoding: "utf8",
    timeout: 20_000,
  });
  if (probe.status === 0) return probe.stdout.trim();
  return new Error(probe.error?.message ?? (probe.stderr || `${PYTHON} failed`).trim().split("\n").pop());
}

/**
 * `manage.py migrate`: creates `django_session` (and auth's tables) in `db`, then the demo app's
 * post_migrate hook adds the user "ada" (password "lovelace"). Throws with Django's output on failure.
 */
export function migrate(secret: string, db: string): void {
  const run = spawnSync(PYTHON, [join(HERE, "manage.py"), "migrate", "--verbosity", "0"], {
    cwd: HERE,
    env: bridgeEnv(secret, db),
    encoding: "utf8",
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`manage.py migrate failed (${run.error?.message ?? run.status}):\n${run.stdout}${run.stderr}`);
}

/** `manage.py runserver` in the foreground on 127.0.0.1:`port`, without the autoreloader (one process to stop). */
export function djangoCommand(port: number | string): string[] {
  return [PYTHON, join(HERE, "manage.py"), "runserver", `127.0.0.1:${port}`, "--noreload"];
}

/** The Hono app (hono.ts) on 127.0.0.1:`port`. */
export function honoCommand(port: number | string): string[] {
  return [NODE, join(HERE, "hono.ts"), "--port", String(port)];
}
