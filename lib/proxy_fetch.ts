/**
 * `fetch` through an HTTP proxy (the local host's router), on `node:http`.
 *
 * Not `Deno.createHttpClient({ proxy })`: Deno 2.9 resolves the target's host name before it
 * hands the request to the proxy, so every `*.localhost` deployment name became a DNS query to
 * the machine's name server (traffic off loopback, for a name that never resolves), and when
 * those queries were slow a burst of invocations waited 5 s for them. Here the connection goes
 * to the proxy's address and the target's name only travels in the request line and `Host`.
 *
 * @module
 */
import http from "node:http";
import { Readable } from "node:stream";

/** Statuses whose response has no body, whatever the headers say. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** Keep-alive connections to a proxy, reused across requests. */
export type ProxyAgent = http.Agent;

/**
 * An agent for one proxy origin: connections kept alive and reused, or with `keepAlive`
 * false, one connection per request, closed after it.
 */
export function proxyAgent(keepAlive = true): ProxyAgent {
  return new http.Agent({ keepAlive });
}

/**
 * Sends `request` to `proxy` (an `http:` origin) in absolute form, as to any HTTP proxy, and
 * answers like `fetch`: the response streams, and `signal` aborts the exchange, body included.
 */
export async function fetchThroughProxy(
  proxy: URL,
  request: Request,
  agent: ProxyAgent,
  signal?: AbortSignal,
): Promise<Response> {
  signal?.throwIfAborted();
  const target = new URL(request.url);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of request.headers) headers[name] = value;
  headers.host = target.host;
  const body = request.body;
  if (body && !request.headers.has("content-length")) headers["transfer-encoding"] = "chunked";
  const { promise, resolve, reject } = Promise.withResolvers<Response>();
  const outgoing = http.request({
    host: proxy.hostname.replace(/^\[|\]$/g, ""),
    port: Number(proxy.port || 80),
    method: request.method,
    path: target.href,
    headers,
    agent,
  });
  const abort = () => {
    const reason = signal?.reason ?? new DOMException("The request was aborted", "AbortError");
    outgoing.destroy(reason);
    reject(reason);
  };
  signal?.addEventListener("abort", abort, { once: true });
  outgoing.on("error", (error) => {
    signal?.removeEventListener("abort", abort);
    reject(error);
  });
  outgoing.on("response", (incoming) => {
    const responseHeaders = new Headers();
    for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
      responseHeaders.append(incoming.rawHeaders[i], incoming.rawHeaders[i + 1]);
    }
    const status = incoming.statusCode ?? 502;
    const empty = NULL_BODY_STATUSES.has(status) || request.method === "HEAD";
    if (empty) {
      incoming.resume();
      signal?.removeEventListener("abort", abort);
    } else {
      incoming.on("close", () => signal?.removeEventListener("abort", abort));
    }
    try {
      resolve(
        new Response(empty ? null : Readable.toWeb(incoming) as ReadableStream<Uint8Array>, {
          status,
          statusText: incoming.statusMessage,
          headers: responseHeaders,
        }),
      );
    } catch (error) { // a status `Response` cannot carry (1xx)
      outgoing.destroy();
      reject(error);
    }
  });
  if (body) {
    try {
      for await (const chunk of body) {
        if (!outgoing.write(chunk)) await new Promise((done) => outgoing.once("drain", done));
      }
    } catch (error) {
      outgoing.destroy(error as Error);
      signal?.removeEventListener("abort", abort);
      throw error;
    }
  }
  outgoing.end();
  return await promise;
}
