/**
 * Reading v2's streams (revision progress, build logs, live app logs). The server sends
 * Server-Sent Events for `Accept: text/event-stream` and JSON Lines for
 * `Accept: application/x-ndjson`; each event or line is one JSON object. The answer's
 * `Content-Type` decides how it is read, so a server that ignores `Accept` is still understood.
 *
 * @module
 */
import { DeployTenantError } from "../errors.ts";
import { type HttpClient, ndjson, type Query, textLines } from "../http.ts";
import type { StreamFormat } from "./types.ts";

/** The `Accept` header for each format. */
export const STREAM_ACCEPT: Record<StreamFormat, string> = {
  sse: "text/event-stream",
  ndjson: "application/x-ndjson",
};

/** Options of {@link streamJson}. */
export interface StreamRequestOptions {
  /** Appended to the URL. */
  query?: Query;
  /** Which format to ask for; default `sse`, as the official SDK does. */
  format?: StreamFormat;
  /** Stops the stream. */
  signal?: AbortSignal;
}

/**
 * GETs `path` as a stream and yields one parsed JSON value per event or line, until the
 * server closes the stream. Stopping early (`break`, `return`) closes the connection.
 */
export async function* streamJson<T>(
  http: HttpClient,
  path: string,
  options: StreamRequestOptions = {},
): AsyncGenerator<T> {
  const response = await http.request("GET", path, {
    query: options.query,
    accept: STREAM_ACCEPT[options.format ?? "sse"],
    signal: options.signal,
    stream: true,
  });
  if (response.body === null) return;
  const contentType = response.headers.get("content-type") ?? "";
  if (!contentType.includes("text/event-stream")) {
    yield* ndjson<T>(response.body);
    return;
  }
  for await (const data of sseData(response.body)) yield parseEvent<T>(data);
}

/**
 * Yields the `data` of each Server-Sent Event: its `data:` lines joined with `\n`. Events
 * without data (keep-alive comments, `retry:`) are skipped; event names and ids are ignored,
 * as the official SDK ignores them. Events and lines may be split across chunks anywhere, and
 * lines may end in `\n`, `\r\n` or `\r`.
 */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let data: string[] = [];
  for await (const line of textLines(body)) {
    if (line === "") {
      if (data.length > 0) yield data.join("\n");
      data = [];
    } else {
      const field = fieldOf(line);
      if (field?.name === "data") data.push(field.value);
    }
  }
  // A last event without its blank line is still delivered, as the SDK does.
  if (data.length > 0) yield data.join("\n");
}

/** `name: value` → `{name, value}` (one leading space dropped); a `:` comment → undefined. */
function fieldOf(line: string): { name: string; value: string } | undefined {
  if (line === "" || line.startsWith(":")) return undefined;
  const colon = line.indexOf(":");
  if (colon === -1) return { name: line, value: "" };
  const value = line.slice(colon + 1);
  return { name: line.slice(0, colon), value: value.startsWith(" ") ? value.slice(1) : value };
}

function parseEvent<T>(data: string): T {
  try {
    return JSON.parse(data) as T;
  } catch (error) {
    throw new DeployTenantError(
      "invalidResponse",
      `Invalid JSON in an event: ${data.slice(0, 200)}`,
      {
        cause: error,
      },
    );
  }
}
