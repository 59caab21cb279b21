/**
 * Deploy → live: `deploy()` of the hello example until its first 200 response through the
 * router, on the local host; p50 of several deploys. Baseline: starting the same module with
 * `deno serve` by hand until its first 200. Target: p50 ≤ 500 ms.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { bareStartTimes, deployLive, startBenchHost } from "./host.ts";
import { ms, percentile, report } from "./report.ts";

const runs = Number(Deno.env.get("BENCH_RUNS") ?? 10);
const hello = fileURLToPath(new URL("../examples/hello", import.meta.url));
const root = await Deno.makeTempDir({ prefix: "dt-bench-live-" });
const host = await startBenchHost(`${root}/data`);
try {
  await host.api.projects.create({ name: "bench-live" });
  await deployLive(host.api, "bench-live", hello); // warm the client paths
  const live: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const { domain } = await deployLive(host.api, "bench-live", hello);
    const url = `http://${domain}:${host.port}/`;
    const response = await invoke(url);
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`got ${response.status}`);
    live.push(performance.now() - start);
  }
  const bare = await bareStartTimes(`${hello}/main.ts`, runs);
  const p50 = percentile(live, 50);
  report({
    name: "deploy → live (hello, p50)",
    value: `${ms(p50)} (p90 ${ms(percentile(live, 90))})`,
    baseline: `${ms(percentile(bare, 50))} (deno serve by hand → first 200)`,
    ratio: p50 / percentile(bare, 50),
    target: "p50 ≤ 500 ms",
    met: p50 <= 500,
  });
} finally {
  closeInvokeClients();
  await host.stop();
  await Deno.remove(root, { recursive: true });
}
