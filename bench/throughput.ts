/**
 * Warm throughput: requests/s through the host's router vs the same handler on a bare
 * `deno serve`, same load generator (wrk, its own process), same connections. For the hello
 * handler and for one that burns ~1 ms of CPU per request. Targets: hello ≥ 0.5×, 1 ms ≥ 0.85×.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { denoServe, deployLive, firstOk, freePort, startBenchHost, wrk } from "./host.ts";
import { report } from "./report.ts";

const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 5);
const connections = Number(Deno.env.get("BENCH_CONNECTIONS") ?? 32);
const only = Deno.env.get("BENCH_CASE");
const cases = [
  { name: "hello", dir: "../examples/hello", target: 0.5 },
  { name: "1 ms CPU", dir: "./fixtures/cpu", target: 0.85 },
];

const dataDir = await Deno.makeTempDir({ prefix: "dt-bench-throughput-" });
const host = await startBenchHost(dataDir);
try {
  await host.api.projects.create({ name: "bench-throughput" });
  for (const item of cases.filter((c) => !only || c.name === only)) {
    const root = fileURLToPath(new URL(item.dir, import.meta.url));
    const { domain } = await deployLive(host.api, "bench-throughput", root);
    const routed = `http://127.0.0.1:${host.port}/`;
    const hostHeader = `${domain}:${host.port}`;
    await wrk(routed, { host: hostHeader, connections, seconds: 1 }); // warm up

    const port = freePort();
    const bare = denoServe(`${root}/main.ts`, port);
    const direct = `http://127.0.0.1:${port}/`;
    await firstOk(direct, performance.now());
    await wrk(direct, { connections, seconds: 1 });

    const viaRouter = await wrk(routed, { host: hostHeader, connections, seconds });
    const baseline = await wrk(direct, { connections, seconds });
    bare.kill();
    await bare.status;
    if (viaRouter.non2xx > 0) {
      throw new Error(`${viaRouter.non2xx} non-2xx responses via the router`);
    }
    const ratio = viaRouter.rps / baseline.rps;
    report({
      name: `warm throughput, ${item.name} handler (${connections} connections)`,
      value: `${viaRouter.rps.toFixed(0)} req/s`,
      baseline: `${baseline.rps.toFixed(0)} req/s (bare deno serve)`,
      ratio,
      target: `≥ ${item.target}×`,
      met: ratio >= item.target,
    });
  }
} finally {
  await host.stop();
  await Deno.remove(dataDir, { recursive: true });
}
