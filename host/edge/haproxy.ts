/**
 * HAProxy as a child process of the host: found on `PATH`, started in the foreground
 * (`-db`) under a lifeline so it never outlives the host, and driven over its admin socket
 * (the runtime API: maps, server states, counters).
 *
 * @module
 */
import { findProgram } from "../../lib/programs.ts";
import { inCgroup } from "../tenant/cgroups.ts";

/**
 * `haproxy` from `DEPLOY_TENANT_HAPROXY`, `PATH` or the sbin directories (where Debian puts
 * it), or `undefined` when it is not installed — or `DEPLOY_TENANT_HAPROXY` is set empty.
 */
export function findHaproxy(): string | undefined {
  const override = Deno.env.get("DEPLOY_TENANT_HAPROXY");
  if (override !== undefined) return override || undefined;
  return findProgram("haproxy");
}

/** The oldest HAProxy the front proxy's configuration loads on: stick tables with a `gpt` array. */
export const MIN_HAPROXY_VERSION: readonly [number, number] = [2, 5];

/** `[major, minor]` from `haproxy -v` ("HAProxy version 2.6.12-1+deb12u4 2026/10/17 …"). */
export function parseHaproxyVersion(text: string): [number, number] | undefined {
  const match = /^HA-?Proxy version (\d+)\.(\d+)/m.exec(text);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/**
 * The version of the HAProxy at `binary` when it is older than {@link MIN_HAPROXY_VERSION}
 * (e.g. `"2.4"`), else `undefined` (new enough, or it did not say: then it is tried).
 */
export function haproxyTooOld(binary: string): string | undefined {
  let text: string;
  try {
    const output = new Deno.Command(binary, { args: ["-v"], stdout: "piped", stderr: "null" })
      .outputSync();
    text = new TextDecoder().decode(output.stdout);
  } catch {
    return undefined;
  }
  const version = parseHaproxyVersion(text);
  if (!version) return undefined;
  const [major, minor] = version;
  const [minMajor, minMinor] = MIN_HAPROXY_VERSION;
  return major < minMajor || (major === minMajor && minor < minMinor)
    ? `${major}.${minor}`
    : undefined;
}

/**
 * Runs HAProxy (`$0`, with `$@`) and kills it when this script's stdin reaches EOF: the host
 * holds the other end of the pipe and never writes, so when the host dies, even by SIGKILL,
 * HAProxy goes too. (`PR_SET_PDEATHSIG` would follow the thread that spawned it, not the host.)
 */
const LIFELINE = [
  "exec 3<&0",
  '"$0" "$@" </dev/null &',
  "pid=$!",
  '(cat <&3 >/dev/null; kill "$pid" 2>/dev/null) &',
  "exec 3<&-",
  'wait "$pid"',
].join("\n");

/** How to start HAProxy. */
export interface HaproxyStartOptions {
  binary: string;
  configPath: string;
  adminSocket: string;
  /** Receives each log line HAProxy writes to stdout. */
  onLogLine: (line: string) => void;
  /** Receives HAProxy's warnings and alerts. */
  onMessage?: (line: string) => void;
  /** How long HAProxy may take to answer on its admin socket. Default 10 s. */
  startTimeoutMs?: number;
  /** A cgroup to run in (host/tenant/cgroups.ts `serviceCgroup`), joined before it starts. */
  cgroup?: { procsFiles: string[] };
}

/** A running HAProxy. */
export class Haproxy {
  #child: Deno.ChildProcess;
  #adminSocket: string;
  #output: Promise<void>;
  /** Settles when HAProxy has exited. */
  readonly exited: Promise<Deno.CommandStatus>;

  private constructor(
    child: Deno.ChildProcess,
    options: HaproxyStartOptions,
    output: Promise<void>,
  ) {
    this.#child = child;
    this.#adminSocket = options.adminSocket;
    this.#output = output;
    this.exited = child.status;
  }

  /**
   * Starts HAProxy and waits until it answers on its admin socket (its listeners are bound by
   * then). Throws `Deno.errors.AddrInUse` when the public port is taken.
   */
  static async start(options: HaproxyStartOptions): Promise<Haproxy> {
    let command = {
      command: "/bin/sh",
      args: ["-c", LIFELINE, options.binary, "-db", "-f", options.configPath],
    };
    if (options.cgroup) command = inCgroup(command, options.cgroup);
    const child = new Deno.Command(command.command, {
      args: command.args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const messages: string[] = [];
    const output = Promise.all([
      readLines(child.stdout, options.onLogLine),
      readLines(child.stderr, (line) => {
        // Version banners, slots going in and out of service, the soft stop.
        if (
          /^\[NOTICE\]|Server slot\d+\/s is |Paused frontend |Proxy \S+ stopped|Stopping |^Terminated$/
            .test(line)
        ) {
          return;
        }
        messages.push(line);
        options.onMessage?.(line);
      }),
    ]).then(() => {});
    const haproxy = new Haproxy(child, options, output);
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    while (!exited && Date.now() < deadline) {
      try {
        await haproxy.command("show info");
        return haproxy;
      } catch { /* not listening yet */ }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await haproxy.#kill();
    await output.catch(() => {});
    const text = messages.join("\n");
    if (/Address already in use/.test(text)) throw new Deno.errors.AddrInUse(text);
    throw new Error(`HAProxy did not start${text ? `:\n${text}` : ""}`);
  }

  /**
   * Runs admin commands (joined with `;`, answered in order) and returns HAProxy's answer.
   * Each call uses its own connection.
   */
  async command(...commands: string[]): Promise<string> {
    const conn = await Deno.connect({ transport: "unix", path: this.#adminSocket });
    try {
      await writeAll(conn, new TextEncoder().encode(commands.join(";") + "\n"));
      return await new Response(conn.readable).text();
    } catch (error) {
      try {
        conn.close();
      } catch { /* closed by the readable */ }
      throw error;
    }
  }

  /**
   * Stops HAProxy: `frontend` stops accepting connections, the requests in flight get up to
   * `timeoutMs` to finish (idle keep-alive connections do not count), then HAProxy exits.
   */
  async stop(frontend: string, timeoutMs = 3_000): Promise<void> {
    try {
      await this.command(`disable frontend ${frontend}`);
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        // Streams of requests in flight; the admin connection asking is one of GLOBAL's.
        const sessions = await this.command("show sess");
        if (!/ fe=(?!GLOBAL )/.test(sessions)) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    } catch { /* not answering: stop it anyway */ }
    await this.#kill();
    await this.#output.catch(() => {});
  }

  /** Ends HAProxy now: closing the lifeline makes the wrapper kill it. */
  async #kill(): Promise<void> {
    await this.#child.stdin.close().catch(() => {});
    await this.exited;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Calls `onLine` with each line of `stream` as it arrives. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let partial = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const line of lines) if (line) onLine(line);
  }
  if (partial) onLine(partial);
}
