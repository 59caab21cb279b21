/**
 * Small helpers for building v2 paths and query strings.
 *
 * @module
 */
import type { Query } from "../http.ts";
import type { ListOptions } from "./types.ts";

/** One path segment, percent-encoded: ids, slugs, hostnames with `{templates}`. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

/** The query of a list endpoint: `limit` plus `extra`; the cursor comes from `Link`. */
export function listQuery(options: ListOptions = {}, extra: Query = {}): Query {
  return { limit: options.limit, ...extra };
}
