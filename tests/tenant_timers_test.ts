/**
 * The bootstrap's timers: a tenant that uses none never loads Deno's (which wake a process up
 * every few seconds for good), and the request time limit still holds when tenant code
 * replaces `setTimeout`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deploymentDirs, Runtime } from "../host/tenant/runtime.ts";
import { processTree } from "../host/tenant/process_usage.ts";
import { detectIsolation, tenantDenoBinary } from "../host/tenant/sandbox.ts";
import { tenantGet } from "./helpers/tenant_fetch.ts";

const bootstrap = fileURLToPath(new URL("../host/tenant/bootstrap.js", import.meta.url));
const isolation = await detectIsolation(true);

/**
 * A runtime serving one deployment whose main module is `source`, under a fresh root: its
 * instance, started, and what stops it all.
 */
async function tenantOf(source: string, requestTimeoutMs: number) {
  const root = await Deno.makeTempDir({ prefix: "dt-tenant-timers-" });
  const { app } = deploymentDirs(root, "tenant");
  await Deno.mkdir(app, { recursive: true });
  await Deno.writeTextFile(join(app, "main.ts"), source);
  const runtime = new Runtime({
    isolation,
    deploymentsDir: root,
    bootstrap,
    deno: tenantDenoBinary(),
  });
  const close = async () => {
    await runtime.stopAll();
    await Deno.remove(root, { recursive: true });
  };
  try {
    const instance = await runtime.ensure({
      id: "tenant",
      entrypoint: "main.ts",
      envVars: {},
      denoFlags: ["--no-lock"],
      requestTimeoutMs,
    });
    return { instance, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Times the threads of `pid`'s tree were woken up (voluntary context switches). */
function wakeUps(pid: number): number {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      for (const task of Deno.readDirSync(`/proc/${member}/task`)) {
        const status = Deno.readTextFileSync(`/proc/${member}/task/${task.name}/status`);
        total += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      }
    } catch { /* a thread ended */ }
  }
  return total;
}

Deno.test({
  name: "an idle tenant that uses no timers does not wake up (the bootstrap never loads Deno's)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // A time limit, whose timer is armed only for a late answer.
    const { instance, close } = await tenantOf(
      "export default { fetch: () => new Response('hi') };",
      60_000,
    );
    try {
      assert.equal(await (await tenantGet(instance.client)).text(), "hi");
      // Deno's own start-up work runs for ~18 s after a process starts (any process); after
      // it, a process that loaded the timers woke up 2–4 times every 10 s, forever.
      await new Promise((resolve) => setTimeout(resolve, 21_000));
      const before = wakeUps(instance.pid);
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      const woken = wakeUps(instance.pid) - before;
      assert.ok(woken <= 1, `the idle tenant woke up ${woken} times in 10 s`);
    } finally {
      await close();
    }
  },
});

Deno.test("the time limit holds when tenant code replaces setTimeout", async () => {
  const { instance, close } = await tenantOf(
    `globalThis.setTimeout = () => 0;
    export default { fetch: () => new Promise(() => {}) };`,
    300,
  );
  try {
    const late = await tenantGet(instance.client);
    assert.equal(late.status, 504);
    assert.equal((await late.json()).code, "TIME_LIMIT");
  } finally {
    await close();
  }
});
