/**
 * The command line that starts one tenant process: Deno's permission flags inside an OS
 * sandbox (bubblewrap) that shows the process only its own files.
 *
 * Two layers, because Deno's `--allow-read` does not cover module loading: without the OS
 * sandbox a tenant could `import()` another tenant's files.
 *
 * @module
 */
import { basename } from "node:path";

/** Which isolation the host runs tenants under. */
export type Isolation =
  | { kind: "bwrap"; bwrap: string }
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
  const bwrap = await which("bwrap");
  if (!bwrap) return none("bubblewrap (bwrap) is not installed");
  try {
    const probe = await new Deno.Command(bwrap, {
      args: ["--ro-bind", "/", "/", "--unshare-all", "--share-net", "--die-with-parent", "true"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (probe.success) return { kind: "bwrap", bwrap };
    const why = new TextDecoder().decode(probe.stderr).trim();
    return none(`bubblewrap cannot create namespaces here: ${why}`);
  } catch (error) {
    return none(`bubblewrap failed to start: ${(error as Error).message}`);
  }
}

async function which(name: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    const candidate = `${dir}/${name}`;
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return candidate;
    } catch { /* not here */ }
  }
  return undefined;
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
// (fc00::/7, fe80::/10) cannot be listed here; IPv4-mapped IPv6 addresses are checked as IPv4.

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
  /** `permissions.net` of the deployment: undefined/null = all public hosts, `[]` = none. */
  net?: string[] | null;
  /** V8 old-space cap in MiB. */
  memoryMb: number;
  /** Extra `deno run` flags from the build (config, import map, lock). Paths relative to the app dir. */
  denoFlags: string[];
  deno: string;
}

/** Where the tenant sees things inside the sandbox. */
const IN_SANDBOX = {
  app: "/app",
  run: "/run/deployment",
  cache: "/deno/cache",
  bootstrap: "/deno/bootstrap.js",
  deno: "/deno/bin/deno",
  kv: "/kv",
} as const;

/** The KV database file inside {@link TenantSpec.kvDir}; SQLite keeps `-wal`/`-shm` beside it. */
export const KV_FILE_NAME = "kv.sqlite3";

/** The socket file name inside `runDir`. */
export const SOCKET_NAME = "http.sock";

/** Builds the argv (command + args) and env that start the tenant under `isolation`. */
export function tenantCommand(
  spec: TenantSpec,
  isolation: Isolation,
): { command: string; args: string[]; env: Record<string, string>; cwd: string } {
  const sandboxed = isolation.kind === "bwrap";
  const where = sandboxed ? IN_SANDBOX : {
    app: spec.appDir,
    run: spec.runDir,
    cache: spec.cacheDir,
    bootstrap: spec.bootstrap,
    deno: spec.deno,
    kv: spec.kvDir,
  };
  const socket = `${where.run}/${SOCKET_NAME}`;
  // The database's whole directory: SQLite writes its -wal and -shm files beside the file.
  const kvDir = spec.kvDir === undefined ? undefined : where.kv;
  const denoArgs = [
    "run",
    "--no-prompt",
    "--quiet",
    "--unstable-kv",
    `--preload=${where.bootstrap}`,
    `--allow-read=${[where.app, where.run, kvDir].filter(Boolean).join(",")}`,
    `--allow-write=${[socket, kvDir].filter(Boolean).join(",")}`,
    "--allow-env",
    ...netFlags(spec.net, socket),
    `--v8-flags=--max-old-space-size=${spec.memoryMb}`,
    ...spec.denoFlags.map((flag) => flag.replaceAll("{app}", where.app)),
    `${where.app}/${spec.entrypoint}`,
  ];
  const env: Record<string, string> = {
    ...spec.envVars,
    DENO_DIR: where.cache,
    DENO_NO_UPDATE_CHECK: "1",
    DENO_DEPLOYMENT_ID: spec.deploymentId,
    DENO_REGION: "local",
    DENO_DEPLOYMENT_SOCKET: socket,
    HOME: "/tmp",
  };
  // Read and deleted by the bootstrap, which binds Deno.openKv() to it.
  if (kvDir !== undefined) env.DENO_DEPLOYMENT_KV_PATH = `${kvDir}/${KV_FILE_NAME}`;
  if (!sandboxed) {
    return { command: spec.deno, args: denoArgs, env, cwd: spec.appDir };
  }
  const args = [
    "--die-with-parent",
    "--new-session",
    "--unshare-all",
    "--share-net",
    "--hostname",
    "deployment",
    ...systemBinds(),
    "--ro-bind",
    spec.deno,
    IN_SANDBOX.deno,
    "--ro-bind",
    spec.bootstrap,
    IN_SANDBOX.bootstrap,
    "--ro-bind",
    spec.appDir,
    IN_SANDBOX.app,
    "--bind",
    spec.runDir,
    IN_SANDBOX.run,
    "--bind",
    spec.cacheDir,
    IN_SANDBOX.cache,
    ...(spec.kvDir === undefined ? [] : ["--bind", spec.kvDir, IN_SANDBOX.kv]),
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--chdir",
    IN_SANDBOX.app,
    IN_SANDBOX.deno,
    ...denoArgs,
  ];
  return { command: isolation.bwrap, args, env, cwd: "/" };
}

/**
 * `--allow-net`/`--deny-net` for a deployment's `permissions.net`. Listening on a unix
 * socket needs net permission too, so `socket` (the tenant's own) stays allowed when the
 * list is restricted; `unix:` entries of the list itself are dropped.
 */
export function netFlags(net: string[] | null | undefined, socket?: string): string[] {
  if (!net || net.includes("*")) return ["--allow-net", `--deny-net=${DENIED_NET.join(",")}`];
  const allowed = net.filter((entry) => !/^unix:/i.test(entry));
  if (socket) allowed.push(`unix:${socket}`);
  return allowed.length === 0 ? [] : [`--allow-net=${allowed.join(",")}`];
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
