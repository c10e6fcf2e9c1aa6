/**
 * One command for the Django bridge demo: `node examples/django-bridge/start.ts`
 * (`[--django-port 8010] [--hono-port 8011]`).
 *
 * 1. Makes a temporary directory with a fresh SQLite file and a random SECRET_KEY.
 * 2. `manage.py migrate` (Django creates `django_session`; the demo user "ada" / "lovelace" is added).
 * 3. Starts `manage.py runserver 127.0.0.1:8010 --noreload` and the Hono app (hono.ts) on 8011,
 *    both given the same SECRET_KEY and database.
 * 4. On Ctrl-C / SIGTERM, or when either server exits, stops the other by PID and removes the
 *    temporary directory.
 *
 * It prints `pid django=<pid> hono=<pid>` so a supervisor (the browser test) can clean up even if
 * this process is killed outright.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import process from "node:process";
import { bridgeEnv, djangoCommand, djangoVersion, freshDemo, honoCommand, migrate } from "./setup.ts";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const port = Number(i >= 0 ? process.argv[i + 1] : fallback);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : fallback;
}

const djangoPort = flag("--django-port", 8010);
const honoPort = flag("--hono-port", 8011);

const version = djangoVersion();
if (version instanceof Error) {
  console.error(`Django is not available (apt-get install python3-django): ${version.message}`);
  process.exit(1);
}

const { secret, dir, db } = freshDemo();
const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
try {
  migrate(secret, db);
} catch (error) {
  cleanup();
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}

const env = bridgeEnv(secret, db);
const children: ChildProcess[] = [djangoCommand(djangoPort), honoCommand(honoPort)].map(([command, ...args]) =>
  spawn(command!, args, { env, stdio: ["ignore", "inherit", "inherit"] })
);
const [django, hono] = children as [ChildProcess, ChildProcess];
console.log(`pid django=${django.pid} hono=${hono.pid}`);
console.log(`Django ${version}: http://127.0.0.1:${djangoPort}/login, /whoami, /cart`);
console.log(`Hono (satchel):  http://127.0.0.1:${honoPort}/cart`);
console.log(`Same host, same sessionid cookie, same django_session table (data in ${dir}, removed on exit). Ctrl-C stops both.`);

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(children.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  })));
  cleanup();
  process.exit(code);
}

for (const child of children) {
  child.once("exit", (exitCode, signal) => {
    if (!stopping) console.error(`a server exited (${signal ?? exitCode}); stopping the other`);
    void stop(1);
  });
}
process.once("SIGINT", () => void stop(0));
process.once("SIGTERM", () => void stop(0));
