/**
 * Load: many concurrent deploys while a steady stream of invocations goes to many deployments,
 * all on loopback and bounded in time.
 *
 * 8 workers deploy through the library's `deploy()` (each deployment its own code and a data
 * file of random size), check that the new deployment answers with its own content, then
 * delete it; they keep going until at least 40 deployments are done and the invocation window
 * is over. Meanwhile a paced client (its own process) sends invocations round-robin to 10
 * long-lived deployments. No client retries: every 5xx or network error counts.
 *
 * Reported: invocation p50/p99 under deploy load against the same stream with no deploys (the
 * baseline, same run); deploy p50/p99 and throughput against one deploy at a time; and the
 * count of lost deployments and failed invocations, which must be zero (the run fails
 * otherwise).
 *
 * Knobs: BENCH_SECONDS (invocation window, default 8), BENCH_RATE (invocations/s, default
 * 100), BENCH_DEPLOYS (at least this many deployments, default 40), BENCH_HOST_ARGS (see
 * bench/host.ts).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { V1Api } from "../lib/api.ts";
import { deploy } from "../lib/deploy.ts";
import { closeInvokeClients, invoke as invokeDeployment } from "../lib/invoke.ts";
import { startBenchHost } from "./host.ts";
import { ms, percentile, report } from "./report.ts";

const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 8);
const rate = Number(Deno.env.get("BENCH_RATE") ?? 100);
const minDeploys = Number(Deno.env.get("BENCH_DEPLOYS") ?? 40);
const WORKERS = 8;
const TARGETS = 10;
const SEQUENTIAL_DEPLOYS = 5;
/** Invocation p99 under deploy load may be at most this many times the unloaded p99. */
const P99_TARGET = 3;
const pace = fileURLToPath(new URL("./pace.ts", import.meta.url));

const root = await Deno.makeTempDir({ prefix: "dt-bench-load-" });
const dataDir = join(root, "data");
const host = await startBenchHost(dataDir);
const info = JSON.parse(await Deno.readTextFile(join(dataDir, "host.json")));
// No retries: a 5xx or a dropped connection must show, not be papered over.
const api = new V1Api({
  baseUrl: info.apiUrl,
  token: info.token,
  organizationId: info.organizationId,
  maxRetries: 0,
});
let appCount = 0;

try {
  await api.projects.create({ name: "bench-load" });

  // Long-lived deployments the invocations go to.
  const targets: string[] = [];
  for (let i = 0; i < TARGETS; i++) {
    const app = await writeApp();
    const { deployment } = await deploy({ api, project: "bench-load", root: app.dir });
    if (deployment.status !== "success") throw new Error(`target ${i} failed to build`);
    targets.push(`${deployment.domains![0]}:${host.port}`);
    await expectContent(deployment.domains![0], app.token);
  }
  await invoke(targets, 1); // warm up

  const sequential = await deployMany(1, SEQUENTIAL_DEPLOYS, () => false);
  const baseline = await invoke(targets, seconds);

  let invoking = true;
  const [loaded, concurrent] = await Promise.all([
    invoke(targets, seconds).finally(() => invoking = false),
    deployMany(WORKERS, minDeploys, () => invoking),
  ]);

  const p99 = percentile(loaded.latencies, 99);
  const baseP99 = percentile(baseline.latencies, 99);
  report({
    name: `invocations at ${rate} req/s over ${TARGETS} deployments during ${WORKERS} ` +
      `concurrent deploys (p99)`,
    value: `p50 ${ms(percentile(loaded.latencies, 50))}, p99 ${ms(p99)}`,
    baseline: `p50 ${ms(percentile(baseline.latencies, 50))}, p99 ${ms(baseP99)} (no deploys)`,
    ratio: p99 / baseP99,
    target: `≤ ${P99_TARGET}×`,
    met: p99 <= P99_TARGET * baseP99,
  });

  const throughput = concurrent.durations.length / concurrent.elapsedMs;
  const baseThroughput = sequential.durations.length / sequential.elapsedMs;
  report({
    name: `deploys by ${WORKERS} concurrent workers under invocation load (throughput)`,
    value:
      `${concurrent.durations.length} deploys, p50 ${ms(percentile(concurrent.durations, 50))}, ` +
      `p99 ${ms(percentile(concurrent.durations, 99))}, ${(throughput * 1000).toFixed(2)}/s`,
    baseline: `p50 ${ms(percentile(sequential.durations, 50))}, ` +
      `${(baseThroughput * 1000).toFixed(2)}/s one at a time`,
    ratio: throughput / baseThroughput,
    target: "≥ 1×",
    met: throughput >= baseThroughput,
  });

  const lost = sequential.lost.length + concurrent.lost.length;
  const failed = baseline.errors + loaded.errors;
  const invocations = baseline.latencies.length + loaded.latencies.length + failed;
  const deploys = sequential.durations.length + concurrent.durations.length;
  report({
    name: "lost deployments and failed invocations (5xx or no answer)",
    value: `${lost} of ${deploys} deploys lost, ${failed} of ${invocations} invocations failed`,
    baseline: "none allowed",
    ratio: lost + failed,
    target: "= 0",
    met: lost + failed === 0,
  });
  if (lost + failed > 0) {
    throw new Error(`lost deployments:\n${[...sequential.lost, ...concurrent.lost].join("\n")}`);
  }
} finally {
  closeInvokeClients();
  await host.stop();
  await Deno.remove(root, { recursive: true });
}

/** A new app: its own token in the code, and a data file of random size. */
async function writeApp(): Promise<{ dir: string; token: string }> {
  const dir = join(root, "apps", String(appCount++));
  await Deno.mkdir(dir, { recursive: true });
  const token = crypto.randomUUID();
  await Deno.writeTextFile(
    join(dir, "main.ts"),
    `const data = await Deno.readTextFile(new URL("./data.txt", import.meta.url));\n` +
      `export default { fetch: () => new Response(${
        JSON.stringify(token)
      } + " " + data.length) };\n`,
  );
  const size = 1024 + Math.floor(Math.random() * 256 * 1024);
  await Deno.writeTextFile(join(dir, "data.txt"), "x".repeat(size));
  return { dir, token: `${token} ${size}` };
}

/**
 * Deploys with `workers` in parallel until `count` deployments are done and `more()` is
 * false; each must build, answer with its own content, and is deleted afterwards.
 */
async function deployMany(workers: number, count: number, more: () => boolean) {
  const durations: number[] = [];
  const lost: string[] = [];
  let started = 0;
  const start = performance.now();
  const worker = async () => {
    while (started < count || more()) {
      started++;
      const app = await writeApp();
      const begin = performance.now();
      try {
        const { deployment, buildError } = await deploy({
          api,
          project: "bench-load",
          root: app.dir,
        });
        if (deployment.status !== "success") {
          lost.push(`${deployment.id}: ${deployment.status}: ${buildError}`);
          continue;
        }
        durations.push(performance.now() - begin);
        await expectContent(deployment.domains![0], app.token).catch((error) => {
          lost.push(`${deployment.id}: ${error.message}`);
        });
        await api.deployments.delete(deployment.id);
      } catch (error) {
        lost.push(`deploy failed: ${(error as Error).message}`);
      } finally {
        await Deno.remove(app.dir, { recursive: true });
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return { durations, lost, elapsedMs: performance.now() - start };
}

async function expectContent(domain: string, expected: string): Promise<void> {
  const response = await invokeDeployment(`http://${domain}/`, undefined, {
    via: `http://127.0.0.1:${host.port}`,
  });
  const body = await response.text();
  if (response.status !== 200 || body !== expected) {
    throw new Error(`${domain} answered ${response.status} ${body.slice(0, 200)}`);
  }
}

/** Paced invocations round-robin over `targets` for `duration` seconds, from their own process. */
async function invoke(
  targets: string[],
  duration: number,
): Promise<{ latencies: number[]; errors: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      pace,
      `http://127.0.0.1:${host.port}/`,
      String(rate),
      String(duration),
      targets.join(","),
    ],
    stdout: "piped",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout));
}
