/**
 * Cold-start bursts: N first requests sent at once to N different deployments (N = 8 and 32),
 * vs a bare `deno serve` started by hand and polled to its first response, one at a time, in
 * the same run. Targets: p50 ≤ 0.3× and p99 ≤ 1× the bare start's p50.
 *
 * Two kinds of burst:
 * - **after a restart**: the deployments were warm when the host stopped; the restarted host
 *   starts them again before it says it is ready (host/tenant/warm_set.ts), then the burst
 *   waits `BENCH_SETTLE_MS` (default 2 000), as traffic takes a moment to come back. One
 *   burst's p50 moves ±30% from one restart to the next on this VM, so each size is measured
 *   `BENCH_BURST_ROUNDS` times (default 3), each after a restart of its own, and the round
 *   with the median p50 is reported (its bound row likewise).
 * - **at 9 a.m.**: deployments with no process (a restart that forgot which were warm), on a
 *   host whose warm pool an earlier burst of N cold starts sized (pool_sizer.ts): that burst
 *   first, `BENCH_POOL_WAIT_MS` (default 8 000) for the pool to refill, then N others.
 *
 * Each request goes on a connection of its own, as from N callers (raw_get.ts).
 *
 * Beside each burst after a restart, where HAProxy is installed, a reference row: the same burst
 * to N bare `Deno.serve` processes already running behind HAProxy without rules, each called
 * once through it and left as idle as the host's: the bound of any design with a proxy in
 * front, as throughput.ts measures one for hello.
 *
 * Knobs: BENCH_BURSTS (comma-separated sizes, default "8,32"), BENCH_RUNS (bare starts, 10).
 *
 * @module
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { bareStartTimes, deployLive, forgetWarmDeployments, startBenchHost } from "./host.ts";
import { ms, percentile, report } from "./report.ts";
import { rawGet } from "./raw_get.ts";
import { startMinimalProxies } from "./minimal_proxy.ts";
import { findHaproxy } from "../host/edge/haproxy.ts";

const bursts = (Deno.env.get("BENCH_BURSTS") ?? "8,32").split(",").map(Number);
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 10);
const settleMs = Number(Deno.env.get("BENCH_SETTLE_MS") ?? 2_000);
const poolWaitMs = Number(Deno.env.get("BENCH_POOL_WAIT_MS") ?? 8_000);
/** Bursts after a restart per size: one burst's p50 moves ±30% from one restart to the next. */
const rounds = Number(Deno.env.get("BENCH_BURST_ROUNDS") ?? 3);
const roundsNote = rounds === 1 ? "one round" : `median of ${rounds} rounds`;
const hello = fileURLToPath(new URL("../examples/hello", import.meta.url));
const dataDir = `${await Deno.makeTempDir({ prefix: "dt-bench-burst-" })}/data`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let host = await startBenchHost(dataDir);

/** Sends one first request to each of `domains` at once; their times in ms. */
function burst(domains: string[]): Promise<number[]> {
  return timedAtOnce(domains.map((domain) => ({ port: host.port, host: domain })));
}

/** Sends one GET to each of `targets` at once, each on its own connection; their times in ms. */
function timedAtOnce(targets: { port: number; host: string }[]): Promise<number[]> {
  return Promise.all(targets.map(async ({ port, host }) => {
    const start = performance.now();
    const status = await rawGet(port, host);
    if (status !== 200) throw new Error(`${host}: got ${status}`);
    return performance.now() - start;
  }));
}

/**
 * The same burst to `size` bare `Deno.serve` processes behind HAProxy without rules, each
 * called once through it beforehand and left `settleMs` idle: what any design with a proxy in
 * front of running tenants can do on this machine (bench/minimal_proxy.ts).
 */
async function boundBurst(size: number): Promise<number[]> {
  const proxies = await startMinimalProxies(`${hello}/main.ts`, size);
  try {
    await sleep(settleMs);
    return await timedAtOnce(proxies.urls.map((url) => ({
      port: Number(new URL(url).port),
      host: "127.0.0.1",
    })));
  } finally {
    await proxies.stop();
  }
}

/** The times of the round whose p50 is the median of the rounds' p50s. */
function medianRound(rounds: number[][]): number[] {
  const byP50 = rounds.toSorted((a, b) => percentile(a, 50) - percentile(b, 50));
  return byP50[(byP50.length - 1) >> 1];
}

/** Restarts the host on the same data dir, forgetting which deployments were warm if asked. */
async function restart(forget: boolean): Promise<void> {
  await host.stop();
  if (forget) await forgetWarmDeployments(dataDir);
  host = await startBenchHost(dataDir);
}

try {
  await host.api.projects.create({ name: "bench-burst" });
  // Twice the largest burst: the 9 a.m. burst needs an earlier one on other deployments.
  const domains: string[] = [];
  for (let i = 0; i < 2 * Math.max(...bursts); i++) {
    domains.push((await deployLive(host.api, "bench-burst", hello)).domain);
  }
  const bare = percentile(await bareStartTimes(`${hello}/main.ts`, runs), 50);
  const row = (name: string, times: number[], reference = false) => {
    const p50 = percentile(times, 50);
    const p99 = percentile(times, 99);
    report({
      name: `${name} (p50, p99)`,
      value: `p50 ${ms(p50)}, p99 ${ms(p99)}`,
      baseline: `${ms(bare)} (deno serve by hand → first response)`,
      ratio: p50 / bare,
      target: reference ? "reference" : "p50 ≤ 0.3×, p99 ≤ 1×",
      met: reference || (p50 / bare <= 0.3 && p99 / bare <= 1),
      reference,
    });
  };
  for (const size of bursts) {
    const ours: number[][] = [];
    const bound: number[][] = [];
    for (let round = 0; round < rounds; round++) {
      await restart(false);
      await sleep(settleMs);
      ours.push(await burst(domains.slice(0, size)));
      if (findHaproxy()) bound.push(await boundBurst(size));
    }
    row(`cold-start burst after a restart: ${size} at once, ${roundsNote}`, medianRound(ours));
    if (bound.length > 0) {
      row(
        `burst of ${size}, bound for any proxy in front (HAProxy without rules → ${size} bare Deno.serve, running), ${roundsNote}`,
        medianRound(bound),
        true,
      );
    }
  }
  for (const size of bursts) {
    await restart(true);
    await burst(domains.slice(0, size)); // sizes the pool
    await sleep(poolWaitMs);
    const others = domains.slice(size, 2 * size);
    row(
      `cold-start burst at 9 a.m. (pool sized by an earlier one): ${size} at once`,
      await burst(others),
    );
  }
} finally {
  await host.stop();
  await Deno.remove(dirname(dataDir), { recursive: true });
}
