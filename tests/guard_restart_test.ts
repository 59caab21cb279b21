/**
 * A process the guard stops for burning CPU leaves the routes before it dies: a request that
 * came the moment its line was logged met the dying process and got a 502 (isolation_test's
 * "a tenant burning CPU …" failed so in a bare-machine run); it now starts a fresh process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deploymentDirs, type Instance, Runtime } from "../host/tenant/runtime.ts";
import { detectIsolation, tenantDenoBinary } from "../host/tenant/sandbox.ts";
import { tenantGet } from "./helpers/tenant_fetch.ts";
import { waitFor } from "./helpers/wait_for.ts";

const bootstrap = fileURLToPath(new URL("../host/tenant/bootstrap.js", import.meta.url));
const isolation = await detectIsolation(true);

const BURNER = `
setInterval(() => {
  const end = performance.now() + 50;
  while (performance.now() < end) { /* burn */ }
}, 60);
const id = crypto.randomUUID();
Deno.serve(() => new Response(id));
`;

Deno.test("a request sent as the guard stops a process for its CPU gets a fresh process", async () => {
  const root = await Deno.makeTempDir({ prefix: "dt-guard-restart-" });
  const deployment = { id: "burner", entrypoint: "main.ts", envVars: {}, denoFlags: [] };
  let next: Promise<Instance> | undefined;
  const runtime: Runtime = new Runtime({
    isolation,
    deploymentsDir: root,
    bootstrap,
    deno: tenantDenoBinary(),
    memoryMb: 128,
    warmPool: 0,
    guard: { intervalMs: 200, cpuIdleWindowMs: 1_500, maxCpuFraction: 0.5 },
    // The request comes with the line, as a caller who reads the logs and calls again.
    log: (_id, _level, message) => {
      if (message.startsWith("CPU time limit exceeded")) next ??= runtime.ensure(deployment);
    },
  });
  try {
    const { app } = deploymentDirs(root, deployment.id);
    await Deno.mkdir(app, { recursive: true });
    await Deno.writeTextFile(join(app, "main.ts"), BURNER);
    const first = await runtime.ensure(deployment);
    const before = await (await tenantGet(first.client)).text();
    await waitFor(() => next !== undefined, 20_000);
    const fresh = await next!;
    assert.notEqual(fresh, first, "the request went to the process being stopped");
    const after = await tenantGet(fresh.client);
    assert.equal(after.status, 200);
    assert.notEqual(await after.text(), before);
  } finally {
    await runtime.stopAll();
    await Deno.remove(root, { recursive: true });
  }
});
