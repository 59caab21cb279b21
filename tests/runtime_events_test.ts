/**
 * What the runtime tells the app logs and the usage sampler about a tenant process: its
 * start, its console output with levels, the memory cap, and its resource use.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { forwardFailureResponse } from "../host/tenant/limits.ts";
import { deploymentDirs, type ProcessObserver, Runtime } from "../host/tenant/runtime.ts";
import { detectIsolation, tenantDenoBinary } from "../host/tenant/sandbox.ts";
import type { LogLevel } from "../lib/types.ts";
import { tenantGet } from "./helpers/tenant_fetch.ts";

const bootstrap = fileURLToPath(new URL("../host/tenant/bootstrap.js", import.meta.url));
const isolation = await detectIsolation(true);

const APP = `
Deno.serve(async (request) => {
  if (new URL(request.url).pathname === "/oom") {
    const hoard = [];
    while (true) hoard.push(new Array(100_000).fill(hoard.length));
  }
  console.log("plain");
  console.warn("careful");
  return new Response("ok");
});
`;

Deno.test("the runtime logs start, output and the memory cap, and reports its processes", async () => {
  const root = await Deno.makeTempDir({ prefix: "dt-runtime-events-" });
  const lines: [LogLevel, string][] = [];
  const events: string[] = [];
  const processes: ProcessObserver = {
    started: (id, pid) => events.push(`started ${id} ${pid > 0}`),
    stopping: () => events.push("stopping"),
    exited: () => events.push("exited"),
    kvUsage: () => {},
  };
  const runtime = new Runtime({
    isolation,
    deploymentsDir: root,
    bootstrap,
    deno: tenantDenoBinary(),
    memoryMb: 48,
    log: (_id, level, message) => lines.push([level, message]),
    processes,
  });
  try {
    const { app } = deploymentDirs(root, "hog");
    await Deno.mkdir(app, { recursive: true });
    await Deno.writeTextFile(join(app, "main.ts"), APP);
    const deployment = { id: "hog", entrypoint: "main.ts", envVars: {}, denoFlags: [] };
    const instance = await runtime.ensure(deployment);
    assert.match(lines[0][1], /^isolate start time: [\d.]+ ms$/);
    assert.deepEqual(events, ["started hog true"]);

    const ok = await tenantGet(instance.client);
    assert.equal(await ok.text(), "ok");
    // Output arrives over a pipe, a moment after the response.
    await waitFor(() => lines.some(([, message]) => message === "careful"));
    assert.deepEqual(lines.slice(1, 3), [["info", "plain"], ["warning", "careful"]]);

    const failure = await tenantGet(instance.client, "/oom")
      .then((response) => response.body?.cancel(), (error) => error);
    assert.ok(failure instanceof Error, "the request dies with the process");
    const answer = await forwardFailureResponse(instance, failure);
    assert.equal(answer.status, 502);
    assert.equal((await answer.json()).code, "MEMORY_LIMIT");
    await waitFor(() => events.includes("exited"));
    const last = lines.at(-1)!;
    assert.deepEqual(last, ["error", "Memory limit exceeded, terminated (the limit is 48 MiB)"]);
    assert.ok(!lines.some(([, message]) => message.includes("Last few GCs")), "no V8 dump");
  } finally {
    await runtime.stopAll();
    await Deno.remove(root, { recursive: true });
  }
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
