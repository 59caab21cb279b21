/**
 * Analytics as rows and totals: the 15-minute buckets of `{fields, values}` as objects, the
 * totals of a range, and per-project usage for billing.
 *
 * @example
 * ```ts
 * const usage = await usageByProject(api, { since: new Date("2024-08-01T00:00:00Z"), until: new Date("2024-09-01T00:00:00Z") });
 * for (const row of usage) console.log(row.projectName, row.requestCount, row.cpuSeconds);
 * ```
 *
 * @module
 */
import type { AnalyticsRange, DeployApi } from "./api.ts";
import type { Analytics } from "./types.ts";

/** The usage counters of the analytics API, in its order. */
export const USAGE_FIELDS = [
  "requestCount",
  "cpuSeconds",
  "uptimeSeconds",
  "maxRssMemoryBytes",
  "networkIngressBytes",
  "networkEgressBytes",
  "kvReadCount",
  "kvWriteCount",
] as const;

/** One usage counter's name. */
export type UsageField = typeof USAGE_FIELDS[number];

/** Usage totals: sums, except `maxRssMemoryBytes`, the largest value seen. */
export type UsageTotals = Record<UsageField, number>;

/** One 15-minute bucket; `time` is its start (RFC 3339). */
export interface UsageRow extends UsageTotals {
  time: string;
}

/** A project's usage over a range: one row of a bill. */
export interface ProjectUsage extends UsageTotals {
  projectId: string;
  projectName: string;
}

/**
 * The buckets of an analytics answer as objects. Fields are found by name, so extra ones
 * (Deploy also sends `kvReadUnits`, …) are ignored and missing ones count as 0.
 */
export function analyticsRows(analytics: Analytics): UsageRow[] {
  const index = new Map(analytics.fields.map((field, i) => [field.name, i]));
  const timeIndex = index.get("time") ?? 0;
  return analytics.values.map((values) => {
    const row = { time: String(values[timeIndex]) } as UsageRow;
    for (const field of USAGE_FIELDS) {
      const i = index.get(field);
      row[field] = i === undefined ? 0 : Number(values[i]) || 0;
    }
    return row;
  });
}

/** The totals of some buckets. */
export function sumUsage(rows: readonly UsageTotals[]): UsageTotals {
  const totals = Object.fromEntries(USAGE_FIELDS.map((field) => [field, 0])) as UsageTotals;
  for (const row of rows) {
    for (const field of USAGE_FIELDS) {
      totals[field] = field === "maxRssMemoryBytes"
        ? Math.max(totals[field], row[field])
        : totals[field] + row[field];
    }
  }
  // Sums of fractional seconds pick up binary noise: keep the API's precision.
  totals.cpuSeconds = Math.round(totals.cpuSeconds * 1e6) / 1e6;
  totals.uptimeSeconds = Math.round(totals.uptimeSeconds * 1e3) / 1e3;
  return totals;
}

/**
 * Every project's usage over one range, totalled: what a platform feeds its billing.
 * Projects come in the API's order; each is asked for its analytics once.
 */
export async function usageByProject(
  api: DeployApi,
  range: AnalyticsRange = {},
): Promise<ProjectUsage[]> {
  // One fixed range for all projects, however long the listing takes.
  const until = range.until ?? new Date();
  const since = range.since ?? new Date(new Date(until).getTime() - 24 * 60 * 60 * 1000);
  const usage: ProjectUsage[] = [];
  for await (const project of api.projects.list()) {
    const analytics = await api.analytics.project(project.id, { since, until });
    usage.push({
      projectId: project.id,
      projectName: project.name,
      ...sumUsage(analyticsRows(analytics)),
    });
  }
  return usage;
}

/**
 * CSV of a header and rows, quoted as RFC 4180 says (fields with commas, quotes or line
 * breaks), with `\n` line ends as shell tools expect.
 */
export function toCsv(header: readonly string[], rows: readonly (string | number)[][]): string {
  const cell = (value: string | number) => {
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [header, ...rows].map((row) => row.map(cell).join(",")).join("\n") + "\n";
}
