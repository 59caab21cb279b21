/**
 * A loopback server playing an API for request-shape tests: it records every request
 * (method, path below `root`, query, headers, body) and answers with the test's handler.
 *
 * @module
 */

/** One request as the server saw it. */
export interface Seen {
  method: string;
  /** The path below the API root, e.g. `/apps/my-app`. */
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** The body as text; `""` when there was none. */
  body: string;
}

/** Answers a recorded request. */
export type Handler = (request: Request, seen: Seen) => Response | Promise<Response>;

/** Starts the server under `root` (e.g. `/api/v2`); `await using` stops it. */
export function recordingServer(root: string, handler: Handler) {
  const requests: Seen[] = [];
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    async (request) => {
      const url = new URL(request.url);
      const seen: Seen = {
        method: request.method,
        path: url.pathname.slice(root.length),
        query: url.searchParams,
        headers: request.headers,
        body: await request.text(),
      };
      requests.push(seen);
      return await handler(request, seen);
    },
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  return Object.assign(server, { requests, origin, baseUrl: `${origin}${root}` });
}
