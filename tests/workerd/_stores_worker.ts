/**
 * The worker that runs the store checks inside workerd: the shared conformance suite
 * (tests/_store_suite.ts, its `node:test` import bundled to `_node_test_shim.ts`) for each
 * Cloudflare store (KV, Durable Objects on both storage backends, D1 through `sqlStore`), plus the store-specific checks of `_checks_*.ts`.
 *
 * `GET /run?suite=<prefix>` runs the top-level `describe` blocks whose name starts with
 * `<prefix>` and answers their results as JSON; `GET /suites` lists the block names.
 */
import { runTests, suiteNames } from "./_node_test_shim.ts";
import { testStore } from "../_store_suite.ts";
import { cloudflareKvStore } from "../../stores/cloudflare_kv.ts";
import { durableObjectStore } from "../../stores/durable_object.ts";
import { sqlStore } from "../../stores/sql.ts";
import type { D1DatabaseLike } from "../../stores/sql.ts";
import { env, setEnv } from "./_worker_env.ts";
import type { TestEnv } from "./_worker_env.ts";
import { kvChecks } from "./_checks_cloudflare_kv.ts";
import { durableObjectChecks } from "./_checks_durable_object.ts";

export { TestSessionObject, TestSessionObjectKv } from "./_test_session_object.ts";

testStore(
  "cloudflareKvStore()",
  async () => ({ store: cloudflareKvStore({ namespace: env().KV, prefix: `${env().RUN}:suite:` }) }),
  { cas: false, clearExpired: false },
);
testStore(
  "durableObjectStore(sqlite)",
  async () => ({ store: durableObjectStore({ namespace: env().DO_SQL, name: `${env().RUN}:suite:` }) }),
  { cas: true, clearExpired: false },
);
testStore(
  "durableObjectStore(kv-backed)",
  async () => ({ store: durableObjectStore({ namespace: env().DO_KV, name: `${env().RUN}:suite:` }) }),
  { cas: true, clearExpired: false },
);
testStore(
  "sqlStore(d1)",
  async () => ({ store: sqlStore({ client: env().D1 as D1DatabaseLike, table: `satchel_${env().RUN}` }) }),
  { cas: true, clearExpired: true },
);
testStore(
  "sqlStore(d1, django layout)",
  async () => ({
    store: sqlStore({ client: env().D1 as D1DatabaseLike, layout: "django", table: `django_session_${env().RUN}` }),
  }),
  { cas: true, clearExpired: true },
);
testStore(
  "sqlStore(d1 withSession)",
  async () => {
    const db = env().D1 as D1DatabaseLike & { withSession(constraint: string): D1DatabaseLike };
    return { store: sqlStore({ client: db.withSession("first-primary"), table: `satchel_s_${env().RUN}` }) };
  },
  { cas: true, clearExpired: true },
);
kvChecks();
durableObjectChecks();

export default {
  async fetch(request: Request, bindings: TestEnv): Promise<Response> {
    setEnv(bindings);
    const url = new URL(request.url);
    if (url.pathname === "/suites") return Response.json(suiteNames());
    if (url.pathname === "/run") {
      const prefix = url.searchParams.get("suite") ?? "";
      return Response.json(await runTests((name) => name.startsWith(prefix)));
    }
    return new Response("not found", { status: 404 });
  },
};
