/**
 * `analytics <project>` (usage in 15-minute buckets) and `usage` (one row per project with
 * its totals: what a platform feeds its billing), as a table, JSON or CSV.
 *
 * @module
 */
import { Command } from "commander";
import {
  analyticsRows,
  sumUsage,
  toCsv,
  USAGE_FIELDS,
  usageByProject,
  type UsageField,
  type UsageTotals,
} from "../lib/analytics.ts";
import { formatBytes, type Output } from "../lib/output.ts";
import { parseTimeArg } from "../lib/time.ts";
import { connect, outputFor, usageError } from "./context.ts";

type Format = "table" | "json" | "csv";

interface RangeFlags {
  since?: string;
  until?: string;
  format?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Column headings of the usage fields in tables. */
const HEADINGS: Record<UsageField, string> = {
  requestCount: "REQUESTS",
  cpuSeconds: "CPU S",
  uptimeSeconds: "UPTIME S",
  maxRssMemoryBytes: "MAX RSS",
  networkIngressBytes: "INGRESS",
  networkEgressBytes: "EGRESS",
  kvReadCount: "KV READS",
  kvWriteCount: "KV WRITES",
};

const RANGE_HELP = `
--since and --until take RFC 3339 times or durations ago (15m, 2h, 1d, 1w); the range is
[since, until), by default the last 24 hours. Requests and body bytes are counted by the
router; CPU time, uptime and memory are sampled from the deployment's processes; KV reads
and writes are counted as the code calls Deno.Kv.`;

/** The `analytics` command. */
export function analyticsCommand(): Command {
  return new Command("analytics")
    .description("Show a project's usage in 15-minute buckets")
    .argument("<project>", "project name or id")
    .option("--since <time>", "start of the range (default: 24 hours before --until)")
    .option("--until <time>", "end of the range (default: now)")
    .option("--format <format>", "table, json or csv (default: table, json under --json)")
    .addHelpText(
      "after",
      `${RANGE_HELP}
The table shows the buckets with any usage and a total; json (the API's {fields, values}
plus "totals") and csv have every bucket.

Examples:
  $ deploy-tenant analytics acme-crm
  $ deploy-tenant analytics acme-crm --since 2h --format csv > usage.csv
  $ deploy-tenant analytics acme-crm --json | jq .totals.requestCount`,
    )
    .action(async function (this: Command, idOrName: string, flags: RangeFlags) {
      const out = outputFor(this);
      const format = parseFormat(this, flags.format, out);
      const range = parseRange(this, flags);
      const { api } = await connect(this, out);
      const project = await api.projects.get(idOrName);
      const analytics = await api.analytics.project(project.id, range);
      const rows = analyticsRows(analytics);
      const totals = sumUsage(rows);
      if (format === "json") {
        print(JSON.stringify({ ...analytics, totals }, null, 2));
        return;
      }
      if (format === "csv") {
        print(toCsv(["time", ...USAGE_FIELDS], rows.map((row) => [row.time, ...values(row)])));
        return;
      }
      const used = rows.filter((row) => USAGE_FIELDS.some((field) => row[field] !== 0));
      if (used.length === 0) {
        print(out.dim(`No usage of ${project.name} in this range.`));
        return;
      }
      print(out.table([...used, { time: "TOTAL", ...totals }], [
        { header: "TIME", value: (row) => row.time },
        ...usageColumns(),
      ]));
    });
}

/** The `usage` command. */
export function usageCommand(): Command {
  return new Command("usage")
    .description("Show each project's usage totals over a range: the input of a bill")
    .option("--since <time>", "start of the range (default: 24 hours before --until)")
    .option("--until <time>", "end of the range (default: now)")
    .option("--format <format>", "table, csv or json (default: table, json under --json)")
    .addHelpText(
      "after",
      `${RANGE_HELP}
One row per project: cpuSeconds, uptimeSeconds, bytes and counts are totals over the range,
maxRssMemoryBytes the largest seen. csv and json rows also carry since and until, so each
row stands on its own in a billing import. Ranges up to 31 days per call.

Examples:
  $ deploy-tenant usage
  $ deploy-tenant usage --since 2024-08-01T00:00:00Z --until 2024-09-01T00:00:00Z --format csv
  $ deploy-tenant usage --since 7d --json | jq 'map(select(.requestCount > 0))'`,
    )
    .action(async function (this: Command, flags: RangeFlags) {
      const out = outputFor(this);
      const format = parseFormat(this, flags.format, out);
      const range = parseRange(this, flags);
      const { api } = await connect(this, out);
      const usage = await usageByProject(api, range);
      const period = { since: range.since.toISOString(), until: range.until.toISOString() };
      if (format === "json") {
        const rows = usage.map(({ projectId, projectName, ...totals }) => ({
          projectId,
          projectName,
          ...period,
          ...totals,
        }));
        print(JSON.stringify(rows, null, 2));
        return;
      }
      if (format === "csv") {
        print(toCsv(
          ["projectId", "projectName", "since", "until", ...USAGE_FIELDS],
          usage.map((
            row,
          ) => [row.projectId, row.projectName, period.since, period.until, ...values(row)]),
        ));
        return;
      }
      print(out.table(usage, [
        { header: "PROJECT", value: (row) => row.projectName },
        ...usageColumns(),
      ], "No projects yet."));
    });
}

function usageColumns<T extends UsageTotals>(): { header: string; value: (row: T) => string }[] {
  return USAGE_FIELDS.map((field) => ({
    header: HEADINGS[field],
    value: (row: T) => formatValue(field, row[field]),
  }));
}

function formatValue(field: UsageField, value: number): string {
  if (field === "maxRssMemoryBytes" || field.startsWith("network")) return formatBytes(value);
  if (field === "cpuSeconds" || field === "uptimeSeconds") return value.toFixed(3);
  return String(value);
}

function values(row: UsageTotals): number[] {
  return USAGE_FIELDS.map((field) => row[field]);
}

/** Writes `text` (and a final newline if it lacks one) to stdout; a closed pipe is fine. */
function print(text: string): void {
  const bytes = new TextEncoder().encode(text.endsWith("\n") ? text : `${text}\n`);
  try {
    for (let written = 0; written < bytes.length;) {
      written += Deno.stdout.writeSync(bytes.subarray(written));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

function parseFormat(command: Command, text: string | undefined, out: Output): Format {
  const format = text ?? (out.json ? "json" : "table");
  if (format !== "table" && format !== "json" && format !== "csv") {
    throw usageError(command, `--format must be table, json or csv, not "${format}"`);
  }
  return format;
}

function parseRange(command: Command, flags: RangeFlags): { since: Date; until: Date } {
  const now = Date.now();
  const time = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const parsed = parseTimeArg(text, now);
    if (parsed === undefined) {
      throw usageError(
        command,
        `${flag} "${text}" is neither an RFC 3339 time nor a duration`,
        `Use e.g. ${flag} 2024-08-01T00:00:00Z, or ${flag} 2h (also m, d, w).`,
      );
    }
    return parsed;
  };
  const until = time("--until", flags.until) ?? now;
  const since = time("--since", flags.since) ?? until - DAY_MS;
  if (since >= until) throw usageError(command, "--since must be before --until");
  return { since: new Date(since), until: new Date(until) };
}
