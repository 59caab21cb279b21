/**
 * The HAProxy configuration of the front proxy (see `front_proxy.ts`): one public listener
 * that routes by `Host` through a map to pre-declared slot backends, each a tenant's unix
 * socket, and sends everything else to the host's own server (the API and the Deno router).
 *
 * The map value of a routed host name is `slot<k>|<backstop ms>|<deployment id>|<limit ms>`:
 * one lookup per request picks the backend, its server timeout and what the log names.
 *
 * Usage is counted inside HAProxy without a log line per request: the backends' request
 * totals (`show stat`), and body bytes summed from `Content-Length` into the slot backend's
 * own stick table (one entry, its `gpt` array: a counter per direction and thread), read over
 * the admin socket. Only what those cannot count is logged: chunked requests, responses
 * without a length, and HAProxy's own answers (a stuck tenant's 504, a dead tenant's 502).
 * (Process-wide variables served before: HAProxy 2.6 keeps them in one list it walks on each
 * lookup, so a request to slot 255 of 256 cost 12 000 instructions more than one to slot 0.)
 *
 * So that the host reads only slots that serve, each slot's table also has a wake flag: the
 * first request after the host cleared it is logged, and sets it. The host clears it each time
 * it reads the slot, and stops reading a slot once a read saw it quiet: an idle tenant costs
 * HAProxy and the host nothing until its next request. Stick tables with a `gpt` array need
 * HAProxy 2.5 or later.
 *
 * @module
 */
import { ROUTER_ERROR_HEADER } from "../../lib/urls.ts";
import { MEMORY_LIMIT_MESSAGE, UNAVAILABLE_MESSAGE } from "../tenant/limits.ts";
import { sharedCookiePattern } from "./shared_cookies.ts";

/** A Host whose port, if it has one, is 0–65535 (the name is checked by the map lookup). */
const HOST_WITH_PORT =
  "^[^:]*(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$";

/** Paths and numbers the configuration is made of. */
export interface HaproxyConfigOptions {
  /** Public listener address (`127.0.0.1`, `0.0.0.0`, `::`) and port. */
  hostname: string;
  port: number;
  /** The host's own server (API and Deno router): a unix socket. */
  apiSocket: string;
  /** The admin (runtime API) socket, mode 0600. */
  adminSocket: string;
  /**
   * The host's way to a slot before its names are routed (mode 0600): a request here with
   * {@link SLOT_HEADER} goes to that slot, so HAProxy holds a connection to a process that
   * came up ahead of its callers before the first of them arrives.
   */
  warmUpSocket: string;
  /** The Host → route map file. */
  routesMap: string;
  /**
   * Deployment id → error code of a process dying now (`MEMORY_LIMIT`), for the 502 of the
   * requests it had in flight; the host fills it in. Absent: `deploymentUnavailable`.
   */
  verdictsMap: string;
  /** Error code → message (static, see {@link ERROR_MESSAGES}). */
  messagesMap: string;
  /** Slot `k` connects to `slotSocket(k)`, which the host makes name a tenant's socket. */
  slotSocket: (slot: number) => string;
  slots: number;
  /** HAProxy threads; counters are kept per thread so none is lost. */
  threads: number;
  /** Deployments' names end in it: cookies for it or its parents are dropped (shared_cookies.ts). */
  baseDomain: string;
}

/** The route a host name maps to. */
export interface Route {
  slot: number;
  /** The HAProxy server timeout: the deployment's limit plus the grace the tenant has to answer. */
  backstopMs: number;
  deploymentId: string;
  /** The deployment's request time limit, for the 504 message. */
  requestTimeoutMs: number;
}

/** A route as a map value. */
export function routeValue(route: Route): string {
  return `${
    slotBackend(route.slot)
  }|${route.backstopMs}|${route.deploymentId}|${route.requestTimeoutMs}`;
}

/** The backend name of slot `k`. */
export function slotBackend(slot: number): string {
  return `slot${slot}`;
}

/** The header that names the slot backend of a request to {@link HaproxyConfigOptions.warmUpSocket}. */
export const SLOT_HEADER = "x-deploy-tenant-slot";

/** The one key of each slot's counters table (its stick table holds nothing else). */
export const COUNTERS_KEY = 1;

/** The wake flag's index in a slot's counters (`gpt`): set by the first request after a read. */
export const WAKE_FLAG = 0;

/** The index in a slot's counters (`gpt`) of its body bytes in one direction on one thread. */
export function byteCounter(direction: "i" | "o", thread: number): number {
  return 1 + 2 * thread + (direction === "o" ? 1 : 0);
}

/**
 * The longest response body counted from its `Content-Length` as its head passes (no log line):
 * about what HAProxy's and the kernel's buffers hold in flight, so a client hanging up early is
 * billed at most that much more than it took.
 */
export const HEAD_COUNTED_BYTES = 64 * 1024;

/**
 * Fields of a log line, space-separated, `-` when unset: deployment id, status, termination
 * state, bytes from the client and to the client (HAProxy's internal message sizes: headers
 * and body), the Content-Lengths counted already, what the body-size arithmetic needs
 * (header block length and count, URI length, chunked flags), then method and path last.
 */
export const LOG_FIELDS = [
  "deploymentId",
  "status",
  "termination",
  "bytesIn",
  "bytesOut",
  "countedIn",
  "countedOut",
  "requestHeaderBytes",
  "requestHeaderCount",
  "uriLength",
  "requestChunked",
  "responseHeaderBytes",
  "responseHeaderCount",
  "responseChunked",
  "method",
  "path",
] as const;

const LOG_FORMAT = [
  "%[var(txn.route),word(3,|)]",
  "%ST",
  "%ts",
  "%U",
  "%B",
  "%[var(txn.in)]",
  "%[var(txn.out)]",
  "%[var(txn.rh)]",
  "%[var(txn.rn)]",
  "%[var(txn.ul)]",
  "%[var(txn.rc)]",
  "%[var(txn.sh)]",
  "%[var(txn.sn)]",
  "%[var(txn.sc)]",
  "%HM",
  "%HPO",
].join(" ");

/**
 * Health checks only so that a connection error marks the server down at once (`observe`
 * needs `check`); the periodic check itself is rare and cheap (a connect).
 */
const SLOT_SERVER_OPTIONS = "check inter 1h observe layer4 error-limit 1 on-error mark-down";

/** Messages of the errors HAProxy answers for a tenant, by code: the router's wording. */
export const ERROR_MESSAGES: Record<string, string> = {
  MEMORY_LIMIT: MEMORY_LIMIT_MESSAGE,
  deploymentUnavailable: UNAVAILABLE_MESSAGE,
};

/** The contents of the messages map file. */
export function messagesMapFile(): string {
  return Object.entries(ERROR_MESSAGES).map(([code, message]) => `${code} ${message}\n`).join("");
}

/** A JSON error body for `http-error`: `code` and `message` are log-format expressions. */
function errorBody(code: string, message: string): string {
  return JSON.stringify(`{"code":"${code}","message":"${message}"}`);
}

/** Renders the configuration. */
export function haproxyConfig(options: HaproxyConfigOptions): string {
  const { threads } = options;
  const bind = options.hostname.includes(":")
    ? `ipv6@${options.hostname}:${options.port}`
    : `${options.hostname}:${options.port}`;
  const lines = [
    "global",
    `  nbthread ${threads}`,
    // HAProxy binds with SO_REUSEPORT by default: a second host on the same port (another data
    // dir) would then share it and get half the requests. Without it the bind fails: AddrInUse.
    "  noreuseport",
    `  stats socket ${options.adminSocket} mode 600 level admin`,
    "  log stdout format raw local0",
  ];
  lines.push(
    "",
    "defaults",
    "  mode http",
    "  log global",
    `  log-format "${LOG_FORMAT}"`,
    "  option dontlognull",
    // Each chunk a tenant writes (SSE, a streamed body) leaves at once, not with the next one.
    "  option http-no-delay",
    // A client that goes away before its answer aborts the request it sent the tenant, as it would
    // a Deno.serve server's of its own (request.signal): HAProxy would otherwise wait it out.
    "  option abortonclose",
    "  timeout connect 5s",
    // Like the host's own server: no limit on a quiet stream (live logs), only on reading
    // a request head and on idle keep-alive connections.
    "  timeout client 24h",
    "  timeout server 24h",
    "  timeout tunnel 24h",
    "  timeout http-request 60s",
    "  timeout http-keep-alive 75s",
    "  http-reuse always",
    // An idle connection to a tenant stays until the tenant stops: HAProxy's purge (default every
    // 5 s) closed it a few seconds after the last caller left, waking the idle tenant up (1 000
    // idle tenants: ~10% of a core for the 10 s after their last requests; see benchmarks.md).
    "  default-server pool-purge-delay 24h",
    "",
    "frontend public",
    `  bind ${bind}`,
    // A body whose bytes are not all here with the head is counted from the log line when the
    // request ends (`%U`), as a chunked one is: a Content-Length is only a claim (one of a
    // terabyte with three bytes behind it was billed a terabyte to the deployment's project).
    // Value 1: chunked; 2: a Content-Length the body so far does not fill; 3: an upgrade (a
    // WebSocket), whose tunnel's bytes from the client come after any body (they were not
    // billed at all: %U has them, nothing else does).
    "  http-request set-var(txn.rc) int(3) if { req.hdr(upgrade) -m found }",
    "  http-request set-var(txn.rc) int(1) if { req.hdr(transfer-encoding) -m found }",
    // HAProxy drops a Content-Length that comes with Transfer-Encoding: no condition needed.
    "  http-request set-var(txn.cl) req.hdr(content-length)",
    "  http-request set-var(txn.rc) int(2) if { var(txn.cl) -m found } { req.body_len,sub(txn.cl) -m int lt 0 }",
    // What the body-size arithmetic needs, before headers change.
    "  http-request set-var(txn.rh) req.hdrs,length if { var(txn.rc) -m found }",
    "  http-request set-var(txn.rn) req.fhdr_cnt if { var(txn.rc) -m found }",
    "  http-request set-var(txn.ul) url,length if { var(txn.rc) -m found }",
    "  http-request set-header x-forwarded-for %[src]",
    "  http-request set-header x-forwarded-proto http",
    "  http-request del-header forwarded",
    // Routed by the name as the router sees it (no port, lower case); the tenant gets the Host
    // as the client sent it, as a local `deno serve` would (its request.url keeps the port). A
    // Host with a port that is no port goes to the router, which answers 400 invalidHost: Deno
    // could not make a URL of it, and the tenant would answer 500.
    `  http-request set-var(txn.route) req.hdr(host),lower,word(1,:),map(${options.routesMap}) ` +
      `if { req.hdr(host) -m reg ${HOST_WITH_PORT} }`,
    "  http-request set-log-level silent unless { var(txn.route) -m found }",
    // A tenant gets its request target in origin form: an absolute-form one (`GET https://name/`,
    // as proxies send) would name its own scheme in request.url (HAProxy has checked that its
    // authority is the Host's).
    "  http-request set-uri %[pathq] if { var(txn.route) -m found } { url_beg -i http:// https:// }",
    "  use_backend %[var(txn.route),word(1,|)] if { var(txn.route) -m found }",
    // A cookie every deployment would get becomes `;`, which browsers ignore (RFC 6265 5.2: no
    // name and no value). HAProxy cannot drop one line of a repeated header.
    `  http-response replace-header set-cookie ${sharedCookiePattern(options.baseDomain)} ;`,
    "  default_backend api",
    "",
    "backend api",
    `  server api unix@${options.apiSocket}`,
    "",
    "frontend warm-up",
    `  bind unix@${options.warmUpSocket} mode 600`,
    "  http-request set-log-level silent",
    `  http-request deny deny_status 400 unless { req.hdr(${SLOT_HEADER}) -m reg ^slot[0-9]+$ }`,
    `  use_backend %[req.hdr(${SLOT_HEADER})]`,
  );
  const timeLimit = errorBody(
    "TIME_LIMIT",
    "The deployment did not answer within its time limit of %[var(txn.route),word(4,|)] ms; " +
      "its process was stuck and has been restarted",
  );
  const verdict = `var(txn.route),word(3,|),map(${options.verdictsMap},deploymentUnavailable)`;
  const unavailable = errorBody(`%[${verdict}]`, `%[${verdict},map(${options.messagesMap})]`);
  for (let slot = 0; slot < options.slots; slot++) {
    lines.push(
      "",
      `backend ${slotBackend(slot)}`,
      // Never resend a request: the process may have died of it. A failed connection marks
      // the server down at once, so later requests go to the backup, the router, which
      // restarts the process (the host puts the slot back in service for the new one).
      "  retry-on none",
      "  http-request set-timeout server var(txn.route),word(2,|)",
      // The slot's counters: 32-bit, read and cleared by the host (front_proxy.ts).
      `  stick-table type integer size 1 store gpt(${byteCounter("o", threads - 1) + 1})`,
      `  http-request track-sc0 int(${COUNTERS_KEY})`,
      // The first request since the host last read the slot wakes it: logged, flag set.
      `  http-request set-var(txn.wake) int(1) unless { sc_get_gpt(${WAKE_FLAG},0) -m int 1 }`,
      `  http-request sc-set-gpt(${WAKE_FLAG},0) int(1) if { var(txn.wake) -m found }`,
      // Counted now only when the whole body came with the head (see txn.rc).
      "  http-request set-var(txn.in) var(txn.cl) unless { var(txn.rc) -m found }",
      // A response's Content-Length is counted at its head only when it is no more than what is
      // in flight anyway: a longer one is counted from the log line when it ends (%B), as one
      // without a length is. Counted at the head, a client that asked for a deployment's largest
      // answer and hung up billed it the whole length (256 MiB for a hundred bytes).
      `  http-response set-var(txn.out) res.hdr(content-length) if { res.hdr_val(content-length) le ${HEAD_COUNTED_BYTES} } !{ method HEAD }`,
      "  http-response set-var(txn.out) int(0) if { method HEAD }",
      // The router's mark on its own errors is the host's: a tenant's copy would make its answer
      // read as "no deployment answers here" to `invoke` (lib/invoke.ts).
      `  http-response del-header ${ROUTER_ERROR_HEADER}`,
    );
    for (let thread = 0; thread < threads; thread++) {
      const onThread = threads > 1 ? ` { thread ${thread} }` : "";
      const i = byteCounter("i", thread);
      const o = byteCounter("o", thread);
      lines.push(
        `  http-request sc-set-gpt(${i},0) sc_get_gpt(${i},0),add(txn.in) if { var(txn.in) -m found }${onThread}`,
        `  http-response sc-set-gpt(${o},0) sc_get_gpt(${o},0),add(txn.out) if { var(txn.out) -m found }${onThread}`,
      );
    }
    lines.push(
      // Counted already, and not a wake-up: no log line.
      "  http-response set-log-level silent if { var(txn.out) -m found } !{ var(txn.rc) -m found } !{ var(txn.wake) -m found }",
      // Only a response without a counted length is logged: look for chunking only then.
      "  http-response set-var(txn.sc) int(1) if !{ var(txn.out) -m found } { res.hdr(transfer-encoding) -m found }",
      "  http-response set-var(txn.sh) res.hdrs,length unless { var(txn.out) -m found }",
      "  http-response set-var(txn.sn) res.fhdr_cnt unless { var(txn.out) -m found }",
      `  http-error status 504 content-type application/json lf-string ${timeLimit}`,
      `  http-error status 502 content-type application/json lf-string ${unavailable}`,
      `  http-error status 503 content-type application/json lf-string ${unavailable}`,
      // HAProxy says 503 when a reused connection dies under a request; the router says 502.
      // A tenant's own 503 (maintenance, overload, with its Retry-After) reaches the client as is:
      // http-response rules see only answers that came from a server, and set txn.out or txn.sh
      // for each of them, never for HAProxy's own (no rule of its own per response for this).
      "  http-after-response set-status 502 if { status 503 } !{ var(txn.out) -m found } !{ var(txn.sh) -m found }",
      `  server s unix@${options.slotSocket(slot)} disabled ${SLOT_SERVER_OPTIONS}`,
      // While the slot is not in service (a tenant starting or gone), the Deno router answers.
      `  server api unix@${options.apiSocket} backup`,
    );
  }
  return lines.join("\n") + "\n";
}
