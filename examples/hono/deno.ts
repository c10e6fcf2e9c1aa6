/** The Hono cart on Deno: `deno run -A examples/hono/deno.ts [--port 8002]`. */
import { portFrom } from "../_serve.ts";
import { cartApp } from "./app.ts";

const { Deno } = globalThis as unknown as {
  Deno: {
    serve(
      options: { port: number; hostname: string; onListen?: () => void },
      handler: (request: Request) => Response | Promise<Response>,
    ): unknown;
  };
};
const port = portFrom(8002);
const app = cartApp("Deno");
Deno.serve({
  port,
  hostname: "127.0.0.1",
  onListen: () => console.log(`satchel Hono cart on http://localhost:${port}/ (Deno, memory store)`),
}, (request) => app.fetch(request));
