/**
 * `GET /projects/{id}/analytics` and `GET /organizations/{id}/analytics`: usage in 15-minute
 * buckets as `{fields, values}`, one row per bucket (`time` is the bucket's start, zeros
 * included) over `[since, until)`.
 *
 * `since` and `until` are RFC 3339; they default to 24 hours ago and now. An organization's
 * range is at most 24 hours (as on Deploy) and its rows are the organization's totals per
 * bucket: counters summed over its projects (deleted ones included), `maxRssMemoryBytes` the
 * largest of any project. A project's range is at most 31 days, enough for a month's bill.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { parseRfc3339 } from "../../../lib/time.ts";
import type { ApiEnv } from "../http.ts";
import type { Store } from "../../store/store.ts";
import type { UsageMeter } from "../../tenant/usage.ts";
import { RequestError } from "../validate.ts";
import { ownProject } from "./ownership.ts";

const HOUR_MS = 60 * 60 * 1000;

/** Longest range of an organization's analytics. */
export const MAX_ORGANIZATION_RANGE_MS = 24 * HOUR_MS;

/** Longest range of a project's analytics. */
export const MAX_PROJECT_RANGE_MS = 31 * 24 * HOUR_MS;

/** Adds the analytics routes to the API app. */
export function registerAnalyticsRoutes(app: Hono<ApiEnv>, store: Store, meter: UsageMeter): void {
  app.get("/v1/projects/:projectId/analytics", (c) => {
    const project = ownProject(c, store, c.req.param("projectId"));
    const { since, until } = parseRange(c, MAX_PROJECT_RANGE_MS, "31 days");
    return c.json(meter.projectAnalytics(project.id, since, until));
  });

  app.get("/v1/organizations/:organizationId/analytics", (c) => {
    const id = c.req.param("organizationId");
    if (id !== c.get("organizationId") || !store.getOrganization(id)) {
      throw new RequestError(404, "organizationNotFound", `Organization ${id} was not found`);
    }
    const { since, until } = parseRange(c, MAX_ORGANIZATION_RANGE_MS, "24 hours");
    return c.json(meter.organizationAnalytics(id, since, until));
  });
}

function parseRange(
  c: Context<ApiEnv>,
  maxMs: number,
  maxText: string,
): { since: number; until: number } {
  const until = parseTime(c.req.query("until")) ?? Date.now();
  const since = parseTime(c.req.query("since")) ?? until - 24 * HOUR_MS;
  if (since >= until) {
    throw new RequestError(400, "invalidRange", '"since" must be before "until"');
  }
  if (until - since > maxMs) {
    throw new RequestError(
      400,
      "invalidRange",
      `The range from "since" to "until" is at most ${maxText}: ask for it in parts`,
    );
  }
  return { since, until };
}

function parseTime(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const time = parseRfc3339(text);
  if (time === undefined) {
    throw new RequestError(
      400,
      "invalidTime",
      `Expected an RFC 3339 date-time such as 2024-08-01T00:00:00Z, not "${text}"`,
    );
  }
  return time;
}
