/**
 * Errors that cross the library boundary, and the exit codes the CLI maps them to
 * (the ones `deno deploy` uses).
 *
 * @module
 */

/** Process exit codes. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  conflict: 5,
  unavailable: 6,
  /** Stopped by Ctrl-C (128 + SIGINT), as shells report it. */
  interrupted: 130,
  /** Stopped by SIGTERM (128 + 15): a CI job cancelled, `timeout`, a container stopped. */
  terminated: 143,
} as const;

/** One of {@link ExitCode}'s values. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** An expected failure with a message for people and a hint on what to do. */
export class DeployTenantError extends Error {
  /** Machine-readable code, e.g. `entrypointNotFound`. */
  code: string;
  /** What the user can do about it. */
  hint?: string;
  /** The exit code the CLI uses for it. */
  exitCode: ExitCode;

  /** Creates an expected failure. */
  constructor(
    code: string,
    message: string,
    options: { hint?: string; exitCode?: ExitCode; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "DeployTenantError";
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failed;
  }
}

/** An error answer from the API: HTTP status, the body's `{code, message}` and the trace id. */
export class ApiError extends DeployTenantError {
  /** HTTP status of the response. */
  status: number;
  /** The trace header (`x-deno-trace-id` on v2, `x-deno-ray` on v1), when the server sent one. */
  traceId?: string;

  /** Creates an API error from a response's parts. */
  constructor(
    status: number,
    code: string,
    message: string,
    options: { traceId?: string; hint?: string } = {},
  ) {
    super(code, message, { hint: options.hint, exitCode: exitCodeForStatus(status, code) });
    this.name = "ApiError";
    this.status = status;
    this.traceId = options.traceId;
  }
}

/** A request that never got an answer: connection refused, reset, or timed out. */
export class NetworkError extends DeployTenantError {
  /** Creates a network error for `url`. */
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super("networkError", message, { ...options, exitCode: ExitCode.unavailable });
    this.name = "NetworkError";
  }
}

/** Maps an HTTP status (and the API's error code) to the CLI exit code. */
export function exitCodeForStatus(status: number, code?: string): ExitCode {
  // An organization at its quota is a conflict with what it holds, not an auth failure.
  if (isQuotaExceeded(code)) return ExitCode.conflict;
  if (status === 401 || status === 403) return ExitCode.auth;
  if (status === 404) return ExitCode.notFound;
  if (status === 409) return ExitCode.conflict;
  if (status === 408 || status === 429 || status >= 500) return ExitCode.unavailable;
  return ExitCode.failed;
}

/** Whether an API error code says an organization is at a quota (v1 and v2 spellings). */
export function isQuotaExceeded(code: string | undefined): boolean {
  return code === "quotaExceeded" || code === "QUOTA_EXCEEDED";
}

/**
 * Whether `error` is the API saying that a project (v1 `projectNotFound`) or app (v2
 * `APP_NOT_FOUND`) does not exist. Any other 404 (an unknown organization, an API URL
 * without its version) is a mistake of its own, which offering to create the project hides.
 */
export function isProjectNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404 &&
    (error.code === "projectNotFound" || error.code === "APP_NOT_FOUND");
}
