import assert from "node:assert/strict";
import { join } from "node:path";
import { TenantClient } from "../host/tenant/client.ts";

/** A tenant-like server on a unix socket: `/hang` never answers, `/stream` never ends. */
async function withServer(fn: (socket: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const socket = join(dir, "http.sock");
  const release = Promise.withResolvers<void>();
  const server = Deno.serve({ path: socket, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/hang") await release.promise;
    if (url.pathname === "/stream") {
      return new Response(
        new ReadableStream({
          start: (c) => c.enqueue(new TextEncoder().encode("data: x\n\n")),
        }),
      );
    }
    const headers = new Headers({ "x-host": request.headers.get("host") ?? "" });
    headers.append("set-cookie", "a=1");
    headers.append("set-cookie", "b=2");
    return new Response(`${request.method} ${url.pathname}${url.search} ${await request.text()}`, {
      status: 201,
      headers,
    });
  });
  try {
    await fn(socket);
  } finally {
    release.resolve();
    await server.shutdown().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

const get = (client: TenantClient, path: string, signal?: AbortSignal) =>
  client.fetch({ method: "GET", path, headers: new Headers({ host: "t.localhost" }), signal });

Deno.test({
  name: "TenantClient sends method, path, Host and body; keeps each set-cookie apart",
  sanitizeResources: false,
}, async () => {
  await withServer(async (socket) => {
    const client = new TenantClient(socket);
    try {
      const response = await client.fetch({
        method: "POST",
        path: "/lead?x=1",
        headers: new Headers({ host: "acme.localhost" }),
        body: new Blob(["hello"]).stream(),
      });
      assert.equal(response.status, 201);
      assert.equal(await response.text(), "POST /lead?x=1 hello");
      assert.equal(response.headers.get("x-host"), "acme.localhost");
      assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
    } finally {
      client.close();
    }
  });
});

Deno.test({
  name: "a hundred requests held open through one client do not stop new connections",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  // Deno's fetch over unix-socket HttpClients stalls every new connection at ~55 of these.
  await withServer(async (socket) => {
    const attacker = new TenantClient(socket);
    const neighbour = new TenantClient(socket);
    const held = new AbortController();
    try {
      const streams = [];
      for (let i = 0; i < 50; i++) get(attacker, "/hang", held.signal).catch(() => {});
      for (let i = 0; i < 50; i++) streams.push(await get(attacker, "/stream"));
      const answer = await get(neighbour, "/calm", AbortSignal.timeout(5_000));
      assert.match(await answer.text(), /^GET \/calm/);
      const own = await get(attacker, "/calm", AbortSignal.timeout(5_000));
      assert.match(await own.text(), /^GET \/calm/);
      for (const stream of streams) await stream.body?.cancel();
    } finally {
      held.abort();
      attacker.close();
      neighbour.close();
    }
  });
});

Deno.test({
  name: "TenantClient rejects when aborted before the head, and when nothing listens",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  // A tenant whose event loop is stuck: its socket listens, nothing is ever accepted or read.
  const dir = await Deno.makeTempDir();
  const socket = join(dir, "stuck.sock");
  const listener = Deno.listen({ transport: "unix", path: socket });
  const client = new TenantClient(socket);
  try {
    const started = Date.now();
    const outcome = await Promise.race([
      get(client, "/spin", AbortSignal.timeout(100)).then(() => "answered", () => "rejected"),
      new Promise((resolve) => setTimeout(() => resolve("still waiting"), 3_000)),
    ]);
    assert.equal(outcome, "rejected");
    assert.ok(Date.now() - started < 2_000);
  } finally {
    client.close();
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
  // The same on a kept-alive connection, where Deno's node:http emits no "error" on destroy.
  await withServer(async (socket) => {
    const client = new TenantClient(socket);
    try {
      await (await get(client, "/calm")).text();
      const outcome = await Promise.race([
        get(client, "/hang", AbortSignal.timeout(100)).then(() => "answered", () => "rejected"),
        new Promise((resolve) => setTimeout(() => resolve("still waiting"), 3_000)),
      ]);
      assert.equal(outcome, "rejected");
    } finally {
      client.close();
    }
  });
  const nobody = new TenantClient("/nonexistent/http.sock");
  await assert.rejects(get(nobody, "/"), /ENOENT|No such file/);
  nobody.close();
});
