/**
 * What every command shares: the global options, the output, the API connection, usage
 * errors and the confirmation prompt.
 *
 * @module
 */
import type { Command } from "commander";
import type { DeployApi } from "../lib/api.ts";
import type { ApiConfig } from "../lib/config.ts";
import { ApiError, DeployTenantError, ExitCode } from "../lib/errors.ts";
import { Output } from "../lib/output.ts";
import type { V2Api } from "../lib/v2_api.ts";
import { canPrompt, confirm } from "./prompts.ts";

/** The options accepted by every command, before or after its name. */
export interface GlobalOptions {
  api?: string;
  token?: string;
  org?: string;
  apiVersion?: string;
  json: boolean;
  quiet: boolean;
  color: boolean;
  nonInteractive: boolean;
}

/** An API client with the configuration it came from and the output to report on. */
export interface Session {
  /** The API, whichever version the configuration chose. */
  api: DeployApi;
  /** The same API when it is v2, for what only v2 has (layers, app variables). */
  v2?: V2Api;
  config: ApiConfig;
  out: Output;
  /**
   * The client's "retrying in …" notes are left out while `muted`: a command that already
   * said the API is unreachable and that it keeps waiting need not list every attempt.
   */
  retryNotes: { muted: boolean };
}

/** Adds the global options to the root command. */
export function addGlobalOptions(program: Command): Command {
  return program
    .option(
      "--api <url>",
      "API root; /v1 or /v2 (or https://console.deno.com) picks the version (env: DEPLOY_API_URL)",
    )
    .option(
      "--api-version <v1|v2>",
      "the local host's v1 (default) or v2 API (env: DEPLOY_API_VERSION)",
    )
    .option("--token <token>", "access token (env: DEPLOY_ACCESS_TOKEN or DENO_DEPLOY_TOKEN)")
    .option("--org <id>", "organization id; on v2 its slug (env: DEPLOY_ORG_ID, DENO_DEPLOY_ORG)")
    .option("--json", "print one JSON document on stdout; errors as JSON on stderr")
    .option("-q, --quiet", "print no progress or messages on stderr")
    .option("--no-color", "no colour (NO_COLOR is honoured too)")
    .option("-y, --non-interactive", "never prompt; answer confirmations with yes");
}

/** The global options as seen from `command`. */
export function globalOptions(command: Command): GlobalOptions {
  const options = command.optsWithGlobals();
  return {
    api: options.api,
    token: options.token,
    org: options.org,
    apiVersion: options.apiVersion,
    json: options.json ?? false,
    quiet: options.quiet ?? false,
    color: options.color ?? true,
    nonInteractive: options.nonInteractive ?? false,
  };
}

/** The output shaped by the global options. */
export function outputFor(command: Command): Output {
  const { json, quiet, color } = globalOptions(command);
  return new Output({ json, quiet, color });
}

/**
 * Resolves the API configuration (flags, environment, or the local host, started when
 * needed) and creates a client for it. `localHostVersion` is the local host's API version
 * when none is asked for (v1 unless a command exists only on v2).
 */
export async function connect(
  command: Command,
  out = outputFor(command),
  options: { localHostVersion?: "v1" | "v2" } = {},
): Promise<Session> {
  const { api, token, org, apiVersion } = globalOptions(command);
  // Loaded here, not at the top: a command's help and the root help need none of them.
  const [{ resolveApiConfig }, { V1Api }, { V2Api }] = await Promise.all([
    import("../lib/config.ts"),
    import("../lib/api.ts"),
    import("../lib/v2_api.ts"),
  ]);
  const config = await resolveApiConfig({ api, token, org, apiVersion }, {
    localHostVersion: options.localHostVersion,
    onHostStarted: (info, logPath, portTaken) =>
      out.info(
        `Started the local host at ${new URL(info.apiUrl).origin}` +
          (portTaken ? ` (port ${portTaken} is in use by another program)` : "") +
          ` (logs: ${logPath})`,
      ),
  });
  const retryNotes = { muted: false };
  const transport = {
    baseUrl: config.apiUrl,
    token: config.token,
    timeoutMs: requestTimeoutMs(),
    onRetry: ({ attempt, delayMs, reason }: { attempt: number; delayMs: number; reason: string }) =>
      retryNotes.muted ||
      out.info(`${reason}; retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1})`),
  };
  let session: Session;
  if (config.apiVersion === "v2") {
    const v2 = new V2Api({ ...transport, org: config.organizationId || undefined });
    session = { api: v2, v2, config, out, retryNotes };
  } else {
    const v1 = new V1Api({ ...transport, organizationId: config.organizationId });
    session = { api: v1, config, out, retryNotes };
  }
  sessions.set(command, session);
  return session;
}

/** The session each command connected with, for {@link explainFailure}. */
const sessions = new WeakMap<Command, Session>();

/** The API's "no such deployment" codes: v1's, and v2's for a revision. */
const DEPLOYMENT_NOT_FOUND = new Set(["deploymentNotFound", "REVISION_NOT_FOUND"]);

/**
 * Adds what the API could not know to `error`, the failure of `command`: a deployment that was
 * not found because its first argument is a project's name (`logs acme-crm`) gets a hint naming
 * the project and how to list its deployments. One more request, only on that failure.
 */
export async function explainFailure(error: unknown, command: Command): Promise<unknown> {
  const session = sessions.get(command);
  const id = command.args[0];
  if (!session || !id || !(error instanceof ApiError)) return error;
  // The 404 must be about the argument, not a deployment found along the way.
  if (!DEPLOYMENT_NOT_FOUND.has(error.code) || !error.message.includes(id)) return error;
  const project = await session.api.projects.get(id).catch(() => undefined);
  if (project) {
    error.hint = `"${id}" is a project, not a deployment: ` +
      `\`deploy-tenant deployments list ${project.name}\` lists its deployments with their ids.`;
  }
  return error;
}

/**
 * The v2 API of `session`, or a usage error (exit 2) saying that `what` exists only in v2.
 */
export function requireV2(command: Command, session: Session, what: string): V2Api {
  if (session.v2) return session.v2;
  throw usageError(
    command,
    `${what} exist${what.endsWith("s") ? "" : "s"} only in the Deploy v2 API`,
    "Point the CLI at a v2 API: --api https://api.deno.com/v2, or --api-version v2 for the " +
      "local host.",
  );
}

/** A usage error (exit 2) for a v2-only flag used against a v1 API. */
export function v2OnlyFlag(command: Command, flag: string): DeployTenantError {
  return usageError(
    command,
    `${flag} exists only in the Deploy v2 API`,
    "Leave it out, or point the CLI at a v2 API (--api …/v2, or --api-version v2).",
  );
}

/** Env var: the time limit of one API request attempt, in milliseconds. */
export const REQUEST_TIMEOUT_ENV = "DEPLOY_TENANT_REQUEST_TIMEOUT_MS";

/** {@link REQUEST_TIMEOUT_ENV}, or `undefined` for the client's default (60 s). */
export function requestTimeoutMs(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): number | undefined {
  const value = env[REQUEST_TIMEOUT_ENV];
  if (value === undefined || value.trim() === "") return undefined;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new DeployTenantError(
      "usage",
      `Invalid ${REQUEST_TIMEOUT_ENV} "${value}": expected a positive number of milliseconds`,
      { hint: `For example ${REQUEST_TIMEOUT_ENV}=30000.`, exitCode: ExitCode.usage },
    );
  }
  return ms;
}

/** A usage error (exit code 2), pointing at the command's help. */
export function usageError(command: Command, message: string, hint?: string): DeployTenantError {
  return new DeployTenantError("usage", message, {
    hint: hint ?? `See \`${commandPath(command)} --help\`.`,
    exitCode: ExitCode.usage,
  });
}

/** `deploy-tenant project delete`, for hints. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current; current = current.parent) {
    names.unshift(current.name());
  }
  return names.join(" ");
}

/** Collects a repeatable option's values: `--env A=1 --env B=2`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Whether a destructive step may go ahead without asking (`--yes`, or `-y` for every
 * command), and otherwise that a person can be asked; a script (stdin or stderr not a
 * terminal) gets a usage error (exit 2) saying `refusal` and naming `--yes`. Call it before
 * contacting the API, then {@link confirmOrCancel} when it returns `false`.
 */
export function confirmedOrAskable(
  command: Command,
  yes: boolean | undefined,
  refusal: string,
): boolean {
  if (yes || globalOptions(command).nonInteractive) return true;
  if (!canPrompt(false)) {
    throw usageError(
      command,
      refusal,
      "Pass --yes to go ahead (stdin is not a terminal, so there is no one to ask).",
    );
  }
  return false;
}

/**
 * Asks `question` (default no); a "no" ends the command with exit 1, saying `cancelled`.
 * Only call it once {@link confirmedOrAskable} returned `false`.
 */
export async function confirmOrCancel(
  question: string,
  cancelled = "Cancelled: nothing was changed",
): Promise<void> {
  if (!await confirm(question)) {
    throw new DeployTenantError("cancelled", cancelled, { exitCode: ExitCode.failed });
  }
}

/**
 * Gets a person's yes to a destructive step, or refuses: `--yes` (or `-y`) confirms; without
 * it a terminal is asked `question`, and anything else (a script, CI) is a usage error
 * saying how to confirm. A "no" ends the command with exit 1 and nothing changed.
 */
export async function confirmOrRefuse(
  command: Command,
  yes: boolean | undefined,
  question: string,
  refusal: string,
): Promise<void> {
  if (!confirmedOrAskable(command, yes, refusal)) await confirmOrCancel(question);
}

/**
 * A failed build (exit 1): `what`, then the build's error lines, or, when they were printed
 * above as the log streamed (`logShown`), the line that says what went wrong. `also` ends the
 * hint (e.g. "; deployment … is unchanged").
 */
export function buildFailed(
  what: string,
  buildError: string | undefined,
  id: string,
  logShown: boolean,
  also = "",
): DeployTenantError {
  const error = buildError ?? `${what}.`;
  const lines = error.split("\n");
  // The verdict: the first line that is neither an introduction ("…failed to start:") nor part
  // of a stack trace or an error's properties (indented, or a lone brace).
  const verdict = lines.find((line) => /^\S/.test(line) && !/[:{}]$/.test(line)) ?? lines.at(-1);
  const why = logShown ? `: ${verdict}` : lines.length > 1 ? `:\n${indent(error)}` : `: ${error}`;
  return new DeployTenantError("buildFailed", `${what}${why}`, {
    hint: (logShown
      ? `Its log is above; see it again with \`deploy-tenant logs ${id} --build\``
      : `See the whole build log with \`deploy-tenant logs ${id} --build\``) + `${also}.`,
    exitCode: ExitCode.failed,
  });
}

function indent(text: string): string {
  return text.split("\n").map((line) => `  ${line}`).join("\n");
}
