/**
 * What happens when a request hits a limit: the per-request time limit (`requestTimeout`),
 * the memory cap, and the size of a response's head.
 *
 * A request that outlives its limit gets `504 {code: "TIME_LIMIT"}` and an app log line.
 * Whether the deployment can go on serving depends on why it was slow: a handler awaiting
 * something that never comes leaves the event loop free, but a busy loop
 * (`while (true) {}`) blocks every later request too. So the limit is kept in two places:
 * the bootstrap inside the tenant answers the 504 itself at the limit, which it can only do
 * while its event loop runs; whoever forwards the request (the router, or the front proxy)
 * waits {@link TIME_LIMIT_GRACE_MS} longer, and if even that passes, the event loop is
 * stuck: the process is killed and the next request starts a fresh one.
 *
 * @module
 */
import type { LogLevel } from "../../lib/types.ts";
import type { Instance, Runtime } from "./runtime.ts";

/** The request timeout of a deployment that sets none. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** A deployment's request timeout in milliseconds: its own (v1 `requestTimeout`) or the default. */
export function requestTimeoutMs(deployment: { requestTimeout: number | null }): number {
  return deployment.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
}

/**
 * How long past its limit a tenant has to send its own 504 (the bootstrap reads the limit
 * from `DENO_DEPLOYMENT_TIME_LIMIT_MS`) before its event loop counts as stuck.
 */
export const TIME_LIMIT_GRACE_MS = 2_000;

/** The app log line of a timed-out request (the bootstrap writes the same). */
export function timedOutMessage(timeoutMs: number, method: string, path: string): string {
  return `Request timed out after ${timeoutMs} ms: ${method} ${path} (TIME_LIMIT)`;
}

/**
 * Largest head (status line and headers) a deployment's response can have: HAProxy's, its 16 KiB
 * buffer less the 1 KiB it keeps for rewriting, and the router holds to the same. nginx in front
 * of an app allows 4–8 KiB by default.
 */
export const MAX_RESPONSE_HEAD_BYTES = 15 * 1024;

/**
 * The app log line of a response whose head was over {@link MAX_RESPONSE_HEAD_BYTES}: the caller
 * got a 502 whose message cannot say which of the two it was (HAProxy's error page is the same for
 * a process that ended), so the log does.
 */
export function oversizedHeadMessage(method: string, path: string): string {
  return `The response to ${method} ${path} was not delivered: its headers are over ` +
    `${MAX_RESPONSE_HEAD_BYTES / 1024} KiB, the most a response head can have (the caller got 502)`;
}

/** What a caller gets when the process was killed at its memory cap: HAProxy's words too. */
export const MEMORY_LIMIT_MESSAGE = "The deployment exceeded its memory limit and was terminated";

/** What a caller gets when the deployment's answer did not reach it: HAProxy's words too. */
export const UNAVAILABLE_MESSAGE = "The deployment failed to answer: its process ended, or its " +
  `response's headers were over ${MAX_RESPONSE_HEAD_BYTES / 1024} KiB (see its app logs)`;

/** Why a stuck process was restarted, for its app log. */
export const STUCK_PROCESS_REASON =
  "The process stopped answering (its event loop is blocked) and was restarted";

/** Writes a line to the deployment's app log. */
export type AppLog = (deploymentId: string, level: LogLevel, message: string) => void;

/** What {@link timeLimitResponse} needs to know about the request that timed out. */
export interface TimedOutRequest {
  instance: Instance;
  runtime: Runtime;
  timeoutMs: number;
  method: string;
  path: string;
  log: AppLog;
}

/**
 * For a request whose tenant did not answer even {@link TIME_LIMIT_GRACE_MS} past its limit
 * (`timeoutMs`): logs it, restarts the stuck process, and returns the 504 for the client.
 */
export async function timeLimitResponse(request: TimedOutRequest): Promise<Response> {
  const { instance, runtime, timeoutMs } = request;
  request.log(
    instance.deploymentId,
    "error",
    timedOutMessage(timeoutMs, request.method, request.path),
  );
  await runtime.recycle(instance, STUCK_PROCESS_REASON);
  return errorResponse(
    504,
    "TIME_LIMIT",
    `The deployment did not answer within its time limit of ${timeoutMs} ms; ` +
      "its process was stuck and has been restarted",
  );
}

/**
 * The answer when forwarding failed for another reason: `MEMORY_LIMIT` if the process was
 * killed at its memory cap (as Deploy answers), otherwise the deployment is unavailable.
 */
export async function forwardFailureResponse(instance: Instance): Promise<Response> {
  // The process may still be writing V8's report as the connection drops: give it a moment.
  let ended = false;
  const exitedSoon = instance.exited.then(() => {
    ended = true;
    return new Promise((resolve) => setTimeout(resolve, 50));
  });
  await Promise.race([exitedSoon, new Promise((resolve) => setTimeout(resolve, 1_000))]);
  if (instance.memoryLimitExceeded) {
    return errorResponse(
      502,
      "MEMORY_LIMIT",
      MEMORY_LIMIT_MESSAGE,
    );
  }
  // Not the forwarding error's own words: node's name the host's socket path ("connect
  // ECONNREFUSED /…/run/http.sock"), none of the client's business. HAProxy's words.
  return errorResponse(
    502,
    "deploymentUnavailable",
    ended
      ? UNAVAILABLE_MESSAGE
      : "The deployment failed to answer: the connection to its process failed",
  );
}

/** The answer to a request whose response head was over {@link MAX_RESPONSE_HEAD_BYTES}. */
export function oversizedHeadResponse(): Response {
  return errorResponse(502, "deploymentUnavailable", UNAVAILABLE_MESSAGE);
}

function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ code, message }, { status });
}
