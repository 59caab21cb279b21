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
import { Buffer } from "node:buffer";
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import { type Duplex, Readable } from "node:stream";
import { createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import { type RawUpgrade, upgradeRaw } from "./websocket.ts";

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

/** Requests that came over this listener's TLS connections. */
const overHttps = new WeakSet<Request>();

/**
 * Whether `request` came over the HTTPS port: what `x-forwarded-proto` says to the tenant. Not
 * its URL's scheme, which a client names itself in an absolute-form request target
 * (`GET https://name/ HTTP/1.1` on the plain HTTP port).
 */
export function isHttpsRequest(request: Request): boolean {
  return overHttps.has(request);
}

/**
 * Marks `request` as one the router forwards with `x-forwarded-proto: https`: one that crossed no
 * network, a deployment's own fetch of an `https:` URL of this host (see self_fetch.ts).
 */
export function treatAsHttps(request: Request): void {
  overHttps.add(request);
}

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

  // A WebSocket handshake (wss://) comes here, not to the request listener: the relay takes
  // the connection over once the tenant has accepted (see RawUpgrade).
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(req, socket, head).catch((error) => {
      log(`HTTPS upgrade failed: ${(error as Error).message}`);
      socket.destroy();
    });
  });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => {});
    const misdirected = misdirectedResponse(req);
    if (misdirected) return await sendRaw(socket, misdirected);
    const target = originForm(req);
    if (target instanceof Response) return await sendRaw(socket, target);
    const raw: RawUpgrade = { socket, head: new Uint8Array(head) };
    const request = new Request(`https://${req.headers.host}${target}`, {
      method: req.method,
      headers: headersOf(req),
    });
    overHttps.add(request);
    upgradeRaw(request, raw);
    const response = await options.handler(request, infoOf(req, new Promise(() => {})));
    if (!raw.taken) await sendRaw(socket, response);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const misdirected = misdirectedResponse(req);
    if (misdirected) return send(res, misdirected);
    const target = originForm(req);
    if (target instanceof Response) return send(res, target);
    const closed = new AbortController();
    res.on("close", () => closed.abort());
    const headers = headersOf(req);
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const request = new Request(`https://${req.headers.host}${target}`, {
      method: req.method,
      headers,
      body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : undefined,
      signal: closed.signal,
    });
    overHttps.add(request);
    let finished = () => {};
    const completed = new Promise<void>((resolve) => finished = resolve);
    res.on("close", finished);
    await send(res, await options.handler(request, infoOf(req, completed)), closed.signal);
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

/**
 * A 421 when the request's `Host` is not the name the connection was opened for: one
 * domain's certificate never fronts another domain's deployment.
 */
function misdirectedResponse(req: IncomingMessage): Response | undefined {
  // `servername` (the SNI the client sent) is missing from the bundled Node types.
  const socket = req.socket as TLSSocket & { servername?: string | false };
  const serverName = String(socket.servername || "").toLowerCase();
  const host = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/\.$/, "").toLowerCase();
  if (serverName && host === serverName) return undefined;
  return Response.json({
    code: "misdirectedRequest",
    message: `This connection is for ${serverName || "no server name"}, not ${host}`,
  }, { status: 421 });
}

/**
 * The request target in origin form (path and query). An absolute-form target
 * (`GET https://name/path HTTP/1.1`, as proxies send) must name the same authority as `Host`
 * (RFC 9112 3.2.2; HAProxy answers a mismatch 400 too).
 */
function originForm(req: IncomingMessage): string | Response {
  const target = req.url ?? "/";
  if (target.startsWith("/")) return target;
  let url: URL | undefined;
  try {
    url = /^https?:\/\//i.test(target) ? new URL(target) : undefined;
  } catch { /* below */ }
  if (url && sameAuthority(url.host, req.headers.host ?? "", 443)) return url.pathname + url.search;
  return Response.json({
    code: "invalidHost",
    message: "The request target does not match its Host header",
  }, {
    status: 400,
  });
}

/** Whether two `host[:port]` authorities name the same, `defaultPort` being implied. */
function sameAuthority(a: string, b: string, defaultPort: number): boolean {
  const normal = (authority: string) => {
    const lower = authority.toLowerCase().replace(/\.$/, "");
    return lower.endsWith(`:${defaultPort}`) ? lower.slice(0, -`:${defaultPort}`.length) : lower;
  };
  return normal(a) === normal(b);
}

/** The request's headers as the client wrote them. */
function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  return headers;
}

/** What the handler gets as its second argument: the client's TCP address. */
function infoOf(
  req: IncomingMessage,
  completed: Promise<void>,
): Deno.ServeHandlerInfo<Deno.NetAddr> {
  const socket = req.socket;
  return {
    remoteAddr: {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    },
    completed,
  };
}

/**
 * Writes `response` as HTTP/1.1 on a raw connection (an upgrade that was refused), then ends it.
 * The body runs until the connection closes, written as the client takes it: read whole first,
 * a tenant's refusal of any size waited in the host's memory.
 */
async function sendRaw(socket: Duplex, response: Response): Promise<void> {
  let head = `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ""}\r\n`;
  for (const [name, value] of response.headers) {
    if (name !== "content-length" && name !== "transfer-encoding" && name !== "connection") {
      head += `${name}: ${value}\r\n`;
    }
  }
  socket.write(Buffer.from(`${head}connection: close\r\n\r\n`, "latin1"));
  let gone = socket.destroyed;
  const onClose = () => gone = true;
  socket.once("close", onClose);
  const reader = response.body?.getReader();
  try {
    while (reader && !gone) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!socket.write(value)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            socket.off("drain", done);
            socket.off("close", done);
            resolve();
          };
          socket.on("drain", done);
          socket.on("close", done);
        });
      }
    }
  } finally {
    socket.off("close", onClose);
    if (gone) await reader?.cancel().catch(() => {});
    socket.end();
  }
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
