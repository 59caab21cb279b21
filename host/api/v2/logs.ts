/**
 * v2 app logs and analytics: `GET /apps/{app}/logs` (with `end`: a page `{logs,
 * next_cursor}`; without: a live stream, SSE or NDJSON by `Accept`, and JSON is refused) and
 * `GET /apps/{app}/analytics` (`{fields, values}` in 15-minute buckets, v2's field names).
 *
 * @module
 */
import type { Hono } from "hono";
import { parseRfc3339 } from "../../../lib/time.ts";
import type { LogLevel } from "../../../lib/types.ts";
import { type AppLogs, InvalidCursorError } from "../../tenant/app_logs.ts";
import { liveStreamStrategy, overBacklog } from "../http.ts";
import type { UsageMeter } from "../../tenant/usage.ts";
import {
  invalid,
  ownApp,
  ownRevision,
  param,
  type V2Context,
  type V2Deps,
  type V2Env,
} from "./common.ts";

/** The most lines one page holds. */
export const MAX_V2_LOG_LIMIT = 1000;

const SEVERITY: LogLevel[] = ["debug", "info", "warning", "error"];

/** Registers the logs route. */
export function registerLogRoutes(v2: Hono<V2Env>, deps: V2Deps, appLogs: AppLogs): void {
  const { store } = deps;

  v2.get("/apps/:app/logs", (c) => {
    const project = ownApp(c, store, c.req.param("app"));
    const start = time(c, "start", true)!;
    const end = time(c, "end", false);
    const revision = param(c, "revision_id");
    const revisionId = revision === undefined ? undefined : ownRevision(c, store, revision).id;
    // Past lines are read by project: an app may hold 100 000 revisions.
    const source = revisionId ?? { projectId: project.id };
    const levels = minimumLevel(param(c, "level"));
    const q = param(c, "query");
    const accept = c.req.header("accept") ?? "";
    if (end === undefined) {
      const sse = accept.includes("text/event-stream");
      if (!sse && /application\/json/.test(accept) && !accept.includes("ndjson")) {
        throw invalid(
          'Without "end" the logs are a live stream: ask for text/event-stream or ' +
            'application/x-ndjson, or give "end" for a page of JSON',
        );
      }
      const ids = revisionId !== undefined ? [revisionId] : store.listDeploymentIds(project.id);
      return liveLogs(c, deps, appLogs, source, ids, { levels, q }, start, sse);
    }
    const limitText = param(c, "limit");
    const limit = limitText === undefined ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_V2_LOG_LIMIT) {
      throw invalid(`"limit" must be an integer from 1 to ${MAX_V2_LOG_LIMIT}`);
    }
    try {
      const page = appLogs.query(source, {
        since: start,
        until: end,
        levels,
        q,
        limit,
        order: "asc",
        cursor: param(c, "cursor"),
      });
      if (page.cursor) {
        const url = new URL(c.req.url);
        url.searchParams.set("cursor", page.cursor);
        c.header("Link", `<${url.href}>; rel="next"`);
      }
      return c.json({
        logs: page.entries.map((entry, i) => ({
          timestamp: entry.time,
          level: entry.level === "warning" ? "warn" : entry.level,
          message: entry.message,
          revision_id: page.deploymentIds[i],
          region: entry.region,
        })),
        next_cursor: page.cursor ?? null,
      });
    } catch (error) {
      if (error instanceof InvalidCursorError) throw invalid(error.message);
      throw error;
    }
  });
}

/** Registers the analytics route. */
export function registerAnalyticsRoute(v2: Hono<V2Env>, deps: V2Deps, usage: UsageMeter): void {
  v2.get("/apps/:app/analytics", (c) => {
    const project = ownApp(c, deps.store, c.req.param("app"));
    const until = time(c, "until", false) ?? Date.now();
    const since = time(c, "since", false) ?? until - 24 * 60 * 60 * 1000;
    if (since >= until) throw invalid('"since" must be before "until"');
    if (until - since > 31 * 24 * 60 * 60 * 1000) throw invalid("The range is at most 31 days");
    const analytics = usage.projectAnalytics(project.id, since, until);
    const names: Record<string, string> = {
      uptimeSeconds: "runtime_seconds",
      kvReadCount: "kv_read_units",
      kvWriteCount: "kv_write_units",
      maxRssMemoryBytes: "max_rss_memory_bytes",
    };
    return c.json({
      fields: analytics.fields.map((field) => ({
        name: names[field.name] ?? snake(field.name),
        type: field.type,
      })),
      values: analytics.values,
    });
  });
}

function liveLogs(
  c: V2Context,
  deps: V2Deps,
  appLogs: AppLogs,
  source: string | { projectId: string },
  ids: string[],
  filter: { levels?: LogLevel[]; q?: string },
  start: number,
  sse: boolean,
): Response {
  const encoder = new TextEncoder();
  const unsubscribers: (() => void)[] = [];
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const stop = () => {
    for (const unsubscribe of unsubscribers.splice(0)) unsubscribe();
    clearInterval(heartbeat);
  };
  const stream = deps.liveStreams.hold(
    c.get("organizationId"),
    () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          const send = (json: object) => {
            const text = JSON.stringify(json);
            controller.enqueue(encoder.encode(sse ? `data: ${text}\n\n` : `${text}\n`));
          };
          // What is already there from `start` on, then what comes.
          const past = appLogs.query(source, {
            since: start,
            ...filter,
            limit: 1000,
            order: "asc",
          });
          past.entries.forEach((entry, i) => send(logJson(entry, past.deploymentIds[i])));
          // Past lines are a page, bounded; live ones may hold at most the backlog on top.
          const allowance = Math.max(0, -(controller.desiredSize ?? 0));
          for (const id of ids) {
            unsubscribers.push(appLogs.subscribe(id, filter, (entry) => {
              if (entry === null) return;
              send(logJson(entry, id));
              // A client that does not read is not kept up with in the host's memory.
              if (overBacklog(controller, allowance)) {
                stop();
                controller.close();
              }
            }));
          }
          heartbeat = setInterval(() => {
            try {
              controller.enqueue(encoder.encode(sse ? ": keep-alive\n\n" : "\n"));
            } catch {
              stop();
            }
          }, 15_000);
        },
        cancel: stop,
      }, liveStreamStrategy()),
  );
  return c.body(stream, 200, {
    "content-type": sse ? "text/event-stream" : "application/x-ndjson",
    "cache-control": "no-store",
  });
}

function logJson(
  entry: { time: string; level: string; message: string; region: string },
  revisionId: string,
): object {
  return {
    timestamp: entry.time,
    level: entry.level === "warning" ? "warn" : entry.level,
    message: entry.message,
    revision_id: revisionId,
    region: entry.region,
  };
}

/** v2's `level` is a minimum severity; `warn` is v1's `warning`. */
function minimumLevel(text: string | undefined): LogLevel[] | undefined {
  if (text === undefined) return undefined;
  const level = text === "warn" ? "warning" : text;
  const index = SEVERITY.indexOf(level as LogLevel);
  if (index < 0) throw invalid(`Unknown level "${text}": use debug, info, warn or error`);
  return SEVERITY.slice(index);
}

function time(c: V2Context, name: string, required: boolean): number | undefined {
  const text = param(c, name);
  if (text === undefined) {
    if (required) throw invalid(`"${name}" is required: an RFC 3339 date-time`);
    return undefined;
  }
  const ms = parseRfc3339(text);
  if (ms === undefined) throw invalid(`"${name}" must be an RFC 3339 date-time, not "${text}"`);
  return ms;
}

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}
