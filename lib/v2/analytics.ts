/**
 * Reading v2's analytics table by column name, as the API asks clients to (columns may be
 * added or reordered).
 *
 * @module
 */
import type { Analytics } from "./types.ts";

/** One bucket of {@link Analytics} as `{time, request_count, …}`, keyed by `fields[].name`. */
export type AnalyticsRow = Record<string, string | number | null>;

/**
 * The rows of `analytics` as objects keyed by field name. A value the row lacks is `null`;
 * unknown fields are kept under their own names.
 */
export function analyticsRows(analytics: Analytics): AnalyticsRow[] {
  return analytics.values.map((values) => {
    const row: AnalyticsRow = {};
    analytics.fields.forEach((field, index) => {
      row[field.name] = values[index] ?? null;
    });
    return row;
  });
}
