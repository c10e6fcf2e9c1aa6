/**
 * Serve a fetch handler on whichever runtime runs this file: `Deno.serve`, `Bun.serve`, or
 * Node's `node:http` through a small Request/Response bridge. For the examples only.
 */
import process from "node:process";

type Handler = (request: Request) => Promise<Response>;

/** Start serving; resolves with the URL once listening. */
export async function serve(handler: Handler, port: number, hostname = "127.0.0.1"): Promise<string> {
  const g = globalThis as unknown as {
    Deno?: { serve(options: { port: number; hostname: string; onListen?: () => void }, handler: Handler): unknown };
    Bun?: { serve(options: { port: number; hostname: string; fetch: Handler }): { port: number } };
  };
  if (g.Deno) {
    await new Promise<void>((resolve) => g.Deno!.serve({ port, hostname, onListen: () => resolve() }, handler));
  } else if (g.Bun) {
    g.Bun.serve({ port, hostname, fetch: handler });
  } else {
    const { createServer } = await import("node:http");
    const server = createServer(async (req, res) => {
      try {
        const chunks: Uint8Array[] = [];
        for await (const chunk of req) chunks.push(chunk as Uint8Array);
        const headers = new Headers();
        for (let i = 0; i < req.rawHeaders.length; i += 2) {
          if (req.rawHeaders[i]!.toLowerCase() !== "cookie") headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
        }
        // Node joins repeated Cookie fields with "; "; appending them to Headers would join with ", ".
        if (req.headers.cookie) headers.set("cookie", req.headers.cookie);
        const method = req.method ?? "GET";
        const body = method === "GET" || method === "HEAD" ? undefined : Buffer.concat(chunks);
        const response = await handler(new Request(`http://${req.headers.host ?? hostname}${req.url ?? "/"}`, { method, headers, body }));
        const out: Record<string, string | string[]> = {};
        response.headers.forEach((value, key) => { if (key !== "set-cookie") out[key] = value; });
        const cookies = response.headers.getSetCookie();
        if (cookies.length) out["set-cookie"] = cookies;
        res.writeHead(response.status, out);
        res.end(Buffer.from(await response.arrayBuffer()));
      } catch (error) {
        console.error(error);
        res.writeHead(500).end("Internal Server Error");
      }
    });
    await new Promise<void>((resolve) => server.listen(port, hostname, resolve));
  }
  const url = `http://${hostname === "127.0.0.1" ? "localhost" : hostname}:${port}/`;
  return url;
}

/** The host from `--host H` or `HOST`, else 127.0.0.1 (`--host 0.0.0.0` listens on every interface). */
export function hostFrom(fallback = "127.0.0.1"): string {
  const i = process.argv.indexOf("--host");
  const raw = i >= 0 ? process.argv[i + 1] : process.env.HOST;
  return raw && /^[A-Za-z0-9.:[\]-]+$/.test(raw) ? raw : fallback;
}

/** The port from `--port N` or `PORT`, else the default. */
export function portFrom(fallback: number): number {
  const i = process.argv.indexOf("--port");
  const raw = i >= 0 ? process.argv[i + 1] : process.env.PORT;
  const port = Number(raw ?? fallback);
  return Number.isInteger(port) && port > 0 ? port : fallback;
}
