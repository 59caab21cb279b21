/**
 * How every benchmark reports: its figure beside a baseline measured in the same run, the
 * ratio, and the target it is held to. Rows print as they complete; `deno task bench` gathers
 * them into a table.
 *
 * @module
 */

/** One measured comparison. */
export interface BenchRow {
  /** What was measured, e.g. "packing 2,000 files / 200 MB". */
  name: string;
  /** Our figure, formatted with its unit. */
  value: string;
  /** The baseline's figure, formatted with its unit. */
  baseline: string;
  /** value ÷ baseline (or the figure's own ratio, e.g. bytes sent ÷ first deploy). */
  ratio: number;
  /** The target, e.g. "≤ 1.5×". */
  target: string;
  /** Whether the target was met. */
  met: boolean;
  /** A reference figure that puts another row in context; it has no target of its own. */
  reference?: boolean;
}

/** Prints one row as a line of text, and as JSON when `BENCH_JSON` is set. */
export function report(row: BenchRow): BenchRow {
  const verdict = row.reference
    ? "reference"
    : `target ${row.target}: ${row.met ? "ok" : "MISSED"}`;
  console.log(
    `${row.name}: ${row.value} vs baseline ${row.baseline} → ${row.ratio.toFixed(3)}× (${verdict})`,
  );
  if (Deno.env.get("BENCH_JSON")) console.log("BENCH " + JSON.stringify(row));
  return row;
}

/** The p-th percentile (0–100) of `values`. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

/** Milliseconds, formatted. */
export function ms(value: number): string {
  return value < 10 ? `${value.toFixed(2)} ms` : `${value.toFixed(0)} ms`;
}

/** Runs a command to completion and returns its wall time in ms; throws if it fails. */
export async function timeCommand(
  command: string,
  args: string[],
  options: Deno.CommandOptions = {},
) {
  const start = performance.now();
  const out = await new Deno.Command(command, { args, stdout: "null", stderr: "piped", ...options })
    .output();
  const elapsed = performance.now() - start;
  if (!out.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return elapsed;
}
