/**
 * Reading usage out of HAProxy: its counters (`show stat`, `get var`) and the log lines of
 * the requests the counters cannot measure (chunked bodies, responses without a length,
 * HAProxy's own error answers).
 *
 * HAProxy's byte counts (`%U`, `%B`) are sizes of its internal HTTP representation (HTX), not
 * wire bytes: a start line costs its parts plus {@link HTX_START_LINE}, a header its name
 * plus value, the end of headers and of trailers one byte each. Body bytes are what is left
 * once the head is subtracted, exactly as the router counts them (decoded, no chunk framing).
 *
 * @module
 */
import { LOG_FIELDS } from "./haproxy_config.ts";

/** Bytes HTX adds to a start line besides its three parts. */
const HTX_START_LINE = 20;
/** The end-of-headers block. */
const HTX_END_OF_HEADERS = 1;
/** The end-of-trailers block of a chunked message. */
const HTX_END_OF_TRAILERS = 1;
/** HTX keeps the version as `HTTP/1.1`. */
const HTX_VERSION = "HTTP/1.1".length;

/** What one log line says about a request to a deployment. */
export interface ProxyLogEntry {
  deploymentId: string;
  status: number;
  /** HAProxy's termination state, e.g. `--` (normal), `sH` (server timeout before the head). */
  termination: string;
  method: string;
  path: string;
  /** Request body bytes not counted already by the Content-Length counters. */
  bodyIn: number;
  /** Response body bytes not counted already. */
  bodyOut: number;
}

/** Parses a line written with `haproxy_config.ts`'s log format; `undefined` for other lines. */
export function parseProxyLogLine(line: string): ProxyLogEntry | undefined {
  const parts = line.split(" ");
  if (parts.length < LOG_FIELDS.length) return undefined;
  // The path is last and may not be split on spaces by HAProxy's escaping: keep it whole.
  const path = parts.slice(LOG_FIELDS.length - 1).join(" ");
  const field = Object.fromEntries(LOG_FIELDS.map((name, i) => [name, parts[i]])) as Record<
    typeof LOG_FIELDS[number],
    string
  >;
  if (field.deploymentId === "-" || !/^\d+$/.test(field.status)) return undefined;
  const number = (text: string) => (/^\d+$/.test(text) ? Number(text) : undefined);
  const status = Number(field.status);
  let bodyIn = 0;
  // `requestChunked`: 1 for a chunked body, 2 for a Content-Length whose bytes had not all come
  // with the head (counted here from what HAProxy received, not from the header's claim), 3 for
  // an upgrade (what the client sent through the tunnel, a WebSocket's frames, is in `bytesIn`).
  if (field.countedIn === "-" && field.requestChunked !== "-") {
    const trailers = field.requestChunked === "1" ? HTX_END_OF_TRAILERS : 0;
    const head = HTX_START_LINE + field.method.length + (number(field.uriLength) ?? 0) +
      HTX_VERSION + headerBlock(field.requestHeaderBytes, field.requestHeaderCount) +
      HTX_END_OF_HEADERS + trailers;
    bodyIn = Math.max(0, (number(field.bytesIn) ?? 0) - head);
  }
  let bodyOut = 0;
  // No response header size: HAProxy answered itself (its error bodies are not the tenant's).
  if (field.countedOut === "-" && field.responseHeaderBytes !== "-") {
    const head = HTX_START_LINE + HTX_VERSION + field.status.length +
      (REASONS[status] ?? "").length +
      headerBlock(field.responseHeaderBytes, field.responseHeaderCount) + HTX_END_OF_HEADERS +
      (field.responseChunked !== "-" ? HTX_END_OF_TRAILERS : 0);
    bodyOut = Math.max(0, (number(field.bytesOut) ?? 0) - head);
  }
  return {
    deploymentId: field.deploymentId,
    status,
    termination: field.termination,
    method: field.method,
    path,
    bodyIn,
    bodyOut,
  };
}

/** HTX size of a header block whose HTTP/1 form (`req.hdrs`) is `bytes` long with `count` fields. */
function headerBlock(bytes: string, count: string): number {
  // Each "name: value\r\n" loses its ": " and CRLF; the blank line ending the block goes too.
  return Math.max(0, Number(bytes) - 2 - 4 * Number(count));
}

/** The reason phrases Deno's server sends (hyper's canonical ones). */
const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Payload Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  418: "I'm a teapot",
  422: "Unprocessable Entity",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** Per-backend figures from `show stat`. */
export interface BackendStats {
  /** HTTP requests the backend has handled since HAProxy started. */
  requests: number;
  /** Requests in flight. */
  current: number;
  /** Whether the backend's first server (`s`) is marked down (HAProxy saw it fail). */
  serverDown: boolean;
}

/**
 * Parses the CSV of one or more `show stat` answers (backend and server rows, each answer
 * with its header line) into figures by backend name.
 */
export function parseBackendStats(csv: string): Map<string, BackendStats> {
  const stats = new Map<string, BackendStats>();
  const down = new Set<string>();
  let [px, sv, requests, current, status] = [-1, -1, -1, -1, -1];
  for (const line of csv.split("\n")) {
    if (line.startsWith("# ")) {
      const names = line.slice(2).split(",");
      [px, sv, requests, current, status] = ["pxname", "svname", "req_tot", "scur", "status"]
        .map((name) => names.indexOf(name));
      continue;
    }
    if (px < 0 || !line) continue;
    const cells = line.split(",");
    if (cells[sv] === "s" && cells[status]?.startsWith("DOWN")) down.add(cells[px]);
    if (cells[sv] !== "BACKEND") continue;
    stats.set(cells[px], {
      requests: Number(cells[requests]) || 0,
      current: Number(cells[current]) || 0,
      serverDown: false,
    });
  }
  for (const name of down) {
    const backend = stats.get(name);
    if (backend) backend.serverDown = true;
  }
  return stats;
}

/** HAProxy's stick-table counters are 32-bit: what was added since a read is this modulo it. */
const COUNTER_RANGE = 2 ** 32;

/**
 * `later - earlier` of a 32-bit counter (a sum of several is one too) that may have wrapped
 * around between the two reads: the host reads a busy slot every second, far sooner than 4 GiB.
 */
export function counterDelta(later: number, earlier: number): number {
  // A sum over threads can exceed 2^32, so the difference can be below -2^32: `%` keeps the sign.
  return ((later - earlier) % COUNTER_RANGE + COUNTER_RANGE) % COUNTER_RANGE;
}

/**
 * Parses `show table` answers into each table's `gpt` values by table name: a table whose one
 * entry reads `0x55d1…: key=1 use=0 exp=0 gpt0=1 gpt1=15 gpt2=0` gives `[1, 15, 0]`. A table
 * with no entry yet is left out.
 */
export function parseCounterTables(text: string): Map<string, number[]> {
  const tables = new Map<string, number[]>();
  let table: string | undefined;
  for (const line of text.split("\n")) {
    const header = /^# table: ([^,\s]+),/.exec(line);
    if (header) {
      table = header[1];
    } else if (table !== undefined && line.startsWith("0x")) {
      const values: number[] = [];
      for (const [, index, value] of line.matchAll(/ gpt(\d+)=(\d+)/g)) {
        values[Number(index)] = Number(value);
      }
      tables.set(table, values);
      table = undefined;
    }
  }
  return tables;
}
