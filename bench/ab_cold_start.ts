/**
 * Cold starts of two checkouts side by side: not part of `deno task bench`, a tool for telling
 * whether a change to the cold-start path helps. This VM's speed drifts by a third within
 * minutes, so two runs one after the other compare the VM's phases more than the code.
 *
 * Both checkouts' hosts run at once, each with its own hello deployments, restarted with every
 * deployment cold; their cold starts then alternate, one every 400 ms (the order flips each
 * round), and the figure is the median of the paired differences.
 *
 * ```sh
 * git worktree add /tmp/before HEAD~1
 * deno run -A bench/ab_cold_start.ts /tmp/before .   # RUNS=20 by default
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { rawGet } from "./raw_get.ts";
import { percentile } from "./report.ts";
import type { BenchHost } from "./host.ts";

/** What a checkout's `bench/host.ts` offers (each host runs that checkout's code). */
interface HostModule {
  startBenchHost(dataDir: string): Promise<BenchHost>;
  deployLive(api: BenchHost["api"], project: string, root: string): Promise<{ domain: string }>;
  forgetWarmDeployments(dataDir: string): Promise<void>;
}

/** One checkout under test. */
interface Side {
  checkout: string;
  hosts: HostModule;
  dataDir: string;
  domains: string[];
  host?: BenchHost;
  times: number[];
}

const [before, after] = Deno.args.map((path) => resolve(path));
if (!before || !after) {
  console.error("usage: deno run -A bench/ab_cold_start.ts <checkout A> <checkout B>");
  Deno.exit(2);
}
const runs = Number(Deno.env.get("RUNS") ?? 20);
const hello = resolve(new URL("../examples/hello", import.meta.url).pathname);
const sides: Side[] = [];
try {
  for (const checkout of [before, after]) {
    const hosts = await import(`file://${checkout}/bench/host.ts`) as HostModule;
    const dataDir = `${await Deno.makeTempDir({ prefix: "dt-ab-cold-" })}/data`;
    const side: Side = { checkout, hosts, dataDir, domains: [], times: [] };
    sides.push(side);
    const host = await hosts.startBenchHost(dataDir);
    await host.api.projects.create({ name: "ab-cold" });
    for (let i = 0; i < runs; i++) {
      side.domains.push((await hosts.deployLive(host.api, "ab-cold", hello)).domain);
    }
    await host.stop();
    await hosts.forgetWarmDeployments(dataDir);
  }
  for (const side of sides) side.host = await side.hosts.startBenchHost(side.dataDir);
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // both pools filled
  for (let i = 0; i < runs; i++) {
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const start = performance.now();
      const status = await rawGet(side.host!.port, side.domains[i]);
      if (status !== 200) throw new Error(`${side.checkout}: a cold start answered ${status}`);
      side.times.push(performance.now() - start);
    }
  }
  const [a, b] = sides;
  const differences = b.times.map((time, i) => time - a.times[i]);
  const p50 = (values: number[]) => percentile(values, 50).toFixed(2);
  console.log(`A ${a.checkout}: cold start p50 ${p50(a.times)} ms`);
  console.log(`B ${b.checkout}: cold start p50 ${p50(b.times)} ms`);
  console.log(`B − A, median of ${runs} paired differences: ${p50(differences)} ms`);
} finally {
  for (const side of sides) {
    await side.host?.stop();
    await Deno.remove(resolve(side.dataDir, ".."), { recursive: true }).catch(() => {});
  }
}
