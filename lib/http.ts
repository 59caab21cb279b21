/**
 * The HTTP transport of the API client: base URL, bearer token, JSON, retries with
 * backoff, per-attempt timeouts, error mapping and `Link` pagination.
 *
 * Retry policy: every method is retried by default (as the official Subhosting SDK does) on
 * network errors, timeouts, 408, 429 and 5xx (but 507, a full disk), because a body factory
 * lets a streamed body be sent again. Pass `retry: false` for a request that must not be
 * repeated: a retried POST whose first attempt reached the server may create a second object
 * (for deployments that is a harmless extra deployment; for a named project it is a 409 on the
 * retry).
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { ApiError, DeployTenantError, isQuotaExceeded, NetworkError } from "./errors.ts";
import { sleep } from "./time.ts";

/** `deploy-tenant/<version>`, the default `User-Agent`. */
export const DEFAULT_USER_AGENT = `deploy-tenant/${denoJson.version}`;

/** What is passed to {@link HttpClientOptions.onRetry} before each retry. */
export interface RetryInfo {
  /** The attempt that failed, starting at 1. */
  attempt: number;
  /** How long the client waits before the next attempt. */
  delayMs: number;
  /** Why the attempt failed, e.g. `HTTP 503` or `timed out after 60000 ms`. */
  reason: string;
}

/** Options of {@link HttpClient}. */
export interface HttpClientOptions {
  /** The API root including the version, e.g. `http://127.0.0.1:8000/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * Time limit of one attempt in milliseconds, default 60 000: how long the server may stay
   * silent. Each piece of a streamed request body sent starts it again.
   */
  timeoutMs?: number;
  /** Retries after the first attempt; default 3. */
  maxRetries?: number;
  /** Default `deploy-tenant/<version>`. */
  userAgent?: string;
  /** Base of the exponential backoff in milliseconds; default 500 (tests make it small). */
  retryBaseMs?: number;
  /** Called before each retry, e.g. to print progress. */
  onRetry?: (info: RetryInfo) => void;
  /** Sent with every request (e.g. v2's `X-Deno-Org`); a request's own headers win. */
  headers?: HeadersInit;
}

/** Query parameters; `undefined` and `null` values are left out. */
export type Query = Record<string, string | number | boolean | undefined | null>;

/** Options of one request. */
export interface RequestOptions {
  /** Appended to the URL. */
  query?: Query;
  /** Sent as JSON (`JSON.stringify`) with `Content-Type: application/json`. */
  json?: unknown;
  /** Creates the body; called once per attempt so a streamed body can be sent again. */
  body?: () => BodyInit;
  /** Extra headers; they override the defaults. */
  headers?: HeadersInit;
  /** The `Accept` header; default `application/json`. */
  accept?: string;
  /** Aborts the request; an abort is rethrown as is and never retried. */
  signal?: AbortSignal;
  /** Overrides the per-attempt time limit; `0` means none. */
  timeoutMs?: number;
  /**
   * The answer is a live stream (build or app logs): the time limit covers the wait for the
   * response head only; the body stays open for as long as the server keeps it open.
   */
  stream?: boolean;
  /** Whether failures may be retried; default `true` for every method (see the module doc). */
  retry?: boolean;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_RETRY_BASE_MS = 500;
const RETRY_CAP_MS = 8_000;
/** A longer `Retry-After` is ignored in favour of backoff rather than stalling a CLI. */
const MAX_RETRY_AFTER_MS = 60_000;
const NETWORK_HINT =
  "Check --api (DEPLOY_API_URL) and that the server there is running (`deploy-tenant host` starts the local one).";

/** A client for one API root; see the module doc for the retry policy. */
export class HttpClient {
  /** The API root without a trailing slash. */
  readonly baseUrl: string;
  #token?: string;
  #timeoutMs: number;
  #maxRetries: number;
  #userAgent: string;
  #retryBaseMs: number;
  #onRetry?: (info: RetryInfo) => void;
  #defaultHeaders?: HeadersInit;

  /** Creates a client; nothing is sent until the first request. */
  constructor(options: HttpClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#retryBaseMs = options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
    this.#onRetry = options.onRetry;
    this.#defaultHeaders = options.headers;
  }

  /**
   * Sends a request to `path` (relative to {@link baseUrl}, or an absolute URL) and returns
   * the 2xx response with its body unread.
   *
   * @throws {ApiError} on a non-2xx answer (after retries for retryable statuses).
   * @throws {NetworkError} when no answer came (after retries).
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.#url(path, options.query);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const attempts = (options.retry ?? true) ? this.#maxRetries + 1 : 1;
    for (let attempt = 1;; attempt++) {
      let failure: string;
      let delayMs: number | undefined;
      const limit = attemptLimit(options.signal, timeoutMs, options.stream ?? false);
      const body = options.json !== undefined
        ? JSON.stringify(options.json)
        : limit.watchUpload(options.body?.());
      try {
        const response = await fetch(url, {
          method,
          headers: this.#headers(options),
          body,
          signal: limit.signal,
        }).finally(limit.headReceived);
        if (response.ok) return response;
        if (attempt >= attempts || !isRetryableStatus(response.status)) {
          throw await apiErrorFrom(response, this.baseUrl);
        }
        await response.body?.cancel();
        failure = `HTTP ${response.status}`;
        delayMs = retryAfterWithinLimit(response.headers);
      } catch (error) {
        // A stream fetch never started reading may hold resources (e.g. an open file).
        if (body instanceof ReadableStream && !body.locked) await body.cancel().catch(() => {});
        if (error instanceof ApiError) throw error;
        if (options.signal?.aborted) throw options.signal.reason;
        failure = describeFailure(error, timeoutMs);
        if (attempt >= attempts) {
          const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
          throw new NetworkError(`Could not reach ${url}: ${failure}${tries}`, {
            hint: NETWORK_HINT,
            cause: error,
          });
        }
      }
      delayMs ??= backoffMs(attempt, this.#retryBaseMs);
      this.#onRetry?.({ attempt, delayMs, reason: failure });
      await sleep(delayMs, options.signal);
    }
  }

  /** Like {@link request}, then parses the body as JSON; an empty body gives `undefined`. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, path, options);
    return await readJson<T>(response);
  }

  /**
   * Yields the items of a paginated list, page after page, following `Link: <…>; rel="next"`.
   * A next link on another origin is rebased onto {@link baseUrl}'s origin, so the token is
   * only ever sent to the configured server.
   */
  async *paginate<T>(path: string, query?: Query): AsyncGenerator<T> {
    let next: string | undefined = path;
    let nextQuery = query;
    const seen = new Set<string>();
    while (next !== undefined) {
      const response = await this.request("GET", next, { query: nextQuery });
      const items = await readJson<unknown>(response);
      if (!Array.isArray(items)) {
        throw new DeployTenantError(
          "invalidResponse",
          `Expected a JSON array from ${response.url}`,
        );
      }
      const link = parseLinkHeader(response.headers.get("link")).next;
      yield* items as T[];
      next = items.length > 0 && link ? this.#sameOrigin(new URL(link, response.url)) : undefined;
      nextQuery = undefined;
      if (next !== undefined && seen.has(next)) break; // a server looping on one page
      if (next !== undefined) seen.add(next);
    }
  }

  #url(path: string, query?: Query): string {
    const url = /^https?:\/\//i.test(path)
      ? new URL(path)
      : new URL(this.baseUrl + (path.startsWith("/") ? path : `/${path}`));
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    return url.href;
  }

  #sameOrigin(url: URL): string {
    const base = new URL(this.baseUrl);
    if (url.origin === base.origin) return url.href;
    return base.origin + url.pathname + url.search;
  }

  #headers(options: RequestOptions): Headers {
    const headers = new Headers({
      "accept": options.accept ?? "application/json",
      "user-agent": this.#userAgent,
    });
    if (this.#token) headers.set("authorization", `Bearer ${this.#token}`);
    if (options.json !== undefined) headers.set("content-type", "application/json");
    for (const [key, value] of new Headers(this.#defaultHeaders)) headers.set(key, value);
    for (const [key, value] of new Headers(options.headers)) headers.set(key, value);
    return headers;
  }
}

/**
 * Parses an RFC 8288 `Link` header into a map of relation → URL, e.g.
 * `<https://x/v1/p?page=2>; rel="next"` → `{ next: "https://x/v1/p?page=2" }`.
 */
export function parseLinkHeader(value: string | null): Record<string, string> {
  const links: Record<string, string> = {};
  if (!value) return links;
  for (const match of value.matchAll(/<([^>]*)>([^<]*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(match[2]);
    const names = rel ? (rel[1] ?? rel[2]) : "";
    for (const name of names.toLowerCase().split(/\s+/)) {
      if (name && !(name in links)) links[name] = match[1];
    }
  }
  return links;
}

/**
 * Yields the lines of a text stream, each without its end (`\n`, `\r\n` or `\r`); a last line
 * without an end is yielded too. Lines may be split across chunks anywhere (even inside a UTF-8
 * character). Stopping early cancels the stream.
 */
export async function* textLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  let done = false;
  try {
    while (!done) {
      const chunk = await reader.read();
      done = chunk.done;
      pending += chunk.value ?? "";
      for (;;) {
        const end = /\r\n|\n|\r/.exec(pending);
        // A trailing `\r` may be the first half of `\r\n`: wait for the next chunk.
        if (end === null || (!done && end[0] === "\r" && end.index === pending.length - 1)) {
          break;
        }
        yield pending.slice(0, end.index);
        pending = pending.slice(end.index + end[0].length);
      }
    }
    if (pending !== "") yield pending;
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * Reads newline-delimited JSON, yielding one value per non-empty line. Lines may be split
 * across chunks anywhere (even inside a UTF-8 character). Stopping early cancels the stream.
 */
export async function* ndjson<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  for await (const line of textLines(body)) {
    if (line.trim() !== "") yield parseLine<T>(line);
  }
}

/** Parses `Retry-After` (seconds or an HTTP date) or `retry-after-ms` into milliseconds. */
export function parseRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const milliseconds = headers.get("retry-after-ms");
  if (milliseconds !== null && milliseconds.trim() !== "") {
    const value = Number(milliseconds);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const retryAfter = headers.get("retry-after")?.trim();
  if (!retryAfter) return undefined;
  if (/^\d+(\.\d+)?$/.test(retryAfter)) return Number(retryAfter) * 1000;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function parseLine<T>(line: string): T {
  try {
    return JSON.parse(line) as T;
  } catch (error) {
    throw new DeployTenantError("invalidResponse", `Invalid NDJSON line: ${snippet(line)}`, {
      cause: error,
    });
  }
}

function retryAfterWithinLimit(headers: Headers): number | undefined {
  const delay = parseRetryAfter(headers);
  return delay !== undefined && delay <= MAX_RETRY_AFTER_MS ? delay : undefined;
}

/** Exponential backoff with full jitter: a random delay in [0, min(cap, base·2^(n-1))). */
function backoffMs(attempt: number, baseMs: number): number {
  return Math.round(Math.random() * Math.min(RETRY_CAP_MS, baseMs * 2 ** (attempt - 1)));
}

function isRetryableStatus(status: number): boolean {
  // 507: a full disk does not empty itself between retries.
  return status === 408 || status === 429 || (status >= 500 && status !== 507);
}

/** The time limit of one attempt (see {@link attemptLimit}). */
interface AttemptLimit {
  /** Aborts the attempt: the caller's signal, or the time limit. */
  signal?: AbortSignal;
  /** The response head is in: a stream's limit ends here. */
  headReceived: () => void;
  /** The body to send instead of `body`: a stream restarts the limit with each piece sent. */
  watchUpload: (body: BodyInit | undefined) => BodyInit | undefined;
}

/**
 * The signal of one attempt: the caller's, and the time limit. The limit is of silence, not of
 * the whole exchange: it starts again each time a piece of a streamed request body is sent, so
 * an upload that keeps moving is never cut however long the link takes (a deploy of 300 MiB
 * from a CI runner; each attempt had been cut at the limit and sent again from the start).
 * For a stream the limit ends once the response head is in (`headReceived`); otherwise it
 * covers reading the body too.
 */
function attemptLimit(
  caller: AbortSignal | undefined,
  timeoutMs: number,
  stream: boolean,
): AttemptLimit {
  if (timeoutMs <= 0) {
    return { signal: caller, headReceived: () => {}, watchUpload: (body) => body };
  }
  const controller = new AbortController();
  const expire = () =>
    controller.abort(new DOMException("No answer arrived in time", "TimeoutError"));
  let timer = setTimeout(expire, timeoutMs);
  // The limit of a body read after the request returns must not keep the process alive.
  Deno.unrefTimer(timer);
  let ended = false;
  const restart = () => {
    if (ended) return;
    clearTimeout(timer);
    timer = setTimeout(expire, timeoutMs);
    Deno.unrefTimer(timer);
  };
  const signal = caller ? AbortSignal.any([caller, controller.signal]) : controller.signal;
  return {
    signal,
    headReceived: () => {
      if (!stream) return;
      ended = true;
      clearTimeout(timer);
    },
    watchUpload: (body) => {
      if (!(body instanceof ReadableStream)) return body;
      return body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, sink) {
            restart();
            sink.enqueue(chunk);
          },
        }),
      );
    },
  };
}

function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return `timed out after ${timeoutMs} ms`;
  }
  return networkErrorReason(error);
}

/**
 * The root cause of a failed `fetch` in a few words, e.g. `Connection refused (os error 111)`
 * out of Deno's `fetch failed` ← `error sending request …: client error (Connect): …`.
 */
export function networkErrorReason(error: unknown): string {
  let root = error;
  while (root instanceof Error && root.cause !== undefined) root = root.cause;
  const message = root instanceof Error ? root.message : String(root);
  return message.split(": ").at(-1) || message;
}

async function readJson<T>(response: Response): Promise<T> {
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw new NetworkError(`Reading the answer from ${response.url} failed: ${error}`, {
      hint: NETWORK_HINT,
      cause: error,
    });
  }
  if (text.trim() === "") return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new DeployTenantError(
      "invalidResponse",
      `Expected JSON from ${response.url}, got: ${snippet(text)}`,
      { cause: error },
    );
  }
}

/** Builds the {@link ApiError} for a non-2xx response to a request under `baseUrl`. */
async function apiErrorFrom(response: Response, baseUrl: string): Promise<ApiError> {
  // v1 names its trace header `x-deno-ray`, v2 `x-deno-trace-id`.
  const traceId = response.headers.get("x-deno-trace-id") ?? response.headers.get("x-deno-ray") ??
    undefined;
  const text = await response.text().catch(() => "");
  const body = parseErrorBody(text);
  const code = body?.code ?? "httpError";
  const message = body?.message ??
    [`HTTP ${response.status} ${response.statusText}`.trim(), snippet(text)]
      .filter(Boolean).join(": ");
  return new ApiError(response.status, code, message, {
    traceId,
    hint: isQuotaExceeded(code)
      ? "Delete what the organization no longer needs, or ask the host's operator to raise the quota."
      : NOT_FOUND_HINTS[code] ?? unknownEndpointHint(response.status, code, baseUrl) ??
        hintForStatus(response.status, traceId),
  });
}

/**
 * A 404 that names no missing thing (the API's "no such endpoint", or a web server's page)
 * under an API URL without its version: the URL is the likely mistake (`http://host:8000`, as
 * a host's operator gives its address), so the hint names the one to try.
 */
function unknownEndpointHint(status: number, code: string, baseUrl: string): string | undefined {
  if (status !== 404 || (code !== "notFound" && code !== "httpError")) return undefined;
  const url = new URL(baseUrl);
  if (/\/(?:api\/)?v\d+$/.test(url.pathname.replace(/\/+$/, ""))) return undefined;
  return `Check --api (DEPLOY_API_URL): the API root ends in its version, e.g. ` +
    `${url.origin}/v1 (or /v2), and ${baseUrl} has none.`;
}

function parseErrorBody(text: string): { code?: string; message?: string } | undefined {
  try {
    const body = JSON.parse(text);
    if (typeof body !== "object" || body === null) return undefined;
    const code = typeof body.code === "string" ? body.code : undefined;
    const message = typeof body.message === "string" ? body.message : undefined;
    return code || message ? { code, message } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What to do about a thing the API does not know, by its error code (v1 and v2 spellings):
 * where to find the right id, or which setting named the wrong organization.
 */
const NOT_FOUND_HINTS: Record<string, string> = {
  organizationNotFound: "Check --org or DEPLOY_ORG_ID (the organization's id); leave both " +
    "unset to use the local host's organization.",
  deploymentNotFound: "`deploy-tenant deployments list <project>` lists a project's " +
    "deployments with their ids.",
  REVISION_NOT_FOUND: "`deploy-tenant deployments list <project>` lists a project's " +
    "revisions with their ids.",
  databaseNotFound: "`deploy-tenant db list` lists the organization's KV databases.",
};

function hintForStatus(status: number, traceId?: string): string | undefined {
  if (status === 401) {
    return "Check the access token: --token, DEPLOY_ACCESS_TOKEN or DENO_DEPLOY_TOKEN.";
  }
  if (status === 403) return "The token has no access here: check --org and the token's scope.";
  if (status === 429) return "Too many requests: wait a moment and try again.";
  if (status === 507) return "The server is out of storage: free space there, then try again.";
  if (status >= 500) {
    const quote = traceId ? ` If it persists, report it quoting trace id ${traceId}.` : "";
    return `The server failed; try again later.${quote}`;
  }
  return undefined;
}

/** The start of a body as one line; HTML tags are dropped so error pages read as text. */
function snippet(text: string, max = 200): string {
  const plain = text.trimStart().startsWith("<") ? text.replace(/<[^>]*>/g, " ") : text;
  const line = plain.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
