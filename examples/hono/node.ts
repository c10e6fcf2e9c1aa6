/** The Hono cart on Node 24 through @hono/node-server: `node examples/hono/node.ts [--port 8003]`. */
import { serve } from "@hono/node-server";
import { portFrom } from "../_serve.ts";
import { cartApp } from "./app.ts";

const port = portFrom(8003);
serve({ fetch: cartApp("Node").fetch, port, hostname: "127.0.0.1" }, () => {
  console.log(`satchel Hono cart on http://localhost:${port}/ (Node, memory store)`);
});
