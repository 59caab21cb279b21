/**
 * Cold-start bursts: right after a host restart, N first requests sent at once to N different
 * deployments that have no process yet (N = 8 and 32, as after a restart or at 9 a.m.), vs
 * a bare `deno serve` started by hand and polled to its first response, one at a time, in the
 * same run. Targets: p50 ≤ 0.3× and p99 ≤ 1× the bare start's p50.
 *
 * The deployments are deployed before the restart (their builds are the host's recent cold
 * starts, which size its warm pool); after the restart the burst waits `BENCH_SETTLE_MS`
 * (default 2 000) for the host to settle, as traffic would take a moment to come back.
 *
 * Knobs: BENCH_BURSTS (comma-separated sizes, default "8,32"), BENCH_RUNS (bare starts, 10).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { bareStartTimes, deployLive, startBenchHost } from "./host.ts";
import { ms, percentile, report } from "./report.ts";

const bursts = (Deno.env.get("BENCH_BURSTS") ?? "8,32").split(",").map(Number);
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 10);
const settleMs = Number(Deno.env.get("BENCH_SETTLE_MS") ?? 2_000);
const hello = fileURLToPath(new URL("../examples/hello", import.meta.url));
const root = await Deno.makeTempDir({ prefix: "dt-bench-burst-" });
let host = await startBenchHost(`${root}/data`);
try {
  await host.api.projects.create({ name: "bench-burst" });
  const domains: string[] = [];
  for (let i = 0; i < Math.max(...bursts); i++) {
    domains.push((await deployLive(host.api, "bench-burst", hello)).domain);
  }
  const bare = percentile(await bareStartTimes(`${hello}/main.ts`, runs), 50);
  for (const size of bursts) {
    // A restart leaves every deployment without a process.
    await host.stop();
    host = await startBenchHost(`${root}/data`);
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const times = await Promise.all(
      domains.slice(0, size).map(async (domain) => {
        const start = performance.now();
        const response = await invoke(`http://${domain}:${host.port}/`);
        await response.body?.cancel();
        if (response.status !== 200) throw new Error(`${domain}: got ${response.status}`);
        return performance.now() - start;
      }),
    );
    closeInvokeClients();
    const p50 = percentile(times, 50);
    const p99 = percentile(times, 99);
    report({
      name: `cold-start burst after a restart: ${size} at once (p50, p99)`,
      value: `p50 ${ms(p50)}, p99 ${ms(p99)}`,
      baseline: `${ms(bare)} (deno serve by hand → first response)`,
      ratio: p50 / bare,
      target: "p50 ≤ 0.3×, p99 ≤ 1×",
      met: p50 / bare <= 0.3 && p99 / bare <= 1,
    });
  }
} finally {
  closeInvokeClients();
  await host.stop();
  await Deno.remove(root, { recursive: true });
}
