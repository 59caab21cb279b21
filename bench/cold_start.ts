/**
 * Cold start: the first request to a deployment that has no process yet (after a host
 * restart), vs starting the same module with `deno serve` by hand and waiting for its first
 * response. p50 over several deployments. Target ≤ 0.3×.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { bareStartTimes, deployLive, startBenchHost } from "./host.ts";
import { ms, percentile, report } from "./report.ts";

const runs = Number(Deno.env.get("BENCH_RUNS") ?? 10);
const hello = fileURLToPath(new URL("../examples/hello", import.meta.url));
const root = await Deno.makeTempDir({ prefix: "dt-bench-cold-" });
let host = await startBenchHost(`${root}/data`);
try {
  await host.api.projects.create({ name: "bench-cold" });
  const domains: string[] = [];
  for (let i = 0; i < runs; i++) {
    domains.push((await deployLive(host.api, "bench-cold", hello)).domain);
  }
  // A restart leaves every deployment without a process.
  await host.stop();
  host = await startBenchHost(`${root}/data`);
  const cold: number[] = [];
  for (const domain of domains) {
    const start = performance.now();
    const response = await invoke(`http://${domain}:${host.port}/`);
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`got ${response.status}`);
    cold.push(performance.now() - start);
  }
  const bare = await bareStartTimes(`${hello}/main.ts`, runs);
  const ratio = percentile(cold, 50) / percentile(bare, 50);
  report({
    name: "cold start (hello, first request, p50)",
    value: ms(percentile(cold, 50)),
    baseline: `${ms(percentile(bare, 50))} (deno serve by hand → first response)`,
    ratio,
    target: "≤ 0.3×",
    met: ratio <= 0.3,
  });
} finally {
  closeInvokeClients();
  await host.stop();
  await Deno.remove(root, { recursive: true });
}
