/**
 * v2 apps: CRUD, deploy (a new revision), timelines, runtime logs and analytics.
 *
 * @module
 */
import { DeployTenantError } from "../errors.ts";
import { type HttpClient, parseLinkHeader, type Query } from "../http.ts";
import { listQuery, segment } from "./query.ts";
import { streamJson } from "./stream.ts";
import type {
  Analytics,
  AnalyticsOptions,
  App,
  AppListItem,
  AppLogsOptions,
  CreateAppRequest,
  DeployRequest,
  ListAppsOptions,
  ListOptions,
  Revision,
  RuntimeLog,
  RuntimeLogsPage,
  StreamFormat,
  Timeline,
  UpdateAppRequest,
} from "./types.ts";

/** How to read live app logs (no `end`). */
export interface LogStreamOptions {
  /** SSE (default) or NDJSON; ignored when `end` is given (then the answer is JSON pages). */
  format?: StreamFormat;
  /** Stops the stream or the paging. */
  signal?: AbortSignal;
}

/** `/apps/…`: apps of the organization the token (or `X-Deno-Org`) names. */
export class V2Apps {
  #http: HttpClient;

  /** Uses `http` for every request. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** `GET /apps`, every page; `labels` become `labels[key]=value`. */
  async *list(options: ListAppsOptions = {}): AsyncGenerator<AppListItem> {
    const labels: Query = {};
    for (const [key, value] of Object.entries(options.labels ?? {})) {
      labels[`labels[${key}]`] = value;
    }
    yield* this.#http.paginate<AppListItem>(
      "/apps",
      listQuery(options, { layer: options.layer, ...labels }),
    );
  }

  /** `POST /apps`; `{}` makes an app with a random slug. A taken slug is a 409. */
  async create(request: CreateAppRequest = {}): Promise<App> {
    return await this.#http.json("POST", "/apps", { json: request });
  }

  /** `GET /apps/{app}` by UUID or slug; a missing one is an `ApiError` 404. */
  async get(idOrSlug: string): Promise<App> {
    return await this.#http.json("GET", `/apps/${segment(idOrSlug)}`);
  }

  /**
   * `PATCH /apps/{app}`. Only the fields given change: `labels` and `layers` replace the
   * whole value, `env_vars` are deep-merged (`delete: true` removes one), `config` replaces
   * the whole config. Send only the variables you change: secret values are never read back.
   */
  async update(idOrSlug: string, request: UpdateAppRequest): Promise<App> {
    return await this.#http.json("PATCH", `/apps/${segment(idOrSlug)}`, { json: request });
  }

  /** `DELETE /apps/{app}` (204): the app and all its revisions. */
  async delete(idOrSlug: string): Promise<void> {
    await this.#http.json("DELETE", `/apps/${segment(idOrSlug)}`);
  }

  /**
   * `POST /apps/{app}/deploy` → 202 and the new revision, usually `queued`. A function
   * streams the JSON body instead of building it in memory; it is called again on a retry.
   */
  async deploy(
    idOrSlug: string,
    request: DeployRequest | (() => ReadableStream<Uint8Array>),
  ): Promise<Revision> {
    const path = `/apps/${segment(idOrSlug)}/deploy`;
    if (typeof request === "function") {
      return await this.#http.json("POST", path, {
        body: request,
        headers: { "content-type": "application/json" },
      });
    }
    return await this.#http.json("POST", path, { json: request });
  }

  /** `GET /apps/{app}/timelines`, every page. */
  async *timelines(idOrSlug: string, options: ListOptions = {}): AsyncGenerator<Timeline> {
    yield* this.#http.paginate<Timeline>(
      `/apps/${segment(idOrSlug)}/timelines`,
      listQuery(options),
    );
  }

  /**
   * `GET /apps/{app}/logs`. With `end`: the past logs in `[start, end]`, page after page
   * (`next_cursor` in the body, or a `Link` header as the SDK expects). Without `end`: the
   * live stream, which lasts until the server closes it or `signal` aborts.
   */
  async *logs(
    idOrSlug: string,
    options: AppLogsOptions & LogStreamOptions,
  ): AsyncGenerator<RuntimeLog> {
    const path = `/apps/${segment(idOrSlug)}/logs`;
    const query: Query = {
      start: options.start,
      end: options.end,
      revision_id: options.revision_id,
      level: options.level,
      query: options.query,
      limit: options.limit,
    };
    if (options.end === undefined) {
      const stream = streamJson<RuntimeLog | RuntimeLog[]>(this.#http, path, {
        query,
        format: options.format,
        signal: options.signal,
      });
      // One entry per event is what is documented; an array per event is accepted as well.
      for await (const value of stream) {
        if (Array.isArray(value)) yield* value;
        else yield value;
      }
      return;
    }
    yield* this.#logPages(path, query, options.signal);
  }

  /** `GET /apps/{app}/analytics`: 15-minute buckets in `[since, until)`. */
  async analytics(idOrSlug: string, options: AnalyticsOptions = {}): Promise<Analytics> {
    return await this.#http.json("GET", `/apps/${segment(idOrSlug)}/analytics`, {
      query: { since: options.since, until: options.until },
    });
  }

  async *#logPages(path: string, query: Query, signal?: AbortSignal): AsyncGenerator<RuntimeLog> {
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const response = await this.#http.request("GET", path, {
        query: { ...query, cursor },
        signal,
      });
      const page = await response.json().catch(() => undefined) as RuntimeLogsPage | undefined;
      if (!Array.isArray(page?.logs)) {
        throw new DeployTenantError("invalidResponse", `Expected {logs: [...]} from ${path}`);
      }
      yield* page.logs;
      cursor = nextCursor(page, response.headers.get("link"));
      if (page.logs.length === 0 || (cursor !== undefined && seen.has(cursor))) break;
      if (cursor !== undefined) seen.add(cursor);
    } while (cursor !== undefined);
  }
}

/** The cursor of the next page of logs: the body's `next_cursor`, else the `Link` header's. */
function nextCursor(page: RuntimeLogsPage, link: string | null): string | undefined {
  if (typeof page.next_cursor === "string" && page.next_cursor !== "") return page.next_cursor;
  const next = parseLinkHeader(link).next;
  if (next === undefined) return undefined;
  return new URL(next, "http://link.invalid").searchParams.get("cursor") ?? undefined;
}
