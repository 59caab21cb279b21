/**
 * A client that goes away before its answer aborts the deployment's `request.signal`, as it does
 * a `Deno.serve` server's of its own (and on Deploy): through both data paths, on a warm process
 * and on the cold start (which HAProxy hands to the host's router).
 */
import assert from "node:assert/strict";
import {
  type ApiHost,
  deployModule,
  ok,
  startApiHost,
  testEachDataPath,
} from "./helpers/api_host.ts";

const WAITS = `Deno.addSignalListener("SIGINT", () => {
  console.log("stopping");
  Deno.exit(0);
});
Deno.serve(async (request) => {
  const path = new URL(request.url).pathname;
  let answered = false;
  request.signal.addEventListener("abort", () => {
    if (!answered) console.log("client went away from " + path);
  });
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  answered = true;
  return new Response("too late");
});
`;

/** Sends a GET for `path` and closes the connection after `ms`, before any answer. */
async function leaveAfter(port: number, host: string, path: string, ms: number): Promise<void> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  await connection.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
  await new Promise((resolve) => setTimeout(resolve, ms));
  connection.close();
}

/** Waits up to `ms` for an app log line `line` of deployment `id`. */
async function logged(api: ApiHost, id: string, line: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const lines = await ok<{ message: string }[]>(
      api,
      "GET",
      `/v1/deployments/${id}/app_logs?since=2000-01-01T00:00:00Z&limit=100`,
    );
    if (lines.some((entry) => entry.message === line)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

testEachDataPath("a client gone before its answer aborts request.signal", async (frontProxy) => {
  await using api = await startApiHost({ frontProxy, idleTimeoutMs: 500 });
  const { host, id } = await deployModule(
    api,
    frontProxy ? "abort-proxy" : "abort-router",
    WAITS,
  );
  await leaveAfter(api.host.port, host, "/warm", 300);
  // Well before the handler's 5 s are up.
  assert.ok(await logged(api, id, "client went away from /warm", 3_000), "warm");
  // The idle sweep (every 5 s) stops it; the next request is a cold start.
  assert.ok(await logged(api, id, "stopping", 15_000), "stopped for being idle");
  await leaveAfter(api.host.port, host, "/cold", 1_500);
  assert.ok(await logged(api, id, "client went away from /cold", 2_500), "cold");
});
