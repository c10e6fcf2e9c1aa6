/** The Express 5 cart on Node 24: `npm run example:express`, or `node examples/express/server.ts [--port 8006]`. */
import { portFrom } from "../_serve.ts";
import { cartApp } from "./app.ts";

const port = portFrom(8006);
cartApp().listen(port, "127.0.0.1", () => {
  console.log(`satchel Express cart on http://localhost:${port}/ (Node, memory store)`);
});
