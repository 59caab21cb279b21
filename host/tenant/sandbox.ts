/**
 * The command line that starts one tenant process: Deno's permission flags inside an OS
 * sandbox (bubblewrap) that shows the process only its own files.
 *
 * Two layers, because Deno's `--allow-read` does not cover module loading: without the OS
 * sandbox a tenant could `import()` another tenant's files.
 *
 * @module
 */
import { basename, join } from "node:path";
import { findProgram } from "../../lib/programs.ts";
import { CACHE_DATABASE_BYTES } from "./cache_cap.ts";
import { tenantFilter } from "./seccomp_filter.ts";
import { SHELL, withShellPrelude } from "./shell_prelude.ts";

/**
 * Which isolation the host runs tenants under. `seccomp`: whether bubblewrap can load the
 * filter of {@link tenantFilter} here (unknown, hence not used, when absent). `terminal`:
 * whether the host has a controlling terminal, which a tenant in its session could read or
 * type into (`TIOCSTI`).
 */
export type Isolation =
  | { kind: "bwrap"; bwrap: string; seccomp?: boolean; terminal?: boolean }
  | { kind: "none"; reason: string; accepted: boolean };

/**
 * Finds bubblewrap and checks that it can create namespaces here. Without it, tenants run only
 * if the operator accepted weaker isolation (`--unsandboxed`).
 */
export async function detectIsolation(acceptUnsandboxed = false): Promise<Isolation> {
  const none = (reason: string): Isolation => ({
    kind: "none",
    reason,
    accepted: acceptUnsandboxed,
  });
  const bwrap = findProgram("bwrap");
  if (!bwrap) return none("bubblewrap (bwrap) is not installed");
  try {
    const probe = await new Deno.Command(bwrap, {
      args: ["--ro-bind", "/", "/", "--unshare-all", "--share-net", "--die-with-parent", "true"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (probe.success) {
      return {
        kind: "bwrap",
        bwrap,
        seccomp: await canLoadFilter(bwrap),
        terminal: hasControllingTerminal(),
      };
    }
    const why = new TextDecoder().decode(probe.stderr).trim();
    return none(`bubblewrap cannot create namespaces here: ${why}`);
  } catch (error) {
    return none(`bubblewrap failed to start: ${(error as Error).message}`);
  }
}

/** Whether this process has a controlling terminal (`/dev/tty` opens only then). */
export function hasControllingTerminal(): boolean {
  try {
    Deno.openSync("/dev/tty", { read: true }).close();
    return true;
  } catch {
    return false;
  }
}

/** Whether bubblewrap starts a process under the tenant filter (the kernel may lack seccomp). */
async function canLoadFilter(bwrap: string): Promise<boolean> {
  const filter = tenantFilter({ ipv4Only: true });
  if (!filter) return false;
  const path = await Deno.makeTempFile({ prefix: "deploy-tenant-filter-" });
  try {
    await Deno.writeFile(path, filter);
    const probe = await new Deno.Command(SHELL, {
      args: [
        "-c",
        WITH_FILTER,
        "sh",
        path,
        bwrap,
        ...["--ro-bind", "/", "/", "--unshare-all", "--share-net", "--die-with-parent"],
        ...["--seccomp", "3", "true"],
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    return probe.success;
  } catch {
    return false;
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}

/** The Deno binary tenants run on: this one, unless we are a compiled binary. */
export function tenantDenoBinary(): string {
  const override = Deno.env.get("DEPLOY_TENANT_DENO");
  if (override) return override;
  const exec = Deno.execPath();
  return basename(exec) === "deno" ? exec : "deno";
}

/**
 * Outbound destinations no tenant may reach unless its `permissions.net` allows them:
 * the host itself (loopback), private, link-local, CGNAT and unspecified ranges. Deno checks
 * `--deny-net` after DNS resolution, so a name resolving to loopback is blocked too.
 */
export const DENIED_NET: readonly string[] = [
  "localhost",
  "0.0.0.0/8",
  "127.0.0.0/8",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "169.254.0.0/16",
  "100.64.0.0/10",
  "[::]",
  "[::1]",
];
// Deno 2.9's --deny-net takes IPv4 CIDRs but only exact IPv6 addresses, so private IPv6 ranges
// (fc00::/7, fe80::/10) cannot be listed here: the sandbox keeps such tenants to IPv4 instead
// (see networkMode). IPv4-mapped IPv6 addresses are checked as IPv4.

/**
 * How a tenant's network is contained under bubblewrap, from its `permissions.net`:
 * - `none` (`[]`): its own empty network namespace, so not even abstract unix sockets of the
 *   host are there;
 * - `ipv4` (all public hosts, or a list without IPv6 addresses): the host's network, with
 *   the network rules of {@link tenantFilter};
 * - `shared` (a list naming an IPv6 address): the host's network, with Deno's allow-list alone.
 */
export type NetworkMode = "none" | "ipv4" | "shared";

/** The {@link NetworkMode} of a deployment's `permissions.net`. */
export function networkMode(net: string[] | null | undefined): NetworkMode {
  if (!net || net.includes("*")) return "ipv4";
  const hosts = net.filter((entry) => !/^unix:/i.test(entry));
  if (hosts.length === 0) return "none";
  return hosts.some((entry) => entry.startsWith("[")) ? "shared" : "ipv4";
}

/** The file {@link writeTenantFilter} writes in a deployment's private directory. */
export const FILTER_NAME = "seccomp.bpf";

/**
 * Writes the seccomp filter of a tenant with `net` into `dir` (the deployment's own
 * directory, never mounted into the sandbox) and returns its path, or `undefined` where it
 * cannot be used.
 */
export async function writeTenantFilter(
  isolation: Isolation,
  net: string[] | null | undefined,
  dir: string,
): Promise<string | undefined> {
  if (isolation.kind !== "bwrap" || !isolation.seccomp) return undefined;
  const filter = tenantFilter({ ipv4Only: networkMode(net) === "ipv4" });
  if (!filter) return undefined;
  const path = join(dir, FILTER_NAME);
  await Deno.writeFile(path, filter, { mode: 0o600 });
  return path;
}

/**
 * Starts bubblewrap with the filter file open on fd 3, for its `--seccomp 3` (Deno cannot pass
 * a child more than stdio). `exec` keeps the pid. Arguments: the filter's path, the command.
 */
const WITH_FILTER = 'f=$1; shift; exec "$@" 3<"$f"';

/** The largest a KV database's files may grow unless the operator says otherwise: 1 GiB. */
export const DEFAULT_KV_MAX_BYTES = 1024 ** 3;

/** What one tenant process needs. Paths are on the host. */
export interface TenantSpec {
  deploymentId: string;
  /** The materialised deployment files (read-only to the tenant). */
  appDir: string;
  /** Entry module, relative to `appDir`. */
  entrypoint: string;
  /** Holds the unix socket the tenant listens on. */
  runDir: string;
  /** The tenant's own Deno cache (transpiled modules, downloaded dependencies). */
  cacheDir: string;
  /** The bootstrap module preloaded before the entry point. */
  bootstrap: string;
  /** The deployment's env vars: the only ones the tenant sees. */
  envVars: Record<string, string>;
  /**
   * The directory of the KV database the deployment is bound to (`Deno.openKv()` opens
   * `kv.sqlite3` in it), read-write; omitted when it has none.
   */
  kvDir?: string;
  /**
   * The largest the KV database's files may grow, in bytes (with {@link kvDir}): the process's
   * `RLIMIT_FSIZE`, so SQLite's write past it fails (EFBIG) instead of filling the disk.
   */
  kvMaxBytes?: number;
  /**
   * The largest file a tenant without a KV database may write, in bytes: what Deno caches for it
   * (code cache and module analysis databases, which grow with every module it makes at run time
   * from `data:` or `blob:` URLs) stops there, and Deno runs on without caching more. Default
   * {@link CACHE_DATABASE_BYTES}.
   */
  cacheFileBytes?: number;
  /** `permissions.net` of the deployment: undefined/null = all public hosts, `[]` = none. */
  net?: string[] | null;
  /**
   * The host's names and the doors to its socket for a deployment's fetches of them
   * (host/edge/self_fetch.ts), which a deployment that may reach all public hosts is given.
   */
  edge?: TenantEdge;
  /** The directory of this process's own door (set by the launcher: see {@link mayUseEdge}). */
  edgeDir?: string;
  /**
   * Whether `net` may name loopback and private addresses (the host's operator allows it,
   * `host --allow-private-net`); otherwise they stay denied whatever the list says.
   */
  privateNet?: boolean;
  /** The seccomp filter bubblewrap loads (from {@link writeTenantFilter}); none when omitted. */
  seccompFilter?: string;
  /** V8 old-space cap in MiB. */
  memoryMb: number;
  /** The request time limit the bootstrap answers 504 at, in ms; none when omitted. */
  requestTimeoutMs?: number;
  /** The secret of the host's warm-up request (see `warmUp` in warm_pool.ts); none when omitted. */
  warmUpSecret?: string;
  /**
   * Whether the deployment may listen with Node's HTTP server (see node_server.ts): the bootstrap
   * then serves such a listen on the host's socket.
   */
  nodeServer?: boolean;
  /** The program's arguments (`Deno.args`), after the entry point; none for a pooled runtime. */
  args?: string[];
  /** Extra `deno run` flags from the build (config, import map, lock). Paths relative to the app dir. */
  denoFlags: string[];
  deno: string;
  /**
   * Starts a pooled runtime (see `warm_pool.ts`): this main module (a host path) waits to be
   * handed a deployment; `entrypoint`, `envVars`, `deploymentId` and `requestTimeoutMs` come then.
   */
  poolMain?: string;
}

/**
 * Where dependencies live: in the deployment's Deno cache only (no `node_modules` or vendor
 * directory in the read-only app dir, whatever its `deno.json` says), at build and at run.
 */
export const MODULE_CACHE_FLAGS: readonly string[] = ["--node-modules-dir=none", "--vendor=false"];

/** What the build's dependency fetch works on (see {@link dependencyFetchCommand}). */
export interface DependencyFetchSpec {
  appDir: string;
  cacheDir: string;
  entrypoint: string;
  /** The deployment's `deno run` flags (config, import map, lock), `{app}` for the app dir. */
  denoFlags: string[];
  deno: string;
  /** The host's egress proxy, `http://127.0.0.1:<port>`. */
  proxyUrl: string;
}

/**
 * Builds the `deno cache` that fetches a deployment's `npm:`, `jsr:` and `https:` modules into
 * its cache: under bubblewrap like the tenant (its app read-only, only its cache writable, no
 * procfs), with a clean environment whose `HTTP(S)_PROXY` is the host's egress proxy, which
 * reaches public addresses only, and the machine's CA store.
 */
export function dependencyFetchCommand(
  spec: DependencyFetchSpec,
  isolation: Isolation,
): { command: string; args: string[]; env: Record<string, string>; cwd: string } {
  const sandboxed = isolation.kind === "bwrap";
  const app = sandboxed ? IN_SANDBOX.app : spec.appDir;
  const cache = sandboxed ? IN_SANDBOX.cache : spec.cacheDir;
  const deno = sandboxed ? IN_SANDBOX.deno : spec.deno;
  const denoArgs = [
    "cache",
    "--quiet",
    "--allow-import",
    ...MODULE_CACHE_FLAGS,
    ...spec.denoFlags.map((flag) => flag.replaceAll("{app}", app)),
    `${app}/${spec.entrypoint}`,
  ];
  const env: Record<string, string> = {
    ...hostVariables(cache),
    HTTP_PROXY: spec.proxyUrl,
    HTTPS_PROXY: spec.proxyUrl,
    // The operator's trust store (a TLS-inspecting proxy's CA) as well as Deno's own roots.
    DENO_TLS_CA_STORE: "mozilla,system",
    // Colours are no use in a build log.
    NO_COLOR: "1",
    PATH: "/usr/bin:/bin",
  };
  if (!sandboxed) return niced({ command: deno, args: denoArgs, env, cwd: spec.appDir });
  const args = [
    "--die-with-parent",
    "--new-session",
    "--unshare-all",
    "--share-net",
    "--hostname",
    "build",
    ...systemBinds(),
    ...["--ro-bind", spec.deno, IN_SANDBOX.deno],
    ...["--ro-bind", spec.appDir, IN_SANDBOX.app],
    ...["--bind", spec.cacheDir, IN_SANDBOX.cache],
    ...["--tmpfs", "/proc", "--dir", "/proc/self", "--symlink", IN_SANDBOX.deno, "/proc/self/exe"],
    ...["--dev", "/dev", "--tmpfs", "/tmp", "--chdir", IN_SANDBOX.app],
    IN_SANDBOX.deno,
    ...denoArgs,
  ];
  return niced({ command: isolation.bwrap, args, env, cwd: "/" });
}

/** A build's work at a lower CPU priority, so deployments that serve keep the cores first. */
function niced<T extends { command: string; args: string[] }>(command: T): T {
  const nice = findProgram("nice");
  if (!nice) return command;
  return { ...command, command: nice, args: ["-n", "10", command.command, ...command.args] };
}

/** Where a sandboxed tenant sees its deployment's files. */
export const APP_IN_SANDBOX = "/app";

/** Where the tenant sees things inside the sandbox. */
const IN_SANDBOX = {
  app: APP_IN_SANDBOX,
  run: "/run/deployment",
  cache: "/deno/cache",
  bootstrap: "/deno/bootstrap.js",
  pool: "/deno/pool.js",
  deno: "/deno/bin/deno",
  kv: "/kv",
} as const;

/**
 * The room of what Deno keeps for a tenant without any permission: the Cache API (`caches`),
 * `localStorage` and a default `Deno.openKv()` of a Worker, all under `DENO_DIR/location_data`.
 * That directory is a tmpfs of this size in the sandbox, not the deployment's cache dir on the
 * host's disk (where it once grew without bound: 160 MiB of `cache.put()` in a second). Its pages
 * count in the tenant's memory limit; they do not outlive the process (Deploy's cache is
 * best-effort: past the cap the bootstrap drops the entry, see bootstrap.js).
 */
export const CACHE_STORAGE_BYTES = 64 * 1024 * 1024;

/**
 * Where Deno keeps the code it emitted for modules a tenant makes at run time (`import()` of a
 * `data:` or `blob:` URL, a Worker from one), under its cache's `gen/`: a file per module, which
 * the deployment's code can make without end (400 such imports once put 129 MB and 400 files in
 * the host's data dir). In the sandbox each is a tmpfs of {@link RUNTIME_MODULE_BYTES}, counted
 * in the tenant's memory and gone with its process; past it Deno only emits the module again
 * the next time it loads it.
 */
export const RUNTIME_MODULE_DIRS: readonly string[] = ["data", "blob"];

/** The room of each of {@link RUNTIME_MODULE_DIRS}. */
export const RUNTIME_MODULE_BYTES = 16 * 1024 * 1024;

/** The KV database file inside {@link TenantSpec.kvDir}; SQLite keeps `-wal`/`-shm` beside it. */
export const KV_FILE_NAME = "kv.sqlite3";

/**
 * Makes the KV database's directory and an empty database file in it, unless there is one (SQLite
 * takes an empty file for an empty database). The sandbox mounts that file over itself
 * (see {@link startCommand}), so the file must exist before the tenant starts.
 */
export async function ensureKvFile(kvDir: string): Promise<void> {
  await Deno.mkdir(kvDir, { recursive: true, mode: 0o700 });
  // Neither truncated nor replaced: a database already there is kept as it is.
  using _file = await Deno.open(join(kvDir, KV_FILE_NAME), {
    write: true,
    create: true,
    mode: 0o600,
  });
}

/** The socket file name inside `runDir`. */
export const SOCKET_NAME = "http.sock";

/** How a tenant process is started: argv (command + args), env and working directory. */
interface StartCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

/** Builds the argv (command + args) and env that start the tenant under `isolation`. */
export function tenantCommand(spec: TenantSpec, isolation: Isolation): StartCommand {
  const command = startCommand(spec, isolation);
  const limit = spec.kvDir !== undefined && spec.kvMaxBytes
    ? spec.kvMaxBytes
    : spec.cacheFileBytes ?? CACHE_DATABASE_BYTES;
  const openFiles = withShellPrelude(command, `ulimit -n ${TENANT_OPEN_FILES} 2>/dev/null; `);
  return withFileSizeLimit(openFiles, limit);
}

/**
 * `command` started from a shell that first sets the size limit of every file the process
 * writes (POSIX `ulimit -f`, in blocks of 512 bytes: a tenant writes its KV database and what Deno
 * caches for it, a build's dependency fetch what it downloads) and ignores SIGXFSZ, so that a
 * write past the limit fails with EFBIG — SQLite's "disk I/O error", the database intact —
 * instead of growing the file or killing the process.
 */
export function withFileSizeLimit<T extends { command: string; args: string[] }>(
  command: T,
  bytes: number,
): T {
  // A lower limit the host itself runs under stays (ulimit cannot raise it): say nothing then.
  const prelude = `ulimit -f ${Math.max(1, Math.floor(bytes / 512))} 2>/dev/null; trap '' XFSZ && `;
  return withShellPrelude(command, prelude);
}

/**
 * Files and sockets a tenant process may hold open at once (`RLIMIT_NOFILE`, soft and hard). It
 * inherited the host's hard limit, which Deno raises its own to: often 524 288, so one tenant
 * could hold a fifth of the machine's file handles (`fs.file-max`) and their kernel memory. A
 * WebSocket or an outgoing connection is one each; 16 384 of them is more than one process
 * serves here. A lower limit the host runs under stays.
 */
export const TENANT_OPEN_FILES = 16_384;

/** {@link tenantCommand} without the open-files and file size limits. */
function startCommand(spec: TenantSpec, isolation: Isolation): StartCommand {
  const sandboxed = isolation.kind === "bwrap";
  const where = sandboxed ? IN_SANDBOX : {
    app: spec.appDir,
    run: spec.runDir,
    cache: spec.cacheDir,
    bootstrap: spec.bootstrap,
    pool: spec.poolMain,
    deno: spec.deno,
    kv: spec.kvDir,
  };
  const socket = `${where.run}/${SOCKET_NAME}`;
  // The sandbox mounts the database's whole directory (SQLite writes its -wal and -shm files
  // beside the file, which Deno does not check), but Deno lets the tenant open the file only.
  const kvDir = spec.kvDir === undefined ? undefined : where.kv;
  const kvFile = kvDir === undefined ? undefined : `${kvDir}/${KV_FILE_NAME}`;
  // Connecting to a unix socket takes reading and writing its path; a mount point the tenant
  // cannot remove or make a directory of.
  const edge = edgeOf(spec);
  const edgeSocket = edge === undefined
    ? undefined
    : sandboxed
    ? EDGE_SOCKET_IN_SANDBOX
    : join(edge.dir, EDGE_SOCKET_NAME);
  const denoArgs = [
    "run",
    "--no-prompt",
    "--quiet",
    "--unstable-kv",
    `--preload=${where.bootstrap}`,
    `--allow-read=${[where.app, where.run, kvFile, edgeSocket].filter(Boolean).join(",")}`,
    `--allow-write=${[socket, kvFile, edgeSocket].filter(Boolean).join(",")}`,
    "--allow-env",
    // The host name is the sandbox's own ("deployment", its UTS namespace's): nothing of the
    // host's. npm packages read it at start (pino's logger, so Fastify's; database drivers'
    // client metadata), and on Deploy they get one, not a NotCapable that fails the build.
    // The home directory is the HOME the host sets (/tmp): every process has one, on Deploy too,
    // and npm packages ask for it (the AWS SDK's config loader before each request).
    sandboxed ? "--allow-sys=hostname,homedir" : "--allow-sys=homedir",
    ...netFlags(spec.net, socket, spec.privateNet),
    `--v8-flags=--max-old-space-size=${spec.memoryMb}`,
    // Dependencies were fetched at build time through the host's egress proxy (build/): the
    // tenant's own process fetches no module, from any registry or URL it could name.
    ...MODULE_CACHE_FLAGS,
    "--cached-only",
    ...spec.denoFlags.map((flag) => flag.replaceAll("{app}", where.app)),
    spec.poolMain ? where.pool! : `${where.app}/${spec.entrypoint}`,
    ...(spec.poolMain ? [] : spec.args ?? []),
  ];
  const env: Record<string, string> = {
    ...(spec.poolMain ? {} : deploymentEnv(spec.deploymentId, spec.envVars)),
    ...hostVariables(where.cache),
    DENO_DEPLOYMENT_SOCKET: socket,
    // Read at start, then removed by the bootstrap: the deployment's environment is its own.
    DENO_DEPLOYMENT_HOST_VARIABLES: runtimeVariables(spec.poolMain ? {} : spec.envVars).join(","),
  };
  // Read and deleted by the bootstrap, which binds Deno.openKv() to it.
  if (kvFile !== undefined) env.DENO_DEPLOYMENT_KV_PATH = kvFile;
  // Read and deleted by the bootstrap, which names the limit when a write meets it.
  if (kvFile !== undefined && spec.kvMaxBytes) {
    env.DENO_DEPLOYMENT_KV_MAX_BYTES = String(spec.kvMaxBytes);
  }
  // Read and deleted by the bootstrap, which answers a late request itself (limits.ts).
  if (spec.requestTimeoutMs && !spec.poolMain) {
    env.DENO_DEPLOYMENT_TIME_LIMIT_MS = String(spec.requestTimeoutMs);
  }
  // Read and deleted by the bootstrap, which answers the host's warm-up request itself.
  if (spec.warmUpSecret) env.DENO_DEPLOYMENT_WARM_UP = spec.warmUpSecret;
  // Read and deleted by the bootstrap, which then serves a Node server's listen on the socket.
  if (spec.nodeServer && !spec.poolMain) env.DENO_DEPLOYMENT_NODE_SERVER = "1";
  // Read and deleted by the bootstrap, which then waits for its deployment.
  if (spec.poolMain) env.DENO_DEPLOYMENT_POOL = "1";
  // Read and deleted by the bootstrap, which sends fetches of the host's names there.
  if (edgeSocket !== undefined) {
    env.DENO_DEPLOYMENT_EDGE_SOCKET = edgeSocket;
    env.DENO_DEPLOYMENT_BASE_DOMAIN = edge!.baseDomain;
  }
  if (!sandboxed) {
    // bubblewrap's --die-with-parent, without bubblewrap: a tenant stuck in a loop never reads
    // the lifeline's EOF, and the host that would stop it is gone.
    const setpriv = findProgram("setpriv");
    return setpriv
      ? {
        command: setpriv,
        args: ["--pdeathsig", "KILL", "--", spec.deno, ...denoArgs],
        env,
        cwd: spec.appDir,
      }
      : { command: spec.deno, args: denoArgs, env, cwd: spec.appDir };
  }
  const network = networkMode(spec.net);
  const filter = spec.seccompFilter;
  const args = [
    "--die-with-parent",
    // A session of its own would keep a tenant off the host's terminal and process group, but
    // a session is also a scheduler autogroup (CONFIG_SCHED_AUTOGROUP), and a tenant in another
    // autogroup than the front proxy serves hello ~15% slower (bench/throughput.ts). So only
    // where it is needed: the host has a terminal, or no filter guards the process group.
    ...(filter && !isolation.terminal ? [] : ["--new-session"]),
    "--unshare-all",
    ...(network === "none" ? [] : ["--share-net"]),
    ...(filter ? ["--seccomp", "3"] : []),
    // Deno itself is pid 1: /proc/1 is its own, which Deno guards (not bubblewrap's, whose
    // command line names host paths and which a module import could read).
    "--as-pid-1",
    "--hostname",
    "deployment",
    // Set by the shell that may start bubblewrap, not by the host.
    ...["--unsetenv", "PWD", "--unsetenv", "OLDPWD", "--unsetenv", "SHLVL"],
    ...systemBinds(),
    "--ro-bind",
    spec.deno,
    IN_SANDBOX.deno,
    "--ro-bind",
    spec.bootstrap,
    IN_SANDBOX.bootstrap,
    ...(spec.poolMain ? ["--ro-bind", spec.poolMain, IN_SANDBOX.pool] : []),
    ...(edge ? ["--ro-bind", edge.dir, EDGE_DIR_IN_SANDBOX] : []),
    "--ro-bind",
    spec.appDir,
    IN_SANDBOX.app,
    "--bind",
    spec.runDir,
    IN_SANDBOX.run,
    "--bind",
    spec.cacheDir,
    IN_SANDBOX.cache,
    ...["--size", String(CACHE_STORAGE_BYTES), "--tmpfs", `${IN_SANDBOX.cache}/location_data`],
    // The code Deno emits for modules made at run time (`data:` and `blob:` URLs): a file each,
    // which the tenant makes as many of as it likes; not kept on the host's disk either.
    ...RUNTIME_MODULE_DIRS.flatMap((dir) => [
      "--size",
      String(RUNTIME_MODULE_BYTES),
      "--tmpfs",
      `${IN_SANDBOX.cache}/gen/${dir}`,
    ]),
    // The database's file is mounted over itself as well: a mount point cannot be removed or
    // renamed, so the one file the tenant may write (Deno's grant of a path covers every path
    // beneath it) cannot become a directory it fills with files (ensureKvFile made it).
    ...(spec.kvDir === undefined ? [] : [
      ...["--bind", spec.kvDir, IN_SANDBOX.kv],
      ...["--bind", join(spec.kvDir, KV_FILE_NAME), kvFile!],
    ]),
    // No procfs: a tenant's /proc would show the host's mounts (bind sources: the data dir,
    // deployment ids), the shared network namespace's sockets and the machine's load. Deno
    // needs only /proc/self/exe, here a plain link to itself; (`Deno.memoryUsage().rss` reads
    // 0 — the memory guard measures from outside).
    ...["--tmpfs", "/proc", "--dir", "/proc/self", "--symlink", IN_SANDBOX.deno, "/proc/self/exe"],
    ...["--remount-ro", "/proc"],
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--chdir",
    IN_SANDBOX.app,
    IN_SANDBOX.deno,
    ...denoArgs,
  ];
  if (!filter) return { command: isolation.bwrap, args, env, cwd: "/" };
  return {
    command: SHELL,
    args: ["-c", WITH_FILTER, "sh", filter, isolation.bwrap, ...args],
    env,
    cwd: "/",
  };
}

/** Variables the host sets for every tenant process (besides `DENO_DEPLOYMENT_*`). */
function hostVariables(cacheDir: string): Record<string, string> {
  return { DENO_DIR: cacheDir, DENO_NO_UPDATE_CHECK: "1", DENO_REGION: "local", HOME: "/tmp" };
}

/**
 * The variables only the runtime needs (the host's, except `DENO_REGION` which Deploy sets and
 * `HOME`, the home every process has, and those Deno and bubblewrap add: the node shims' PATH,
 * PWD), unless the deployment set its own.
 */
function runtimeVariables(own: Record<string, string>): string[] {
  const names = Object.keys(hostVariables("")).filter((name) =>
    name !== "DENO_REGION" && name !== "HOME"
  );
  return [...names, "DENO_NODE_SHIM_ACTIVE", "PATH", "PWD"].filter((name) =>
    HOST_VARIABLES.has(name) || !Object.hasOwn(own, name)
  );
}

/** Which a deployment's env vars cannot override. */
const HOST_VARIABLES = new Set(Object.keys(hostVariables("")));

/** The variables a deployment's process sees of its own: its env vars and its id. */
export function deploymentEnv(
  deploymentId: string,
  envVars: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(envVars)) {
    if (!HOST_VARIABLES.has(name) && !name.startsWith("DENO_DEPLOYMENT_")) env[name] = value;
  }
  env.DENO_DEPLOYMENT_ID = deploymentId;
  return env;
}

/** Where a deployment's fetches of the host's own names go (see host/edge/self_fetch.ts). */
export interface TenantEdge {
  /** The host's base domain: names under it are the host's without a look-up. */
  baseDomain: string;
  /**
   * Opens a process's own door to the host's socket, which it closes when the process exits.
   * `deploymentId` says whose the process is by then (a pooled runtime's is known at its handoff).
   */
  open(deploymentId: () => string | undefined): Promise<EdgeDoor>;
}

/** A process's own way to the host's socket (host/edge/self_fetch.ts `EdgeDoors`). */
export interface EdgeDoor {
  /** The host's directory holding the socket ({@link EDGE_SOCKET_NAME}). */
  dir: string;
  /** Stops listening and closes the door's connections. */
  close(): Promise<void>;
}

/**
 * The socket's name in {@link TenantEdge.dir}, and where a sandboxed tenant finds it: its
 * directory mounted read-only. That path is 13 bytes, the one length of a unix socket's path
 * whose address is the size of an IPv4 address, which is all the tenant's seccomp filter lets
 * `connect()` take (seccomp_filter.ts).
 */
export const EDGE_SOCKET_NAME = "up";
const EDGE_DIR_IN_SANDBOX = "/deno/edge";
export const EDGE_SOCKET_IN_SANDBOX = `${EDGE_DIR_IN_SANDBOX}/${EDGE_SOCKET_NAME}`;

/**
 * Whether a tenant is given the edge: only one that may reach every public host, as its own
 * clients can. Its launcher then opens it a door ({@link TenantSpec.edgeDir}).
 */
export function mayUseEdge(spec: TenantSpec): boolean {
  return spec.edge !== undefined && (!spec.net || spec.net.includes("*"));
}

/** The edge a tenant is given, and its own door's directory: none until one was opened. */
function edgeOf(spec: TenantSpec): { dir: string; baseDomain: string } | undefined {
  return mayUseEdge(spec) && spec.edgeDir !== undefined
    ? { dir: spec.edgeDir, baseDomain: spec.edge!.baseDomain }
    : undefined;
}

/**
 * `--allow-net`/`--deny-net` for a deployment's `permissions.net`. Listening on a unix
 * socket needs net permission too, so `socket` (the tenant's own) stays allowed when the
 * list is restricted; `unix:` entries of the list itself are dropped.
 *
 * An allow-list narrows what a deployment reaches; it does not widen it past the deny list
 * unless `privateNet` (the host's operator, `host --allow-private-net`) says so: the list is
 * chosen by whoever holds a token, and naming `127.0.0.1`, `localhost`, a private address or a
 * name that resolves to one (Deno checks the deny list after DNS) would otherwise reach the
 * host's own services, its network or a cloud's metadata service from any organization's code.
 */
export function netFlags(
  net: string[] | null | undefined,
  socket?: string,
  privateNet = false,
): string[] {
  const deny = `--deny-net=${[...DENIED_NET, ...localAddresses()].join(",")}`;
  if (!net || net.includes("*")) return ["--allow-net", deny];
  const hosts = net.filter((entry) => !/^unix:/i.test(entry));
  const allowed = socket ? [...hosts, `unix:${socket}`] : hosts;
  if (allowed.length === 0) return [];
  return [`--allow-net=${allowed.join(",")}`, ...(hosts.length > 0 && !privateNet ? [deny] : [])];
}

let cachedAddresses: string[] | undefined;

/**
 * This machine's own addresses (as `--deny-net` entries): a tenant must neither reach the host's
 * services through them (a host listening on 0.0.0.0 answers there too) nor listen on them.
 */
export function localAddresses(): string[] {
  if (cachedAddresses) return cachedAddresses;
  let interfaces: Deno.NetworkInterfaceInfo[] = [];
  try {
    interfaces = Deno.networkInterfaces();
  } catch { /* no --allow-sys: the loopback and private ranges are denied all the same */ }
  const addresses = interfaces.map(({ family, address }) =>
    family === "IPv6" ? `[${address.replace(/%.*$/, "")}]` : address
  );
  cachedAddresses = [...new Set(addresses)];
  return cachedAddresses;
}

let cachedBinds: string[] | undefined;

/** Read-only system files the Deno binary needs (libc, DNS config, CA roots) — not `/etc` wholesale. */
function systemBinds(): string[] {
  if (cachedBinds) return cachedBinds;
  const binds = ["--ro-bind", "/usr", "/usr"];
  for (const dir of ["/lib", "/lib64", "/bin", "/sbin"]) {
    try {
      const info = Deno.lstatSync(dir);
      if (info.isSymlink) binds.push("--symlink", Deno.readLinkSync(dir), dir);
      else if (info.isDirectory) binds.push("--ro-bind", dir, dir);
    } catch { /* absent on this system */ }
  }
  for (const file of ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs"]) {
    binds.push("--ro-bind-try", file, file);
  }
  cachedBinds = binds;
  return binds;
}
