/**
 * What one warm tenant costs the machine, for the capacity check at start
 * (`host/tenant/machine_limits.ts`, `TENANT_COST`): `BENCH_COST_N` hello deployments (default
 * 20) are made warm (deployed and called once), and the host's open file descriptors, the
 * tasks (processes and threads) of the host's tree, and HAProxy's descriptors are counted
 * before and after; the difference per tenant is printed.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { deployLive, skipUnlessInstalled, startBenchHost } from "./host.ts";

const count = Number(Deno.env.get("BENCH_COST_N") ?? 20);
const hello = fileURLToPath(new URL("../examples/hello", import.meta.url));
skipUnlessInstalled("tenant_cost", ["haproxy", "bwrap"]);

/** Children of each pid, from /proc. */
function tree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry.name)]);
    } catch { /* gone */ }
  }
  const all = [root];
  for (let i = 0; i < all.length; i++) all.push(...(parents.get(all[i]) ?? []));
  return all;
}

function tasks(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += [...Deno.readDirSync(`/proc/${pid}/task`)].length;
    } catch { /* gone */ }
  }
  return total;
}

function fds(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return 0;
  }
}

function haproxyPid(host: number): number | undefined {
  return tree(host).find((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/comm`).trim() === "haproxy";
    } catch {
      return false;
    }
  });
}

const root = await Deno.makeTempDir({ prefix: "dt-bench-cost-" });
const host = await startBenchHost(join(root, "data"), ["--max-warm", String(count + 10)]);
try {
  await host.api.projects.create({ name: "cost" });
  // The first deploy warms the host up (pool, HAProxy); measure from there.
  const first = await deployLive(host.api, "cost", hello);
  await invoke(`http://${first.domain}:${host.port}/`);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const proxy = haproxyPid(host.pid);
  const before = {
    fds: fds(host.pid),
    proxy: proxy ? fds(proxy) : 0,
    tasks: tasks(tree(host.pid)),
  };
  for (let i = 0; i < count; i++) {
    const { domain } = await deployLive(host.api, "cost", hello);
    const response = await invoke(`http://${domain}:${host.port}/`);
    await response.body?.cancel();
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const after = { fds: fds(host.pid), proxy: proxy ? fds(proxy) : 0, tasks: tasks(tree(host.pid)) };
  const per = (key: keyof typeof before) => ((after[key] - before[key]) / count).toFixed(1);
  console.log(
    `per warm tenant (${count}): host fds ${per("fds")}, HAProxy fds ${per("proxy")}, ` +
      `tasks ${per("tasks")}`,
  );
} finally {
  closeInvokeClients();
  await host.stop();
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
