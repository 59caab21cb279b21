/**
 * The host's egress proxy: the only way a deployment's dependencies are fetched. The build's
 * `deno cache` runs with `HTTP_PROXY`/`HTTPS_PROXY` pointing here (Deno sends every module,
 * npm and JSR fetch through them, whatever `.npmrc`, `deno.json` or a registry variable says,
 * and for every redirect hop), and the proxy connects only to public addresses: a name that
 * resolves to loopback, a private or link-local range, or this machine's own addresses is
 * refused with 403, before any byte reaches it. It connects to the address it checked, so a
 * second DNS answer cannot swap in another one.
 *
 * @module
 */
import { isDeniedAddress } from "./addresses.ts";

/** Options of {@link EgressProxy.start}. */
export interface EgressProxyOptions {
  /** Whether an address may not be reached; default {@link isDeniedAddress}. */
  denied?: (address: string) => boolean;
  /** Resolves a host name to addresses; default `Deno.resolveDns` (A and AAAA). */
  resolve?: (hostname: string) => Promise<string[]>;
  /** Called with each refusal (for the host's log). */
  onRefused?: (target: string, reason: string) => void;
}

/** Largest request head accepted, in bytes. */
const MAX_HEAD_BYTES = 16 * 1024;

/** A running egress proxy on a loopback port. */
export class EgressProxy {
  #listener: Deno.TcpListener;
  #connections = new Set<Deno.Conn>();
  #options: EgressProxyOptions;
  #served: Promise<void>;

  private constructor(listener: Deno.TcpListener, options: EgressProxyOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#served = this.#serve();
  }

  /** Starts a proxy on `127.0.0.1` and a free port. */
  static start(options: EgressProxyOptions = {}): EgressProxy {
    return new EgressProxy(Deno.listen({ hostname: "127.0.0.1", port: 0 }), options);
  }

  /** `http://127.0.0.1:<port>`: the value of `HTTP_PROXY` and `HTTPS_PROXY`. */
  get url(): string {
    return `http://127.0.0.1:${this.#listener.addr.port}`;
  }

  /** Stops listening and closes every open tunnel. */
  async close(): Promise<void> {
    this.#listener.close();
    for (const connection of this.#connections) close(connection);
    await this.#served;
  }

  async #serve(): Promise<void> {
    try {
      for await (const connection of this.#listener) {
        this.#connections.add(connection);
        this.#handle(connection).finally(() => {
          this.#connections.delete(connection);
          close(connection);
        });
      }
    } catch { /* closed */ }
  }

  async #handle(client: Deno.Conn): Promise<void> {
    const head = await readHead(client);
    if (!head) return;
    const request = parseRequest(head.text);
    if (!request) return await answer(client, 400, "not a proxy request");
    const { hostname, port } = request;
    let addresses: string[];
    try {
      addresses = isIpLiteral(hostname) ? [unbracket(hostname)] : await this.#resolve(hostname);
    } catch {
      return await answer(client, 502, `${hostname} does not resolve`);
    }
    const denied = this.#options.denied ?? isDeniedAddress;
    const allowed = addresses.filter((address) => !denied(address));
    if (allowed.length === 0) {
      const reason = `${hostname} is ${addresses.join(", ") || "nothing"}: loopback, private, ` +
        "link-local or this machine's own addresses are never fetched";
      this.#options.onRefused?.(`${hostname}:${port}`, reason);
      return await answer(client, 403, reason);
    }
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: allowed[0], port });
    } catch (error) {
      return await answer(client, 502, `${hostname}:${port}: ${(error as Error).message}`);
    }
    this.#connections.add(upstream);
    try {
      if (request.connect) {
        await writeAll(client, "HTTP/1.1 200 Connection Established\r\n\r\n");
      } else {
        await writeAll(upstream, request.forward!);
      }
      if (head.rest.byteLength > 0) await writeAllBytes(upstream, head.rest);
      await Promise.all([pipe(client, upstream), pipe(upstream, client)]);
    } finally {
      this.#connections.delete(upstream);
      close(upstream);
    }
  }

  async #resolve(hostname: string): Promise<string[]> {
    if (this.#options.resolve) return await this.#options.resolve(hostname);
    const [v4, v6] = await Promise.all([
      Deno.resolveDns(hostname, "A").catch(() => [] as string[]),
      Deno.resolveDns(hostname, "AAAA").catch(() => [] as string[]),
    ]);
    if (v4.length === 0 && v6.length === 0) throw new Error("no address");
    return [...v4, ...v6];
  }
}

interface ProxyRequest {
  connect: boolean;
  hostname: string;
  port: number;
  /** For plain HTTP: the request head to send upstream (origin form, `Connection: close`). */
  forward?: string;
}

/** `CONNECT host:port` or an absolute-form `GET http://host/path`. */
function parseRequest(head: string): ProxyRequest | undefined {
  const [line, ...headers] = head.split("\r\n");
  const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(line);
  if (!match) return undefined;
  const [, method, target] = match;
  if (method === "CONNECT") {
    const hostPort = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(target);
    if (!hostPort) return undefined;
    return { connect: true, hostname: hostPort[1], port: Number(hostPort[2]) };
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:") return undefined;
  const kept = headers.filter((h) => h && !/^(proxy-[\w-]*|connection|keep-alive):/i.test(h));
  const forward = [`${method} ${url.pathname}${url.search} HTTP/1.1`, ...kept, "Connection: close"]
    .join("\r\n") + "\r\n\r\n";
  return { connect: false, hostname: url.hostname, port: Number(url.port || 80), forward };
}

/** Reads up to the blank line ending the head; `rest` is what followed it. */
async function readHead(
  connection: Deno.Conn,
): Promise<{ text: string; rest: Uint8Array } | undefined> {
  let buffer = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  while (buffer.byteLength < MAX_HEAD_BYTES) {
    const n = await connection.read(chunk).catch(() => null);
    if (n === null) return undefined;
    const next = new Uint8Array(buffer.byteLength + n);
    next.set(buffer);
    next.set(chunk.subarray(0, n), buffer.byteLength);
    buffer = next;
    const end = indexOfBlankLine(buffer);
    if (end >= 0) {
      return {
        text: new TextDecoder().decode(buffer.subarray(0, end)),
        rest: buffer.slice(end + 4),
      };
    }
  }
  return undefined;
}

function indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.byteLength; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

async function answer(connection: Deno.Conn, status: number, message: string): Promise<void> {
  const body = `deploy-tenant egress proxy: ${message}\n`;
  const reason = { 400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway" }[status] ?? "Error";
  await writeAll(
    connection,
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\n` +
      `content-length: ${new TextEncoder().encode(body).byteLength}\r\nconnection: close\r\n\r\n` +
      body,
  ).catch(() => {});
}

async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  try {
    await from.readable.pipeTo(to.writable, { preventClose: true });
  } catch { /* either side went away */ }
  try {
    await to.closeWrite();
  } catch { /* already closed */ }
}

async function writeAll(connection: Deno.Conn, text: string): Promise<void> {
  await writeAllBytes(connection, new TextEncoder().encode(text));
}

async function writeAllBytes(connection: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength;) {
    offset += await connection.write(bytes.subarray(offset));
  }
}

function close(connection: Deno.Conn): void {
  try {
    connection.close();
  } catch { /* already closed */ }
}

function isIpLiteral(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.startsWith("[") ||
    hostname.includes(":");
}

function unbracket(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, "");
}
