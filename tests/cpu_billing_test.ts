/**
 * CPU time a tenant process used is billed even when the process ends on its own (where the host
 * makes cgroups: docs/isolation.md names the gap without them): it was read
 * from the process every 30 s, when the host stopped it and before an analytics query, so a
 * deployment that did its work and then exited (or crashed) before the next read was billed
 * none of it (here: 1.5 s of CPU per request, for nothing).
 */
import assert from "node:assert/strict";
import { detectCgroups } from "../host/tenant/cgroups.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { billedUsage, deployModule, ok, startApiHost } from "./helpers/api_host.ts";

/** Burns about 1.5 s of CPU for a request, answers, then exits. */
const BURNER = `Deno.serve(() => {
  const until = performance.now() + 1_500;
  while (performance.now() < until) { /* work */ }
  setTimeout(() => Deno.exit(0), 50);
  return new Response("done");
});
`;

Deno.test({
  name: "CPU time of a process that exits on its own is billed",
  // Read from the process's cgroup at its exit: without cgroups that time is still lost.
  ignore: detectCgroups().kind === "none",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using api = await startApiHost({ frontProxy: false });
  const { id, host } = await deployModule(api, "burner", BURNER);
  const { projectId } = await ok(api, "GET", `/v1/deployments/${id}`);
  const cpu = async () => (await billedUsage(api, String(projectId))).cpuSeconds;
  const before = await cpu();
  for (let i = 0; i < 2; i++) {
    const response = await invoke(`http://${host}/`);
    assert.equal(await response.text(), "done");
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // it has exited
  }
  const billed = await cpu() - before;
  assert.ok(billed >= 2.5, `3 s of CPU billed as ${billed.toFixed(2)} s`);
  closeInvokeClients();
});
