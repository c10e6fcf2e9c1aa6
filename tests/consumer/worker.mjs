// A tiny Worker written against the INSTALLED package (scripts/consumer-test.sh copies it into the
// temporary consumer project, bundles it with esbuild from there and runs it in workerd through
// miniflare): cookie-store sessions built once per env, one counter per visitor.
import { cookieStore, createSessions } from "@satchel/session";
import { withSession } from "@satchel/session/fetch";

export default {
  fetch: withSession(
    (env) => createSessions({ secret: env.SESSION_SECRET, store: cookieStore() }),
    (_request, session) => {
      const visits = (session.get("visits") ?? 0) + 1;
      session.set("visits", visits);
      return new Response(`visits=${visits}`);
    },
  ),
};
