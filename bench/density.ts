/**
 * Density: 300 deployments of the hello example, each called, on a host capped at
 * `BENCH_MAX_WARM` warm processes (default 64). All must answer; the peak RSS of the host and
 * everything it runs (tenants, their sandboxes, HAProxy, the warm pool) is reported against the
 * memory cap the README documents for that setting, `BENCH_MEMORY_CAP_MB` (default 3 500 MB for
 * 64 warm: 64 × 45 MB per tenant and sandbox, plus 600 MB for the host, HAProxy and the pool),
 * beside the RSS the same run measured per tenant. Target: every deployment answers, within the
 * cap.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { deployLive, startBenchHost } from "./host.ts";
import { report } from "./report.ts";

const count = Number(Deno.env.get("BENCH_DENSITY") ?? 300);
const maxWarm = Number(Deno.env.get("BENCH_MAX_WARM") ?? 64);
const capMb = Number(Deno.env.get("BENCH_MEMORY_CAP_MB") ?? 3_500);
const hello = fileURLToPath(new URL("../examples/hello", import.meta.url));

/** RSS of `pid` and all its descendants, in bytes. */
async function treeRss(pid: number): Promise<{ total: number; processes: number }> {
  const parents = new Map<number, number>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
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
      const status = await Deno.readTextFile(`/proc/${member}/status`);
      total += Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1] ?? 0) * 1024;
    } catch { /* exited */ }
  }
  return { total, processes: tree.size };
}

const root = await Deno.makeTempDir({ prefix: "dt-bench-density-" });
const host = await startBenchHost(`${root}/data`, ["--max-warm", String(maxWarm)]);
try {
  await host.api.projects.create({ name: "bench-density" });
  const idle = await treeRss(host.pid);
  const domains: string[] = [];
  for (let i = 0; i < count; i++) {
    domains.push((await deployLive(host.api, "bench-density", hello)).domain);
  }
  let answered = 0;
  let peak = 0;
  for (const [i, domain] of domains.entries()) {
    const response = await invoke(`http://${domain}:${host.port}/`, undefined, {
      timeoutMs: 30_000,
    });
    if (response.status === 200 && (await response.text()).startsWith("Hello")) answered++;
    if (i % 25 === 0) peak = Math.max(peak, (await treeRss(host.pid)).total);
  }
  const final = await treeRss(host.pid);
  peak = Math.max(peak, final.total);
  // Two processes per tenant: bubblewrap and Deno.
  const perTenant = 2 * (final.total - idle.total) / Math.max(1, final.processes - idle.processes);
  const cap = capMb * 1e6;
  report({
    name: `density: ${count} hello deployments, ≤ ${maxWarm} warm (${answered} answered)`,
    value: `${(peak / 1e6).toFixed(0)} MB peak RSS (host + tenants)`,
    baseline: `${capMb} MB cap (measured: host ${(idle.total / 1e6).toFixed(0)} MB idle, ${
      (perTenant / 1e6).toFixed(0)
    } MB per tenant)`,
    ratio: peak / cap,
    target: `all ${count} answer, ≤ cap`,
    met: answered === count && peak <= cap,
  });
} finally {
  closeInvokeClients();
  await host.stop();
  await Deno.remove(root, { recursive: true });
}
