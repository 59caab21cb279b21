/**
 * The runtime supervisor: one sandboxed Deno process per deployment, started on first use,
 * kept warm, evicted when idle, restarted after a crash.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { type Isolation, SOCKET_NAME, tenantCommand, type TenantSpec } from "./sandbox.ts";

/** A running tenant process and the HTTP client that reaches its socket. */
export interface Instance {
  deploymentId: string;
  socketPath: string;
  client: Deno.HttpClient;
  lastUsed: number;
  /** Settles when the process exits. */
  exited: Promise<Deno.CommandStatus>;
}

/** Why a tenant did not come up: the tail of its stderr says what the module did wrong. */
export class TenantStartError extends Error {
  /** Creates a start failure with the process's output. */
  constructor(message: string, readonly output: string) {
    super(output ? `${message}\n${output}` : message);
    this.name = "TenantStartError";
  }
}

/** Receives the lines a tenant writes, and lifecycle events. */
export type TenantLog = (deploymentId: string, level: "info" | "error", message: string) => void;

/** How the supervisor runs tenants. */
export interface RuntimeOptions {
  isolation: Isolation;
  /** Per-deployment directories live at `<deploymentsDir>/<id>/{app,run,cache}`. */
  deploymentsDir: string;
  /**
   * KV databases live at `<kvDir>/<databaseId>/`, created when a deployment bound to one
   * starts. Default: `kv` beside `deploymentsDir`.
   */
  kvDir?: string;
  bootstrap: string;
  deno: string;
  memoryMb?: number;
  idleTimeoutMs?: number;
  startTimeoutMs?: number;
  log?: TenantLog;
}

/** What the supervisor needs to know about a deployment to run it. */
export interface RunnableDeployment {
  id: string;
  entrypoint: string;
  envVars: Record<string, string>;
  /** The KV database `Deno.openKv()` opens (`databases.default`), if any. */
  kvDatabaseId?: string | null;
  net?: string[] | null;
  denoFlags: string[];
}

/** The directory of KV database `id` under the runtime's `kvDir`. */
export function kvDatabaseDir(kvDir: string, id: string): string {
  return join(kvDir, id.toLowerCase());
}

/** Paths of one deployment's directories. */
export function deploymentDirs(deploymentsDir: string, id: string) {
  const root = join(deploymentsDir, id);
  return { root, app: join(root, "app"), run: join(root, "run"), cache: join(root, "cache") };
}

/** Starts, tracks and stops tenant processes. */
export class Runtime {
  #options: Required<Omit<RuntimeOptions, "log">> & { log: TenantLog };
  #instances = new Map<string, Promise<Instance>>();
  #processes = new Map<string, Deno.ChildProcess>();
  #sweeper: ReturnType<typeof setInterval>;

  /** Creates a supervisor; idle processes are swept every few seconds. */
  constructor(options: RuntimeOptions) {
    this.#options = {
      ...options,
      kvDir: options.kvDir ?? join(dirname(options.deploymentsDir), "kv"),
      memoryMb: options.memoryMb ?? 512,
      idleTimeoutMs: options.idleTimeoutMs ?? 5 * 60_000,
      startTimeoutMs: options.startTimeoutMs ?? 30_000,
      log: options.log ?? (() => {}),
    };
    this.#sweeper = setInterval(() => this.#evictIdle(), 5_000);
    Deno.unrefTimer(this.#sweeper as unknown as number);
  }

  /** The isolation tenants run under. */
  get isolation(): Isolation {
    return this.#options.isolation;
  }

  /** The running instance of `deployment`, starting it if needed. Concurrent callers share one start. */
  ensure(deployment: RunnableDeployment): Promise<Instance> {
    const existing = this.#instances.get(deployment.id);
    if (existing) return existing;
    const starting = this.#start(deployment);
    this.#instances.set(deployment.id, starting);
    starting.catch(() => {
      if (this.#instances.get(deployment.id) === starting) this.#instances.delete(deployment.id);
    });
    return starting;
  }

  /** Whether a process for `id` is running or starting. */
  isRunning(id: string): boolean {
    return this.#instances.has(id);
  }

  /** Stops the process of `id`, if any, and waits for it to exit. */
  async stop(id: string): Promise<void> {
    const pending = this.#instances.get(id);
    this.#instances.delete(id);
    const child = this.#processes.get(id);
    if (child) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
    }
    if (pending) {
      const instance = await pending.catch(() => undefined);
      instance?.client.close();
    }
  }

  /** Stops every process. */
  async stopAll(): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.all([...this.#instances.keys()].map((id) => this.stop(id)));
  }

  async #start(deployment: RunnableDeployment): Promise<Instance> {
    const isolation = this.#options.isolation;
    if (isolation.kind === "none" && !isolation.accepted) {
      throw new TenantStartError(
        `No OS sandbox is available (${isolation.reason}): refusing to run tenant code. ` +
          "Install bubblewrap, or start the host with --unsandboxed to accept weaker isolation.",
        "",
      );
    }
    const dirs = deploymentDirs(this.#options.deploymentsDir, deployment.id);
    await Deno.mkdir(dirs.run, { recursive: true, mode: 0o700 });
    await Deno.mkdir(dirs.cache, { recursive: true, mode: 0o700 });
    const socketPath = join(dirs.run, SOCKET_NAME);
    await Deno.remove(socketPath).catch(() => {});
    let kvDir: string | undefined;
    if (deployment.kvDatabaseId) {
      kvDir = kvDatabaseDir(this.#options.kvDir, deployment.kvDatabaseId);
      await Deno.mkdir(kvDir, { recursive: true, mode: 0o700 });
    }
    const spec: TenantSpec = {
      deploymentId: deployment.id,
      appDir: dirs.app,
      entrypoint: deployment.entrypoint,
      runDir: dirs.run,
      cacheDir: dirs.cache,
      bootstrap: this.#options.bootstrap,
      envVars: deployment.envVars,
      kvDir,
      net: deployment.net,
      memoryMb: this.#options.memoryMb,
      denoFlags: deployment.denoFlags,
      deno: this.#options.deno,
    };
    const { command, args, env, cwd } = tenantCommand(spec, this.#options.isolation);
    const child = new Deno.Command(command, {
      args,
      env,
      clearEnv: true,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#processes.set(deployment.id, child);
    const output = new OutputTail();
    const log = this.#options.log;
    pipeLines(child.stdout, (line) => log(deployment.id, "info", line));
    const stderrDone = pipeLines(child.stderr, (line) => {
      if (line.startsWith(SERVE_HINT)) return;
      output.push(line);
      log(deployment.id, "error", line);
    });
    const exited = child.status.then((status) => {
      if (this.#processes.get(deployment.id) === child) this.#processes.delete(deployment.id);
      const current = this.#instances.get(deployment.id);
      // A crashed process is forgotten, so the next request starts a fresh one.
      if (current) {
        current.then((instance) => {
          if (instance.exited === exited) this.#instances.delete(deployment.id);
        }, () => {});
      }
      return status;
    });

    try {
      await waitForSocket(socketPath, exited, this.#options.startTimeoutMs);
    } catch (error) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await exited;
      await Promise.race([stderrDone, new Promise((resolve) => setTimeout(resolve, 1_000))]);
      throw new TenantStartError((error as Error).message, output.text());
    }
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
    return { deploymentId: deployment.id, socketPath, client, lastUsed: Date.now(), exited };
  }

  #evictIdle(): void {
    const cutoff = Date.now() - this.#options.idleTimeoutMs;
    for (const [id, pending] of this.#instances) {
      pending.then((instance) => {
        if (instance.lastUsed < cutoff) this.stop(id);
      }, () => {});
    }
  }
}

/** Waits until the tenant listens on its socket, or fails if it exits or takes too long. */
async function waitForSocket(
  path: string,
  exited: Promise<Deno.CommandStatus>,
  timeoutMs: number,
): Promise<void> {
  let exitStatus: Deno.CommandStatus | undefined;
  exited.then((status) => exitStatus = status);
  const deadline = Date.now() + timeoutMs;
  for (let delay = 2; Date.now() < deadline; delay = Math.min(delay * 2, 25)) {
    if (exitStatus) {
      throw new Error(`The deployment exited with code ${exitStatus.code} before it served`);
    }
    try {
      const conn = await Deno.connect({ transport: "unix", path });
      conn.close();
      return;
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  throw new Error(`The deployment did not start serving within ${timeoutMs / 1000} s`);
}

/** Keeps the last lines a process wrote to stderr, for build logs. */
class OutputTail {
  #lines: string[] = [];
  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > 50) this.#lines.shift();
  }
  text(): string {
    return this.#lines.join("\n");
  }
}

async function pipeLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let buffer = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        onLine(stripAnsi(buffer.slice(0, newline)));
        buffer = buffer.slice(newline + 1);
      }
    }
  } catch { /* the process went away */ }
  if (buffer) onLine(stripAnsi(buffer));
}

/** Deno suggests `deno serve` for `export default { fetch }` modules; the bootstrap serves them. */
const SERVE_HINT = "warning: Detected export default { fetch }";

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}
