/**
 * Runs the CLI as a subprocess, the way a user's shell or CI does.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

/** Path of the CLI's entry point. */
export const MAIN_TS = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** Variables the CLI reads for its configuration; cleared so the caller's shell cannot leak in. */
const CONFIG_VARS = [
  "DEPLOY_API_URL",
  "DEPLOY_ACCESS_TOKEN",
  "DENO_DEPLOY_TOKEN",
  "DEPLOY_ORG_ID",
  "DEPLOY_TENANT_DATA_DIR",
  "DEPLOY_TENANT_HOST_TOKEN",
];

/** Options of {@link runCli}. */
export interface RunOptions {
  /** Added to a clean environment; `DEPLOY_TENANT_AUTOSTART` defaults to `0`. */
  env?: Record<string, string>;
  /** Written to the CLI's stdin (otherwise stdin is empty). */
  stdin?: string | Uint8Array;
  /** Working directory. */
  cwd?: string;
}

/** What a CLI run produced. */
export interface CliResult {
  /** The exit code. */
  code: number;
  /** Everything written to stdout. */
  stdout: string;
  /** The same, as bytes (for binary output). */
  stdoutBytes: Uint8Array;
  /** Everything written to stderr. */
  stderr: string;
}

/**
 * Runs `deno run -A main.ts <args>` and collects its exit code and output. No local host
 * is ever started implicitly unless `env` sets `DEPLOY_TENANT_AUTOSTART`.
 */
export async function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const env = cleanEnv();
  env.DEPLOY_TENANT_AUTOSTART = "0";
  env.NO_COLOR = "1";
  Object.assign(env, options.env);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_TS, ...args],
    env,
    clearEnv: true,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stdoutBytes: stdout,
    stderr: decoder.decode(stderr),
  };
}

/** {@link runCli}, failing with the run's exit code and output unless it exits 0. */
export async function runCliOk(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const result = await runCli(args, options);
  assert.equal(result.code, 0, describe(result));
  return result;
}

/** Parses a run's stdout as JSON, failing with the whole output when it is not. */
export function jsonOf<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON:\n${describe(result)}`);
  }
}

/** The run's exit code and output, for assertion messages. */
export function describe(result: CliResult): string {
  return `exit code ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/**
 * Deno's cache directory, pinned for subprocesses: tests point `XDG_CACHE_HOME` at a
 * temporary directory for the upload cache, and Deno would otherwise move its own cache
 * there too (and download every dependency again).
 */
const DENO_DIR = Deno.env.get("DENO_DIR") ?? await denoDir();

/** The process environment without the CLI's configuration variables. */
export function cleanEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of CONFIG_VARS) delete env[name];
  env.DENO_DIR = DENO_DIR;
  return env;
}

async function denoDir(): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return JSON.parse(new TextDecoder().decode(stdout)).denoDir;
}
