/**
 * What every API route shares: the request's variables (organization, trace id), reading a
 * JSON body strictly and within a size limit, v1's lists and their `Link` header, and the
 * error body.
 *
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { parseStrictJsonBytes } from "./strict_json.ts";
import type { ListQuery, Page } from "../store/store.ts";
import { parseListQuery, RequestError } from "./validate.ts";
import { bodyEvicted, EVICTED, takeBodyBytes } from "./body_budget.ts";

/** Hono variables of an API request: the authenticated organization and the trace id. */
export type ApiEnv = { Variables: { organizationId: string; rayId: string } };
type Env = ApiEnv;

/** Bodies of the small JSON requests (projects, databases, redeploys). */
export const SMALL_BODY_BYTES = 1024 * 1024;

/**
 * Bytes a live stream (app logs) may hold for a client that has not read them yet; past that the
 * stream ends: its client does not keep up, and may connect again. Every line waited in the host's
 * heap until its client read it, so a client that never read (or many of them on one deployment
 * logging its 1 MiB/s) grew the host without bound.
 */
export const LIVE_STREAM_BACKLOG_BYTES = 4 * 1024 * 1024;

/** How a live stream counts what it holds: in bytes, up to {@link LIVE_STREAM_BACKLOG_BYTES}. */
export function liveStreamStrategy(): QueuingStrategy<Uint8Array> {
  return new ByteLengthQueuingStrategy({ highWaterMark: LIVE_STREAM_BACKLOG_BYTES });
}

/**
 * Whether a live stream made with {@link liveStreamStrategy} holds more than its backlog for its
 * client, beyond `allowance` bytes it was given at its start (past lines).
 */
export function overBacklog(
  controller: ReadableStreamDefaultController<Uint8Array>,
  allowance = 0,
): boolean {
  return -(controller.desiredSize ?? 0) > allowance;
}

/** The `{code, message}` error answer. */
export function errorJson(
  c: Context<Env>,
  status: number,
  code: string,
  message: string,
): Response {
  return c.json({ code, message }, status as ContentfulStatusCode);
}

/** A new trace id: 16 hex digits. */
export function newRayId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Answers a v1 list request: its `page`, `limit`, `q`, `sort` and `order` checked
 * ({@link parseListQuery}: `sort` one of `sorts.sorts`, `sorts.defaultSort` when absent), the
 * page `read` returns for them, that page's `Link` header, and its items as `toJson` writes
 * them.
 */
export function listAnswer<T>(
  c: Context<Env>,
  sorts: { sorts: readonly string[]; defaultSort: string },
  read: (query: ListQuery) => Page<T>,
  toJson: (item: T) => unknown,
): Response {
  const query = parseListQuery(new URL(c.req.url).searchParams, sorts);
  const page = read(query);
  setLinkHeader(c, query.page, query.limit, page.total);
  return c.json(page.items.map(toJson));
}

/** RFC 8288 `Link` with next/prev (when they exist), first and last, as absolute URLs. */
function setLinkHeader(c: Context<Env>, page: number, limit: number, total: number): void {
  const last = Math.max(1, Math.ceil(total / limit));
  const link = (target: number, rel: string) => {
    const url = new URL(c.req.url);
    url.searchParams.set("page", String(target));
    return `<${url.href}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (page < last) links.push(link(page + 1, "next"));
  if (page > 1) links.push(link(Math.min(page - 1, last), "prev"));
  links.push(link(1, "first"), link(last, "last"));
  c.header("Link", links.join(", "));
}

/**
 * Reads a JSON body of at most `maxBytes`, counting as it arrives so an oversized body
 * is refused without being buffered, and parses it strictly ({@link parseStrictJson}). Its bytes
 * count against the organization's and the host's body budget as they come (body_budget.ts): a
 * request that would pass either is `429 tooManyUploads`.
 * A `Content-Type` other than JSON is 415. The whole body is still parsed in one piece: a
 * streaming parser (assets written as they arrive) is future work.
 */
export async function readJson(c: Context<Env>, maxBytes: number): Promise<unknown> {
  const tooLarge = () =>
    new RequestError(
      413,
      "payloadTooLarge",
      `The request body is larger than the limit of ${maxBytes} bytes`,
    );
  const type = c.req.header("content-type");
  // A body without a type is taken as JSON; a form or text body is a mistake worth naming.
  if (type && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new RequestError(
      415,
      "unsupportedMediaType",
      `The request body must be JSON sent with 'Content-Type: application/json', not "${type}"`,
    );
  }
  const declared = Number(c.req.header("content-length") ?? NaN);
  if (declared > maxBytes) throw tooLarge();

  // Chunks are copied into one buffer as they come, so the body (it can be over a gigabyte)
  // is held about once, not twice. The declared length is trusted only as far as the bytes
  // that arrived: past the first buffer, it grows to the declared size at once.
  const declaredSize = declared >= 0 ? declared : undefined;
  let buffer = new Uint8Array(
    declaredSize === undefined ? 64 * 1024 : Math.min(declaredSize, FIRST_BUFFER_BYTES),
  );
  let size = 0;
  const tooManyUploads = () =>
    new RequestError(
      429,
      "tooManyUploads",
      "The host holds as many request bodies as it may at once (your organization's other " +
        "uploads, or everyone's): send this one again once they have been answered",
    );
  // A stalled upload given up to make room (body_budget.ts) must not wait for its next chunk.
  const evicted = bodyEvicted(c.req.raw);
  const reader = c.req.raw.body?.getReader();
  try {
    while (reader) {
      const next = await (evicted ? Promise.race([reader.read(), evicted]) : reader.read());
      if (next === EVICTED) throw tooManyUploads();
      if (next.done) break;
      const chunk = next.value;
      const needed = size + chunk.byteLength;
      if (needed > maxBytes) throw tooLarge();
      if (!takeBodyBytes(c.req.raw, c.get("organizationId"), chunk.byteLength)) {
        throw tooManyUploads();
      }
      if (needed > buffer.byteLength) {
        const doubled = Math.max(buffer.byteLength * 2, needed);
        const grown = new Uint8Array(
          Math.min(
            maxBytes,
            declaredSize !== undefined && declaredSize >= needed ? declaredSize : doubled,
          ),
        );
        grown.set(buffer.subarray(0, size));
        buffer = grown;
      }
      buffer.set(chunk, size);
      size = needed;
    }
  } catch (error) {
    // What is left of the body is not read: the connection's framing is Deno's to settle.
    reader?.cancel().catch(() => {});
    if (error instanceof RequestError) throw error;
    // The client broke the body off (or framed it wrongly): its fault, not ours.
    throw new RequestError(400, "invalidBody", "The request body could not be read to its end");
  }
  if (size === 0) throw new RequestError(400, "invalidJson", "The request body is empty");
  return parseStrictJsonBytes(buffer.subarray(0, size));
}

/** The buffer a request body is first read into (it grows when the body is larger). */
const FIRST_BUFFER_BYTES = 16 * 1024 * 1024;
