/**
 * The HTTP client the host reaches one tenant's unix socket with: `node:http` over a
 * keep-alive agent, answering with a web `Response` whose body streams.
 *
 * Not Deno's `fetch` with a unix-socket `HttpClient`: in Deno 2.9 a process with about 55
 * requests pending through such clients (any of them, any socket) opens no new connection
 * through any of them, so one tenant holding requests open stalled every tenant that needed a
 * connection (tests/isolation_test.ts, the slow-client attack without HAProxy). `node:http`
 * has no such limit. (It does send a request again, once, when a kept-alive connection closes
 * before the answer, whatever the method: from a process that died mid-request, the second
 * finds no one listening on its socket, and the router answers as for any dead process.)
 *
 * @module
 */
import { Agent, request as httpRequest } from "node:http";
import type { IncomingMessage } from "node:http";
import { ROUTER_ERROR_HEADER } from "../../lib/urls.ts";
import { MAX_RESPONSE_HEAD_BYTES } from "./limits.ts";
import { setsSharedCookie } from "../edge/shared_cookies.ts";

/** The tenant's response head was over {@link MAX_RESPONSE_HEAD_BYTES}: not forwarded. */
export class ResponseHeadTooLarge extends Error {
  constructor() {
    super(`the response head is over ${MAX_RESPONSE_HEAD_BYTES} bytes`);
    this.name = "ResponseHeadTooLarge";
  }
}

/** What {@link TenantClient.fetch} sends. */
export interface TenantRequest {
  method: string;
  /** Path and query, e.g. `/lead?x=1`. */
  path: string;
  headers: Headers;
  body?: ReadableStream<Uint8Array> | null;
  signal?: AbortSignal;
  /** Told the size of each piece of the response body as the client reads it. */
  onBodyBytes?: (bytes: number) => void;
  /** A `Set-Cookie` naming one of these domains is left out (host/edge/shared_cookies.ts). */
  sharedDomains?: readonly string[];
}

/** Statuses whose response has no body (a `Response` with one would throw). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** A keep-alive HTTP/1.1 client for the unix socket at `socketPath`. */
export class TenantClient {
  readonly #socketPath: string;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: Infinity });

  /** A client for the socket at `socketPath` (connections are made on demand). */
  constructor(socketPath: string) {
    this.#socketPath = socketPath;
  }

  /** The tenant's socket (a WebSocket to the tenant opens its own connection to it). */
  get socketPath(): string {
    return this.#socketPath;
  }

  /**
   * Sends `request` and resolves with the response once its head arrives; the body streams as
   * it is read, and cancelling it closes the connection. Rejects on a connection error or
   * when `signal` aborts before the head.
   */
  fetch(request: TenantRequest): Promise<Response> {
    const { signal } = request;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest({
        socketPath: this.#socketPath,
        agent: this.#agent,
        method: request.method,
        path: request.path,
        headers: headerLines(request.headers),
        // The tenant's Host, not the socket's.
        setHost: false,
        // HAProxy's limit, so that both data paths take the same answers.
        maxHeaderSize: MAX_RESPONSE_HEAD_BYTES,
      });
      // Rejected here: on a kept-alive connection Deno's node:http emits no "error" on destroy.
      const onAbort = () => {
        reject(signal!.reason);
        outgoing.destroy();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      outgoing.on("error", (error) => {
        signal?.removeEventListener("abort", onAbort);
        const overflow = (error as { code?: unknown }).code === "HPE_HEADER_OVERFLOW";
        reject(overflow ? new ResponseHeadTooLarge() : error);
      });
      outgoing.on("response", (incoming: IncomingMessage) => {
        signal?.removeEventListener("abort", onAbort);
        try {
          resolve(tenantResponse(incoming, request));
        } catch (error) { // a status no Response can have
          incoming.destroy();
          reject(error);
        }
      });
      sendBody(outgoing, request.body).catch((error) => outgoing.destroy(error));
    });
  }

  /** Closes every connection, idle or not. */
  close(): void {
    this.#agent.destroy();
  }
}

/** Headers for `node:http`, each `set-cookie` line kept apart. */
function headerLines(headers: Headers): Record<string, string | string[]> {
  const lines: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    const before = lines[name];
    lines[name] = before === undefined ? value : [before, value].flat();
  }
  return lines;
}

async function sendBody(
  outgoing: ReturnType<typeof httpRequest>,
  body: ReadableStream<Uint8Array> | null | undefined,
): Promise<void> {
  if (!body) {
    outgoing.end();
    return;
  }
  for await (const chunk of body) {
    // Backpressure: wait for the socket before reading more of the client's body.
    if (!outgoing.write(chunk)) await new Promise((resolve) => outgoing.once("drain", resolve));
  }
  outgoing.end();
}

/**
 * The tenant's answer `incoming` to a `method` request as a web `Response` whose body streams
 * as it is read (see {@link TenantRequest.onBodyBytes}), without the headers only the host may
 * set and the cookies it may not (see {@link TenantRequest.sharedDomains}). Throws for a status no
 * `Response` can have.
 */
export function tenantResponse(
  incoming: IncomingMessage,
  { method, onBodyBytes, sharedDomains }: Pick<
    TenantRequest,
    "method" | "onBodyBytes" | "sharedDomains"
  >,
): Response {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const shared = sharedDomains && raw[i].toLowerCase() === "set-cookie" &&
      setsSharedCookie(raw[i + 1], sharedDomains);
    if (!shared) headers.append(raw[i], raw[i + 1]);
  }
  // The router's mark on its own errors is the host's to set: a tenant's copy would make its
  // answer read as the platform's ("no deployment answers here") to `invoke`.
  headers.delete(ROUTER_ERROR_HEADER);
  const status = incoming.statusCode ?? 502;
  const bodyless = method === "HEAD" || NULL_BODY_STATUSES.has(status);
  if (bodyless) incoming.resume(); // nothing to read; frees the connection
  const body = bodyless ? null : bodyOf(incoming, onBodyBytes);
  return new Response(body, { status, statusText: incoming.statusMessage, headers });
}

/**
 * The response body as a web stream that reads from the socket only as fast as the client
 * takes it: at most {@link BODY_BUFFER} bytes wait in between.
 */
function bodyOf(
  incoming: IncomingMessage,
  onBytes: (bytes: number) => void = () => {},
): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      incoming.on("data", (chunk: Uint8Array) => {
        if (settled) return;
        onBytes(chunk.byteLength);
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 0) <= 0) incoming.pause();
      });
      incoming.on("end", () => {
        if (!settled) controller.close();
        settled = true;
      });
      // Closed before its end: the tenant died or the connection broke.
      incoming.on("close", () => {
        if (!settled) controller.error(new Error("The tenant's response ended early"));
        settled = true;
      });
    },
    pull() {
      incoming.resume();
    },
    cancel() {
      settled = true;
      incoming.destroy();
    },
  }, { highWaterMark: BODY_BUFFER, size: (chunk) => chunk.byteLength });
}

/** Bytes of a response body read from the tenant ahead of the client. */
const BODY_BUFFER = 64 * 1024;
