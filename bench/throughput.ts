/**
 * Warm throughput: requests/s through the host's front proxy vs the same handler on a bare
 * `deno serve`, same load generator (wrk, its own process), same connections. For the hello
 * handler and for one that burns ~1 ms of CPU per request. Targets: hello ≥ 0.5×, 1 ms ≥ 0.85×.
 *
 * For hello, a third path shows what the machine allows for a proxy hop at all: HAProxy with
 * no rules in front of a bare `Deno.serve` on a unix socket (bench/minimal_proxy.ts).
 *
 * Each figure is the median of five rounds in which the paths take turns going first, so a
 * slow second of this shared machine does not decide a ratio.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { hasControllingTerminal } from "../host/tenant/sandbox.ts";
import {
  denoServe,
  deployLive,
  firstOk,
  freePort,
  skipUnlessInstalled,
  startBenchHost,
  wrk,
} from "./host.ts";
import { startMinimalProxy } from "./minimal_proxy.ts";
import { percentile, report } from "./report.ts";

skipUnlessInstalled("throughput", ["wrk", "haproxy"]);
const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 2);
const rounds = Number(Deno.env.get("BENCH_ROUNDS") ?? 5);
const connections = Number(Deno.env.get("BENCH_CONNECTIONS") ?? 32);
const only = Deno.env.get("BENCH_CASE");
const cases = [
  { name: "hello", dir: "../examples/hello", target: 0.5, bound: true },
  { name: "1 ms CPU", dir: "./fixtures/cpu", target: 0.85, bound: false },
].filter((c) => !only || c.name === only);

/** A way to reach the handler, and its requests/s per round. */
interface Path {
  url: string;
  host?: string;
  rps: number[];
}

/** Runs wrk on `path` once; non-2xx answers fail the benchmark. */
async function measure(path: Path): Promise<void> {
  const run = await wrk(path.url, { host: path.host, connections, seconds });
  if (run.non2xx > 0) throw new Error(`${run.non2xx} non-2xx responses from ${path.url}`);
  path.rps.push(run.rps);
}

if (hasControllingTerminal()) {
  console.log(
    "note: the host started here has this terminal, so each tenant gets a session (and a " +
      "scheduler autogroup) of its own, ~15% slower for hello; `setsid -w deno task bench " +
      "throughput` measures it as a service runs (host/tenant/sandbox.ts)",
  );
}

const dataDir = await Deno.makeTempDir({ prefix: "dt-bench-throughput-" });
const host = await startBenchHost(dataDir);
try {
  await host.api.projects.create({ name: "bench-throughput" });
  for (const item of cases) {
    const root = fileURLToPath(new URL(item.dir, import.meta.url));
    const { domain } = await deployLive(host.api, "bench-throughput", root);
    const viaHost: Path = {
      url: `http://127.0.0.1:${host.port}/`,
      host: `${domain}:${host.port}`,
      rps: [],
    };
    const port = freePort();
    const bare = denoServe(`${root}/main.ts`, port);
    const direct: Path = { url: `http://127.0.0.1:${port}/`, rps: [] };
    const minimal = item.bound ? await startMinimalProxy(`${root}/main.ts`) : undefined;
    const bound: Path | undefined = minimal && { url: minimal.url, rps: [] };
    try {
      await firstOk(direct.url, performance.now());
      const paths = [viaHost, direct, ...(bound ? [bound] : [])];
      for (const path of paths) {
        await wrk(path.url, { host: path.host, connections, seconds: 1 }); // warm up
      }
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < paths.length; i++) await measure(paths[(round + i) % paths.length]);
      }
    } finally {
      bare.kill();
      await bare.status;
      await minimal?.stop();
    }
    // Ratios per round (paths measured seconds apart), then the median round.
    const ratioOf = (path: Path) =>
      percentile(path.rps.map((rps, round) => rps / direct.rps[round]), 50);
    const rps = (path: Path) => `${percentile(path.rps, 50).toFixed(0)} req/s`;
    const baseline = `${rps(direct)} (bare deno serve)`;
    const ratio = ratioOf(viaHost);
    report({
      name: `warm throughput, ${item.name} handler (${connections} connections, ` +
        `median of ${rounds} rounds)`,
      value: rps(viaHost),
      baseline,
      ratio,
      target: `≥ ${item.target}×`,
      met: ratio >= item.target,
    });
    if (bound) {
      report({
        name: `${item.name} handler, bound for any proxy in front (HAProxy without rules → ` +
          "bare Deno.serve on a unix socket)",
        value: rps(bound),
        baseline,
        ratio: ratioOf(bound),
        target: "reference",
        met: true,
        reference: true,
      });
    }
  }
} finally {
  await host.stop();
  await Deno.remove(dataDir, { recursive: true });
}
