/** The Elysia cart on Bun: `bun examples/elysia/server.ts [--port 8004]`. */
import { portFrom } from "../_serve.ts";
import { cartApp } from "./app.ts";

const port = portFrom(8004);
cartApp().listen({ port, hostname: "127.0.0.1" });
console.log(`satchel Elysia cart on http://localhost:${port}/ (Bun, memory store)`);
