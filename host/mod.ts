/**
 * The local host: an embedded server that speaks the Subhosting v1 API and really runs the
 * deployments, each in its own sandboxed Deno process.
 *
 * ```ts
 * import { startHost } from "./host/mod.ts";
 * const host = await startHost({ dataDir: "/tmp/deploy-tenant", port: 0 });
 * console.log(host.apiUrl, host.token);
 * await host.shutdown();
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createApi } from "./api.ts";
import { BlobStore } from "./blobs.ts";
import { Builder } from "./builder.ts";
import { newToken } from "./ids.ts";
import { createRouter } from "./router.ts";
import { deploymentDirs, Runtime } from "./runtime.ts";
import { detectIsolation, type Isolation, tenantDenoBinary } from "./sandbox.ts";
import { Store } from "./store.ts";

export type { Isolation } from "./sandbox.ts";

/** How to run the host. */
export interface HostOptions {
  /** Where metadata, blobs and deployments live. Created with mode 0700. */
  dataDir: string;
  /** TCP port; `0` picks a free one. Default 8000. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`: the API is not exposed unless asked. */
  hostname?: string;
  /** API token; default: generated once and kept in the data dir. */
  token?: string;
  /** Deployments are served at `{project}-{deployment}.<baseDomain>`. Default `localhost`. */
  baseDomain?: string;
  /** Run tenants without an OS sandbox when none is available (weaker isolation). */
  unsandboxed?: boolean;
  /** Memory cap per tenant process, MiB. Default 512 (Deploy's). */
  memoryMb?: number;
  /** Stop an idle tenant process after this long. Default 5 minutes. */
  idleTimeoutMs?: number;
  /** Receives tenant output and host events. Default: nothing. */
  log?: (line: string) => void;
}

/** What `<dataDir>/host.json` holds: how clients reach a running host. */
export interface HostInfo {
  apiUrl: string;
  token: string;
  organizationId: string;
  port: number;
  baseDomain: string;
  pid: number;
  isolation: string;
}

/** A running host. */
export interface RunningHost extends Omit<HostInfo, "pid"> {
  dataDir: string;
  /** Stops listening, stops every tenant process, closes the store, removes host.json. */
  shutdown(): Promise<void>;
  /** Settles when the server has stopped. */
  finished: Promise<void>;
}

/** Starts the host and writes `<dataDir>/host.json` (mode 0600) once it listens. */
export async function startHost(options: HostOptions): Promise<RunningHost> {
  const dataDir = options.dataDir;
  const baseDomain = (options.baseDomain ?? "localhost").toLowerCase();
  const log = options.log ?? (() => {});
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dataDir, 0o700);
  const deploymentsDir = join(dataDir, "deployments");
  await Deno.mkdir(deploymentsDir, { recursive: true, mode: 0o700 });

  const store = Store.open(join(dataDir, "host.db"));
  const blobs = new BlobStore(join(dataDir, "blobs"));
  const organization = store.ensureOrganization("local");
  const token = options.token ?? await persistentToken(join(dataDir, "token"));
  store.setToken(organization.id, token);

  const isolation: Isolation = await detectIsolation(options.unsandboxed ?? false);
  log(`isolation: ${describeIsolation(isolation)}`);
  const runtime = new Runtime({
    isolation,
    deploymentsDir,
    kvDir: join(dataDir, "kv"),
    bootstrap: fileURLToPath(new URL("./bootstrap.js", import.meta.url)),
    deno: tenantDenoBinary(),
    memoryMb: options.memoryMb,
    idleTimeoutMs: options.idleTimeoutMs,
    log: (id, level, message) => log(`[${id}] ${level}: ${message}`),
  });

  let port = options.port ?? 8000;
  const builder = new Builder({
    store,
    blobs,
    runtime,
    deploymentsDir,
    baseDomain,
    urlFor: (domain) => `http://${domain}:${port}`,
  });
  const api = createApi(store, blobs, {
    baseDomain,
    deploymentCreated: (id) => builder.enqueue(id),
    deploymentDeleted: async (id) => {
      await runtime.stop(id);
      await Deno.remove(deploymentDirs(deploymentsDir, id).root, { recursive: true })
        .catch(() => {});
    },
  });
  const handler = createRouter({ store, runtime, deploymentsDir, baseDomain, api: api.fetch });

  const hostname = options.hostname ?? "127.0.0.1";
  const server = Deno.serve({ port, hostname, onListen() {} }, handler);
  port = server.addr.port;

  // Builds cut short by a crash or kill resume, so nothing stays pending.
  for (const id of store.pendingDeployments()) builder.enqueue(id);

  const apiHost = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
  const info: HostInfo = {
    apiUrl: `http://${apiHost}:${port}/v1`,
    token,
    organizationId: organization.id,
    port,
    baseDomain,
    pid: Deno.pid,
    isolation: describeIsolation(isolation),
  };
  const infoPath = join(dataDir, "host.json");
  await writePrivateFile(infoPath, JSON.stringify(info, null, 2) + "\n");

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      await Deno.remove(infoPath).catch(() => {});
      await server.shutdown();
      await builder.idle();
      await runtime.stopAll();
      store.close();
    })();
  const { pid: _pid, ...rest } = info;
  return { ...rest, dataDir, shutdown, finished: server.finished };
}

/** A one-line description of the isolation in force, for logs and `host status`. */
export function describeIsolation(isolation: Isolation): string {
  if (isolation.kind === "bwrap") return "bubblewrap sandbox + Deno permissions";
  return isolation.accepted
    ? `NONE (--unsandboxed; ${isolation.reason}): Deno permissions only`
    : `none available (${isolation.reason}): tenants will not run`;
}

async function persistentToken(path: string): Promise<string> {
  try {
    const saved = (await Deno.readTextFile(path)).trim();
    if (saved) return saved;
  } catch { /* first start */ }
  const token = newToken();
  await writePrivateFile(path, token + "\n");
  return token;
}

/** Writes `content` readable by the owner only, atomically. */
async function writePrivateFile(path: string, content: string): Promise<void> {
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temp, content, { mode: 0o600 });
  await Deno.rename(temp, path);
}
