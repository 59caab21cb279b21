/**
 * v2 revisions: read, list, retention, delete, cancel, promote, the timelines and domains a
 * revision serves, and its build as two streams (progress and build logs).
 *
 * Waiting for a build: read {@link V2Revisions.progress} to its end (the server closes it when
 * the revision is `succeeded`, `failed` or `skipped`), then {@link V2Revisions.get} for the
 * final status. A stream can drop while the build goes on (a known service issue), so a caller
 * that must be sure polls `get` after a dropped stream, within an overall time limit.
 *
 * @module
 */
import type { HttpClient } from "../http.ts";
import { listQuery, segment } from "./query.ts";
import { streamJson } from "./stream.ts";
import type {
  AttachDomainsRequest,
  BuildLogEntry,
  BuildLogsOptions,
  ListRevisionsOptions,
  Revision,
  RevisionListItem,
  RevisionProgress,
  StreamFormat,
  Timeline,
  UpdateRevisionRequest,
} from "./types.ts";

/** How to read a revision's streams. */
export interface RevisionStreamOptions {
  /** SSE (default, as the official SDK asks) or NDJSON. */
  format?: StreamFormat;
  /** Stops the stream. */
  signal?: AbortSignal;
}

/** `/revisions/…` (ids are global) and `/apps/{app}/revisions`. */
export class V2Revisions {
  #http: HttpClient;

  /** Uses `http` for every request. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** `GET /revisions/{id}`; a missing one is an `ApiError` 404. */
  async get(id: string): Promise<Revision> {
    return await this.#http.json("GET", `/revisions/${segment(id)}`);
  }

  /** `GET /apps/{app}/revisions`, every page, optionally only one `status`. */
  async *list(app: string, options: ListRevisionsOptions = {}): AsyncGenerator<RevisionListItem> {
    yield* this.#http.paginate<RevisionListItem>(
      `/apps/${segment(app)}/revisions`,
      listQuery(options, { status: options.status }),
    );
  }

  /** `PATCH /revisions/{id}`: only `retention` (403 without the enterprise feature). */
  async update(id: string, request: UpdateRevisionRequest): Promise<Revision> {
    return await this.#http.json("PATCH", `/revisions/${segment(id)}`, { json: request });
  }

  /** `DELETE /revisions/{id}` (204); refused while building or while routed. */
  async delete(id: string): Promise<void> {
    await this.#http.json("DELETE", `/revisions/${segment(id)}`);
  }

  /**
   * `POST /revisions/{id}/cancel`: asks for cancellation and returns the revision with
   * `cancellation_requested_at` set. It ends later as `failed` with `failure_reason`
   * `cancelled`.
   */
  async cancel(id: string): Promise<Revision> {
    return await this.#http.json("POST", `/revisions/${segment(id)}/cancel`);
  }

  /**
   * `POST /revisions/{id}/promote` (204): pins the app's production timeline to this built
   * revision without rebuilding, even if newer production revisions exist.
   */
  async promote(id: string): Promise<void> {
    await this.#http.json("POST", `/revisions/${segment(id)}/promote`);
  }

  /** `GET /revisions/{id}/timelines`: where the revision is active. */
  async timelines(id: string): Promise<Timeline[]> {
    return await this.#http.json("GET", `/revisions/${segment(id)}/timelines`);
  }

  /**
   * `PUT /revisions/{id}/domains` (204): binds hostnames, additively; the newest bound
   * revision serves a hostname. Templates such as `{deno.app.slug}` may be in the first label.
   */
  async attachDomains(id: string, request: AttachDomainsRequest): Promise<void> {
    await this.#http.json("PUT", `/revisions/${segment(id)}/domains`, { json: request });
  }

  /**
   * `DELETE /revisions/{id}/domains/{hostname}` (204; 404 without such a binding). Pass the
   * hostname exactly as attached, templates included.
   */
  async detachDomain(id: string, hostname: string): Promise<void> {
    await this.#http.json("DELETE", `/revisions/${segment(id)}/domains/${segment(hostname)}`);
  }

  /**
   * `GET /revisions/{id}/progress`: the whole build state after each change, ending when the
   * revision reaches a terminal status (the server closes the stream).
   */
  progress(id: string, options: RevisionStreamOptions = {}): AsyncGenerator<RevisionProgress> {
    return streamJson<RevisionProgress>(this.#http, `/revisions/${segment(id)}/progress`, options);
  }

  /**
   * `GET /revisions/{id}/build_logs`: the log so far, then live lines until the build ends
   * (the server closes the stream). `step` and `timeline` filter it.
   */
  buildLogs(
    id: string,
    options: BuildLogsOptions & RevisionStreamOptions = {},
  ): AsyncGenerator<BuildLogEntry> {
    return streamJson<BuildLogEntry>(this.#http, `/revisions/${segment(id)}/build_logs`, {
      query: { step: options.step, timeline: options.timeline },
      format: options.format,
      signal: options.signal,
    });
  }
}
