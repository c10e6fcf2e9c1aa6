/** The Hono cart on Bun: `bun examples/hono/bun.ts [--port 8001]`. */
import { portFrom } from "../_serve.ts";
import { cartApp } from "./app.ts";

const { Bun } = globalThis as unknown as {
  Bun: { serve(options: { port: number; hostname: string; fetch: (request: Request) => Response | Promise<Response> }): unknown };
};
const port = portFrom(8001);
Bun.serve({ port, hostname: "127.0.0.1", fetch: cartApp("Bun").fetch });
console.log(`satchel Hono cart on http://localhost:${port}/ (Bun, memory store)`);
