/**
 * The runtime supervisor: one sandboxed Deno process per deployment, started on first use,
 * kept warm, evicted when idle, restarted after a crash.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { LogLevel } from "../../lib/types.ts";
import { type GuardOptions, ProcessGuard } from "./process_guard.ts";
import type { ProcessTreeUsage } from "./process_usage.ts";
import { type HostCgroups, inCgroup, type TenantCgroup } from "./cgroups.ts";
import {
  DEFAULT_KV_MAX_BYTES,
  ensureKvFile,
  type Isolation,
  mayUseEdge,
  SOCKET_NAME,
  tenantCommand,
  type TenantEdge,
  type TenantSpec,
  writeTenantFilter,
} from "./sandbox.ts";
import { TenantClient } from "./client.ts";
import { readTenantOutput } from "./output.ts";
import { WarmPool, warmUp } from "./warm_pool.ts";
import { defaultPoolBudgetMb, POOLED_RUNTIME_MB } from "./pool_sizer.ts";
import { BootQueue, type BootQueueOptions } from "./boot_queue.ts";
import { readWarmSet, WarmSetSaver } from "./warm_set.ts";
import type { RunnableDeployment } from "./runnable.ts";
import { mayServeWithNode } from "./node_server.ts";
import { CACHE_DATABASE_BYTES, cacheLimitMib, pruneCacheDatabases } from "./cache_cap.ts";
import {
  delay,
  deploymentDirs,
  describeExit,
  type Launched,
  OutputTail,
  V8_OUT_OF_MEMORY,
  waitForSocket,
  waitForWord,
} from "./tenant_process.ts";

export type { RunnableDeployment } from "./runnable.ts";
export { deploymentDirs } from "./tenant_process.ts";

/** A running tenant process and the HTTP client that reaches its socket. */
export interface Instance {
  deploymentId: string;
  socketPath: string;
  client: TenantClient;
  /** When it last had a request (`Date.now()`); {@link Instance.used} sets it. */
  lastUsed: number;
  /**
   * Records a request now: `lastUsed`; the process guard and billing's sampler read the process
   * soon (they do not look at idle processes on their own).
   */
  used(): void;
  /** Settles when the process exits. */
  exited: Promise<Deno.CommandStatus>;
  /** The process id (of the sandbox, when there is one: the tenant runs under it). */
  pid: number;
  /** Whether the process ran out of its memory cap (V8 said so, or the guard killed it). */
  readonly memoryLimitExceeded: boolean;
  /** Requests forwarded to the process and not answered yet (the router counts them). */
  inFlight: number;
  /**
   * The secret of the process's second warm-up request, when it was started ahead of its
   * callers (see `warmUp` in warm_pool.ts): the front proxy sends it through HAProxy, which then
   * keeps a connection to the process for the first caller's request. Cleared once sent.
   */
  warmUpSecret?: string;
}

/**
 * An instance given to a waiting request before it serves (see {@link Runtime.forRequest}):
 * requests sent to it wait in it until its deployment serves.
 */
export interface HandedInstance {
  instance: Instance;
  /** Settles when the deployment serves; rejects as {@link Runtime.ensure} would. */
  serving: Promise<void>;
}

/** Why a tenant did not come up: the tail of its stderr says what the module did wrong. */
export class TenantStartError extends Error {
  /** Creates a start failure with the process's output. */
  constructor(message: string, readonly output: string) {
    super(output ? `${message}\n${output}` : message);
    this.name = "TenantStartError";
  }
}

/** Receives the lines a tenant writes, and the host's events about it (started, crashed). */
export type TenantLog = (deploymentId: string, level: LogLevel, message: string) => void;

/** Hears about tenant processes, for usage accounting. */
export interface ProcessObserver {
  /**
   * A process was spawned for the deployment; `lastActive` says when it last served
   * (`Date.now()` while it serves); `readUsage`, where it has a cgroup, reads its CPU time and
   * memory there.
   */
  started(
    deploymentId: string,
    pid: number,
    lastActive: () => number,
    readUsage?: () => ProcessTreeUsage | undefined,
  ): void;
  /** The process got a request. */
  served?(pid: number): void;
  /** The host is about to kill the process. */
  stopping(pid: number): void;
  /**
   * The process exited (its output has been read); `cpuSeconds` is the CPU time its whole tree
   * used, read from its cgroup before that was removed (`undefined` without one).
   */
  exited(pid: number, cpuSeconds?: number): void;
  /** The process reported KV operations. */
  kvUsage(deploymentId: string, reads: number, writes: number): void;
}

/**
 * Hears when a process is ready to serve and when the host is about to stop it: the front
 * proxy routes to a process between the two.
 */
export interface InstanceObserver {
  /** The process listens on its socket. */
  ready(instance: Instance): void;
  /**
   * The host is about to kill the process; it is killed once this settles. Nothing new reaches
   * it from then on; with `drainMs`, this waits that long at most for the requests forwarded
   * to it already to be answered.
   */
  retiring(instance: Instance, drainMs?: number): Promise<void>;
  /**
   * The process is dying over its memory limit (V8 said so, or the guard kills it once this
   * settles): requests in flight are answered `MEMORY_LIMIT`.
   */
  outOfMemory?(deploymentId: string): Promise<void>;
}

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
  /** The largest a KV database's file may grow (`TenantSpec.kvMaxBytes`). */
  kvMaxBytes?: number;
  bootstrap: string;
  deno: string;
  memoryMb?: number;
  idleTimeoutMs?: number;
  startTimeoutMs?: number;
  log?: TenantLog;
  processes?: ProcessObserver;
  /** Hears the `Deno.cron` jobs a deployment registers (see cron.ts). */
  crons?: { registered(deploymentId: string, name: string, schedule: unknown): void };
  /** Limits on resident memory and CPU burnt outside requests (see process_guard.ts). */
  guard?: GuardOptions;
  /**
   * Whether a deployment's `permissions.net` may name loopback and private addresses (see
   * `netFlags` in sandbox.ts). Default false: they stay denied whatever it lists.
   */
  allowPrivateNet?: boolean;
  /** Where deployments' fetches of the host's own names go (host/edge/self_fetch.ts); none when omitted. */
  edge?: TenantEdge;
  /**
   * The largest file Deno's cache may grow to for a process without a KV database (its
   * `RLIMIT_FSIZE`), and the most its cache databases may hold when a process starts (past it
   * they are cleared; see cache_cap.ts). Default {@link CACHE_DATABASE_BYTES}.
   */
  cacheDatabaseBytes?: number;
  /** At most this many processes run; starting one more stops the least recently used. Default 256. */
  maxWarm?: number;
  instances?: InstanceObserver;
  /** Receives the host's own events (a pooled runtime that failed to start). */
  hostLog?: (line: string) => void;
  /**
   * The fewest pooled runtimes kept started for cold starts (see `warm_pool.ts`); the pool
   * grows to the recent bursts of cold starts within `poolBudgetMb` (see `pool_sizer.ts`).
   * Default 0: no pool.
   */
  warmPool?: number;
  /**
   * The memory the warm pool may hold, in MiB, and the deployments a restart starts again
   * ({@link Runtime.restore}). Default: `defaultPoolBudgetMb` (pool_sizer.ts).
   */
  poolBudgetMb?: number;
  /** How many tenants boot at once (see `boot_queue.ts`). */
  boots?: BootQueueOptions;
  /**
   * Where the pool's demand is kept across restarts. Default: `pool-demand.json` beside
   * `deploymentsDir`.
   */
  poolDemandFile?: string;
  /**
   * Where the deployments with a process are kept across restarts (see `warm_set.ts`).
   * Default: `warm.json` beside `deploymentsDir`.
   */
  warmSetFile?: string;
  /** The pooled runtimes' main module (`pool.js`, a real file). Needed when `warmPool` > 0. */
  poolMain?: string;
  /** Where pooled runtimes keep their directories. Default: `pool` beside `deploymentsDir`. */
  poolDir?: string;
  /**
   * Cgroups for tenant processes (`detectCgroups()` in cgroups.ts): the kernel enforces each
   * one's memory limit and weighs its CPU. Without them the guard samples memory from `/proc`
   * and every process has the same CPU priority.
   */
  cgroups?: HostCgroups;
}

/**
 * Why {@link Runtime.ensure} is called: `serve` (a request, a cron job; the default) or
 * `check` (a build proving the deployment boots). A process runs at a low CPU weight until it
 * serves: started for a check or for the warm pool, it is raised by {@link Runtime.promote} or
 * by the first `serve`.
 */
export type EnsurePurpose = "serve" | "check";

/** The directory of KV database `id` under the runtime's `kvDir`. */
export function kvDatabaseDir(kvDir: string, id: string): string {
  return join(kvDir, id.toLowerCase());
}

/** Starts, tracks and stops tenant processes. */
export class Runtime {
  #options:
    & Required<
      Omit<
        RuntimeOptions,
        | "log"
        | "processes"
        | "guard"
        | "instances"
        | "crons"
        | "cgroups"
        | "poolBudgetMb"
        | "boots"
        | "edge"
      >
    >
    & {
      cgroups?: HostCgroups;
      edge?: TenantEdge;
      log: TenantLog;
      processes?: ProcessObserver;
      crons?: RuntimeOptions["crons"];
      instances?: InstanceObserver;
    };
  #instances = new Map<string, Promise<Instance>>();
  /** The instances that came up, by deployment, until they are stopped or exit. */
  #ready = new Map<string, Instance>();
  #processes = new Map<string, Deno.ChildProcess>();
  /** The cgroup of each process that has one. */
  #cgroups = new WeakMap<Deno.ChildProcess, TenantCgroup>();
  /** Deployments whose process serves: it runs at the normal CPU weight. */
  #serving = new Set<string>();
  /** Whether a tenant cgroup failed to be made (said once). */
  #cgroupFailed = false;
  /** Processes the host killed on purpose: their exit is not a crash. */
  #killedByHost = new WeakSet<Deno.ChildProcess>();
  /** The last line written to a process's lifeline after its handoff (they go one at a time). */
  #lifelineWrites = new WeakMap<Deno.ChildProcess, Promise<boolean>>();
  /** Processes the host asked to shut down (their exit is no crash). */
  #askedToStop = new WeakSet<Deno.ChildProcess>();
  #sweeper: ReturnType<typeof setInterval>;
  #guard: ProcessGuard;
  /** The pooled runtimes cold starts take (warm_pool.ts). */
  #pool: WarmPool;
  /**
   * The processes listening on their KV queue, kept from the idle sweep: on Deploy a queue's
   * delivery starts the deployment, and nothing here reads a database's queue to do that.
   */
  #queueListeners = new WeakSet<Deno.ChildProcess>();
  /** No ready process is idle past the timeout before then (see `#evictIdle`). */
  #nextIdleCheck = 0;
  /** A request came since the warm set was last saved: its order (most recent first) moved. */
  #usedSinceSave = false;
  /** Whether a deployment may listen with Node's server, by id (see {@link mayServeWithNode}). */
  #nodeServer = new Map<string, boolean>();
  /** Keeps the warm set (see `#warmIds`) in `warmSetFile` (warm_set.ts). */
  #warmSet: WarmSetSaver;
  /** The deployments the last host had a process for, most recently used first. */
  #warmBefore: string[];
  /** The memory the pool, and a restart's restored deployments, may hold (MiB). */
  #budgetMb: number;
  #boots: BootQueue;
  /** Processes being started now (the pool waits for them). */
  #starting = 0;
  #closed = false;
  /** Set once {@link stopAll} has stopped every process and handed on their last KV counts. */
  #stopped = false;
  /** The processes' KV counts waiting to be handed on (see `#launch`). */
  #kvReports = new Set<() => void>();

  /** Creates a supervisor; idle processes are swept every few seconds. */
  constructor(options: RuntimeOptions) {
    this.#options = {
      ...options,
      kvDir: options.kvDir ?? join(dirname(options.deploymentsDir), "kv"),
      kvMaxBytes: options.kvMaxBytes ?? DEFAULT_KV_MAX_BYTES,
      memoryMb: options.memoryMb ?? 512,
      idleTimeoutMs: options.idleTimeoutMs ?? 5 * 60_000,
      startTimeoutMs: options.startTimeoutMs ?? 30_000,
      maxWarm: options.maxWarm ?? 256,
      cacheDatabaseBytes: options.cacheDatabaseBytes ?? CACHE_DATABASE_BYTES,
      allowPrivateNet: options.allowPrivateNet ?? false,
      warmPool: options.warmPool ?? 0,
      poolMain: options.poolMain ?? "",
      poolDir: options.poolDir ?? join(dirname(options.deploymentsDir), "pool"),
      poolDemandFile: options.poolDemandFile ??
        join(dirname(options.deploymentsDir), "pool-demand.json"),
      warmSetFile: options.warmSetFile ?? join(dirname(options.deploymentsDir), "warm.json"),
      log: options.log ?? (() => {}),
      hostLog: options.hostLog ?? (() => {}),
    };
    this.#boots = new BootQueue(options.boots);
    this.#guard = new ProcessGuard(this.#options.memoryMb, options.guard);
    this.#budgetMb = options.poolBudgetMb ??
      defaultPoolBudgetMb(Deno.systemMemoryInfo().total / 2 ** 20);
    this.#pool = new WarmPool({
      minimum: this.#options.warmPool,
      budgetMb: this.#budgetMb,
      isolation: this.#options.isolation,
      dir: this.#options.poolDir,
      demandFile: this.#options.poolDemandFile,
      deploymentsDir: this.#options.deploymentsDir,
      bootstrap: this.#options.bootstrap,
      poolMain: this.#options.poolMain,
      deno: this.#options.deno,
      memoryMb: this.#options.memoryMb,
      edge: this.#options.edge,
      hostLog: this.#options.hostLog,
    }, {
      // Pooled runtimes are processes like any other: this supervisor launches, claims and
      // kills them, and the pool waits while deployments start.
      launch: (spec) => this.#launch(spec),
      claim: (process, deploymentId) => this.#claim(process, deploymentId),
      kill: (child) => this.#kill(child),
      killedByHost: (child) => this.#killedByHost.has(child),
      serves: (id) => this.#serving.has(id),
      starting: () => this.#starting > 0,
      closed: () => this.#closed,
    });
    this.#warmBefore = readWarmSet(this.#options.warmSetFile);
    this.#warmSet = new WarmSetSaver(
      this.#options.warmSetFile,
      this.#warmBefore,
      () => this.#warmIds(),
      this.#options.hostLog,
    );
    this.#sweeper = setInterval(() => {
      this.#evictIdle();
      this.#pool.resize();
      // Sorting a thousand processes by use every 5 s for an order nothing changed: not.
      if (this.#usedSinceSave) this.#warmSet.save();
      this.#usedSinceSave = false;
    }, 5_000);
    Deno.unrefTimer(this.#sweeper as unknown as number);
  }

  /** The isolation tenants run under. */
  get isolation(): Isolation {
    return this.#options.isolation;
  }

  /**
   * The running instance of `deployment`, starting it if needed. Concurrent callers share one
   * start. A `check` leaves the process at a low CPU weight; `serve` raises it.
   */
  ensure(deployment: RunnableDeployment, purpose: EnsurePurpose = "serve"): Promise<Instance> {
    if (purpose === "serve") this.promote(deployment.id);
    const existing = this.#instances.get(deployment.id);
    if (existing) return existing;
    return this.#track(deployment, this.#makeRoom().then(() => this.#start(deployment)));
  }

  /**
   * {@link ensure} for a request that waits on `deployment`, giving its instance as soon as
   * requests can be sent to it. A runtime taken from the warm pool takes them once it has been
   * handed the deployment, while it still loads the deployment's modules (its bootstrap holds
   * them until the deployment serves): the request travels while the tenant loads, and the
   * host need not hear that it serves first (~1.5 ms of a cold start here).
   */
  forRequest(deployment: RunnableDeployment): Promise<HandedInstance> {
    this.promote(deployment.id);
    const existing = this.#instances.get(deployment.id);
    if (existing) return existing.then((instance) => ({ instance, serving: Promise.resolve() }));
    const handed = Promise.withResolvers<HandedInstance>();
    const ready = this.#track(
      deployment,
      this.#makeRoom().then(() => this.#start(deployment, handed.resolve)),
    );
    // Started on its own (no pooled runtime): given once it serves.
    ready.then(
      (instance) => handed.resolve({ instance, serving: Promise.resolve() }),
      handed.reject,
    );
    return handed.promise;
  }

  /** Keeps `starting` as the deployment's instance until it fails. */
  #track(deployment: RunnableDeployment, starting: Promise<Instance>): Promise<Instance> {
    this.#instances.set(deployment.id, starting);
    starting.catch(() => {
      if (this.#instances.get(deployment.id) === starting) this.#instances.delete(deployment.id);
    });
    return starting;
  }

  /**
   * The process of `id` serves from now on (its build went live): it runs at the normal CPU
   * weight, as does any later process of `id` until it is stopped.
   */
  promote(id: string): void {
    this.#serving.add(id);
    const child = this.#processes.get(id);
    if (child) this.#cgroups.get(child)?.setWeight("normal");
  }

  /** The CPU weight of `id`'s process, if it runs in a cgroup. */
  cpuWeight(id: string): "low" | "normal" | undefined {
    const child = this.#processes.get(id);
    return child && this.#cgroups.get(child)?.weight;
  }

  /** The instance of `id` if a process is running or starting, without starting one. */
  running(id: string): Promise<Instance> | undefined {
    return this.#instances.get(id);
  }

  /** Whether a process for `id` is running or starting. */
  isRunning(id: string): boolean {
    return this.#instances.has(id);
  }

  /**
   * Runs the `Deno.cron` job `name` in the running process of `id` (its bootstrap reads the
   * lifeline). Returns whether there was a process to tell.
   */
  async runCron(id: string, name: string): Promise<boolean> {
    const child = this.#processes.get(id);
    return child ? await this.#tell(child, { cron: name }) : false;
  }

  /**
   * Writes `record` as a line on `child`'s lifeline, after the lines before it (the handoff
   * first); whether it was written (not once the process is gone).
   */
  #tell(child: Deno.ChildProcess, record: Record<string, unknown>): Promise<boolean> {
    const before = this.#lifelineWrites.get(child) ?? this.#pool.handoff(child);
    const written = Promise.resolve(before).catch(() => {}).then(async () => {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(new TextEncoder().encode(JSON.stringify(record) + "\n"));
        return true;
      } catch {
        return false;
      } finally {
        writer.releaseLock();
      }
    });
    this.#lifelineWrites.set(child, written);
    return written;
  }

  /**
   * Stops the process of `id`, if any, and waits for it to exit. With `drainMs`, the requests
   * it has in flight get that long at most to be answered first (no new one reaches it). With
   * `graceMs`, the deployment is then told to shut down, as Deploy sends SIGINT (its
   * `Deno.addSignalListener("SIGINT", …)` listeners run, or it exits), and is killed if it has
   * not exited within that time.
   */
  async stop(id: string, drainMs = 0, graceMs = 0): Promise<void> {
    const pending = this.#instances.get(id);
    this.#instances.delete(id);
    this.#serving.delete(id);
    if (pending) this.#warmSet.changed();
    const child = this.#processes.get(id);
    const ready = this.#ready.get(id);
    if (ready) {
      this.#ready.delete(id);
      const deadline = Date.now() + drainMs;
      // Nothing routes to the process any more before it dies.
      await this.#options.instances?.retiring(ready, drainMs).catch(() => {});
      while (ready.inFlight > 0 && Date.now() < deadline) await delay(DRAIN_POLL_MS);
    }
    if (child) {
      if (graceMs > 0) await this.#askToStop(child, graceMs);
      this.#kill(child);
      await child.status;
    }
    if (pending) {
      const instance = await pending.catch(() => undefined);
      instance?.client.close();
    }
  }

  /**
   * Kills `instance`'s process if it is still the deployment's current one, logging
   * `reason`; the next request starts a fresh process. For a process stuck in a busy loop.
   */
  async recycle(instance: Instance, reason: string): Promise<void> {
    const current = await this.#instances.get(instance.deploymentId)?.catch(() => undefined);
    if (current !== instance) return;
    this.#options.log(instance.deploymentId, "error", reason);
    await this.stop(instance.deploymentId);
  }

  /** Stops every process, the warm pool's too. */
  async stopAll(): Promise<void> {
    // Every deployment with a process now is started again by the next host.
    this.#pool.saveDemand();
    this.#warmSet.save();
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#warmSet.close();
    this.#guard.close();
    const pooled = await this.#pool.empty();
    await Promise.all([
      ...[...this.#instances.keys()].map((id) => this.stop(id)),
      ...pooled,
    ]);
    await this.#pool.removeDirectory();
    // The KV counts the processes reported last, before the host closes the store.
    for (const report of this.#kvReports) report();
    this.#stopped = true;
  }

  /** How many pooled runtimes wait for a deployment now. */
  get pooled(): number {
    return this.#pool.size;
  }

  /**
   * Fills the warm pool (see `warm_pool.ts`) in the background: cold starts of eligible
   * deployments then take a runtime from it. The host calls it once it is up.
   */
  warmUp(): void {
    this.#pool.fill();
  }

  /**
   * Starts again the deployments that had a process when the last host on this data dir
   * stopped (see warm_set.ts), most recently used first, as many as the pool's memory budget
   * pays for (none without a pool): a restart would turn them all cold at once. `settings`
   * gives one's start settings, or `undefined` when it no longer serves. They boot below
   * requests' cold starts and serve at the normal weight once up. Settles when all are up or
   * after `timeoutMs` (the rest go on starting); returns how many are up.
   */
  async restore(
    settings: (id: string) => RunnableDeployment | undefined,
    timeoutMs: number,
  ): Promise<number> {
    // `--warm-pool 0` asks for no process before its request: none is restored either.
    const limit = this.#options.warmPool === 0
      ? 0
      : Math.min(this.#options.maxWarm, Math.floor(this.#budgetMb / POOLED_RUNTIME_MB));
    // Saved again until they are up (see #warmIds): a host stopped mid-restore owes them.
    const ids = this.#warmBefore = this.#warmBefore.slice(0, limit);
    let up = 0;
    const starts = ids.map(async (id) => {
      let deployment;
      try {
        deployment = settings(id);
      } catch (error) {
        this.#options.hostLog(`restore: ${id}: ${(error as Error).message}`);
      }
      if (!deployment || this.#closed) return;
      // A start that fails is the deployment's own log's business, as on a request.
      await this.ensure(deployment, "check").then(() => {
        if (this.#instances.has(id)) this.promote(id);
        up++;
      }, () => {});
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(starts).then(() => this.#warmBefore = []),
      new Promise((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
    return up;
  }

  /**
   * Settles once the pool holds its target of warm runtimes when that is more than the
   * minimum (a burst remembered from before a restart), or after `timeoutMs`. Returns the
   * target it waited for, 0 when it did not wait.
   */
  poolReady(timeoutMs: number): Promise<number> {
    return this.#pool.ready(timeoutMs);
  }

  async #start(
    deployment: RunnableDeployment,
    onHandedOver?: (handed: HandedInstance) => void,
  ): Promise<Instance> {
    this.#starting++;
    // A boot at a time per core, requests first (boot_queue.ts).
    const release = await this.#boots.acquire(
      this.#serving.has(deployment.id) ? "serve" : "check",
    );
    try {
      return await this.#startProcess(deployment, onHandedOver);
    } finally {
      release();
      // The pool refills once no start is under way (and the runtime it handed out has
      // served), not beside them on the same CPUs: in a burst it would serve one in many.
      if (--this.#starting === 0) this.#pool.refillSoon();
    }
  }

  async #startProcess(
    deployment: RunnableDeployment,
    onHandedOver?: (handed: HandedInstance) => void,
  ): Promise<Instance> {
    const isolation = this.#options.isolation;
    if (isolation.kind === "none" && !isolation.accepted) {
      throw new TenantStartError(
        `No OS sandbox is available (${isolation.reason}): refusing to run tenant code. ` +
          "Install bubblewrap, or start the host with --unsandboxed to accept weaker isolation.",
        "",
      );
    }
    const dirs = deploymentDirs(this.#options.deploymentsDir, deployment.id);
    const pooled = await this.#pool.take(deployment, dirs.app);
    if (pooled) return await this.#serve(pooled, deployment, onHandedOver);
    await Deno.mkdir(dirs.run, { recursive: true, mode: 0o700 });
    await Deno.mkdir(dirs.cache, { recursive: true, mode: 0o700 });
    // Deno's caches as the last process left them: past their cap, made again from nothing.
    if (pruneCacheDatabases(dirs.cache, this.#options.cacheDatabaseBytes)) {
      this.#options.log(
        deployment.id,
        "warning",
        `Its Deno cache had grown past ${cacheLimitMib(this.#options.cacheDatabaseBytes)} MiB ` +
          "(modules made at run time: data: or blob: imports): cleared",
      );
    }
    let kvDir: string | undefined;
    if (deployment.kvDatabaseId) {
      kvDir = kvDatabaseDir(this.#options.kvDir, deployment.kvDatabaseId);
      await ensureKvFile(kvDir);
    }
    const process = await this.#launch({
      deploymentId: deployment.id,
      appDir: dirs.app,
      entrypoint: deployment.entrypoint,
      runDir: dirs.run,
      cacheDir: dirs.cache,
      bootstrap: this.#options.bootstrap,
      envVars: deployment.envVars,
      kvDir,
      kvMaxBytes: this.#options.kvMaxBytes,
      net: deployment.net,
      privateNet: this.#options.allowPrivateNet,
      edge: this.#options.edge,
      seccompFilter: await writeTenantFilter(isolation, deployment.net, dirs.root),
      memoryMb: this.#options.memoryMb,
      denoFlags: deployment.denoFlags,
      args: deployment.args,
      deno: this.#options.deno,
      requestTimeoutMs: deployment.requestTimeoutMs,
      warmUpSecret: crypto.randomUUID(),
      nodeServer: this.#mayServeWithNode(deployment.id, dirs),
    });
    this.#claim(process, deployment.id);
    return await this.#serve(process, deployment);
  }

  /** Spawns a tenant process and starts reading its output; it belongs to no deployment yet. */
  async #launch(spec: TenantSpec): Promise<Launched> {
    // Whatever is there: a socket of an earlier process, or a directory an earlier one made of
    // the name before it listened (the path is the tenant's to write until then), with files.
    await Deno.remove(join(spec.runDir, SOCKET_NAME), { recursive: true }).catch(() => {});
    // Its own door to the host's socket, so the host can share that socket out per process.
    // Whose the process is: set below, claimed later (a pooled runtime's at its handoff).
    const launched: { process?: Launched } = {};
    const door = mayUseEdge(spec)
      ? await spec.edge!.open(() => launched.process?.deploymentId)
      : undefined;
    const cgroup = this.#makeCgroup();
    const tenant = tenantCommand(
      { cacheFileBytes: this.#options.cacheDatabaseBytes, ...spec, edgeDir: door?.dir },
      this.#options.isolation,
    );
    const { command, args, env, cwd } = cgroup ? inCgroup(tenant, cgroup) : tenant;
    const spawning = new Deno.Command(command, {
      args,
      env,
      clearEnv: true,
      cwd,
      // A lifeline: when the host dies, even by SIGKILL, the tenant reads EOF and exits
      // (bubblewrap's --die-with-parent alone races with a host killed mid-spawn). Only a
      // pooled runtime is ever written to, once, when it is handed its deployment.
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
    let child: Deno.ChildProcess;
    try {
      child = spawning.spawn();
    } catch (error) {
      cgroup?.remove();
      await door?.close();
      throw error;
    }
    if (door) child.status.finally(() => door.close());
    const process: Launched = {
      child,
      socketPath: join(spec.runDir, SOCKET_NAME),
      cacheDir: spec.cacheDir,
      claimedAt: 0,
      deploymentId: undefined,
      ready: false,
      outOfMemory: false,
      memoryReport:
        `Memory limit exceeded, terminated (the limit is ${this.#options.memoryMb} MiB)`,
      output: new OutputTail(),
      outputDone: Promise.resolve(),
      exited: child.status,
      listening: Promise.withResolvers<void>(),
      cgroup,
      warmUpSecret: spec.warmUpSecret,
    };
    launched.process = process;
    if (cgroup) this.#cgroups.set(child, cgroup);
    const log = (level: LogLevel, message: string) => {
      if (level === "error") process.output.push(message);
      if (process.deploymentId) this.#options.log(process.deploymentId, level, message);
    };
    // KV counts are summed here and handed on once a second (and at exit): the bootstrap reports
    // at most once a second, and a record a tenant forges on every line must not cost the host a
    // store lookup each (200 MiB of them held the host's event loop for a minute).
    let kvPending: [number, number] | undefined;
    const reportKv = () => {
      const pending = kvPending;
      kvPending = undefined;
      this.#kvReports.delete(reportKv);
      // Once the runtime has stopped, the store it reports to may be closed.
      if (pending && process.deploymentId && !this.#stopped) {
        this.#options.processes?.kvUsage(process.deploymentId, pending[0], pending[1]);
      }
    };
    const kv = (reads: number, writes: number) => {
      if (!process.deploymentId || this.#stopped) return;
      if (kvPending === undefined) {
        kvPending = [0, 0];
        this.#kvReports.add(reportKv);
        Deno.unrefTimer(setTimeout(reportKv, KV_REPORT_MS));
      }
      kvPending[0] += reads;
      kvPending[1] += writes;
    };
    const listening = () => process.listening.resolve();
    // The bootstrap reports each `Deno.cron` job once per process; more is forged, and each costs
    // the host a parse and a write to its database.
    let cronRecords = 0;
    const cron = (name: string, schedule: unknown) => {
      if (!process.deploymentId || ++cronRecords > MAX_CRON_RECORDS_PER_PROCESS) return;
      this.#options.crons?.registered(process.deploymentId, name, schedule);
    };
    const queue = () => this.#queueListeners.add(child);
    const stdoutDone = readTenantOutput(child.stdout, "stdout", {
      log,
      kv,
      listening,
      cron,
      queue,
    });
    const stderrDone = readTenantOutput(child.stderr, "stderr", {
      log: (level, message) => {
        if (process.outOfMemory) return; // the rest is V8's diagnostic dump
        if (V8_OUT_OF_MEMORY.test(message)) {
          process.outOfMemory = true;
          // V8 takes a few ms more to die: time enough to tell the front proxy.
          if (process.deploymentId) {
            this.#options.instances?.outOfMemory?.(process.deploymentId).catch(() => {});
          }
          return;
        }
        log(level, message);
      },
      kv,
    });
    process.outputDone = Promise.all([stdoutDone, stderrDone]).then(() => {});
    process.exited = child.status.then((status) => {
      child.stdin.close().catch(() => {});
      // Killed by the kernel at its cgroup's memory limit: said before anyone hears of the exit.
      if (cgroup && !process.outOfMemory && cgroup.oomKills() > 0) {
        process.outOfMemory = true;
        process.memoryReport = `Memory limit exceeded: the process reached its limit of ` +
          `${this.#guard.residentMemoryMb} MiB, terminated`;
      }
      // The last of its CPU time, for billing: what it used since its last sample would be lost
      // with the process (a tenant that did its work and exited paid for none of it).
      process.cpuSecondsAtExit = cgroup?.cpuSeconds();
      cgroup?.remove();
      const id = process.deploymentId;
      if (id === undefined) return status;
      if (this.#processes.get(id) === child) this.#processes.delete(id);
      const current = this.#instances.get(id);
      // A crashed process is forgotten, so the next request starts a fresh one.
      if (current) {
        current.then((instance) => {
          if (instance.exited === process.exited) this.#instances.delete(id);
        }, () => {});
      }
      return status;
    });
    // Once its output is read (the uncaught error comes first), say why the process ended.
    process.exited.then(async (status) => {
      await Promise.race([process.outputDone, delay(1_000)]);
      reportKv();
      const id = process.deploymentId;
      if (id === undefined) return;
      this.#options.processes?.exited(child.pid, process.cpuSecondsAtExit);
      if (process.outOfMemory) {
        this.#options.log(id, "error", process.memoryReport);
      } else if (!this.#killedByHost.has(child) && !this.#askedToStop.has(child)) {
        const how = describeExit(status);
        this.#options.log(
          id,
          "error",
          process.ready
            ? `The process ${how} unexpectedly; it restarts on the next request`
            : `The process ${how} before it served`,
        );
      }
    });
    return process;
  }

  /** Makes a launched process the deployment's. */
  #claim(process: Launched, deploymentId: string): void {
    if (this.#serving.has(deploymentId)) process.cgroup?.setWeight("normal");
    process.deploymentId = deploymentId;
    process.claimedAt = performance.now();
    this.#processes.set(deploymentId, process.child);
    const cgroup = process.cgroup;
    this.#options.processes?.started(
      deploymentId,
      process.child.pid,
      () => {
        const instance = this.#ready.get(deploymentId);
        // Still starting, or replaced (another pid's instance): read it.
        return instance?.pid === process.child.pid ? lastActive(instance) : Date.now();
      },
      cgroup && (() => {
        const cpuSeconds = cgroup.cpuSeconds();
        return cpuSeconds === undefined
          ? undefined
          : { cpuSeconds, rssBytes: cgroup.memoryCurrent() ?? 0 };
      }),
    );
  }

  /**
   * Waits for the deployment's process to listen, then watches over it as an instance. A
   * pooled runtime's instance is given to `onHandedOver` before that: it holds requests until
   * the deployment serves.
   */
  async #serve(
    process: Launched,
    deployment: RunnableDeployment,
    onHandedOver?: (handed: HandedInstance) => void,
  ): Promise<Instance> {
    const { child, socketPath, exited } = process;
    // Started ahead of its callers (a build's check, a restore): its server warms up off their
    // path. A pooled runtime was warmed before it was handed over.
    const aheadOfCallers = !this.#serving.has(deployment.id);
    const instance: Instance = {
      deploymentId: deployment.id,
      socketPath,
      client: process.client ?? new TenantClient(socketPath),
      lastUsed: Date.now(),
      used() { // until it is watched (below)
        this.lastUsed = Date.now();
      },
      exited,
      pid: child.pid,
      get memoryLimitExceeded() {
        return process.outOfMemory;
      },
      inFlight: 0,
      warmUpSecret: aheadOfCallers && !process.client ? process.warmUpSecret : undefined,
    };
    const serving = this.#untilServing(process);
    if (process.client) onHandedOver?.({ instance, serving });
    await serving;
    process.ready = true;
    const log = this.#options.log;
    const bootMs = (performance.now() - process.claimedAt).toFixed(2);
    log(deployment.id, "info", `isolate start time: ${bootMs} ms`);
    if (aheadOfCallers && !process.client) {
      await warmUp(instance.client, exited, { secret: process.warmUpSecret, timeoutMs: 1_000 });
    }
    this.#pool.keepModuleSeed(deployment.id, process.cacheDir, aheadOfCallers);
    const cgroup = process.cgroup;
    const guarded = this.#guard.watch({
      pid: child.pid,
      memoryEnforced: cgroup !== undefined,
      readUsage: cgroup && (() => {
        const cpuSeconds = cgroup.cpuSeconds();
        return cpuSeconds === undefined ? undefined : { cpuSeconds, rssBytes: 0 };
      }),
      lastActive: () => lastActive(instance),
      exceeded: (limit, message) => {
        if (limit !== "memory") {
          // Forgotten before the line is logged: a request from now on starts a fresh process
          // rather than meet this one's end (a 502). Killed at once, not after its routes go.
          if (this.#ready.get(deployment.id) === instance) this.stop(deployment.id).catch(() => {});
          this.#kill(child);
          log(deployment.id, "error", `${message}; it restarts on the next request`);
          return;
        }
        // Logged when it has exited; requests in flight get MEMORY_LIMIT.
        process.outOfMemory = true;
        process.memoryReport = `${message}, terminated`;
        if (!this.#options.instances?.outOfMemory) return this.#kill(child);
        this.#options.instances.outOfMemory(deployment.id).finally(() => this.#kill(child));
      },
    });
    exited.then(guarded.forget);
    instance.used = () => {
      instance.lastUsed = Date.now();
      this.#usedSinceSave = true;
      guarded.active();
      this.#options.processes?.served?.(child.pid);
    };
    this.#ready.set(deployment.id, instance);
    this.#warmSet.changed();
    exited.then(() => {
      if (this.#ready.get(deployment.id) === instance) this.#ready.delete(deployment.id);
    });
    this.#options.instances?.ready(instance);
    // Another start may have raced this one past the cap.
    if (this.#ready.size > this.#options.maxWarm) this.#makeRoom(deployment.id);
    return instance;
  }

  /**
   * Settles once the process serves: its socket accepts, or, for a pooled runtime (whose
   * socket listens from the start), its bootstrap says so. Otherwise it is killed, and this
   * rejects with what the module said.
   */
  async #untilServing(process: Launched): Promise<void> {
    const { child, socketPath, exited } = process;
    try {
      if (process.client) {
        await waitForWord(process.listening.promise, exited, this.#options.startTimeoutMs);
      } else {
        await waitForSocket(
          socketPath,
          exited,
          process.listening.promise,
          this.#options.startTimeoutMs,
        );
      }
    } catch (error) {
      this.#kill(child);
      await exited;
      // The module's error (logged on stdout by the bootstrap, or Deno's on stderr).
      await Promise.race([process.outputDone, delay(1_000)]);
      throw new TenantStartError((error as Error).message, process.output.text());
    }
  }

  /** Whether deployment `id` may listen with Node's server (its files and packages read once). */
  #mayServeWithNode(id: string, dirs: { app: string; cache: string }): boolean {
    let may = this.#nodeServer.get(id);
    if (may === undefined) {
      may = mayServeWithNode(dirs.app, dirs.cache);
      this.#nodeServer.set(id, may); // its files never change
    }
    return may;
  }

  /**
   * The warm set to save: the deployments with a process, most recently used first (one still
   * starting first of all), then the rest of the last host's that a restore has not started yet.
   */
  #warmIds(): string[] {
    const used = (id: string) => this.#ready.get(id)?.lastUsed ?? Infinity; // starting: newest
    const ids = [...this.#instances.keys()].sort((a, b) => used(b) - used(a));
    // A restore not finished yet still owes the rest of the last host's list.
    for (const id of this.#warmBefore) if (!this.#instances.has(id)) ids.push(id);
    return ids;
  }

  /**
   * Stops the least recently used processes (other than `keep`'s) until there are fewer
   * than `maxWarm`, or `maxWarm` when `keep` is one of them. Processes still starting are
   * not stopped, so starts racing each other may pass the cap until the next start.
   */
  async #makeRoom(keep?: string): Promise<void> {
    const limit = this.#options.maxWarm - (keep === undefined ? 1 : 0);
    while (this.#instances.size > limit) {
      let oldest: Instance | undefined;
      for (const instance of this.#ready.values()) {
        if (instance.deploymentId === keep) continue;
        if (!oldest || instance.lastUsed < oldest.lastUsed) oldest = instance;
      }
      if (!oldest) return; // every other process is still starting
      this.#options.log(
        oldest.deploymentId,
        "info",
        `Stopped to make room for another deployment (at most ${this.#options.maxWarm} ` +
          "run at once); it restarts on the next request",
      );
      // Its callers' requests in flight are answered first: a cap is not a reason to fail them.
      await this.stop(oldest.deploymentId, EVICTION_DRAIN_MS);
    }
  }

  /**
   * A cgroup for a new process, at the low CPU weight (raised when it serves) and with the
   * guard's memory limit; none without cgroups or when the kernel refuses (then the guard
   * samples its memory, as without cgroups).
   */
  #makeCgroup(): TenantCgroup | undefined {
    const cgroups = this.#options.cgroups;
    if (!cgroups || this.#closed) return undefined;
    try {
      return cgroups.create({ memoryBytes: this.#guard.residentMemoryMb * 2 ** 20, weight: "low" });
    } catch (error) {
      if (!this.#cgroupFailed) {
        this.#cgroupFailed = true;
        this.#options.hostLog(
          `cgroups: cannot make a tenant cgroup (${(error as Error).message}); ` +
            "sampling memory instead",
        );
      }
      return undefined;
    }
  }

  /** Tells `child` to shut down (a line on its lifeline); settles once it exits or in `graceMs`. */
  async #askToStop(child: Deno.ChildProcess, graceMs: number): Promise<void> {
    if (this.#killedByHost.has(child)) return;
    this.#askedToStop.add(child);
    if (!await this.#tell(child, { stop: true })) return; // the lifeline is closed: it is going
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      child.status,
      new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
  }

  /** Kills a process on purpose (idle, deleted, recycled, shutting down): not a crash. */
  #kill(child: Deno.ChildProcess): void {
    if (this.#killedByHost.has(child)) return;
    this.#killedByHost.add(child);
    this.#options.processes?.stopping(child.pid);
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  #evictIdle(): void {
    const now = Date.now();
    // None can be past its time before the least recently used one kept is: a thousand idle
    // processes are not looked at every sweep (each costs ~10 µs to read after idle seconds).
    if (now < this.#nextIdleCheck) return;
    const cutoff = now - this.#options.idleTimeoutMs;
    let oldestKept = now;
    // Ready processes only: one still starting was just asked for. (A reaction on each of a
    // thousand processes' promises every sweep was garbage the idle host collected.)
    for (const [id, instance] of this.#ready) {
      if (instance.lastUsed >= cutoff) {
        oldestKept = Math.min(oldestKept, instance.lastUsed);
        continue;
      }
      const child = this.#processes.get(id);
      if (child && this.#queueListeners.has(child)) continue;
      this.stop(id, 0, SHUTDOWN_GRACE_MS);
    }
    this.#nextIdleCheck = oldestKept + this.#options.idleTimeoutMs;
  }
}

/**
 * How long a process stopped to make room (`maxWarm`) has to answer the requests it has in
 * flight; a longer one (a stream) is cut as before.
 */
const EVICTION_DRAIN_MS = 5_000;

/**
 * How long a process stopped for being idle has to shut down once told to (Deploy sends SIGINT,
 * then SIGKILL 5 s later).
 */
const SHUTDOWN_GRACE_MS = 5_000;

/** How often a draining process's requests in flight are looked at (here and by the front proxy). */
export const DRAIN_POLL_MS = 10;

/** When `instance` last served: now while a request is in flight. */
function lastActive(instance: Instance): number {
  return instance.inFlight > 0 ? Date.now() : instance.lastUsed;
}

/** How often the KV counts a process reported are handed to usage accounting. */
const KV_REPORT_MS = 1_000;

/**
 * The most `Deno.cron` records the host reads from one process: the bootstrap writes one per job,
 * and a deployment registers at most 32 (cron.ts); twice that leaves room for both, and not for
 * a process that writes them on every line.
 */
const MAX_CRON_RECORDS_PER_PROCESS = 64;
