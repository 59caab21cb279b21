/**
 * What every command shares: the global options, the output, the API connection, usage
 * errors and the confirmation prompt.
 *
 * @module
 */
import type { Command } from "commander";
import { V1Api } from "../lib/api.ts";
import { type ApiConfig, resolveApiConfig } from "../lib/config.ts";
import { DeployTenantError, ExitCode } from "../lib/errors.ts";
import { Output } from "../lib/output.ts";

/** The options accepted by every command, before or after its name. */
export interface GlobalOptions {
  api?: string;
  token?: string;
  org?: string;
  json: boolean;
  quiet: boolean;
  color: boolean;
  nonInteractive: boolean;
}

/** An API client with the configuration it came from and the output to report on. */
export interface Session {
  api: V1Api;
  config: ApiConfig;
  out: Output;
}

/** Adds the global options to the root command. */
export function addGlobalOptions(program: Command): Command {
  return program
    .option("--api <url>", "API root, e.g. https://api.deno.com/v1 (env: DEPLOY_API_URL)")
    .option("--token <token>", "access token (env: DEPLOY_ACCESS_TOKEN or DENO_DEPLOY_TOKEN)")
    .option("--org <id>", "organization id (env: DEPLOY_ORG_ID)")
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
 * needed) and creates a client for it.
 */
export async function connect(command: Command, out = outputFor(command)): Promise<Session> {
  const { api, token, org } = globalOptions(command);
  const config = await resolveApiConfig({ api, token, org }, {
    onHostStarted: (info, logPath) =>
      out.info(`Started the local host at ${new URL(info.apiUrl).origin} (logs: ${logPath})`),
  });
  const client = new V1Api({
    baseUrl: config.apiUrl,
    token: config.token,
    organizationId: config.organizationId,
    timeoutMs: requestTimeoutMs(),
    onRetry: ({ attempt, delayMs, reason }) =>
      out.info(`${reason}; retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1})`),
  });
  return { api: client, config, out };
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
 * Asks a yes/no question on stderr and reads the answer from stdin. Only call it when
 * stdin is a terminal: a prompt on a pipe would wait forever.
 */
export async function confirm(question: string): Promise<boolean> {
  await Deno.stderr.write(new TextEncoder().encode(`${question} [y/N] `));
  const answer = await readLine();
  return /^y(es)?$/i.test(answer.trim());
}

async function readLine(): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(256);
  let text = "";
  while (!text.includes("\n")) {
    const n = await Deno.stdin.read(buffer);
    if (n === null) break;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  return text.split("\n")[0];
}
