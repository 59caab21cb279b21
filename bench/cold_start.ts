/**
 * Cold start: the first request to a deployment that has no process yet (after a host
 * restart that forgot which deployments were warm: it would start them again), vs starting
 * the same module with `deno serve` by hand and waiting for its first response. p50 over
 * several deployments. Target ≤ 0.3×.
 *
 * The figure is the host's: each first request is a GET written on a connection of its own
 * (raw_get.ts, as curl sends one), like the bursts' (burst.ts). Cold starts through
 * `lib/invoke.ts` alternate with them in a reference row: that client (node:http, to reach
 * `*.localhost` names) adds its own cost, most of it its code running cold after half a second
 * idle.
 *
 * The host keeps a warm pool of one sandboxed runtime (host/tenant/warm_pool.ts), refilled once the
 * runtime it handed out has served: cold starts here come one every half second, as they
 * would on a host whose pool keeps up. A second row shows a cold start without the pool
 * (`--warm-pool 0`): a burst of cold starts larger than the pool gets that.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { rawGet } from "./raw_get.ts";
import { bareStartTimes, deployLive, forgetWarmDeployments, startBenchHost } from "./host.ts";
import { ms, percentile, report } from "./report.ts";

const runs = Number(Deno.env.get("BENCH_RUNS") ?? 10);
const hello = fileURLToPath(new URL("../examples/hello", import.meta.url));
const root = await Deno.makeTempDir({ prefix: "dt-bench-cold-" });
let host = await startBenchHost(`${root}/data`);
try {
  await host.api.projects.create({ name: "bench-cold" });
  const domains: string[] = [];
  // Twice over: with the pool, raw and invoke cold starts alternate.
  for (let i = 0; i < 2 * runs; i++) {
    domains.push((await deployLive(host.api, "bench-cold", hello)).domain);
  }
  const bare = await bareStartTimes(`${hello}/main.ts`, runs);
  for (const pool of ["1", "0"]) {
    // A restart that forgets which were warm leaves every deployment without a process.
    await host.stop();
    await forgetWarmDeployments(`${root}/data`);
    host = await startBenchHost(`${root}/data`, ["--warm-pool", pool]);
    const cold: number[] = [];
    const invoked: number[] = [];
    for (const [i, domain] of domains.entries()) {
      if (pool === "0" && i >= runs) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
      const start = performance.now();
      if (pool === "1" && i % 2 === 1) {
        const response = await invoke(`http://${domain}:${host.port}/`);
        await response.body?.cancel();
        if (response.status !== 200) throw new Error(`got ${response.status}`);
        invoked.push(performance.now() - start);
      } else {
        const status = await rawGet(host.port, domain);
        if (status !== 200) throw new Error(`got ${status}`);
        cold.push(performance.now() - start);
      }
    }
    closeInvokeClients();
    const ratio = percentile(cold, 50) / percentile(bare, 50);
    report({
      name: pool === "0"
        ? "cold start without the warm pool (--warm-pool 0)"
        : "cold start (hello, first request, p50)",
      value: ms(percentile(cold, 50)),
      baseline: `${ms(percentile(bare, 50))} (deno serve by hand → first response)`,
      ratio,
      target: pool === "0" ? "none (fallback)" : "≤ 0.3×",
      met: pool === "0" || ratio <= 0.3,
    });
    if (invoked.length > 0) {
      report({
        name: "cold start through lib/invoke.ts (the library's client, p50)",
        value: ms(percentile(invoked, 50)),
        baseline: `${ms(percentile(bare, 50))} (deno serve by hand → first response)`,
        ratio: percentile(invoked, 50) / percentile(bare, 50),
        target: "reference",
        met: true,
        reference: true,
      });
    }
  }
} finally {
  closeInvokeClients();
  await host.stop();
  await Deno.remove(root, { recursive: true });
}
