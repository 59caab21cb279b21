/**
 * CLI start: wall time of `deploy-tenant --help` vs `deno eval 0`, median of several runs.
 * Target ≤ 3×.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { ms, percentile, report, timeCommand } from "./report.ts";

const main = fileURLToPath(new URL("../main.ts", import.meta.url));
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 15);

async function median(args: string[]): Promise<number> {
  await timeCommand(Deno.execPath(), args); // warm the module cache
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timeCommand(Deno.execPath(), args));
  return percentile(times, 50);
}

const baseline = await median(["eval", "0"]);
const cli = await median(["run", "-A", main, "--help"]);
report({
  name: "CLI start (--help, p50)",
  value: ms(cli),
  baseline: `${ms(baseline)} (deno eval 0)`,
  ratio: cli / baseline,
  target: "≤ 3×",
  met: cli / baseline <= 3,
});
