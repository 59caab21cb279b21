/**
 * The warm pool: tenant runtimes started and sandboxed before their deployment is known, so
 * that a cold start only hands one a deployment instead of booting a sandbox and Deno.
 *
 * A pooled runtime runs under exactly the sandbox and permissions a deployment with the default
 * settings gets (its own `/app`, `/run/deployment` and cache, all public IPv4 hosts, no KV, no
 * extra Deno flags), with `pool.js` as its main module. At the handoff the host hard-links the
 * deployment's files into the runtime's (so far empty) `/app` and writes one JSON line on its
 * lifeline: the entry point, the env vars, the time limit. The bootstrap sets them and imports
 * the entry point; from then on the process is the deployment's, like any other. A pooled
 * runtime listens on its socket from the start (answering 503 until then): the host sends it
 * one request beforehand, which warms Deno's HTTP server up and leaves the host a connection
 * for the deployment's first request.
 *
 * Only deployments a pooled runtime runs exactly as a fresh one would are handed over: see
 * {@link poolable}. The others start as before.
 *
 * @module
 */
import { join } from "node:path";
import type { RunnableDeployment } from "./runnable.ts";
import { APP_IN_SANDBOX, deploymentEnv } from "./sandbox.ts";
import type { TenantClient } from "./client.ts";

/** The Deno flags a pooled runtime starts with: the build's flags for an app with no lock file. */
export const POOL_DENO_FLAGS: readonly string[] = ["--no-lock"];

/**
 * A module the host writes into a pooled runtime's run dir, which its bootstrap imports before
 * it answers the host's warm-up (and spells the name too): Deno's module loader sets its caches
 * up on the first file it imports (~1.5 ms of a cold start here), so that is not the
 * deployment's entry point.
 */
export const POOL_WARM_MODULE = { name: "warm.ts", source: "export const warm: number = 1;\n" };

/** Config files Deno would discover in `/app`: a pooled runtime started before they were there. */
const CONFIG_FILES = ["deno.json", "deno.jsonc", "package.json", "import_map.json"];

/**
 * What a module that needs a start of its own says in its source: it asks for its main module,
 * or imports something other than its own files and Node's built-ins (a remote or npm
 * package, which a pooled runtime's empty cache does not hold), or Node's server modules (a
 * Node server's listen is served by a bootstrap told so at start: see node_server.ts).
 */
const NEEDS_OWN_START =
  /import\.meta\.main|Deno\.mainModule|(?:\bfrom|\bimport)\s*\(?\s*["'`](?![./]|node:)|\bnode:(?:https?|http2|net)\b/;

/** Module files whose source {@link poolable} reads. */
const MODULE_FILE = /\.(?:[cm]?[jt]sx?)$/;

/** Above this many module files, a deployment is not read through: it starts as before. */
const MAX_SCANNED_MODULES = 64;

/**
 * Whether a pooled runtime runs `deployment` (files in `appDir`) exactly as a fresh process
 * would: default network and no KV (the sandbox is set at start), no import map, config or
 * lock (Deno reads those at start), no program arguments (`Deno.args` is the pool's), and
 * modules that neither ask for their main module
 * (`import.meta.main` is the pool's) nor import remote packages (the pool's cache is empty).
 */
export function poolable(deployment: RunnableDeployment, appDir: string): boolean {
  if (deployment.kvDatabaseId || deployment.args?.length) return false;
  if (deployment.net && !deployment.net.includes("*")) return false;
  if (deployment.denoFlags.join(" ") !== POOL_DENO_FLAGS.join(" ")) return false;
  // One listing of the tree, read on a cold start's path: no look-up per config file name.
  const top = [...Deno.readDirSync(appDir)];
  if (top.some((entry) => CONFIG_FILES.includes(entry.name))) return false;
  let scanned = 0;
  for (const path of files(appDir, top)) {
    if (!MODULE_FILE.test(path)) continue;
    if (++scanned > MAX_SCANNED_MODULES) return false;
    let source;
    try {
      source = Deno.readTextFileSync(path);
    } catch {
      return false;
    }
    if (NEEDS_OWN_START.test(source)) return false;
  }
  return scanned > 0;
}

/** The line a pooled runtime is handed its deployment with (read by bootstrap.js). */
export function handoffLine(deployment: RunnableDeployment): string {
  return JSON.stringify({
    entry: `file://${APP_IN_SANDBOX}/${deployment.entrypoint}`,
    env: deploymentEnv(deployment.id, deployment.envVars),
    requestTimeoutMs: deployment.requestTimeoutMs ?? 0,
  }) + "\n";
}

/**
 * The header of the host's warm-up request to a deployment's process (see {@link warmUp});
 * bootstrap.js, which has no imports, spells it too.
 */
const WARM_UP_HEADER = "x-deploy-tenant-warm-up";

/**
 * Sends a runtime one request through `client` once it listens: Deno's HTTP server in it warms
 * up (a first request costs a process a few milliseconds of CPU more than the next), and
 * `client` keeps the connection for the first caller's. A pooled runtime answers it itself
 * until it is handed a deployment; a deployment's process only when it carries `secret` (the
 * bootstrap's, set at launch), so its handler never sees it. `headers` go with it. Gives up
 * when the process exits or after `timeoutMs`.
 */
export async function warmUp(
  client: TenantClient,
  exited: Promise<unknown>,
  options: { secret?: string; timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const headers = new Headers({ host: "pool.localhost", ...options.headers });
  if (options.secret) headers.set(WARM_UP_HEADER, options.secret);
  let gone = false;
  exited.then(() => gone = true);
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; !gone && Date.now() < deadline; wait = Math.min(wait * 2, 50)) {
    try {
      // Until the socket exists a request only fails, and a failed connection costs the
      // host's thread far more (Node's error objects) than a look at the file.
      Deno.lstatSync(client.socketPath);
      const response = await client.fetch({ method: "GET", path: "/", headers });
      // Read to the end, not cancelled: a cancelled body closes the connection it came on.
      await response.arrayBuffer();
      return;
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * Mirrors the tree at `from` into the empty directory `to` with hard links (symlinks are
 * copied as they are): the files are the blob store's, read-only to the tenant either way.
 *
 * Synchronous, like {@link poolable}: on a cold start's path, a few system calls of a few
 * microseconds each cost less than a trip through the I/O thread pool each.
 */
export function linkTree(from: string, to: string): void {
  for (const entry of Deno.readDirSync(from)) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory) {
      Deno.mkdirSync(target);
      linkTree(source, target);
    } else if (entry.isSymlink) {
      Deno.symlinkSync(Deno.readLinkSync(source), target);
    } else {
      try {
        Deno.linkSync(source, target);
      } catch {
        Deno.copyFileSync(source, target);
      }
    }
  }
}

/** The files under `dir`, whose entries are `listed` when they have been read already. */
function* files(dir: string, listed?: Deno.DirEntry[]): Generator<string> {
  for (const entry of listed ?? Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* files(path);
    else if (entry.isFile) yield path;
  }
}
