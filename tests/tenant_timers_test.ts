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
const poolMain = fileURLToPath(new URL("../host/tenant/pool.js", import.meta.url));
const isolation = await detectIsolation(true);

/**
 * A runtime serving one deployment whose main module is `source`, under a fresh root: its
 * instance, started (`pooled`: a runtime from the warm pool handed it), and what stops it all.
 */
async function tenantOf(source: string, requestTimeoutMs: number, pooled = false) {
  const root = await Deno.makeTempDir({ prefix: "dt-tenant-timers-" });
  const { app } = deploymentDirs(root, "tenant");
  await Deno.mkdir(app, { recursive: true });
  await Deno.writeTextFile(join(app, "main.ts"), source);
  const runtime = new Runtime({
    isolation,
    deploymentsDir: root,
    bootstrap,
    deno: tenantDenoBinary(),
    ...(pooled ? { poolMain, poolDir: join(root, "pool"), warmPool: 1 } : {}),
  });
  const close = async () => {
    await runtime.stopAll();
    await Deno.remove(root, { recursive: true });
  };
  try {
    if (pooled) {
      runtime.warmUp();
      for (let waited = 0; runtime.pooled < 1; waited += 50) {
        assert.ok(waited < 20_000, "a pooled runtime started");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const instance = await runtime.ensure({
      id: "tenant",
      entrypoint: "main.ts",
      envVars: {},
      denoFlags: ["--no-lock"],
      requestTimeoutMs,
    });
    if (pooled) assert.ok(instance.socketPath.startsWith(join(root, "pool")), "pooled");
    return { instance, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The processes whose parent is `pid` (spawned from any of its threads). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) {
        children.push(Number(entry.name));
      }
    } catch { /* exited */ }
  }
  return children;
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
  name: "an idle tenant that uses no timers does not wake up, started on its own or from the " +
    "warm pool, nor does a pooled runtime waiting (neither the bootstrap nor pool.js arms a timer)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // A time limit, whose timer is armed only for a late answer. The pool runs under bubblewrap.
    const source = "export default { fetch: () => new Response('hi') };";
    const tenants = [await tenantOf(source, 60_000)];
    try {
      if (isolation.kind === "bwrap") tenants.push(await tenantOf(source, 60_000, true));
      for (const { instance } of tenants) {
        assert.equal(await (await tenantGet(instance.client)).text(), "hi");
      }
      // Deno's own start-up work runs for ~18 s after a process starts (any process); after
      // it, a process that loaded the timers woke up 2–4 times every 10 s, forever.
      await new Promise((resolve) => setTimeout(resolve, 21_000));
      // The rest of this process's children: the runtime the pool started in place of the one
      // it handed over, waiting for a deployment.
      const served = new Set(tenants.flatMap(({ instance }) => processTree(instance.pid)));
      const waiting = childrenOf(Deno.pid).filter((pid) => !served.has(pid));
      if (tenants.length > 1) assert.ok(waiting.length > 0, "the pool refilled");
      const watched = [...tenants.map(({ instance }) => instance.pid), ...waiting];
      // Each must have one quiet window of 10 s: on a loaded machine the start-up work can run
      // late, but a process that loaded the timers wakes in every window.
      const woken = watched.map(() => Infinity);
      for (let window = 0; window < 3 && woken.some((n) => n > 1); window++) {
        const before = watched.map(wakeUps);
        await new Promise((resolve) => setTimeout(resolve, 10_000));
        for (const [i, pid] of watched.entries()) {
          woken[i] = Math.min(woken[i], wakeUps(pid) - before[i]);
        }
      }
      for (const [i, n] of woken.entries()) {
        const what = ["a tenant started on its own", "a tenant from the pool"][i] ??
          "a pooled runtime waiting";
        assert.ok(n <= 1, `${what} woke up ${n} times in its quietest 10 s, idle`);
      }
    } finally {
      for (const { close } of tenants) await close();
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
