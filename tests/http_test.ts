import assert from "node:assert/strict";
import { ApiError, ExitCode, NetworkError } from "../lib/errors.ts";
import {
  HttpClient,
  type HttpClientOptions,
  ndjson,
  parseLinkHeader,
  parseRetryAfter,
  type RetryInfo,
} from "../lib/http.ts";
import { rejection } from "./helpers/rejection.ts";

type Handler = (request: Request) => Response | Promise<Response>;

/** A real loopback server; `await using` shuts it down. */
function serve(handler: Handler) {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, handler);
  return Object.assign(server, {
    origin: `http://127.0.0.1:${server.addr.port}`,
    baseUrl: `http://127.0.0.1:${server.addr.port}/v1`,
  });
}

/** A client with a tiny backoff that records its retries. */
function client(baseUrl: string, options: Partial<HttpClientOptions> = {}) {
  const retries: RetryInfo[] = [];
  const http = new HttpClient({
    baseUrl,
    retryBaseMs: 1,
    onRetry: (info) => retries.push(info),
    ...options,
  });
  return { http, retries };
}

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

Deno.test("sends the token, user agent, query and JSON body, and parses the JSON answer", async () => {
  let seen: { url: URL; method: string; headers: Headers; body: unknown } | undefined;
  await using server = serve(async (request) => {
    const { method, headers } = request;
    seen = { url: new URL(request.url), method, headers, body: await request.json() };
    return Response.json({ id: "p1", name: "acme" });
  });
  const { http } = client(`${server.baseUrl}/`, { token: "ddo_secret" });

  const project = await http.json<{ id: string }>("POST", "organizations/o 1/projects", {
    query: { q: "acme", limit: 5, skip: undefined, none: null },
    json: { name: "acme" },
  });

  assert.deepEqual(project, { id: "p1", name: "acme" });
  assert.ok(seen);
  assert.equal(seen.url.pathname, "/v1/organizations/o%201/projects");
  assert.equal(seen.url.search, "?q=acme&limit=5");
  assert.equal(seen.method, "POST");
  assert.equal(seen.headers.get("authorization"), "Bearer ddo_secret");
  assert.equal(seen.headers.get("accept"), "application/json");
  assert.equal(seen.headers.get("content-type"), "application/json");
  assert.match(seen.headers.get("user-agent") ?? "", /^deploy-tenant\/\d+\.\d+\.\d+/);
  assert.deepEqual(seen.body, { name: "acme" });
});

Deno.test("json() gives undefined for an empty 200 body", async () => {
  await using server = serve(() => new Response(null, { status: 200 }));
  const { http } = client(server.baseUrl);
  assert.equal(await http.json("DELETE", "/projects/p1"), undefined);
});

Deno.test("a 500 is retried and the 200 that follows is returned", async () => {
  let calls = 0;
  await using server = serve(() => {
    calls++;
    return calls === 1
      ? Response.json({ code: "internalServerError", message: "boom" }, { status: 500 })
      : Response.json({ ok: true });
  });
  const { http, retries } = client(server.baseUrl);

  assert.deepEqual(await http.json("GET", "/organizations/o"), { ok: true });
  assert.equal(calls, 2);
  assert.equal(retries.length, 1);
  assert.equal(retries[0].attempt, 1);
  assert.match(retries[0].reason, /500/);
});

Deno.test("a 429 with Retry-After: 1 waits one second, then succeeds", async () => {
  let calls = 0;
  await using server = serve(() => {
    calls++;
    return calls === 1
      ? Response.json({ code: "tooManyRequests", message: "slow down" }, {
        status: 429,
        headers: { "retry-after": "1" },
      })
      : Response.json([1]);
  });
  const { http, retries } = client(server.baseUrl);

  assert.deepEqual(await http.json("GET", "/x"), [1]);
  assert.equal(calls, 2);
  assert.deepEqual(retries, [{ attempt: 1, delayMs: 1000, reason: "HTTP 429" }]);
});

Deno.test("retry-after-ms takes precedence over Retry-After", async () => {
  let calls = 0;
  await using server = serve(() => {
    calls++;
    return calls === 1
      ? new Response("busy", {
        status: 503,
        headers: { "retry-after-ms": "7", "retry-after": "30" },
      })
      : Response.json("ok");
  });
  const { http, retries } = client(server.baseUrl);

  assert.equal(await http.json("GET", "/x"), "ok");
  assert.equal(retries[0].delayMs, 7);
});

Deno.test("parseRetryAfter reads seconds, HTTP dates and milliseconds", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  const parse = (init: HeadersInit) => parseRetryAfter(new Headers(init), now);
  assert.equal(parse({ "retry-after": "2" }), 2000);
  assert.equal(parse({ "retry-after": "Wed, 01 Jan 2025 00:00:05 GMT" }), 5000);
  assert.equal(parse({ "retry-after": "Tue, 31 Dec 2024 23:59:00 GMT" }), 0);
  assert.equal(parse({ "retry-after-ms": "250" }), 250);
  assert.equal(parse({ "retry-after": "soon" }), undefined);
  assert.equal(parse({}), undefined);
});

Deno.test("a 503 that persists ends in an ApiError with status, code, message and trace id", async () => {
  let calls = 0;
  await using server = serve(() => {
    calls++;
    return Response.json({ code: "serviceUnavailable", message: "The builder is down." }, {
      status: 503,
      headers: { "x-deno-ray": "ray-123" },
    });
  });
  const { http, retries } = client(server.baseUrl, { maxRetries: 2 });

  const error = await rejection(http.json("GET", "/x"));
  assert.equal(calls, 3);
  assert.equal(retries.length, 2);
  assert.ok(error instanceof ApiError);
  assert.equal(error.status, 503);
  assert.equal(error.code, "serviceUnavailable");
  assert.equal(error.message, "The builder is down.");
  assert.equal(error.traceId, "ray-123");
  assert.equal(error.exitCode, ExitCode.unavailable);
  assert.match(error.hint ?? "", /ray-123/);
});

Deno.test("an HTML 502 page becomes an httpError with the status text and a snippet", async () => {
  await using server = serve(() =>
    new Response(
      "<html><head><title>502 Bad Gateway</title></head><body><h1>nginx upstream down</h1></body></html>",
      { status: 502, statusText: "Bad Gateway", headers: { "content-type": "text/html" } },
    )
  );
  const { http } = client(server.baseUrl, { maxRetries: 0 });

  const error = await rejection(http.json("GET", "/x"));
  assert.ok(error instanceof ApiError);
  assert.equal(error.status, 502);
  assert.equal(error.code, "httpError");
  assert.match(error.message, /^HTTP 502 Bad Gateway: /);
  assert.match(error.message, /nginx upstream down/);
  assert.doesNotMatch(error.message, /<h1>/);
});

Deno.test("a 404 is not retried and maps to the not-found exit code", async () => {
  let calls = 0;
  await using server = serve(() => {
    calls++;
    return Response.json({ code: "projectNotFound", message: "Project not found" }, {
      status: 404,
    });
  });
  const { http, retries } = client(server.baseUrl);

  const error = await rejection(http.json("GET", "/projects/x"));
  assert.equal(calls, 1);
  assert.equal(retries.length, 0);
  assert.ok(error instanceof ApiError);
  assert.equal(error.code, "projectNotFound");
  assert.equal(error.exitCode, ExitCode.notFound);
});

Deno.test("retry: false sends a failing request once", async () => {
  let calls = 0;
  await using server = serve(() => {
    calls++;
    return new Response("no", { status: 500 });
  });
  const { http } = client(server.baseUrl);

  await assert.rejects(http.request("POST", "/x", { json: {}, retry: false }), ApiError);
  assert.equal(calls, 1);
});

Deno.test("an unreachable server ends in a NetworkError naming the URL, after retries", async () => {
  const baseUrl = `http://127.0.0.1:${closedPort()}/v1`;
  const { http, retries } = client(baseUrl, { maxRetries: 2 });

  const error = await rejection(http.json("GET", "/organizations/o"));
  assert.ok(error instanceof NetworkError);
  assert.equal(retries.length, 2);
  assert.ok(error.message.includes(`${baseUrl}/organizations/o`), error.message);
  assert.match(error.message, /3 attempts/);
  assert.match(error.message, /refused/i);
  assert.match(error.hint ?? "", /--api/);
  assert.equal(error.exitCode, ExitCode.unavailable);
});

Deno.test("a server that never answers times out each attempt, then NetworkError", async () => {
  const release = Promise.withResolvers<void>();
  let calls = 0;
  await using server = serve(async () => {
    calls++;
    await release.promise;
    return new Response("too late");
  });
  const { http, retries } = client(server.baseUrl, { timeoutMs: 50, maxRetries: 1 });

  try {
    const error = await rejection(http.json("GET", "/slow"));
    assert.ok(error instanceof NetworkError);
    assert.match(error.message, /timed out after 50 ms/);
    assert.equal(retries.length, 1);
    assert.match(retries[0].reason, /timed out/);
  } finally {
    release.resolve();
  }
  assert.equal(calls, 2);
});

Deno.test("a caller abort is rethrown as an AbortError and not retried", async () => {
  const release = Promise.withResolvers<void>();
  const arrived = Promise.withResolvers<void>();
  let calls = 0;
  await using server = serve(async () => {
    calls++;
    arrived.resolve();
    await release.promise;
    return new Response("late");
  });
  const { http, retries } = client(server.baseUrl);
  const controller = new AbortController();

  try {
    const pending = http.request("GET", "/slow", { signal: controller.signal });
    await arrived.promise;
    controller.abort();
    const error = await rejection(pending);
    assert.ok(error instanceof DOMException);
    assert.equal(error.name, "AbortError");
  } finally {
    release.resolve();
  }
  assert.equal(calls, 1);
  assert.equal(retries.length, 0);
});

Deno.test("paginate follows Link rel=next across three pages and keeps the token at home", async () => {
  const seen: string[] = [];
  await using server = serve((request) => {
    const url = new URL(request.url);
    seen.push(`${url.search} ${request.headers.get("authorization")}`);
    const page = Number(url.searchParams.get("page") ?? "1");
    const items = [{ n: page * 10 + 1 }, { n: page * 10 + 2 }];
    const links = [];
    // Page 2 points to another origin: the client must stay on its own server.
    if (page === 1) links.push(`<${server.baseUrl}/items?page=2&limit=2>; rel="next"`);
    if (page === 2) links.push(`<https://elsewhere.example/v1/items?page=3&limit=2>; rel="next"`);
    links.push(`<${server.baseUrl}/items?page=1&limit=2>; rel="first"`);
    return Response.json(items, { headers: { link: links.join(", ") } });
  });
  const { http } = client(server.baseUrl, { token: "t" });

  const items = await Array.fromAsync(http.paginate<{ n: number }>("/items", { limit: 2 }));
  assert.deepEqual(items.map((item) => item.n), [11, 12, 21, 22, 31, 32]);
  assert.deepEqual(seen, [
    "?limit=2 Bearer t",
    "?page=2&limit=2 Bearer t",
    "?page=3&limit=2 Bearer t",
  ]);
});

Deno.test("parseLinkHeader maps each rel to its URL", () => {
  assert.deepEqual(
    parseLinkHeader(
      '<https://api.deno.com/v1/p?page=3>; rel="next", <https://api.deno.com/v1/p?page=1>; rel="prev first",' +
        " <https://api.deno.com/v1/p?page=50>; rel=last",
    ),
    {
      next: "https://api.deno.com/v1/p?page=3",
      prev: "https://api.deno.com/v1/p?page=1",
      first: "https://api.deno.com/v1/p?page=1",
      last: "https://api.deno.com/v1/p?page=50",
    },
  );
  assert.deepEqual(parseLinkHeader(null), {});
  assert.deepEqual(parseLinkHeader(""), {});
});

Deno.test("ndjson reads lines split across chunks, including inside a UTF-8 character", async () => {
  const bytes = new TextEncoder().encode(
    '{"level":"info","message":"Downloaded é"}\r\n\n{"level":"error",' +
      '"message":"x"}\n{"level":"info","message":"last, no newline"}',
  );
  const cuts = [5, 41, 42, 60, 61]; // 41/42 split the two bytes of "é"
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      let start = 0;
      for (const end of [...cuts, bytes.length]) {
        controller.enqueue(bytes.slice(start, end));
        start = end;
      }
      controller.close();
    },
  });

  assert.deepEqual(await Array.fromAsync(ndjson(stream)), [
    { level: "info", message: "Downloaded é" },
    { level: "error", message: "x" },
    { level: "info", message: "last, no newline" },
  ]);
});

Deno.test("ndjson cancels the stream when the reader stops early", async () => {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"n":1}\n{"n":2}\n'));
    },
    cancel() {
      cancelled = true;
    },
  });
  for await (const value of ndjson<{ n: number }>(stream)) {
    assert.equal(value.n, 1);
    break;
  }
  assert.ok(cancelled);
});

Deno.test("a POST with a streamed body factory is retried after a 503 with a fresh body", async () => {
  const bodies: string[] = [];
  await using server = serve(async (request) => {
    bodies.push(await request.text());
    return bodies.length === 1
      ? Response.json({ code: "unavailable", message: "try later" }, { status: 503 })
      : Response.json({ id: "d1", status: "pending" });
  });
  const { http, retries } = client(server.baseUrl);
  let made = 0;
  const body = () => {
    made++;
    const parts = ['{"entryPointUrl":"main.ts",', '"assets":{},"envVars":{}}'];
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const part = parts.shift();
        if (part === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(part));
      },
    });
  };

  const deployment = await http.json("POST", "/projects/p/deployments", {
    body,
    headers: { "content-type": "application/json" },
  });
  assert.deepEqual(deployment, { id: "d1", status: "pending" });
  assert.equal(made, 2);
  assert.equal(retries.length, 1);
  const expected = '{"entryPointUrl":"main.ts","assets":{},"envVars":{}}';
  assert.deepEqual(bodies, [expected, expected]);
});
