/**
 * What a customer's code sees of its server and its clients is what it sees on Deno Deploy: the
 * server `Deno.serve` returns says it listens where `onListen` heard it does, Node's HTTP server
 * (Express's `req.ip`) sees the client's address, a process that ends mid-request is answered
 * without the host's own paths, and a logged stack shows the deployment's frames, not the
 * host's. From a fourth fidelity pass.
 */
import assert from "node:assert/strict";
import { hasProgram } from "../lib/programs.ts";
import { type ApiHost, deployModule, startApiHost, testEachDataPath } from "./helpers/api_host.ts";
import { rawGet } from "./helpers/raw_http.ts";
import { MAX_RESPONSE_HEAD_BYTES, UNAVAILABLE_MESSAGE } from "../host/tenant/limits.ts";

/** The deployment's error lines, read again until `enough` says so or 10 s have passed. */
async function errorLogs(
  api: ApiHost,
  id: string,
  enough: (errors: string[]) => boolean,
): Promise<string[]> {
  let errors: string[] = [];
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    const response = await api.request(
      "GET",
      `/v1/deployments/${id}/app_logs?since=2000-01-01T00:00:00Z&limit=100`,
    );
    const lines: { level: string; message: string }[] = await response.json();
    errors = lines.filter((line) => line.level === "error").map((line) => line.message);
    if (enough(errors)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return errors;
}

/** A GET on a connection of its own (loopback only): status and body. */
async function get(port: number, host: string, path: string): Promise<[number, string]> {
  const { status, body } = await rawGet(port, host, path);
  return [status, body];
}

Deno.test("the server Deno.serve returns has the TCP address onListen heard", async () => {
  await using api = await startApiHost();
  const { host } = await deployModule(
    api,
    "serve-addr",
    `let heard;
const server = Deno.serve({ port: 3000, onListen(addr) { heard = addr; } }, () =>
  Response.json({ heard, addr: server.addr, url: "http://" + server.addr.hostname + ":" + server.addr.port }));
`,
  );
  const [status, body] = await get(api.host.port, host, "/");
  assert.equal(status, 200, body);
  const seen = JSON.parse(body);
  assert.deepEqual(seen.addr, seen.heard);
  assert.deepEqual(seen.addr, { transport: "tcp", hostname: "0.0.0.0", port: 8000 });
  assert.equal(seen.url, "http://0.0.0.0:8000");
});

Deno.test("a Node HTTP server (Express's req.ip) sees the client's address", async () => {
  await using api = await startApiHost();
  const { host } = await deployModule(
    api,
    "node-client",
    `import http from "node:http";
http.createServer((request, response) => {
  const { remoteAddress, remoteFamily, remotePort } = request.socket;
  response.end(JSON.stringify({ remoteAddress, remoteFamily, remotePort }));
}).listen(8000);
`,
  );
  for (const when of ["first", "next"]) {
    const [status, body] = await get(api.host.port, host, "/");
    assert.equal(status, 200, body);
    assert.deepEqual(
      JSON.parse(body),
      { remoteAddress: "127.0.0.1", remoteFamily: "IPv4", remotePort: 0 },
      when,
    );
  }
});

testEachDataPath(
  `a process that ends mid-request is answered 502 without the host's paths`,
  async (frontProxy) => {
    await using api = await startApiHost({ frontProxy });
    const { host } = await deployModule(
      api,
      frontProxy ? "exits-proxy" : "exits-router",
      `Deno.serve((request) => new URL(request.url).pathname === "/exit" ? Deno.exit(3) : new Response("up"));\n`,
    );
    // The first on a process the build's check started, the second on one a request started.
    for (const when of ["first", "restarted"]) {
      assert.deepEqual(await get(api.host.port, host, "/"), [200, "up"], when);
      const [status, body] = await get(api.host.port, host, "/exit");
      assert.equal(status, 502, body);
      assert.deepEqual(JSON.parse(body), {
        code: "deploymentUnavailable",
        message: UNAVAILABLE_MESSAGE,
      }, `${when}: names nothing of the host's (its paths, node's words)`);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // the host has seen it end
    }
  },
);

testEachDataPath(
  "a response whose headers are over the limit is answered 502, and its app log says why",
  async (frontProxy) => {
    await using api = await startApiHost({ frontProxy });
    const { id, host } = await deployModule(
      api,
      frontProxy ? "big-head-proxy" : "big-head-router",
      `Deno.serve((request) => {
  const bytes = Number(new URL(request.url).searchParams.get("bytes"));
  return new Response("small body", { headers: { "x-big": "a".repeat(bytes) } });
});
`,
    );
    const under = MAX_RESPONSE_HEAD_BYTES - 512;
    assert.deepEqual(await get(api.host.port, host, `/?bytes=${under}`), [200, "small body"]);
    const [status, body] = await get(api.host.port, host, `/over?bytes=${MAX_RESPONSE_HEAD_BYTES}`);
    assert.equal(status, 502, body);
    assert.deepEqual(JSON.parse(body), {
      code: "deploymentUnavailable",
      message: UNAVAILABLE_MESSAGE,
    });
    const errors = await errorLogs(api, id, (errors) => errors.length > 0);
    assert.deepEqual(errors, [
      "The response to GET /over was not delivered: its headers are over 15 KiB, the most a " +
      "response head can have (the caller got 502)",
    ]);
    // The process serves on: it did not end.
    assert.deepEqual(await get(api.host.port, host, "/?bytes=10"), [200, "small body"]);
  },
);

Deno.test("a handler's error is logged with the deployment's frames, none of the host's", async () => {
  await using api = await startApiHost();
  const { id, host } = await deployModule(
    api,
    "throws",
    `Deno.serve((request) => {
  const path = new URL(request.url).pathname;
  if (path === "/caught") {
    try {
      throw new Error("caught and logged");
    } catch (error) {
      console.error(error);
      return new Response("logged");
    }
  }
  if (path === "/rejects") {
    Promise.reject(new Error("never handled"));
    return new Response("rejected");
  }
  throw new Error("thrown by the handler");
});
`,
  );
  assert.equal((await get(api.host.port, host, "/caught"))[0], 200);
  assert.equal((await get(api.host.port, host, "/"))[0], 500);
  assert.equal((await get(api.host.port, host, "/rejects"))[0], 200);
  const expected = ["caught and logged", "thrown by the handler", "never handled"];
  const errors = await errorLogs(
    api,
    id,
    (errors) => expected.every((text) => errors.some((error) => error.includes(text))),
  );
  for (const text of expected) {
    const error = errors.find((error) => error.includes(text));
    assert.ok(error, `${text} is logged: ${errors.join("\n")}`);
    // `/app` in the sandbox; the deployment's directory on the host when unsandboxed.
    assert.match(
      error,
      /\n {4}at .*file:\/\/\/(?:.*\/)?app\/main\.ts:\d+:\d+/,
      "its own frame is kept",
    );
    assert.ok(!error.includes("bootstrap.js"), error);
  }
});

Deno.test({
  name: "os.hostname() at start (as pino's logger does) answers the sandbox's own name",
  ignore: !hasProgram("bwrap") || Deno.env.get("DEPLOY_TENANT_TEST_UNSANDBOXED") === "1",
  async fn() {
    await using api = await startApiHost();
    const { host } = await deployModule(
      api,
      "hostname",
      `import os from "node:os";
const hostname = os.hostname(); // at start, as pino's default base does
Deno.serve(() => Response.json({ hostname, deno: Deno.hostname() }));
`,
    );
    const [status, body] = await get(api.host.port, host, "/");
    assert.equal(status, 200, body);
    assert.deepEqual(JSON.parse(body), { hostname: "deployment", deno: "deployment" });
  },
});
