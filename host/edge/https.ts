/**
 * The host's HTTPS listener: one port, the certificate chosen per connection by the TLS
 * server name (SNI), requests handed to the same handler as the HTTP port.
 *
 * Why `node:https`: Deno 2.9's `Deno.serve` takes one certificate and no SNI callback.
 * `Deno.listenTls` has an unstable SNI resolver (`Symbol.for("unstableSniResolver")`), but it
 * caches each name's answer for the listener's lifetime — failures included — so a
 * certificate provisioned or replaced later would never be served. Node's `SNICallback`,
 * which Deno's `node:https` implements, is asked on every handshake.
 *
 * A request whose `Host` differs from the connection's server name gets 421 (Misdirected
 * Request): one domain's certificate never fronts another domain's deployment.
 *
 * @module
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { createSecureContext, type SecureContext, type TLSSocket } from "node:tls";

/** A certificate for one server name. */
export interface ServedCertificate {
  /** Changes whenever the certificate does: secure contexts are cached under it. */
  cacheKey: string;
  /** PEM chain, the leaf first. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/** Options of {@link serveHttps}. */
export interface HttpsServerOptions {
  /** TCP port; `0` picks a free one. */
  port: number;
  /** Interface to listen on. */
  hostname: string;
  /** Handles each request, as `Deno.serve` would. */
  handler: (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ) => Response | Promise<Response>;
  /** The certificate for a server name, or `undefined` to refuse the handshake. */
  certificateFor(serverName: string): Promise<ServedCertificate | undefined>;
  /** Reports handler failures. */
  log?: (line: string) => void;
}

/** A running HTTPS listener. */
export interface HttpsServer {
  /** The port it listens on. */
  port: number;
  /** Stops listening and closes open connections. */
  shutdown(): Promise<void>;
}

const CONTEXT_CACHE_SIZE = 256;

/** Starts the HTTPS listener. */
export async function serveHttps(options: HttpsServerOptions): Promise<HttpsServer> {
  const log = options.log ?? (() => {});
  const contexts = new Map<string, SecureContext>();

  const server = https.createServer({
    SNICallback(serverName, callback) {
      options.certificateFor(serverName.toLowerCase()).then((certificate) => {
        if (!certificate) {
          callback(new Error(`No certificate for ${serverName}`));
          return;
        }
        let context = contexts.get(certificate.cacheKey);
        if (!context) {
          context = createSecureContext({ cert: certificate.cert, key: certificate.key });
          if (contexts.size >= CONTEXT_CACHE_SIZE) contexts.delete(contexts.keys().next().value!);
          contexts.set(certificate.cacheKey, context);
        }
        callback(null, context);
      }, (error) => callback(error instanceof Error ? error : new Error(String(error))));
    },
  }, (req, res) => {
    handle(req, res).catch((error) => {
      log(`HTTPS request failed: ${(error as Error).message}`);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ code: "internalServerError", message: "The request failed" }));
      } else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // `servername` (the SNI the client sent) is missing from the bundled Node types.
    const socket = req.socket as TLSSocket & { servername?: string | false };
    const serverName = String(socket.servername || "").toLowerCase();
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/\.$/, "").toLowerCase();
    if (!serverName || host !== serverName) {
      return send(
        res,
        Response.json({
          code: "misdirectedRequest",
          message: `This connection is for ${serverName || "no server name"}, not ${host}`,
        }, { status: 421 }),
      );
    }
    const closed = new AbortController();
    res.on("close", () => closed.abort());
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const request = new Request(`https://${req.headers.host}${req.url}`, {
      method: req.method,
      headers,
      body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : undefined,
      signal: closed.signal,
    });
    let finished = () => {};
    const completed = new Promise<void>((resolve) => finished = resolve);
    res.on("close", finished);
    const info: Deno.ServeHandlerInfo<Deno.NetAddr> = {
      remoteAddr: {
        transport: "tcp",
        hostname: socket.remoteAddress ?? "",
        port: socket.remotePort ?? 0,
      },
      completed,
    };
    await send(res, await options.handler(request, info), closed.signal);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;

  let stopping: Promise<void> | undefined;
  return {
    port,
    shutdown: () =>
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Writes a fetch `Response` to a Node response, honouring back-pressure. */
async function send(res: ServerResponse, response: Response, signal?: AbortSignal) {
  res.statusCode = response.status;
  for (const [name, value] of response.headers) {
    if (name !== "set-cookie") res.setHeader(name, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    while (!signal?.aborted) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          res.once("drain", resolve);
          res.once("close", resolve);
        });
      }
    }
  } finally {
    if (signal?.aborted) await reader.cancel().catch(() => {});
    res.end();
  }
}
