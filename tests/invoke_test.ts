import assert from "node:assert/strict";
import { DeployTenantError, ExitCode, NetworkError } from "../lib/errors.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { rejection } from "./helpers/rejection.ts";

/** A real loopback router stand-in that answers with what it saw. */
function serveEcho() {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    async (request) =>
      Response.json({
        url: request.url,
        host: request.headers.get("host"),
        method: request.method,
        body: await request.text(),
      }),
  );
  return Object.assign(server, { port: server.addr.port });
}

Deno.test("a *.localhost URL goes through 127.0.0.1 on its port with the deployment's Host", async () => {
  await using server = serveEcho();
  try {
    const url = `http://acme-crm-abcde12vwxyz.localhost:${server.port}/lead?source=form`;
    const response = await invoke(url, { method: "POST", body: '{"email":"ada@example.com"}' });

    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      url,
      host: `acme-crm-abcde12vwxyz.localhost:${server.port}`,
      method: "POST",
      body: '{"email":"ada@example.com"}',
    });
  } finally {
    closeInvokeClients();
  }
});

Deno.test("via sends any http URL through the given router", async () => {
  await using server = serveEcho();
  try {
    const response = await invoke("http://acme.tenants.example/hook", undefined, {
      via: `http://127.0.0.1:${server.port}`,
    });
    const seen = await response.json();
    assert.equal(seen.host, "acme.tenants.example");
    assert.equal(seen.url, "http://acme.tenants.example/hook");
  } finally {
    closeInvokeClients();
  }
});

Deno.test("a deployment that does not answer in time is an invokeTimeout error", async () => {
  const release = Promise.withResolvers<void>();
  await using server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async () => {
    await release.promise;
    return new Response("late");
  });
  const url = `http://slow-abc.localhost:${server.addr.port}/`;
  try {
    const error = await rejection(invoke(url, undefined, { timeoutMs: 50 }));
    assert.ok(error instanceof DeployTenantError);
    assert.equal(error.code, "invokeTimeout");
    assert.ok(error.message.includes(url), error.message);
    assert.match(error.message, /50 ms/);
    assert.equal(error.exitCode, ExitCode.unavailable);
  } finally {
    release.resolve();
    closeInvokeClients();
  }
});

Deno.test("a router that is not running is a NetworkError naming the URL", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const url = `http://acme-abc.localhost:${port}/`;
  try {
    const error = await rejection(invoke(url));
    assert.ok(error instanceof NetworkError);
    assert.ok(error.message.includes(url), error.message);
    assert.match(error.message, /refused/i);
  } finally {
    closeInvokeClients();
  }
});

Deno.test("https through a proxy is refused with a usage error", async () => {
  const error = await rejection(invoke("https://acme-abc.localhost:8443/"));
  assert.ok(error instanceof DeployTenantError);
  assert.equal(error.code, "unsupportedProxy");
  assert.equal(error.exitCode, ExitCode.usage);
});

Deno.test("a burst of invocations to many *.localhost names all answer, none waits on a name lookup", async () => {
  // Deno's proxy client looked every name up before sending it to the proxy: a DNS query off
  // loopback per deployment, and a burst waited 5 s for the slow ones (past this limit).
  await using server = serveEcho();
  try {
    const responses = await Promise.all(
      Array.from(
        { length: 48 },
        (_, i) =>
          invoke(`http://burst-${i}-abcde12vwxyz.localhost:${server.port}/`, undefined, {
            timeoutMs: 4_000,
          }).then(async (response) => (await response.json()).host),
      ),
    );
    assert.deepEqual(
      responses,
      Array.from({ length: 48 }, (_, i) => `burst-${i}-abcde12vwxyz.localhost:${server.port}`),
    );
  } finally {
    closeInvokeClients();
  }
});

Deno.test("invoke streams a request body and answers statuses without a body as fetch does", async () => {
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    async (request) => {
      const url = new URL(request.url);
      if (url.pathname === "/empty") return new Response(null, { status: 204 });
      return new Response(`${request.method} ${(await request.text()).length}`, {
        headers: [["set-cookie", "a=1"], ["set-cookie", "b=2"]],
      });
    },
  );
  const origin = `http://stream-abcde12vwxyz.localhost:${server.addr.port}`;
  try {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(64 * 1024));
        controller.close();
      },
    });
    const response = await invoke(`${origin}/upload`, { method: "PUT", body });
    assert.equal(await response.text(), `PUT ${256 * 1024}`);
    assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
    const empty = await invoke(`${origin}/empty`);
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
  } finally {
    closeInvokeClients();
  }
});

Deno.test("a POST or PATCH whose kept-alive connection closes unanswered is sent once", async () => {
  // A router stand-in that reads each request and, for /drop, closes the connection without an
  // answer (what HAProxy does on a kept-alive connection when the deployment dies mid-request).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const seen: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buffer = new Uint8Array(64 * 1024);
        for (let read; (read = await conn.read(buffer).catch(() => null)) !== null;) {
          const head = new TextDecoder().decode(buffer.subarray(0, read));
          const line = head.split("\r\n")[0];
          if (!line.includes(" HTTP/1.1")) continue; // a body's rest
          seen.push(line.split(" ").slice(0, 2).join(" "));
          if (!line.includes("/drop")) {
            await conn.write(
              new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
            );
            continue;
          }
          conn.close();
          return;
        }
      })();
    }
  })();
  const url = (path: string) => `http://lead-hook-abcde12vwxyz.localhost:${port}${path}`;
  try {
    for (const method of ["POST", "PATCH"]) {
      assert.equal(await (await invoke(url("/ok"))).text(), "ok"); // a kept-alive connection
      seen.length = 0;
      const error = await rejection(invoke(url("/drop"), { method, body: "lead 42" }));
      assert.ok(error instanceof NetworkError, String(error));
      assert.deepEqual(seen, [`${method} ${url("/drop")}`], `${method}: sent once`);
    }
  } finally {
    closeInvokeClients();
    listener.close();
    await serving.catch(() => {});
  }
});
