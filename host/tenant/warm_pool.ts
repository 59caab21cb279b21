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
 * The pool itself is a {@link WarmPool}: which runtimes wait, how many to keep (pool_sizer.ts),
 * when to start more (never beside a deployment's start), and the module seeds planted at the
 * handoff (module_seed.ts). The supervisor (runtime.ts) launches, claims and kills the processes
 * for it, as for any other, through a {@link PoolSupervisor}; a cold start goes from
 * `Runtime.#startProcess` to {@link WarmPool.take}, which hands a runtime over and gives it back
 * to be served.
 *
 * @module
 */
import { join } from "node:path";
import type { RunnableDeployment } from "./runnable.ts";
import {
  APP_IN_SANDBOX,
  deploymentEnv,
  type Isolation,
  type TenantEdge,
  type TenantSpec,
  writeTenantFilter,
} from "./sandbox.ts";
import { TenantClient } from "./client.ts";
import { linkTree } from "./link_tree.ts";
import { type PoolDemand, PoolSizer } from "./pool_sizer.ts";
import { harvestModuleSeed, type ModuleSeed, readModuleSeed, SeedBed } from "./module_seed.ts";
import { delay, deploymentDirs, type Launched } from "./tenant_process.ts";

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
 * Node server's listen is served by a bootstrap told so at start: see node_server.ts), or
 * chooses its server's compression (a pooled runtime's server was made with Deploy's default).
 */
const NEEDS_OWN_START =
  /import\.meta\.main|Deno\.mainModule|(?:\bfrom|\bimport)\s*\(?\s*["'`](?![./]|node:)|\bnode:(?:https?|http2|net)\b|\bautomaticCompression\b/;

/**
 * Variables Deno reads once, as it starts: the locale (`navigator.language` and `Intl`'s default,
 * from `LC_ALL`, `LC_MESSAGES` or `LANG`) and `NO_COLOR` (`Deno.noColor`). A pooled runtime
 * started before its deployment's variables were known and is handed them after (`TZ`, read
 * when used, is not among them), so a deployment that sets one starts on its own.
 */
const READ_AT_START: readonly string[] = ["LANG", "LC_ALL", "LC_MESSAGES", "NO_COLOR"];

/** Whether `envVars` set a variable Deno reads only at start (see {@link READ_AT_START}). */
function setsStartVariables(envVars: Record<string, string>): boolean {
  return READ_AT_START.some((name) => Object.hasOwn(envVars, name));
}

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
      // The head and the body within the time limit too: a process that listens before its
      // bootstrap does answers this itself, and one that never answered (or answered without
      // end) held its build, the process and the host's shutdown for good.
      const left = Math.max(1, deadline - Date.now());
      const response = await client.fetch({
        method: "GET",
        path: "/",
        headers,
        signal: AbortSignal.timeout(left),
      });
      // Read to the end, not cancelled: a cancelled body closes the connection it came on.
      await readWithin(response, deadline);
      return;
    } catch { /* not listening yet, or not answering as a warm-up is answered */ }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Reads `response`'s body to its end by `deadline`; past it the body is cancelled, and throws. */
async function readWithin(response: Response, deadline: number): Promise<void> {
  const reader = response.body?.getReader();
  if (!reader) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("the warm-up's answer did not end in time")),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    while (!(await Promise.race([reader.read(), late])).done) { /* read on */ }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
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

/**
 * What the warm pool needs of the supervisor (the `Runtime` in runtime.ts), which launches,
 * claims and kills every tenant process, pooled or not, and knows whether a deployment's start
 * is under way and whether it has stopped.
 */
export interface PoolSupervisor {
  /** Spawns a runtime and starts reading its output; it belongs to no deployment yet. */
  launch(spec: TenantSpec): Promise<Launched>;
  /** Makes a pooled runtime deployment `deploymentId`'s process. */
  claim(process: Launched, deploymentId: string): void;
  /** Kills a process on purpose (not a crash). */
  kill(child: Deno.ChildProcess): void;
  /** Whether the supervisor killed `child` on purpose. */
  killedByHost(child: Deno.ChildProcess): boolean;
  /** Whether deployment `id` serves requests (not only its build's check). */
  serves(id: string): boolean;
  /** Whether a deployment's process is being started now. */
  starting(): boolean;
  /** Whether the supervisor has stopped (`Runtime.stopAll`). */
  closed(): boolean;
}

/** The supervisor's settings the warm pool runs with. */
export interface WarmPoolOptions {
  /** The fewest pooled runtimes kept started (`RuntimeOptions.warmPool`); 0: no pool. */
  minimum: number;
  /** The memory the pool may hold, in MiB (see pool_sizer.ts). */
  budgetMb: number;
  /** The isolation tenants run under: the pool runs only under bubblewrap. */
  isolation: Isolation;
  /** Where pooled runtimes keep their directories. */
  dir: string;
  /** Where the pool's demand is kept across restarts. */
  demandFile: string;
  /** Where deployments' directories are: a deployment's module seed is kept in its own. */
  deploymentsDir: string;
  /** The bootstrap a pooled runtime preloads. */
  bootstrap: string;
  /** The pooled runtimes' main module (`pool.js`, a real file). */
  poolMain: string;
  /** The Deno binary. */
  deno: string;
  /** A pooled runtime's memory cap, in MiB. */
  memoryMb: number;
  /** Where a deployment's fetches of the host's own names go, as for any process (runtime.ts). */
  edge?: TenantEdge;
  /** Receives the pool's events (a pooled runtime that failed to start). */
  hostLog: (line: string) => void;
}

/**
 * The pooled runtimes themselves: how many to keep (a {@link PoolSizer} over the recent bursts of
 * cold starts), starting them in the background, and handing one to a cold start
 * ({@link WarmPool.take}). The supervisor launches, claims and kills the processes through a
 * {@link PoolSupervisor}; a handed-over runtime is then the deployment's process like any other.
 */
export class WarmPool {
  #options: WarmPoolOptions;
  #supervisor: PoolSupervisor;
  #members: PoolMember[] = [];
  /** Whether a deployment can take a pooled runtime, by id (see {@link poolable}). */
  #poolable = new Map<string, boolean>();
  /** The handoff line's write to a pooled runtime handed a deployment, by process. */
  #handoffs = new WeakMap<Deno.ChildProcess, Promise<void>>();
  /** Deployments' module seeds read so far (`null`: none kept yet), by id (module_seed.ts). */
  #seeds = new Map<string, ModuleSeed | null>();
  /** Pooled runtimes being started now. */
  #filling = new Set<Promise<void>>();
  #sizer: PoolSizer;
  /** The demand last saved to `demandFile`, as JSON. */
  #savedDemand: string;
  #failures = 0;

  /** Creates the pool (empty: {@link fill} starts its runtimes), sized from the saved demand. */
  constructor(options: WarmPoolOptions, supervisor: PoolSupervisor) {
    this.#options = options;
    this.#supervisor = supervisor;
    const saved = readDemand(options.demandFile);
    this.#savedDemand = JSON.stringify(saved ?? null);
    this.#sizer = new PoolSizer({ minimum: options.minimum, budgetMb: options.budgetMb, saved });
    // Left by a host that was killed (its pooled runtimes died with it): nothing runs yet.
    if (options.minimum > 0) {
      try {
        Deno.removeSync(options.dir, { recursive: true });
      } catch { /* none */ }
    }
  }

  /** How many pooled runtimes wait for a deployment now. */
  get size(): number {
    return this.#members.length;
  }

  /**
   * Settles once the pool holds its target of warm runtimes when that is more than the
   * minimum (a burst remembered from before a restart), or after `timeoutMs`. Returns the
   * target it waited for, 0 when it did not wait.
   */
  async ready(timeoutMs: number): Promise<number> {
    const target = this.#sizer.target;
    if (this.#options.isolation.kind !== "bwrap" || target <= this.#options.minimum) return 0;
    const deadline = Date.now() + timeoutMs;
    while (this.#members.filter((member) => member.warm).length < target) {
      if (Date.now() > deadline || this.#supervisor.closed()) break;
      if (this.#failures >= MAX_POOL_FAILURES) break;
      await delay(20);
    }
    return target;
  }

  /** A pooled runtime handed `deployment`, or `undefined` when it must start on its own. */
  async take(deployment: RunnableDeployment, appDir: string): Promise<Launched | undefined> {
    if (this.#options.minimum === 0 || this.#supervisor.closed()) return undefined;
    // Not kept with the rest: a v2 app's variables change without a new deployment.
    if (setsStartVariables(deployment.envVars)) return undefined;
    let eligible = this.#poolable.get(deployment.id);
    if (eligible === undefined) {
      eligible = poolable(deployment, appDir);
      this.#poolable.set(deployment.id, eligible); // its files and settings never change
    }
    if (!eligible) return undefined;
    // Only requests' cold starts that a pooled runtime could have taken size the pool: a
    // burst of deploys (build checks) does not keep runtimes waiting for requests.
    if (this.#supervisor.serves(deployment.id)) this.#sizer.coldStart();
    // One that has served its warm-up first; one still starting is taken once it has.
    const warmIndex = this.#members.findIndex((candidate) => candidate.warm);
    const [member] = this.#members.splice(Math.max(warmIndex, 0), 1);
    if (!member) return undefined;
    const { child } = member.process;
    try {
      await member.warmedUp;
      linkTree(appDir, member.appDir);
      const seed = this.#moduleSeed(deployment.id);
      if (seed) member.seedBed?.plant(seed);
    } catch {
      this.#supervisor.kill(child);
      member.process.client?.close();
      return undefined;
    }
    this.#supervisor.claim(member.process, deployment.id);
    // Not awaited: the first request travels meanwhile (the bootstrap holds it until the
    // deployment serves). A runtime that cannot read it died: its start fails as any would.
    const writer = child.stdin.getWriter();
    const written = writer.write(new TextEncoder().encode(handoffLine(deployment)))
      .then(() => writer.releaseLock(), () => this.#supervisor.kill(child))
      .finally(() => member.seedBed?.close());
    this.#handoffs.set(child, written);
    return member.process;
  }

  /**
   * The write of the handoff line to `child`, when it is a runtime {@link take} handed a
   * deployment: any later line on its lifeline goes after it.
   */
  handoff(child: Deno.ChildProcess): Promise<void> | undefined {
    return this.#handoffs.get(child);
  }

  /**
   * Keeps what Deno learnt loading deployment `id`'s modules in `cacheDir` (a process of it
   * serves from there) for the pooled runtimes it will be handed to, once: `now` for a process
   * started ahead of its callers (a build's check), else a little later, off the path of the
   * requests that wait for it.
   */
  keepModuleSeed(id: string, cacheDir: string, now: boolean): void {
    // Unsandboxed there is no pool (nor `/app`, whose modules a seed keeps).
    if (this.#options.isolation.kind !== "bwrap") return;
    if (this.#poolable.get(id) !== true || this.#moduleSeed(id)) return;
    const harvest = () => {
      if (!this.#supervisor.closed() && harvestModuleSeed(cacheDir, this.#seedDir(id))) {
        this.#seeds.delete(id);
      }
    };
    if (now) return harvest();
    Deno.unrefTimer(setTimeout(harvest, SEED_HARVEST_DELAY_MS));
  }

  /** The module seed kept for deployment `id`, if any (read once). */
  #moduleSeed(id: string): ModuleSeed | undefined {
    let seed = this.#seeds.get(id);
    if (seed === undefined) {
      seed = readModuleSeed(this.#seedDir(id)) ?? null;
      this.#seeds.set(id, seed);
    }
    return seed ?? undefined;
  }

  #seedDir(id: string): string {
    return join(deploymentDirs(this.#options.deploymentsDir, id).root, "module_seed");
  }

  /**
   * Starts pooled runtimes in the background until the pool holds its target, a few at a
   * time. Not while deployments start: a handoff never waits for a refill's CPU.
   */
  fill(): void {
    // While one starts, the last start to end calls again (refillSoon).
    if (this.#supervisor.closed() || this.#supervisor.starting()) return;
    // A runtime that cannot start here would fail again: stop trying after a few.
    if (this.#failures >= MAX_POOL_FAILURES) return;
    // Unsandboxed, a runtime's `/app` would be a path of the pool's, not `/app`.
    if (this.#options.isolation.kind !== "bwrap") return;
    const target = this.#sizer.target;
    // A runtime being started may be in the pool already: counted twice, it only slows the
    // fill down until it is up.
    while (
      this.#members.length + this.#filling.size < target &&
      this.#filling.size < POOL_FILL_CONCURRENCY
    ) {
      const filling: Promise<void> = this.#add()
        .catch((error) => {
          this.#failures++;
          this.#options.hostLog(`warm pool: ${(error as Error).message}`);
        })
        .finally(() => {
          this.#filling.delete(filling);
          this.fill();
        });
      this.#filling.add(filling);
    }
  }

  /** Calls {@link fill} {@link POOL_REFILL_DELAY_MS} from now (the supervisor's last start ended). */
  refillSoon(): void {
    setTimeout(() => this.fill(), POOL_REFILL_DELAY_MS);
  }

  /** Stops pooled runtimes past the pool's target (a burst long past), then saves the demand. */
  resize(): void {
    const surplus = this.#members.length - this.#sizer.target;
    for (const member of surplus > 0 ? this.#members.splice(0, surplus) : []) {
      this.#supervisor.kill(member.process.child);
    }
    this.saveDemand();
    this.fill();
  }

  /** Writes the pool's demand for the next start, when it changed. */
  saveDemand(): void {
    if (this.#options.minimum === 0 || this.#supervisor.closed()) return;
    const demand = JSON.stringify(this.#sizer.demand());
    if (demand === this.#savedDemand) return;
    this.#savedDemand = demand;
    try {
      const temporary = `${this.#options.demandFile}.tmp`;
      Deno.writeTextFileSync(temporary, demand);
      Deno.renameSync(temporary, this.#options.demandFile);
    } catch (error) {
      this.#options.hostLog(`warm pool: could not save its demand: ${(error as Error).message}`);
    }
  }

  /**
   * Once the supervisor has stopped: waits for the runtimes being started, kills every pooled
   * one and gives their exits.
   */
  async empty(): Promise<Promise<Deno.CommandStatus>[]> {
    await Promise.all(this.#filling);
    const members = this.#members;
    this.#members = [];
    for (const member of members) this.#supervisor.kill(member.process.child);
    return members.map((member) => member.process.exited);
  }

  /** Removes the pool's directory, once every process that ran from it (handed over too) exited. */
  async removeDirectory(): Promise<void> {
    if (this.#options.minimum > 0) {
      await Deno.remove(this.#options.dir, { recursive: true }).catch(() => {});
    }
  }

  async #add(): Promise<void> {
    const isolation = this.#options.isolation;
    // Laid out like a deployment's directories, under the pool's.
    const dirs = deploymentDirs(this.#options.dir, crypto.randomUUID().slice(0, 8));
    for (const dir of [dirs.app, dirs.run, dirs.cache]) {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    }
    await Deno.writeTextFile(join(dirs.run, POOL_WARM_MODULE.name), POOL_WARM_MODULE.source);
    const process = await this.#supervisor.launch({
      deploymentId: "",
      appDir: dirs.app,
      entrypoint: "",
      runDir: dirs.run,
      cacheDir: dirs.cache,
      bootstrap: this.#options.bootstrap,
      poolMain: this.#options.poolMain,
      envVars: {},
      seccompFilter: await writeTenantFilter(isolation, undefined, dirs.root),
      memoryMb: this.#options.memoryMb,
      edge: this.#options.edge,
      // V8's code cache serves the next start from the same Deno cache, and a pooled runtime's
      // goes with it: looking it up and writing it cost ~2 ms of the handoff here.
      denoFlags: [...POOL_DENO_FLAGS, "--no-code-cache"],
      deno: this.#options.deno,
      warmUpSecret: crypto.randomUUID(),
    });
    // The client the deployment's instance will use: warmed up now, along with the server.
    const client = new TenantClient(process.socketPath);
    process.client = client;
    process.exited.then(() => {
      this.#members = this.#members.filter((member) => member.process !== process);
      Deno.remove(dirs.root, { recursive: true }).catch(() => {});
      if (process.deploymentId !== undefined) return; // its instance closes the client
      client.close();
      // Died waiting, not stopped by the host: replace it, unless that keeps happening.
      if (!this.#supervisor.killedByHost(process.child)) {
        this.#failures++;
        this.#options.hostLog("warm pool: a pooled runtime exited before it was used");
        this.fill();
      }
    });
    if (this.#supervisor.closed()) return this.#supervisor.kill(process.child);
    // It can be handed a deployment at once: the bootstrap reads the handoff once it runs.
    const warmedUp = Promise.withResolvers<void>();
    const member: PoolMember = {
      process,
      appDir: dirs.app,
      warm: false,
      warmedUp: warmedUp.promise,
    };
    this.#members.push(member);
    await warmUp(client, process.exited, { secret: process.warmUpSecret });
    // Answered once its loader is warm: its cache is set up.
    member.seedBed = SeedBed.open(dirs.cache);
    process.exited.then(() => member.seedBed?.close());
    member.warm = true;
    warmedUp.resolve();
  }
}

/** A pooled runtime waiting for a deployment. */
interface PoolMember {
  process: Launched;
  /** Its `/app`, on the host. */
  appDir: string;
  /** Its Deno cache, opened for a module seed once it has served its warm-up. */
  seedBed?: SeedBed;
  /** Whether it has served its warm-up request. */
  warm: boolean;
  /**
   * Settles once it has: a deployment is handed over only then, so that its first request
   * takes the connection the warm-up left (the bootstrap answers the warm-up itself, by its
   * secret, even after the handoff).
   */
  warmedUp: Promise<void>;
}

/** How long after a deployment's process serves its module seed is harvested (module_seed.ts). */
const SEED_HARVEST_DELAY_MS = 1_000;

/** Pooled runtimes that may fail to start or die waiting before the pool gives up. */
const MAX_POOL_FAILURES = 3;

/**
 * How long after the last start the pool starts another runtime: the first requests of a
 * burst come staggered by tens of milliseconds, and a refill among them takes their CPU.
 */
const POOL_REFILL_DELAY_MS = 300;

/** Pooled runtimes started at once: a few, so the others (and the host) keep some CPU. */
const POOL_FILL_CONCURRENCY = 2;

/** The pool's demand saved by the last host on this data dir, if it is readable. */
function readDemand(path: string): PoolDemand | undefined {
  try {
    const value = JSON.parse(Deno.readTextFileSync(path));
    const count = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
    if (count(value?.peak) && count(value?.peakAt)) {
      return { peak: value.peak, peakAt: value.peakAt };
    }
  } catch { /* none yet, or unreadable: start from the minimum */ }
  return undefined;
}
