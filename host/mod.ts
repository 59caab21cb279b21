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
import { createApi } from "./api/mod.ts";
import { EgressProxy } from "./build/egress_proxy.ts";
import { CronScheduler } from "./tenant/cron.ts";
import { DEFAULT_QUOTAS, type Quotas } from "./api/quotas.ts";
import { BlobStore } from "./store/blobs.ts";
import { Builder, startSettings } from "./build/builder.ts";
import { caDir, LocalCa } from "./edge/certs.ts";
import { DomainVerifier, hostAddresses } from "./api/domain_verify.ts";
import { type HttpsServer, serveHttps } from "./edge/https.ts";
import { servingCertificates } from "./edge/serving_certificates.ts";
import { newToken } from "./store/ids.ts";
import { behindProxy, FrontProxy, frontProxyApiSocket, frontProxyDir } from "./edge/front_proxy.ts";
import { type HostServer, serveHost } from "./edge/listener.ts";
import { findHaproxy, haproxyTooOld, MIN_HAPROXY_VERSION } from "./edge/haproxy.ts";
import { createRouter } from "./edge/router.ts";
import { EdgeDoors, serveSelfFetches } from "./edge/self_fetch.ts";
import type { GuardOptions } from "./tenant/process_guard.ts";
import { deploymentDirs, kvDatabaseDir, Runtime } from "./tenant/runtime.ts";
import { detectIsolation, type Isolation, tenantDenoBinary } from "./tenant/sandbox.ts";
import { Store } from "./store/store.ts";
import {
  type CgroupSupport,
  CPU_WEIGHTS,
  detectCgroups,
  HOST_CPU_WEIGHT,
} from "./tenant/cgroups.ts";
import {
  capacityWarning,
  type MachineLimits,
  readMachineLimits,
  type WarmCapacity,
  warmCapacity,
} from "./tenant/machine_limits.ts";
import { createTelemetry } from "./tenant/telemetry.ts";
import type { HostInfo as HostFile } from "../lib/local_host.ts";

export type { Isolation } from "./tenant/sandbox.ts";

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
  /** Largest create-deployment body in bytes; default 1.5 GiB (1 GB of assets, base64). */
  /**
   * Which addresses the egress proxy refuses (default: loopback, private, link-local and this
   * machine's own). Tests refuse everything, so nothing they build reaches past loopback.
   */
  egressDenied?: (address: string) => boolean;
  /** Per-organization quotas (projects, deployments, databases, domains, stored bytes). */
  quotas?: Partial<Quotas>;
  maxBodyBytes?: number;
  /** Run tenants without an OS sandbox when none is available (weaker isolation). */
  unsandboxed?: boolean;
  /** Memory cap per tenant process, MiB. Default 512 (Deploy's). */
  memoryMb?: number;
  /** Stop an idle tenant process after this long. Default 5 minutes. */
  idleTimeoutMs?: number;
  /** Resident memory and CPU limits of tenant processes (`host/tenant/process_guard.ts`). */
  guard?: GuardOptions;
  /**
   * Put each tenant process in a cgroup of its own where the machine allows it
   * (`host/tenant/cgroups.ts`): the kernel enforces its memory limit and weighs its CPU.
   * Default true; false (`--no-cgroups`) makes the guard sample memory from `/proc` instead.
   */
  cgroups?: boolean;
  /**
   * At most this many tenant processes run at once; starting another stops the least
   * recently used. Default 256.
   */
  maxWarm?: number;
  /**
   * Whether a deployment's `permissions.net` may name loopback and private addresses (this
   * machine's services, its network, a cloud's metadata service). Default false: an allow-list
   * only narrows what a deployment reaches, as a token holder chooses it.
   */
  allowPrivateNet?: boolean;
  /**
   * The largest file Deno's cache may grow to for a tenant process without a KV database (its
   * `RLIMIT_FSIZE`), and the most its cache databases may hold when a process starts, past which
   * they are cleared (`host/tenant/cache_cap.ts`). Default 256 MiB.
   */
  cacheDatabaseBytes?: number;
  /**
   * Tenant runtimes kept started and sandboxed ahead of need, so that the cold start of a
   * deployment with default settings only hands one its files (`host/tenant/warm_pool.ts`).
   * The pool holds at least this many, and grows to the recent bursts of cold starts within
   * `warmPoolMemoryMb` (`host/tenant/pool_sizer.ts`). Default 1; 0 turns the pool off.
   */
  warmPool?: number;
  /** The memory the warm pool may hold, in MiB. Default: `defaultPoolBudgetMb` (pool_sizer.ts). */
  warmPoolMemoryMb?: number;
  /**
   * Put HAProxy in front (when it is installed): requests to a running deployment go
   * straight to its process instead of through the host's JavaScript router. Default true.
   */
  frontProxy?: boolean;
  /** Receives the host's own events (tenant output goes to the app logs). Default: nothing. */
  log?: (line: string) => void;
  /** How long app logs are kept. Default two weeks. */
  logRetentionMs?: number;
  /** App log lines kept per deployment (older ones go first). Default 100 000. */
  maxLogLinesPerDeployment?: number;
  /** Bytes of app log messages kept per deployment (older lines go first). Default 64 MiB. */
  maxLogBytesPerDeployment?: number;
  /** Bytes of app log messages a deployment may write per second; more are dropped. 1 MiB. */
  maxLogBytesPerSecond?: number;
  /**
   * Serve HTTPS on this port too (`0` picks a free one), choosing the certificate by SNI:
   * a custom domain's own, or one from the local CA for names under the base domain.
   * Default: no HTTPS.
   */
  httpsPort?: number;
  /**
   * Domain suffixes verified without DNS, e.g. `["test", "localhost"]`: for development,
   * where no DNS can be changed. Anyone with API access may claim names under them.
   */
  trustDomains?: string[];
  /** The DNS server that verifies custom domains; default: the system's resolver. */
  dnsResolver?: { ipAddr: string; port?: number };
}

/** What `<dataDir>/host.json` holds (see `lib/local_host.ts`); this host writes every field. */
export interface HostInfo extends HostFile {
  isolation: string;
  frontProxy: "haproxy" | "none";
  /** How tenant limits are enforced: the cgroups in use, or why the guard samples instead. */
  cgroups: string;
  /** The machine's limits found at start, and the warm tenants they make room for. */
  limits: MachineLimits & { capacity: WarmCapacity; maxWarm: number };
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
  // One host per data dir, held by a lock the kernel drops when the process dies: a second
  // host (foreground or background) refuses before it touches anything of the first's.
  const lock = await lockDataDir(dataDir);
  const deploymentsDir = join(dataDir, "deployments");
  await Deno.mkdir(deploymentsDir, { recursive: true, mode: 0o700 });

  const store = Store.open(join(dataDir, "host.db"));
  const blobs = new BlobStore(join(dataDir, "blobs"));
  // Half-written uploads of a host that was killed; never at a blob's final path.
  await blobs.removeTempFiles().then(
    (count) => count > 0 && log(`removed ${count} unfinished blob uploads`),
    (error) => log(`could not remove unfinished blob uploads: ${error.message}`),
  );
  const organization = store.ensureOrganization("local");
  const token = options.token ?? await persistentToken(join(dataDir, "token"));
  // The token it is started with is the only one: rotating a leaked token revokes the old.
  store.replaceTokens(organization.id, token);
  // Tenant output goes to the app logs, which are bounded, and not to the host's own log.
  const telemetry = createTelemetry(store, {
    logRetentionMs: options.logRetentionMs,
    maxLogLinesPerDeployment: options.maxLogLinesPerDeployment,
    maxLogBytesPerDeployment: options.maxLogBytesPerDeployment,
    maxLogBytesPerSecond: options.maxLogBytesPerSecond,
  });

  const maxWarm = options.maxWarm ?? 256;
  const installed = options.frontProxy === false ? undefined : findHaproxy();
  // An older HAProxy would refuse the configuration: the host serves on its own instead.
  const tooOld = installed && haproxyTooOld(installed);
  const haproxy = tooOld ? undefined : installed;
  let front: FrontProxy | undefined;
  const isolation: Isolation = await detectIsolation(options.unsandboxed ?? false);
  log(`isolation: ${describeIsolation(isolation)}`);
  const cgroupSupport = detectCgroups({
    disabled: options.cgroups === false ? "turned off (--no-cgroups)" : undefined,
  });
  const cgroups = cgroupSupport.kind === "none" ? undefined : cgroupSupport.cgroups;
  log(`limits: ${describeCgroups(cgroupSupport)}`);
  const machine = readMachineLimits();
  const capacity = warmCapacity(machine);
  const tooMany = capacityWarning(maxWarm, capacity);
  if (tooMany) log(tooMany);
  log(
    haproxy
      ? "data path: HAProxy in front of the tenants"
      : `data path: the host's own router (${
        options.frontProxy === false
          ? "--no-front-proxy"
          : tooOld
          ? `HAProxy ${tooOld} is installed; the front proxy needs ${
            MIN_HAPROXY_VERSION.join(".")
          } or later`
          : "HAProxy is not installed"
      }): the same isolation, but less throughput, and a burst of one tenant's connections ` +
        "delays other tenants' requests by tens of ms while it arrives (install haproxy)",
  );
  // A door a process each, opened as it starts; the server behind them listens once the router is.
  const edgeDoors = await EdgeDoors.create(dataDir);
  const runtime = new Runtime({
    isolation,
    edge: { baseDomain, open: (deploymentId) => edgeDoors.open(deploymentId) },
    deploymentsDir,
    kvDir: join(dataDir, "kv"),
    kvMaxBytes: options.quotas?.databaseBytes ?? DEFAULT_QUOTAS.databaseBytes,
    bootstrap: await installTenantFile(dataDir, "bootstrap.js"),
    poolMain: await installTenantFile(dataDir, "pool.js"),
    warmPool: options.warmPool ?? 1,
    poolBudgetMb: options.warmPoolMemoryMb,
    hostLog: log,
    deno: tenantDenoBinary(),
    memoryMb: options.memoryMb,
    idleTimeoutMs: options.idleTimeoutMs,
    guard: options.guard,
    cgroups,
    log: telemetry.appLog,
    processes: telemetry.processes,
    crons: { registered: (id, name, schedule) => crons.registered(id, name, schedule) },
    maxWarm,
    cacheDatabaseBytes: options.cacheDatabaseBytes,
    allowPrivateNet: options.allowPrivateNet,
    // The front proxy routes to a process from the moment it is up until it is stopped.
    instances: {
      ready: (instance) => front?.ready(instance),
      retiring: async (instance, drainMs) => await front?.retiring(instance, drainMs),
      outOfMemory: async (deploymentId) => await front?.outOfMemory(deploymentId),
    },
  });

  let port = options.port ?? 8000;
  // The only way out for a deployment's dependency fetches: public addresses only.
  const egress = EgressProxy.start({
    denied: options.egressDenied,
    onRefused: (target, reason) => log(`egress proxy refused ${target}: ${reason}`),
  });
  // A process's context is fixed when it starts: one whose deployment gained or lost the
  // production name starts again, once its requests in flight are answered.
  const restartInNewContext = async (ids: string[]) => {
    for (const id of ids) {
      if (runtime.running(id)) await runtime.stop(id, CONTEXT_DRAIN_MS).catch(() => {});
    }
  };
  const builder = new Builder({
    store,
    blobs,
    runtime,
    deploymentsDir,
    baseDomain,
    urlFor: (domain) => `http://${domain}:${port}`,
    beforeLive: async (id, domains) => await front?.beforeLive(id, domains),
    afterLive: (id) => front?.live(id),
    contextChanged: (ids) => restartInNewContext(ids),
    cronRefusal: (id) => crons.takeRefusal(id),
    dependencies: {
      proxyUrl: egress.url,
      deno: tenantDenoBinary(),
      maxBytes: options.quotas?.dependencyBytes ?? DEFAULT_QUOTAS.dependencyBytes,
    },
  });
  const crons = new CronScheduler({
    store,
    baseDomain,
    run: async (id, name) => {
      const record = store.getDeploymentRecord(id);
      if (!record) return;
      const app = deploymentDirs(deploymentsDir, id).app;
      await (runtime.running(id) ?? runtime.ensure(startSettings(store, record, app, baseDomain)));
      await runtime.runCron(id, name);
    },
    log: (id, level, message) => telemetry.appLog(id, level, message),
  });
  // The local CA is created on first use (at start when HTTPS is on), once per data dir.
  let ca: Promise<LocalCa> | undefined;
  const openCa = () =>
    ca ??= LocalCa.open(caDir(dataDir)).catch((error) => {
      ca = undefined;
      throw error;
    });
  const domains = {
    baseDomain,
    verifier: new DomainVerifier({
      baseDomain,
      addresses: hostAddresses(options.hostname ?? "127.0.0.1"),
      trustDomains: options.trustDomains,
      resolver: options.dnsResolver,
    }),
    ca: openCa,
  };
  const api = createApi(store, blobs, {
    baseDomain,
    deploymentCreated: (id) => builder.enqueue(id),
    restartDeployments: async (ids) => {
      for (const id of ids) if (runtime.running(id)) await runtime.stop(id);
    },
    contextChanged: (ids) => restartInNewContext(ids),
    clearKvDatabase: async (id, deploymentIds) => {
      for (const deploymentId of deploymentIds) await runtime.stop(deploymentId);
      await Deno.remove(kvDatabaseDir(join(dataDir, "kv"), id), { recursive: true })
        .catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
    },
    deploymentDeleted: async (id) => {
      telemetry.appLogs.end(id);
      await runtime.stop(id);
      await Deno.remove(deploymentDirs(deploymentsDir, id).root, { recursive: true })
        .catch(() => {});
    },
  }, {
    domains,
    appLogs: telemetry.appLogs,
    usage: telemetry.usage,
    maxBodyBytes: options.maxBodyBytes,
    quotas: options.quotas,
  });
  const handler = createRouter({
    store,
    runtime,
    deploymentsDir,
    baseDomain,
    api: haproxy ? (request) => withFrontProxy(request, api.fetch, () => front) : api.fetch,
    usage: telemetry.usage,
    appLog: telemetry.appLog,
    onServed: (instance) => front?.served(instance),
  });

  // Deployments' fetches of the host's own names, which their network may not reach.
  const selfFetches = serveSelfFetches({
    doors: edgeDoors,
    baseDomain,
    deploymentAt: (host) => store.findDeploymentByDomain(host),
    handler,
    log,
  });
  const hostname = options.hostname ?? "127.0.0.1";
  let server: HostServer;
  /** Stops what has started, newest first, when a later part of the host fails to start. */
  const abandonStart = async () => {
    await front?.stop();
    await server.shutdown();
    await selfFetches.shutdown();
    await egress.close();
    await runtime.stopAll();
    await cgroups?.close();
    store.close();
    lock.close();
  };
  if (haproxy) {
    // HAProxy takes the public port; the host's server listens behind it on a unix socket.
    const apiSocket = frontProxyApiSocket(dataDir);
    await Deno.mkdir(frontProxyDir(dataDir), { recursive: true, mode: 0o700 });
    server = serveHost({ path: apiSocket }, behindProxy(handler), log);
    try {
      front = await FrontProxy.start({
        haproxy,
        dataDir,
        hostname,
        port,
        slots: maxWarm,
        store,
        runtime,
        baseDomain,
        usage: telemetry.usage,
        appLog: telemetry.appLog,
        log,
        cgroup: cgroups?.serviceCgroup("edge", CPU_WEIGHTS.normal),
      });
    } catch (error) {
      await abandonStart();
      throw error;
    }
    port = front.port;
    // The data path (HAProxy, tenants) in cgroups of its own; the host's work yields to it.
    if (cgroups?.lowerHost()) log(`cpu: the host's own work runs at weight ${HOST_CPU_WEIGHT}`);
  } else {
    server = serveHost({ hostname, port }, handler, log);
    port = server.port;
  }
  let https: HttpsServer | undefined;
  if (options.httpsPort !== undefined) {
    try {
      https = await serveHttps({
        port: options.httpsPort,
        hostname,
        handler,
        certificateFor: servingCertificates({ store, baseDomain, ca: openCa }),
        log,
      });
    } catch (error) {
      await abandonStart();
      throw error;
    }
    await openCa().catch((error) => log(`local CA unavailable: ${error.message}`));
  }

  // Builds cut short by a crash or kill resume, so nothing stays pending.
  for (const id of store.pendingDeployments()) builder.enqueue(id);
  crons.start();
  // A restart must not turn every warm deployment cold at once: the host starts them again
  // (within the pool's memory budget, see warm_set.ts), then fills the pool, and says it is
  // ready after both (each bounded).
  const restoreStart = performance.now();
  const restored = await runtime.restore((id) => {
    const record = store.getDeploymentRecord(id);
    if (record?.status !== "success") return undefined;
    return startSettings(store, record, deploymentDirs(deploymentsDir, id).app, baseDomain);
  }, RESTORE_WAIT_MS);
  // Routed by HAProxy, with a connection to each, before their callers come back.
  if (front) await within(front.settled(), ROUTE_WAIT_MS);
  if (restored > 0) {
    const ms = Math.round(performance.now() - restoreStart);
    const what = restored === 1 ? "1 deployment that was" : `${restored} deployments that were`;
    log(`restored ${what} warm before the restart (${ms} ms)`);
  }
  runtime.warmUp();
  await runtime.poolReady(POOL_WAIT_MS);

  const apiHost = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
  const info: HostInfo = {
    apiUrl: `http://${apiHost}:${port}/v1`,
    apiV2Url: `http://${apiHost}:${port}/v2`,
    token,
    organizationId: organization.id,
    organizationSlug: organization.slug,
    port,
    baseDomain,
    pid: Deno.pid,
    isolation: describeIsolation(isolation),
    cgroups: describeCgroups(cgroupSupport),
    limits: { ...machine, capacity, maxWarm },
    ...(https ? { httpsPort: https.port } : {}),
    frontProxy: front ? "haproxy" : "none",
  };
  const infoPath = join(dataDir, "host.json");
  await writePrivateFile(infoPath, JSON.stringify(info, null, 2) + "\n");

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      await Deno.remove(infoPath).catch(() => {});
      // Live log streams never end on their own; the server waits for open responses.
      telemetry.appLogs.end();
      // Graceful, but bounded: a client that keeps a proxied request open must not hold the
      // host up; stopping the tenants ends whatever is left.
      await front?.stop();
      const closing = Promise.all([server.shutdown(), https?.shutdown(), selfFetches.shutdown()]);
      await within(closing, 3_000);
      await builder.idle();
      crons.stop();
      await runtime.stopAll();
      await cgroups?.close();
      await egress.close();
      await within(closing, 2_000);
      telemetry.close();
      store.close();
      lock.close();
    })();
  const { pid: _pid, ...rest } = info;
  // Without HAProxy nothing listens on the public port: the host is done.
  const finished = front
    ? Promise.race([server.finished, front.exited.then(() => {})])
    : server.finished;
  return { ...rest, dataDir, shutdown, finished };
}

/**
 * The API behind the front proxy: analytics first collect what HAProxy counted, and a change
 * (which may move a domain) is answered once the proxy routes accordingly.
 */
async function withFrontProxy(
  request: Request,
  api: (request: Request) => Response | Promise<Response>,
  front: () => FrontProxy | undefined,
): Promise<Response> {
  const proxy = front();
  if (!proxy) return await api(request);
  if (request.method === "GET" || request.method === "HEAD") {
    if (new URL(request.url).pathname.endsWith("/analytics")) await proxy.collect().catch(() => {});
    return await api(request);
  }
  const response = await api(request);
  const { pathname } = new URL(request.url);
  if (request.method !== "POST" || !ROUTES_UNCHANGED.some((route) => route.test(pathname))) {
    await proxy.resync().catch(() => {});
  }
  return response;
}

/**
 * Requests that create something no name routes to yet (a pending deployment, an empty
 * project): no resync, which costs a look at every warm deployment. A build going live maps
 * its own names (`FrontProxy.live`).
 */
const ROUTES_UNCHANGED = [
  /^\/v1\/projects\/[^/]+\/deployments$/,
  /^\/v1\/deployments\/[^/]+\/redeploy$/,
  /^\/v1\/organizations\/[^/]+\/(?:projects|databases)$/,
  /^(?:\/api)?\/v2\/apps(?:\/[^/]+\/deploy)?$/,
  /^(?:\/api)?\/v2\/layers$/,
];

/** How long a process whose context changed gets to answer the requests it has in flight. */
const CONTEXT_DRAIN_MS = 5_000;

/** How long a restarted host waits for the deployments it restores before it says it is ready. */
const RESTORE_WAIT_MS = 5_000;

/** How long a restarted host waits for HAProxy to route the deployments it restored. */
const ROUTE_WAIT_MS = 2_000;

/** How long a host waits for a pool sized by a burst remembered from before a restart. */
const POOL_WAIT_MS = 2_000;

/**
 * Copies a module tenants run (`bootstrap.js`, `pool.js`) into the data dir: bubblewrap binds
 * a real file, and in a compiled binary the module's own copy lives only in its embedded file
 * system.
 */
async function installTenantFile(dataDir: string, name: string): Promise<string> {
  const path = join(dataDir, name);
  const source = await Deno.readTextFile(new URL(`./tenant/${name}`, import.meta.url));
  const current = await Deno.readTextFile(path).catch(() => undefined);
  if (current !== source) await writePrivateFile(path, source);
  return path;
}

/** Waits for `promise`, but no longer than `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
}

/** How tenant limits are enforced, for logs and `host status`. */
export function describeCgroups(support: CgroupSupport): string {
  if (support.kind !== "none") {
    return `${support.cgroups.describe()}: the kernel enforces each tenant's memory limit; ` +
      "booting tenants yield the CPU (idle for their first second where the kernel has " +
      "cpu.idle), then run at a low CPU weight";
  }
  return `no cgroups (${support.reason}): memory sampled from /proc, one CPU priority`;
}

/** A one-line description of the isolation in force, for logs and `host status`. */
export function describeIsolation(isolation: Isolation): string {
  if (isolation.kind === "bwrap") {
    if (!isolation.seccomp) {
      return "bubblewrap sandbox + Deno permissions (no seccomp filter: unavailable here)";
    }
    // Said because it costs throughput (see sandbox.ts); a service has no terminal.
    const sessions = isolation.terminal
      ? " (each tenant in a session of its own: the host has a terminal)"
      : "";
    return `bubblewrap sandbox + seccomp filter + Deno permissions${sessions}`;
  }
  return isolation.accepted
    ? `NONE (--unsandboxed; ${isolation.reason}): Deno permissions only`
    : `none available (${isolation.reason}): tenants will not run`;
}

async function persistentToken(path: string): Promise<string> {
  try {
    const saved = (await Deno.readTextFile(path)).trim();
    if (saved) {
      await Deno.chmod(path, 0o600); // it may have been written by hand
      return saved;
    }
  } catch { /* first start */ }
  const token = newToken();
  await writePrivateFile(path, token + "\n");
  return token;
}

/** Another host holds the data dir. */
export class DataDirInUseError extends Error {
  /** Creates the error; `pid` is the other host's, when host.json names it. */
  constructor(readonly dataDir: string, readonly pid?: number) {
    super(
      `Another local host${pid ? ` (pid ${pid})` : ""} is running on ${dataDir}: stop it ` +
        "(deploy-tenant host stop) or use another --data-dir",
    );
    this.name = "DataDirInUseError";
  }
}

/** Takes `<dataDir>/host.lock` for this process, or throws {@link DataDirInUseError}. */
async function lockDataDir(dataDir: string): Promise<Deno.FsFile> {
  const file = await Deno.open(join(dataDir, "host.lock"), {
    create: true,
    write: true,
    mode: 0o600,
  });
  if (await file.tryLock(true)) return file;
  file.close();
  let pid: number | undefined;
  try {
    pid = JSON.parse(await Deno.readTextFile(join(dataDir, "host.json"))).pid;
  } catch { /* starting, or none */ }
  throw new DataDirInUseError(dataDir, pid);
}

/** Writes `content` readable by the owner only, atomically. */
async function writePrivateFile(path: string, content: string): Promise<void> {
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temp, content, { mode: 0o600 });
  await Deno.rename(temp, path);
}
