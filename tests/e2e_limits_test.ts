/**
 * Limits per deployment against a real local host: `--request-timeout` (504 TIME_LIMIT, and
 * the deployment keeps serving after a busy loop or a promise that never settles) and
 * `--allow-net` (tests only send traffic to loopback).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import { closeInvokeClients, invoke as request } from "../lib/invoke.ts";
import type { AppLogEntry, Deployment } from "../lib/types.ts";

const APP = `
const processId = crypto.randomUUID(); // tells a restarted process from the first one
Deno.serve(async (request) => {
  const url = new URL(request.url);
  if (url.pathname === "/spin") while (true) {}
  if (url.pathname === "/hang") await new Promise(() => {});
  if (url.pathname === "/slow") await new Promise((resolve) => setTimeout(resolve, 300));
  if (url.pathname === "/fetch") {
    try {
      const response = await fetch(url.searchParams.get("url"));
      return new Response("reached " + await response.text());
    } catch (error) {
      return new Response("blocked " + error.name);
    }
  }
  return new Response("ok " + processId);
});
`;

interface Invoked {
  status: number;
  body: { code?: string; message?: string } | string;
}

Deno.test("limits: request timeouts and outbound network permissions", async (t) => {
  // Its allow-list names a loopback server: the operator's choice (host --allow-private-net).
  const host = await startTestHost({ args: ["--allow-private-net"] });
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("from loopback"),
  );
  try {
    const dir = await writeApp(host, "app", APP);
    assert.equal((await cli("project", "create", "limited-hook")).code, 0);
    const deploy = async (...flags: string[]) => {
      const result = await cli("deploy", dir, "--project", "limited-hook", "--json", ...flags);
      assert.equal(result.code, 0, describe(result));
      return jsonOf<Deployment>(result);
    };
    const invoke = async (id: string, path: string) => {
      const result = await cli("invoke", id, path, "--json");
      return { code: result.code, ...jsonOf<Invoked>(result) };
    };

    await t.step(
      "a request over its time gets 504 TIME_LIMIT; the next one is served",
      async () => {
        const deployment = await deploy("--request-timeout", "1000");
        assert.equal(deployment.requestTimeout, 1000);
        const first = await invoke(deployment.id, "/");
        assert.equal(first.status, 200);

        const hung = await invoke(deployment.id, "/hang");
        assert.equal(hung.status, 504);
        assert.equal(hung.code, 1, "a 5xx answer fails the invoke");
        assert.deepEqual((hung.body as { code: string }).code, "TIME_LIMIT");
        assert.match((hung.body as { message: string }).message, /time limit of 1000 ms/);
        // A pending promise leaves the event loop free: the same process answers.
        const afterHang = await invoke(deployment.id, "/");
        assert.equal(afterHang.body, first.body);

        const spun = await invoke(deployment.id, "/spin");
        assert.equal(spun.status, 504);
        assert.equal((spun.body as { code: string }).code, "TIME_LIMIT");
        assert.match((spun.body as { message: string }).message, /restarted/);
        // A busy loop blocks the process: it was replaced, and the deployment still serves.
        const afterSpin = await invoke(deployment.id, "/");
        assert.equal(afterSpin.status, 200);
        assert.match(String(afterSpin.body), /^ok [\w-]+$/);
        assert.notEqual(afterSpin.body, first.body);

        const logs = await cli("logs", deployment.id, "--level", "error", "--json");
        const messages = logs.stdout.trim().split("\n").map((line) =>
          (JSON.parse(line) as AppLogEntry).message
        );
        assert.ok(messages.includes("Request timed out after 1000 ms: GET /hang (TIME_LIMIT)"));
        assert.ok(messages.includes("Request timed out after 1000 ms: GET /spin (TIME_LIMIT)"));
        assert.ok(messages.some((message) => /event loop is blocked.*restarted/.test(message)));
      },
    );

    await t.step(
      "overlapping requests: each late one gets its own 504 in turn, the others their answer",
      async () => {
        const deployment = await deploy("--request-timeout", "1000");
        const call = async (path: string) => {
          const url = `http://${deployment.domains![0]}:${host.port}${path}`;
          const response = await request(url, {}, { via: `http://127.0.0.1:${host.port}` });
          return { status: response.status, text: await response.text() };
        };
        assert.equal((await call("/")).status, 200);
        const first = call("/hang");
        const slow = call("/slow");
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Arrives while the first one's deadline is pending: expires at its own, later.
        const second = call("/hang");
        const fast = call("/");
        for (const late of await Promise.all([first, second])) {
          assert.equal(late.status, 504, late.text);
          const body = JSON.parse(late.text);
          assert.equal(body.code, "TIME_LIMIT");
          // The tenant's own answer: a stuck process would have been restarted by the host.
          assert.equal(
            body.message,
            "The deployment did not answer within its time limit of 1000 ms",
          );
        }
        assert.equal((await slow).status, 200);
        assert.equal((await fast).status, 200);
        closeInvokeClients();
      },
    );

    const loopback = `/fetch?url=${encodeURIComponent(`http://127.0.0.1:${server.addr.port}/`)}`;

    await t.step("--allow-net lets the deployment reach exactly what it lists", async () => {
      const deployment = await deploy("--allow-net", `127.0.0.1:${server.addr.port}`);
      assert.deepEqual(deployment.permissions, { net: [`127.0.0.1:${server.addr.port}`] });
      assert.equal((await invoke(deployment.id, loopback)).body, "reached from loopback");
      const otherPort = server.addr.port === 65535 ? 65534 : server.addr.port + 1;
      const other = `/fetch?url=${encodeURIComponent(`http://127.0.0.1:${otherPort}/`)}`;
      assert.match(String((await invoke(deployment.id, other)).body), /^blocked NotCapable/);
    });

    await t.step('--allow-net "" denies all outbound; by default loopback is denied', async () => {
      const none = await deploy("--allow-net", "");
      assert.deepEqual(none.permissions, { net: [] });
      assert.match(String((await invoke(none.id, loopback)).body), /^blocked NotCapable/);
      const open = await deploy();
      assert.match(String((await invoke(open.id, loopback)).body), /^blocked NotCapable/);
    });
  } finally {
    await server.shutdown();
    await host.stop();
  }
});

/** Loads for longer than its time limit and the router's grace together, then serves. */
const SLOW_TO_LOAD = `
await new Promise((resolve) => setTimeout(resolve, 3_500));
export default { fetch: () => new Response("loaded") };
`;

Deno.test("limits: a cold start's loading does not count against the time limit", async () => {
  // One process at a time: the next deploy's check stops the slow deployment's process.
  await using host = await startTestHost({ args: ["--max-warm", "1"] });
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const deploy = async (name: string, source: string, ...flags: string[]) => {
    const dir = join(host.tempDir, name);
    await Deno.mkdir(dir);
    await Deno.writeTextFile(join(dir, "main.ts"), source);
    assert.equal((await cli("project", "create", name)).code, 0);
    const result = await cli("deploy", dir, "--project", name, "--json", ...flags);
    assert.equal(result.code, 0, describe(result));
    return jsonOf<Deployment>(result);
  };
  const slow = await deploy("slow-to-load", SLOW_TO_LOAD, "--request-timeout", "1000");
  await deploy("other-hook", "export default { fetch: () => new Response('other') };");
  const started = performance.now();
  const result = await cli("invoke", slow.id, "/", "--json");
  const elapsed = performance.now() - started;
  assert.equal(result.code, 0, describe(result));
  const answer = jsonOf<Invoked>(result);
  assert.deepEqual([answer.status, answer.body], [200, "loaded"]);
  assert.ok(elapsed >= 3_500, `a cold start (the module loaded again): ${elapsed} ms`);
});
