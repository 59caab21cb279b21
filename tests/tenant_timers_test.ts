/**
 * The bootstrap's timers: a tenant that uses none never loads Deno's (which wake a process up
 * every few seconds for good), and the request time limit still holds when tenant code
 * replaces `setTimeout`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deploymentDirs, Runtime } from "../host/tenant/runtime.ts";
import { detectIsolation, tenantDenoBinary } from "../host/tenant/sandbox.ts";
import { tenantGet } from "./helpers/tenant_fetch.ts";

const bootstrap = fileURLToPath(new URL("../host/tenant/bootstrap.js", import.meta.url));
const isolation = await detectIsolation(true);

/** A runtime with one deployment `id` whose main module is `source`, under a fresh root. */
async function runtimeWith(id: string, source: string) {
  const root = await Deno.makeTempDir({ prefix: "dt-tenant-timers-" });
  const { app } = deploymentDirs(root, id);
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
  return { runtime, close };
}

/** Times the threads of `pid` and its descendants were woken up (voluntary switches). */
function wakeUps(pid: number): number {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      parents.set(Number(entry.name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch { /* exited */ }
  }
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, parent] of parents) {
      if (tree.has(parent) && !tree.has(child)) grew = tree.add(child) !== undefined;
    }
  }
  let total = 0;
  for (const member of tree) {
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
    const { runtime, close } = await runtimeWith(
      "quiet",
      "export default { fetch: () => new Response('hi') };",
    );
    try {
      const instance = await runtime.ensure({
        id: "quiet",
        entrypoint: "main.ts",
        envVars: {},
        denoFlags: ["--no-lock"],
        requestTimeoutMs: 60_000, // a time limit, whose timer is armed only for a late answer
      });
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
  const { runtime, close } = await runtimeWith(
    "sly",
    `globalThis.setTimeout = () => 0;
    export default { fetch: () => new Promise(() => {}) };`,
  );
  try {
    const instance = await runtime.ensure({
      id: "sly",
      entrypoint: "main.ts",
      envVars: {},
      denoFlags: ["--no-lock"],
      requestTimeoutMs: 300,
    });
    const late = await tenantGet(instance.client);
    assert.equal(late.status, 504);
    assert.equal((await late.json()).code, "TIME_LIMIT");
  } finally {
    await close();
  }
});
