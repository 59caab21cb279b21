/**
 * Deploy memory: peak RSS of the `deploy` CLI for generated trees of 100, 250 and 500 MB,
 * vs the tree's size. Target ≤ 150 MB and flat as the tree grows. `BENCH_MEMORY_SIZES=100,250`
 * picks other sizes (MB).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { startBenchHost } from "./host.ts";
import { report } from "./report.ts";
import { generateTree } from "./tree.ts";

const main = fileURLToPath(new URL("../main.ts", import.meta.url));
const sizes = (Deno.env.get("BENCH_MEMORY_SIZES") ?? "100,250,500").split(",").map(Number);

/** Runs the CLI and samples its VmHWM (peak RSS) from /proc until it exits. */
async function peakRss(args: string[], env: Record<string, string>): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  const stderr = new Response(child.stderr).text();
  let done = false;
  const status = child.status.finally(() => done = true);
  while (!done) {
    try {
      const text = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const kb = Number(text.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0);
      peak = Math.max(peak, kb * 1024);
    } catch { /* exited */ }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!(await status).success) throw new Error(`deploy failed: ${await stderr}`);
  return peak;
}

const root = await Deno.makeTempDir({ prefix: "dt-bench-memory-" });
const host = await startBenchHost(`${root}/data`);
try {
  await host.api.projects.create({ name: "bench-memory" });
  const env = {
    DEPLOY_API_URL: host.apiUrl,
    DEPLOY_ACCESS_TOKEN: host.token,
    DEPLOY_ORG_ID: host.api.organizationId,
    XDG_CACHE_HOME: `${root}/cache`,
  };
  const peaks: number[] = [];
  for (const mb of sizes) {
    const tree = `${root}/tree-${mb}`;
    await generateTree(tree, { count: 2000, totalBytes: mb * 1e6, binaryShare: 0.3, seed: mb });
    const peak = await peakRss(
      ["deploy", tree, "--project", "bench-memory", "--no-wait", "-q"],
      env,
    );
    await Deno.remove(tree, { recursive: true });
    peaks.push(peak);
    report({
      name: `deploy memory, ${mb} MB tree (peak RSS of the CLI)`,
      value: `${(peak / 1e6).toFixed(0)} MB`,
      baseline: `${mb} MB (tree size)`,
      ratio: peak / (mb * 1e6),
      target: "≤ 150 MB, flat",
      met: peak <= 150e6,
    });
  }
  const growth = peaks[peaks.length - 1] - peaks[0];
  console.log(
    `deploy memory grows ${(growth / 1e6).toFixed(1)} MB from ${sizes[0]} to ${
      sizes[sizes.length - 1]
    } MB of tree`,
  );
} finally {
  await host.stop();
  await Deno.remove(root, { recursive: true });
}
