/**
 * The CLI against a misbehaving API: a fault-injecting proxy (a real server on loopback) sits
 * between the CLI and a real host and refuses, rate-limits, fails, drops or holds the build log
 * stream, or answers too slowly. Each time the CLI must end the way a user expects: the right
 * exit code, a clear message, and the real outcome of the build.
 */
import assert from "node:assert/strict";
import { describe, jsonOf, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import { NetworkError } from "../lib/errors.ts";
import { HttpClient, ndjson } from "../lib/http.ts";
import type { Deployment } from "../lib/types.ts";

/** A module that takes a while to load, so its build lasts long enough to be cut mid-way. */
const SLOW_START = `await new Promise((resolve) => setTimeout(resolve, 1500));
export default { fetch: () => new Response("slow but sure") };
`;
/** What `deploy` prints on success; the group is the deployment id. */
const DEPLOYED = /^Deployed (\w+) to project flaky$/m;
const SLOW_CRASH = `await new Promise((resolve) => setTimeout(resolve, 1500));
throw new Error("boom while loading");
`;

Deno.test("the CLI against a flaky API: refused, 429, 500, dropped or held streams, too slow", async (t) => {
  const host = await startTestHost();
  const proxy = startFaultProxy(host.apiUrl);
  const env = { ...host.env, DEPLOY_API_URL: proxy.apiUrl };
  const cli = (args: string[], extraEnv: Record<string, string> = {}) =>
    runCli(args, { env: { ...env, ...extraEnv } });
  const app = await writeApp(host, "slow", SLOW_START);
  try {
    assert.equal((await cli(["project", "create", "flaky"])).code, 0);

    await t.step("a host that is down: exit 6 and what to check", async () => {
      const closed = `http://127.0.0.1:${closedPort()}/v1`;
      const result = await cli(["deploy", app, "--project", "flaky"], { DEPLOY_API_URL: closed });
      assert.equal(result.code, 6, describe(result));
      assert.match(result.stderr, /Could not reach http:\/\/127\.0\.0\.1:\d+\/v1\/.*refused/i);
      assert.match(result.stderr, /deploy-tenant host/);
    });

    await t.step("429 with Retry-After: the CLI waits that long and succeeds", async () => {
      proxy.inject(once(
        (request) => request.method === "POST" && request.url.endsWith("/deployments"),
        () =>
          Response.json({ code: "tooManyRequests", message: "Slow down" }, {
            status: 429,
            headers: { "retry-after": "1" },
          }),
      ));
      const result = await cli(["deploy", app, "--project", "flaky"]);
      assert.equal(result.code, 0, describe(result));
      assert.match(result.stdout, DEPLOYED, describe(result));
      assert.match(result.stderr, /HTTP 429; retrying in 1\.0 s/);
      const posts = proxy.seen.filter((s) =>
        s.method === "POST" && s.path.endsWith("/deployments")
      );
      assert.deepEqual(posts.map((s) => s.status), [429, 200]);
      assert.ok(posts[1].at - posts[0].at >= 900, "the retry did not wait for Retry-After");
    });

    await t.step("500 then 200: the CLI retries", async () => {
      proxy.inject(once(
        (request) =>
          request.method === "GET" && new URL(request.url).pathname.endsWith("/projects"),
        () => Response.json({ code: "internalServerError", message: "oops" }, { status: 500 }),
      ));
      const result = await cli(["project", "list"]);
      assert.equal(result.code, 0, describe(result));
      assert.match(result.stdout, /\bflaky\b/);
      assert.match(result.stderr, /HTTP 500; retrying/);
      assert.deepEqual(
        proxy.seen.filter((s) => s.path.endsWith("/projects")).map((s) => s.status),
        [500, 200],
      );
    });

    await t.step(
      "a build log stream dropped mid-build: polling still reports success",
      async () => {
        proxy.inject(buildLogStream("drop"));
        const result = await cli(["deploy", app, "--project", "flaky"]);
        assert.equal(result.code, 0, describe(result));
        const id = result.stdout.match(DEPLOYED)?.[1];
        assert.ok(id, describe(result));
        assert.match(result.stderr, /Waiting for the build \(the build log stream failed/);
        assert.ok(proxy.seen.some((s) => s.path === `/v1/deployments/${id}`), "no status poll");
      },
    );

    await t.step(
      "a build log stream dropped mid-build: polling still reports failure",
      async () => {
        const crashing = await writeApp(host, "crash", SLOW_CRASH);
        proxy.inject(buildLogStream("drop"));
        const result = await cli(["deploy", crashing, "--project", "flaky"]);
        assert.equal(result.code, 1, describe(result));
        assert.match(result.stderr, /boom while loading/);
      },
    );

    await t.step("a build log stream held open in silence: the outcome still comes", async () => {
      proxy.inject(buildLogStream("hold"));
      const result = await cli(["deploy", app, "--project", "flaky", "--json"]);
      assert.equal(result.code, 0, describe(result));
      assert.equal(jsonOf<Deployment>(result).status, "success");
    });

    await t.step("slower than the request timeout: exit 6 after the retries", async () => {
      proxy.inject(async (request, pass) => {
        await sleep(5_000, request.signal);
        // 499: nginx's "client closed request"; nobody reads it.
        return request.signal.aborted ? new Response(null, { status: 499 }) : await pass();
      });
      const result = await cli(["project", "list"], { DEPLOY_TENANT_REQUEST_TIMEOUT_MS: "300" });
      assert.equal(result.code, 6, describe(result));
      assert.match(result.stderr, /timed out after 300 ms \(4 attempts\)/);

      const invalid = await cli(["project", "list"], { DEPLOY_TENANT_REQUEST_TIMEOUT_MS: "soon" });
      assert.equal(invalid.code, 2, describe(invalid));
      assert.match(invalid.stderr, /DEPLOY_TENANT_REQUEST_TIMEOUT_MS/);
    });
  } finally {
    proxy.inject();
    await proxy.close();
    await host.stop();
  }
});

// ---- the fault-injecting proxy ----

/** One request the proxy answered. */
interface Seen {
  method: string;
  path: string;
  status: number;
  /** When the answer's head went out (`performance.now()`). */
  at: number;
}

/** Answers a request itself, or calls `pass` to forward it to the host. */
type Fault = (request: Request, pass: () => Promise<Response>) => Response | Promise<Response>;

interface FaultProxy {
  /** The API root through the proxy. */
  apiUrl: string;
  /** What was answered since the last {@link inject}. */
  seen: Seen[];
  /** Applies `fault` (none: pass everything) to the requests from now on. */
  inject(fault?: Fault): void;
  close(): Promise<void>;
}

/** A proxy on loopback in front of `upstreamApiUrl`'s origin, with a replaceable fault. */
function startFaultProxy(upstreamApiUrl: string): FaultProxy {
  const upstream = new URL(upstreamApiUrl).origin;
  let fault: Fault | undefined;
  const seen: Seen[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const body = request.body ? await request.arrayBuffer() : undefined;
    const pass = () => {
      const headers = new Headers(request.headers);
      headers.delete("host");
      return fetch(upstream + url.pathname + url.search, {
        method: request.method,
        headers,
        body,
        redirect: "manual",
        signal: request.signal,
      });
    };
    const response = fault ? await fault(request, pass) : await pass();
    seen.push({ method: request.method, path: url.pathname, status: response.status, at: now() });
    return response;
  });
  return {
    apiUrl: `http://127.0.0.1:${server.addr.port}/v1`,
    seen,
    inject(next) {
      fault = next;
      seen.length = 0;
    },
    close: () => server.shutdown(),
  };
}

/** Answers the first request `matches` accepts with `respond()`; passes everything else. */
function once(matches: (request: Request) => boolean, respond: () => Response): Fault {
  let done = false;
  return (request, pass) => {
    if (done || !matches(request)) return pass();
    done = true;
    return respond();
  };
}

/**
 * Passes the first chunk of the live build log stream, then either breaks the connection
 * (`drop`) or keeps it open without another byte (`hold`).
 */
function buildLogStream(how: "drop" | "hold"): Fault {
  return async (request, pass) => {
    const live = request.url.includes("/build_logs") &&
      (request.headers.get("accept") ?? "").includes("ndjson");
    const response = await pass();
    if (!live || !response.body) return response;
    const reader = response.body.getReader();
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent) {
          await reader.cancel();
          if (how === "drop") controller.error(new Error("the test proxy drops the stream"));
          return; // hold: never enqueue again, until the client goes away
        }
        const chunk = await reader.read();
        sent = true;
        if (chunk.done) controller.close();
        else controller.enqueue(chunk.value);
      },
      cancel: () => reader.cancel(),
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
}

// ---- helpers ----

/** A loopback port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function now(): number {
  return performance.now();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

Deno.test("a stream's time limit covers its head, not its body", async () => {
  // Heads for /slow-head come after 2 s; /slow-body answers at once, then trickles for 600 ms.
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    if (new URL(request.url).pathname === "/slow-head") {
      await sleep(2_000, request.signal);
      return new Response("late");
    }
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await sleep(200, request.signal);
        if (sent++ === 3) return controller.close();
        controller.enqueue(new TextEncoder().encode(`{"line":${sent}}\n`));
      },
    });
    return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
  });
  const http = new HttpClient({
    baseUrl: `http://127.0.0.1:${server.addr.port}`,
    timeoutMs: 300,
    maxRetries: 0,
  });
  try {
    await assert.rejects(
      http.request("GET", "/slow-head", { stream: true }),
      (error: unknown) =>
        error instanceof NetworkError && /timed out after 300 ms/.test(error.message),
    );
    const response = await http.request("GET", "/slow-body", { stream: true });
    const lines = await Array.fromAsync(ndjson<{ line: number }>(response.body!));
    assert.deepEqual(lines.map((l) => l.line), [1, 2, 3]);
  } finally {
    await server.shutdown();
  }
});
