/**
 * HTTPS helpers for browser tests that need several hostnames of one registrable domain:
 * a throwaway self-signed certificate (openssl), a `node:https` server on 127.0.0.1 that
 * runs a fetch handler, and Chromium launched with every `*.DOMAIN` mapped to 127.0.0.1.
 *
 * Nothing leaves the machine: the host resolver rule sends the test hostnames to loopback.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { serviceAvailable } from "../_env.ts";
import { launchChromium } from "./_harness.ts";

const run = promisify(execFile);

/** `true` when openssl runs; `false` (after a loud skip line) outside CI; throws in CI. */
export async function opensslAvailable(): Promise<boolean> {
  return await serviceAvailable("openssl (to make the test certificate)", () => run("openssl", ["version"]));
}

/** A fresh P-256 self-signed certificate for `domain` and `*.domain`, valid one day. */
export async function selfSignedCertificate(domain: string): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), "satchel-tls-"));
  try {
    const key = join(dir, "key.pem"), cert = join(dir, "cert.pem");
    await run("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", key, "-out", cert, "-days", "1", "-subj", `/CN=${domain}`,
      "-addext", `subjectAltName=DNS:${domain},DNS:*.${domain}`,
    ]);
    return { key: await readFile(key, "utf8"), cert: await readFile(cert, "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What the server saw of one request: its host, path and raw Cookie header. */
export interface SeenRequest {
  host: string;
  path: string;
  cookie: string | undefined;
}

export interface HttpsServer {
  port: number;
  /** Every request received, in order. */
  seen: SeenRequest[];
  stop(): Promise<void>;
}

/**
 * Serve `handler` over HTTPS on 127.0.0.1 (a random port). The `Request` is built from Node's
 * own headers, so its Cookie header is what Node received (repeated fields joined by "; ").
 */
export async function startHttps(
  tls: { key: string; cert: string },
  handler: (request: Request) => Response | Promise<Response>,
): Promise<HttpsServer> {
  const seen: SeenRequest[] = [];
  const server = createServer(tls, (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ host: req.headers.host ?? "", path: req.url ?? "", cookie: req.headers.cookie });
    void serve(req, res, handler);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    seen,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  handler: (request: Request) => Response | Promise<Response>,
): Promise<void> {
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    const response = await handler(new Request(`https://${req.headers.host}${req.url}`, { method: req.method, headers }));
    const out: Record<string, string | string[]> = {};
    response.headers.forEach((value, name) => {
      if (name !== "set-cookie") out[name] = value;
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length) out["set-cookie"] = cookies;
    res.writeHead(response.status, out);
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch {
    res.writeHead(500).end("handler failed");
  }
}

/** Launch Debian's Chromium headless with every host under `domain` resolved to 127.0.0.1. */
export async function launchChromiumMapped(domain: string): Promise<Browser> {
  return await launchChromium([`--host-resolver-rules=MAP *.${domain} 127.0.0.1`]);
}
