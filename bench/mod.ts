/**
 * `deno task bench`: runs every benchmark, one process each, then prints a Markdown table of
 * the results (the one in the README). Each benchmark is also runnable alone:
 * `deno run -A bench/<name>.ts`. All traffic stays on loopback.
 *
 * `deno task bench pack throughput` runs only those.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { BenchRow } from "./report.ts";

/** The benchmarks, in the order they run. */
export const BENCHMARKS = [
  "pack",
  "memory",
  "redeploy",
  "deploy_live",
  "deploy_v2",
  "cold_start",
  "burst",
  "throughput",
  "proxy_cost",
  "latency",
  "density",
  "idle",
  "cli_start",
  "load",
];

const selected = Deno.args.length > 0 ? Deno.args : BENCHMARKS;
const rows: BenchRow[] = [];
const failures: string[] = [];
for (const name of selected) {
  const path = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  try {
    await Deno.stat(path);
  } catch {
    console.error(`bench: no benchmark named ${name}`);
    continue;
  }
  console.log(`\n## ${name}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path],
    env: { BENCH_JSON: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let buffer = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.startsWith("BENCH ")) rows.push(JSON.parse(line.slice(6)));
      else console.log(line);
    }
  }
  if (!(await child.status).success) failures.push(name);
}

console.log("\n| benchmark | ours | baseline (same run) | ratio | target | met |");
console.log("|---|---|---|---|---|---|");
for (const row of rows) {
  console.log(
    `| ${row.name} | ${row.value} | ${row.baseline} | ${row.ratio.toFixed(3)}× | ${row.target} | ${
      row.reference ? "—" : row.met ? "yes" : "**no**"
    } |`,
  );
}
if (failures.length) {
  console.error(`\nbench: ${failures.join(", ")} failed to run`);
  Deno.exit(1);
}
