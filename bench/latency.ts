/**
 * Added latency: p99 through the host (its front proxy, or the router) minus p99 direct to the
 * same handler on a bare `deno serve`, at a fixed moderate rate (paced client in its own
 * process). Five rounds, the paths taking turns to go first; the median round's p99 of each
 * counts, so a noisy second or two on this shared machine does not decide. Target ≤ 1 ms.
 *
 * A third path shows what any proxy process in front costs on its own: HAProxy with no rules in
 * front of a bare `Deno.serve` on a unix socket (bench/minimal_proxy.ts), as in throughput.ts.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { denoServe, deployLive, firstOk, freePort, startBenchHost } from "./host.ts";
import { type MinimalProxy, startMinimalProxy } from "./minimal_proxy.ts";
import { ms, percentile, report } from "./report.ts";

const rate = Number(Deno.env.get("BENCH_RATE") ?? 200);
const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 5);
const rounds = Number(Deno.env.get("BENCH_ROUNDS") ?? 5);
const hello = fileURLToPath(new URL("../examples/hello", import.meta.url));
const pace = fileURLToPath(new URL("./pace.ts", import.meta.url));

async function paced(url: string, host?: string): Promise<number[]> {
  const args = ["run", "-A", pace, url, String(rate), String(seconds)];
  if (host) args.push(host);
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped" }).output();
  const { latencies, errors } = JSON.parse(new TextDecoder().decode(out.stdout));
  if (errors > 0) throw new Error(`${errors} failed requests`);
  return latencies;
}

const root = await Deno.makeTempDir({ prefix: "dt-bench-latency-" });
const host = await startBenchHost(`${root}/data`);
const port = freePort();
const bare = denoServe(`${hello}/main.ts`, port);
let minimal: MinimalProxy | undefined;
try {
  minimal = await startMinimalProxy(`${hello}/main.ts`);
  await host.api.projects.create({ name: "bench-latency" });
  const { domain } = await deployLive(host.api, "bench-latency", hello);
  const direct = `http://127.0.0.1:${port}/`;
  await firstOk(direct, performance.now());
  const routedHost = `${domain}:${host.port}`;
  const routed = `http://127.0.0.1:${host.port}/`;
  await paced(routed, routedHost); // warm up both paths
  await paced(direct);
  await paced(minimal.url);
  const routedP99: number[] = [];
  const directP99: number[] = [];
  const minimalP99: number[] = [];
  const proxyUrl = minimal.url;
  const measures = [
    async () => routedP99.push(percentile(await paced(routed, routedHost), 99)),
    async () => directP99.push(percentile(await paced(direct), 99)),
    async () => minimalP99.push(percentile(await paced(proxyUrl), 99)),
  ];
  for (let round = 0; round < rounds; round++) {
    // Each path goes first, second and last in turn.
    for (let i = 0; i < measures.length; i++) await measures[(round + i) % measures.length]();
  }
  const viaRouter = percentile(routedP99, 50);
  const baseline = percentile(directP99, 50);
  const viaMinimal = percentile(minimalP99, 50);
  const added = viaRouter - baseline;
  const sign = (value: number) => `${value < 0 ? "−" : "+"}${ms(Math.abs(value))}`;
  report({
    name: `added latency at ${rate} req/s (p99, median of ${rounds} rounds)`,
    value: `${ms(viaRouter)} via the host (${sign(added)})`,
    baseline: `${ms(baseline)} (bare deno serve)`,
    ratio: viaRouter / baseline,
    target: "p99 + ≤ 1 ms",
    met: added <= 1,
  });
  report({
    name: `added latency at ${rate} req/s, bound for any proxy in front (HAProxy without rules → ` +
      "bare Deno.serve on a unix socket)",
    value: `${ms(viaMinimal)} (${sign(viaMinimal - baseline)})`,
    baseline: `${ms(baseline)} (bare deno serve)`,
    ratio: viaMinimal / baseline,
    target: "reference",
    met: true,
    reference: true,
  });
} finally {
  await minimal?.stop();
  bare.kill();
  await bare.status;
  await host.stop();
  await Deno.remove(root, { recursive: true });
}
