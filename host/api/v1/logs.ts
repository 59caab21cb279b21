/**
 * `GET /deployments/{id}/app_logs`: a deployment's app logs, as Deploy serves them.
 *
 * - **Past mode** when `since` or `until` is given: `q`, `level` (comma-separated),
 *   `region`, `limit` (1–10 000, default 100), `order` (`asc`/`desc`, default `desc`; the
 *   deprecated `timeAsc`/`timeDesc` too), `sort` (`time` only) and `cursor`. When more lines
 *   match, `Link: <…&cursor=…>; rel="next"` points at the next page.
 * - **Live mode** otherwise: the lines logged from now on, until the client disconnects (or
 *   the deployment is deleted, or the host stops). With `Accept: application/x-ndjson` one
 *   JSON object per line; otherwise one JSON array written as lines arrive and closed when
 *   the stream ends. A blank line every 15 s keeps idle connections checked (whitespace is
 *   valid in both formats and NDJSON readers skip it).
 *
 * Every line has `{time, level, message, region}` with region `local`.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { parseRfc3339 } from "../../../lib/time.ts";
import type { AppLogEntry, LogLevel } from "../../../lib/types.ts";
import { type ApiEnv, liveStreamStrategy, overBacklog } from "../http.ts";
import {
  type AppLogs,
  InvalidCursorError,
  isLogLevel,
  type LiveFilter,
  LOCAL_REGION,
} from "../../tenant/app_logs.ts";
import type { Store } from "../../store/store.ts";
import { RequestError } from "../validate.ts";
import { ownDeployment } from "./ownership.ts";
import type { LiveStreamSlots } from "../live_streams.ts";

/** Largest `limit` of a past-logs page. */
export const MAX_LOG_LIMIT = 10_000;

/** Interval of the keep-alive blank line on live streams. */
const HEARTBEAT_MS = 15_000;

/** Adds the app log route to the API app. */
export function registerAppLogRoutes(
  app: Hono<ApiEnv>,
  store: Store,
  appLogs: AppLogs,
  liveStreams: LiveStreamSlots,
): void {
  app.get("/v1/deployments/:deploymentId/app_logs", (c) => {
    const deployment = ownDeployment(c, store, c.req.param("deploymentId"));
    const params = new URL(c.req.url).searchParams;
    const ndjson = (c.req.header("accept") ?? "").includes("application/x-ndjson");
    const filter = parseFilter(params);
    const past = param(params, "since") !== undefined || param(params, "until") !== undefined;
    if (past) return pastLogs(c, appLogs, deployment.id, params, filter, ndjson);
    const stream = liveStreams.hold(
      c.get("organizationId"),
      () => liveStream(appLogs, deployment.id, filter, ndjson),
    );
    return c.body(stream, 200, {
      "content-type": ndjson ? "application/x-ndjson" : "application/json",
      "cache-control": "no-store",
    });
  });
}

/** `filter` plus whether the `region` filter leaves out the one region there is. */
interface Filter extends LiveFilter {
  noRegion: boolean;
}

function pastLogs(
  c: Context<ApiEnv>,
  appLogs: AppLogs,
  deploymentId: string,
  params: URLSearchParams,
  filter: Filter,
  ndjson: boolean,
): Response {
  const since = parseTime(params, "since");
  const until = parseTime(params, "until");
  const limit = parseLimit(param(params, "limit"));
  const order = parseOrder(param(params, "order"));
  const sort = param(params, "sort");
  if (sort !== undefined && sort !== "time") {
    throw new RequestError(
      400,
      "invalidSort",
      `Cannot sort by "${sort}": only "time" is supported`,
    );
  }
  const cursor = param(params, "cursor");
  let entries: AppLogEntry[] = [];
  let next: string | undefined;
  if (!filter.noRegion) {
    try {
      const page = appLogs.query(deploymentId, {
        since,
        until,
        q: filter.q,
        levels: filter.levels,
        limit,
        order,
        cursor,
      });
      entries = page.entries;
      next = page.cursor;
    } catch (error) {
      if (error instanceof InvalidCursorError) {
        throw new RequestError(400, "invalidCursor", error.message);
      }
      throw error;
    }
  }
  if (next !== undefined) {
    const url = new URL(c.req.url);
    url.searchParams.set("cursor", next);
    c.header("Link", `<${url.href}>; rel="next"`);
  }
  if (!ndjson) return c.json(entries);
  return c.body(entries.map((entry) => `${JSON.stringify(entry)}\n`).join(""), 200, {
    "content-type": "application/x-ndjson",
  });
}

function liveStream(
  appLogs: AppLogs,
  deploymentId: string,
  filter: Filter,
  ndjson: boolean,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let unsubscribe = () => {};
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let first = true;
  const stop = () => {
    unsubscribe();
    clearInterval(heartbeat);
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (!ndjson) controller.enqueue(encoder.encode("["));
      const end = () => {
        stop();
        if (!ndjson) controller.enqueue(encoder.encode("\n]\n"));
        controller.close();
      };
      if (filter.noRegion) {
        // Nothing can ever match, but the stream stays open as a live stream does.
        unsubscribe = appLogs.subscribe(deploymentId, { levels: [] }, (entry) => {
          if (entry === null) end();
        });
      } else {
        unsubscribe = appLogs.subscribe(deploymentId, filter, (entry) => {
          if (entry === null) return end();
          const json = JSON.stringify(entry);
          const text = ndjson ? `${json}\n` : `${first ? "" : ","}\n${json}`;
          first = false;
          controller.enqueue(encoder.encode(text));
          // A client that does not read is not kept up with in the host's memory.
          if (overBacklog(controller)) end();
        });
      }
      heartbeat = setInterval(() => {
        try {
          controller.enqueue(encoder.encode("\n"));
        } catch {
          stop();
        }
      }, HEARTBEAT_MS);
    },
    cancel() {
      stop();
    },
  }, liveStreamStrategy());
}

function parseFilter(params: URLSearchParams): Filter {
  const q = param(params, "q");
  const levelList = param(params, "level");
  let levels: LogLevel[] | undefined;
  if (levelList !== undefined) {
    levels = [];
    for (const level of splitList(levelList)) {
      if (!isLogLevel(level)) {
        throw new RequestError(
          400,
          "invalidLevel",
          `Unknown log level "${level}": use debug, info, warning or error (comma-separated)`,
        );
      }
      levels.push(level);
    }
  }
  const regions = param(params, "region");
  const noRegion = regions !== undefined && !splitList(regions).includes(LOCAL_REGION);
  return { q, levels, noRegion };
}

function parseTime(params: URLSearchParams, name: string): number | undefined {
  const text = param(params, name);
  if (text === undefined) return undefined;
  const time = parseRfc3339(text);
  if (time === undefined) {
    throw new RequestError(
      400,
      "invalidTime",
      `"${name}" must be an RFC 3339 date-time such as 2024-08-01T00:00:00Z, not "${text}"`,
    );
  }
  return time;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 100;
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1 || limit > MAX_LOG_LIMIT) {
    throw new RequestError(
      400,
      "invalidLimit",
      `"limit" must be an integer from 1 to ${MAX_LOG_LIMIT}, not "${text}"`,
    );
  }
  return limit;
}

function parseOrder(text: string | undefined): "asc" | "desc" {
  if (text === undefined || text === "desc" || text === "timeDesc") return "desc";
  if (text === "asc" || text === "timeAsc") return "asc";
  throw new RequestError(400, "invalidOrder", `"order" must be "asc" or "desc", not "${text}"`);
}

/** A query parameter; empty counts as absent (the API marks them all nullable). */
function param(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  return value === null || value === "" ? undefined : value;
}

function splitList(text: string): string[] {
  return text.split(",").map((part) => part.trim()).filter(Boolean);
}
