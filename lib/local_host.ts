/**
 * Finding, starting and stopping the local host running in the background.
 *
 * A running host announces itself in `<dataDir>/host.json` (mode 0600, it holds the token):
 * `{apiUrl, token, organizationId, port, baseDomain, pid}`. It writes the file when ready and
 * removes it on shutdown; a file left by a crash is recognised by its dead pid.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { DeployTenantError, ExitCode } from "./errors.ts";

/** The content of `<dataDir>/host.json`. */
export interface HostInfo {
  /** The API root, e.g. `http://127.0.0.1:8000/v1`. */
  apiUrl: string;
  /** The v2 API root, e.g. `http://127.0.0.1:8000/v2` (the same store as {@link apiUrl}). */
  apiV2Url?: string;
  /** The bearer token of the host's API (both versions). */
  token: string;
  /** The id of the host's only organization. */
  organizationId: string;
  /** The organization's slug: v2 host names are `{app}.{slug}.{baseDomain}`. */
  organizationSlug?: string;
  /** The port deployments and the API are served on. */
  port: number;
  /** Deployments answer on `<name>-<id>.<baseDomain>`. */
  baseDomain: string;
  /** The host's process id. */
  pid: number;
  /** The HTTPS port, when the host serves HTTPS (`--https-port`). */
  httpsPort?: number;
  /** How tenants are isolated, e.g. `bubblewrap sandbox + Deno permissions`. */
  isolation?: string;
  /** What forwards requests to deployments: `haproxy` in front, or `none` (the host's router). */
  frontProxy?: string;
  /** How tenant limits are enforced: the cgroups in use, or why memory is sampled instead. */
  cgroups?: string;
  /**
   * The machine's limits the host found at start (open files, processes, pids, threads,
   * memory) and `capacity`: the warm tenants they make room for, and which binds first.
   */
  limits?: {
    capacity?: { tenants: number | null; boundBy: string | null; each?: Record<string, number> };
    maxWarm?: number;
    openFiles?: { soft: number | null; hard: number | null } | null;
    processes?: { soft: number | null; hard: number | null } | null;
    pidMax?: number | null;
    threadsMax?: number | null;
    memoryAvailableBytes?: number | null;
    cgroupMemory?: { limitBytes: number; usageBytes: number } | null;
  };
}

/** The port a local host listens on unless told otherwise. */
export const DEFAULT_HOST_PORT = 8000;

/** Options of {@link startBackgroundHost}. */
export interface StartHostOptions {
  /** The host's data directory; `host.json` and `host.log` go there. */
  dataDir: string;
  /** The port to listen on; the host's default (8000) when omitted, `0` for a free one. */
  port?: number;
  /** More arguments for `host`, e.g. `["--base-domain", "example.test"]`. */
  args?: string[];
  /** How long to wait for the host to become healthy; default 15 s. */
  timeoutMs?: number;
}

const DEFAULT_START_TIMEOUT_MS = 15_000;
const HEALTH_TIMEOUT_MS = 2_000;

/** The path of `host.json` in `dataDir`. */
export function hostInfoPath(dataDir: string): string {
  return join(dataDir, "host.json");
}

/** The path of the background host's log in `dataDir`. */
export function hostLogPath(dataDir: string): string {
  return join(dataDir, "host.log");
}

/** Reads `<dataDir>/host.json`; `undefined` when there is none or it is unreadable. */
export async function readHostInfo(dataDir: string): Promise<HostInfo | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(hostInfoPath(dataDir));
  } catch {
    return undefined;
  }
  try {
    const info = JSON.parse(text);
    const valid = typeof info?.apiUrl === "string" && typeof info.token === "string" &&
      typeof info.organizationId === "string" && Number.isInteger(info.pid);
    return valid ? info as HostInfo : undefined;
  } catch {
    return undefined; // half-written: the host is still starting, or crashed while writing
  }
}

/** Whether a process with this id exists. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as { code?: string }).code === "EPERM";
  }
}

/** Whether the host answers `GET <origin>/health` with a 2xx within a short time. */
export async function isHostHealthy(info: Pick<HostInfo, "apiUrl">): Promise<boolean> {
  try {
    const response = await fetch(new URL("/health", info.apiUrl), {
      signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** The host described by `<dataDir>/host.json` if its process is alive and healthy. */
export async function findRunningHost(dataDir: string): Promise<HostInfo | undefined> {
  const info = await readHostInfo(dataDir);
  if (!info || !isProcessAlive(info.pid)) return undefined;
  return await isHostHealthy(info) ? info : undefined;
}

/**
 * V8 flags for a host process. No memory reducer: when allocation stops after a busy moment,
 * V8 otherwise collects the whole heap once to three times ~8 s later, which woke an idle host
 * with 1 000 warm tenants (a ~50 MB heap) for 2–4% of a core (bench/idle.ts: host 6.6% of a
 * core with it, 2.6% without). The heap then keeps its size until allocation calls for the next
 * collection. `deno task host`, `compile` and `install` pass the same flags.
 */
export const HOST_V8_FLAGS: readonly string[] = ["--no-memory-reducer"];

/** `DENO_V8_FLAGS` for a host process started from here: the caller's own, then {@link HOST_V8_FLAGS}. */
function hostV8FlagsEnv(): string {
  return [process.env.DENO_V8_FLAGS, ...HOST_V8_FLAGS].filter(Boolean).join(",");
}

/**
 * The command line that runs this same CLI with `args`: `deno run -A <main.ts> …` when
 * running from source, or the compiled binary itself.
 */
export function cliCommand(args: string[]): string[] {
  const execPath = Deno.execPath();
  const name = basename(execPath).replace(/\.exe$/i, "");
  if (name !== "deno") return [execPath, ...args];
  const mainTs = fileURLToPath(new URL("../main.ts", import.meta.url));
  return [execPath, "run", "-A", mainTs, ...args];
}

/**
 * Starts `host` in the background (detached, output appended to `<dataDir>/host.log`) and
 * waits until it is healthy. If another process won the race to start a host on the same
 * data directory, that one is returned.
 *
 * @throws {DeployTenantError} `portInUse` (exit code 6) when another program holds the port,
 *   else `hostStartFailed` (exit code 6) with the error the host printed (or the end of its log).
 */
export async function startBackgroundHost(options: StartHostOptions): Promise<HostInfo> {
  const { dataDir } = options;
  await Deno.mkdir(dataDir, { recursive: true });
  const stale = await readHostInfo(dataDir);
  if (stale && !isProcessAlive(stale.pid)) {
    await Deno.remove(hostInfoPath(dataDir)).catch(() => {});
  }

  const args = ["host", "--data-dir", dataDir, ...(options.args ?? [])];
  if (options.port !== undefined) args.push("--port", String(options.port));
  const [command, ...rest] = cliCommand(args);
  const logPath = hostLogPath(dataDir);
  // What this start adds to the log (it is appended to): an error is read from there only.
  const logStart = await Deno.stat(logPath).then((info) => info.size, () => 0);
  const log = openSync(logPath, "a", 0o600);
  let pid: number | undefined;
  let exited = false; // a child that exited stays a zombie until reaped: it would look alive
  try {
    const child = spawn(command, rest, {
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, DENO_V8_FLAGS: hostV8FlagsEnv() },
    });
    child.on("exit", () => exited = true);
    child.on("error", () => exited = true);
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(log);
  }

  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  while (Date.now() < deadline) {
    const info = await readHostInfo(dataDir);
    if (info && isProcessAlive(info.pid) && await isHostHealthy(info)) return info;
    if (pid === undefined || exited || !isProcessAlive(pid)) {
      // Ours exited: maybe another CLI started one meanwhile, otherwise it failed.
      const other = await findRunningHost(dataDir);
      if (other) return other;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (pid !== undefined && !exited && isProcessAlive(pid)) {
    try {
      process.kill(pid, "SIGTERM");
    } catch { /* it exited meanwhile */ }
  }
  throw await startFailed(logPath, logStart);
}

/**
 * Why a background host did not start, from what it wrote to its log since `from`: the
 * error (and hint) the host command printed, said once, or else the log's last lines.
 */
async function startFailed(logPath: string, from: number): Promise<DeployTenantError> {
  const written = await logText(logPath, from);
  const lines = written.trimEnd().split("\n");
  const errorAt = lines.findLastIndex((line) => line.startsWith("error: "));
  const portHint = "Another program may use the port: start the host on a free one with " +
    "`deploy-tenant host start --port 0`, or point the CLI at a server with --api.";
  if (errorAt < 0) {
    // A stack trace's frames say where, its first line what: keep the what.
    const tail = lines.filter((line) => !/^\s+at /.test(line)).slice(-5).join("\n").trim();
    return new DeployTenantError(
      "hostStartFailed",
      `The local host did not start: ${tail || "no output"}`,
      { hint: `${portHint} See ${logPath}.`, exitCode: ExitCode.unavailable },
    );
  }
  const error = lines[errorAt].slice("error: ".length);
  const hint = lines.slice(errorAt + 1).find((line) => line.startsWith("hint: "))
    ?.slice("hint: ".length);
  // The host's own hint for a taken port names `host --port`, which nobody typed here.
  const portTaken = /^Port \d+ is already in use/.test(error);
  const what = portTaken ? portHint : hint;
  return new DeployTenantError(
    portTaken ? "portInUse" : "hostStartFailed",
    `The local host did not start: ${error}`,
    {
      hint: `${what ? `${what} ` : ""}Its log: ${logPath}.`,
      exitCode: ExitCode.unavailable,
    },
  );
}

/**
 * {@link startBackgroundHost} on the default port, or on a free one when another program holds
 * that (a dev server on 8000): every command finds the host's URL in its host.json. Returns the
 * host, and the default port when it was found taken.
 */
export async function startBackgroundHostOnAnyPort(
  options: Omit<StartHostOptions, "port">,
): Promise<{ info: HostInfo; portTaken?: number }> {
  try {
    return { info: await startBackgroundHost(options) };
  } catch (error) {
    if (!(error instanceof DeployTenantError && error.code === "portInUse")) throw error;
    return {
      info: await startBackgroundHost({ ...options, port: 0 }),
      portTaken: DEFAULT_HOST_PORT,
    };
  }
}

/**
 * Stops the host running on `dataDir` (SIGTERM, then waits up to `timeoutMs` for it to
 * exit). Returns the stopped host's info, or `undefined` when none was running.
 *
 * @throws {DeployTenantError} `hostStopFailed` (exit code 1) if it did not exit in time.
 */
export async function stopBackgroundHost(
  dataDir: string,
  timeoutMs = 15_000,
): Promise<HostInfo | undefined> {
  const info = await readHostInfo(dataDir);
  if (!info || !isProcessAlive(info.pid)) return undefined;
  process.kill(info.pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(info.pid)) {
    if (Date.now() > deadline) {
      throw new DeployTenantError(
        "hostStopFailed",
        `The local host (pid ${info.pid}) did not stop within ${timeoutMs / 1000} s`,
        { hint: `Check ${hostLogPath(dataDir)}, or end it with \`kill ${info.pid}\`.` },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return info;
}

/** The text of the log at `path` from byte `from` on ("" when it cannot be read). */
async function logText(path: string, from: number): Promise<string> {
  try {
    const bytes = await Deno.readFile(path);
    return new TextDecoder().decode(bytes.subarray(Math.min(from, bytes.length)));
  } catch {
    return "";
  }
}
