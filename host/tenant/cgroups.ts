/**
 * Kernel-enforced limits for tenant processes: one control group per tenant, with a memory
 * limit the kernel enforces (its OOM killer ends the tenant at the limit, whatever the
 * memory is: V8 heap, ArrayBuffers, WebAssembly) and a CPU weight the scheduler honours.
 *
 * At start the host looks for control groups it may create under its **own** cgroup (read
 * from `/proc/self/cgroup`, so whatever limits the host itself runs under still hold): the
 * unified hierarchy (v2) with the `memory` and `cpu` controllers available, or writable v1
 * hierarchies for `memory` and `cpu` (and `cpuacct`, for CPU time, where it is mounted apart).
 * It makes a child there per tenant process (`deploy-tenant-<pid>-<random>-t<n>`), removed
 * when the process exits; those of a host that was killed (its pid gone, no process left in
 * them) are removed at the next start. Where none of this is possible
 * (non-root without delegation, a read-only cgroup file system, not Linux) the process guard
 * samples `/proc` instead (see `process_guard.ts`).
 *
 * A tenant is put into its cgroup before anything of it runs: {@link inCgroup} starts it
 * through `/bin/sh`, which writes its own pid into the cgroup and then `exec`s the tenant's
 * command, so bubblewrap and Deno are born inside (moving a pid after spawning would race with
 * bubblewrap's fork).
 *
 * @module
 */
import { join } from "node:path";
import { withShellPrelude } from "./shell_prelude.ts";

/** The CPU weight of a tenant: `low` while it boots (a build's check, the warm pool), `normal` once it serves. */
export type CpuWeight = "low" | "normal";

/**
 * v2 `cpu.weight` of each {@link CpuWeight} (v1 `cpu.shares` are these × 1024 / 100). A tenant's
 * cgroup is weighed against every process beside the host, not only other tenants, so `low` is
 * a fifth, not a twentieth: a booting tenant yields to serving ones without being starved by
 * whatever else keeps the machine busy (with 5, bench/load.ts's deploy throughput dropped in
 * some runs on a shared machine; see docs/benchmarks.md).
 */
export const CPU_WEIGHTS: Readonly<Record<CpuWeight, number>> = { low: 20, normal: 100 };

/**
 * v2 `cpu.weight` of the host process itself while HAProxy serves the tenants (see
 * {@link HostCgroups.lowerHost}): a quarter of a serving tenant's, as one group for all its
 * threads (in its parent's cgroup each thread weighed as much as a serving tenant).
 * bench/load.ts, p99 under 8 concurrent deploys: 7–9 ms at 100 or 50, 5.3–6 ms at 25, with
 * deploy throughput unchanged.
 */
export const HOST_CPU_WEIGHT = 25;

/**
 * How long a new `low` cgroup is also *idle* (`cpu.idle`, where the kernel has it): it runs only
 * on a core nothing else wants, and a serving tenant, HAProxy or the host waking up takes the
 * core at once. A weight alone does not do that: the scheduler lets the task on the core finish
 * its slice, so every hop of a request (client, HAProxy, tenant) waited for a booting tenant's
 * slice (bench/load.ts: p99 under 8 concurrent deploys 11–12 ms → 7–8 ms). An idle group can be
 * starved, though — by tenants burning both cores until the guard stops them — so after this
 * long a boot still going gets the plain `low` weight and finishes.
 */
export const IDLE_BOOT_MS = 1_000;

/** What {@link detectCgroups} found: the cgroups tenants run in, or why there are none. */
export type CgroupSupport =
  | { kind: "v1" | "v2"; cgroups: HostCgroups }
  | { kind: "none"; reason: string };

/** Where {@link detectCgroups} reads the process's cgroups and mounts; tests point it at a fake tree. */
export interface CgroupSources {
  /** The text of `/proc/self/cgroup`. */
  selfCgroup: string;
  /** The text of `/proc/self/mountinfo`. */
  mountInfo: string;
  /** This process's id (the per-host directory is named after it). Default `Deno.pid`. */
  pid?: number;
}

/** Reads {@link CgroupSources} from `/proc`, or `undefined` where there is no such file. */
export function procCgroupSources(): CgroupSources | undefined {
  try {
    return {
      selfCgroup: Deno.readTextFileSync("/proc/self/cgroup"),
      mountInfo: Deno.readTextFileSync("/proc/self/mountinfo"),
    };
  } catch {
    return undefined;
  }
}

/** One line of `/proc/self/cgroup`: hierarchy id, controllers (`""` for v2), path. */
export interface CgroupMembership {
  controllers: string[];
  path: string;
}

/** Parses `/proc/self/cgroup`. */
export function parseSelfCgroup(text: string): CgroupMembership[] {
  const memberships: CgroupMembership[] = [];
  for (const line of text.split("\n")) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    memberships.push({ controllers: match[2] ? match[2].split(",") : [], path: match[3] });
  }
  return memberships;
}

/** A cgroup file system mount from `/proc/self/mountinfo`. */
export interface CgroupMount {
  /** `cgroup` (v1) or `cgroup2`. */
  type: string;
  /** The directory of the hierarchy mounted here. */
  root: string;
  mountPoint: string;
  /** v1 controllers (`memory`, `cpu`, `name=systemd`…) from the super options. */
  controllers: string[];
  readOnly: boolean;
}

/** The cgroup mounts of `/proc/self/mountinfo`. */
export function parseCgroupMounts(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split("\n")) {
    const [before, after] = line.split(" - ");
    if (!after) continue;
    const fields = before.split(" ");
    const [type, _source, superOptions = ""] = after.split(" ");
    if (type !== "cgroup" && type !== "cgroup2") continue;
    const unescape = (path: string) =>
      path.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
    const options = superOptions.split(",");
    mounts.push({
      type,
      root: unescape(fields[3]),
      mountPoint: unescape(fields[4]),
      controllers: type === "cgroup" ? options.filter((o) => o !== "rw" && o !== "ro") : [],
      readOnly: fields[5].split(",").includes("ro") || options.includes("ro"),
    });
  }
  return mounts;
}

/** The directory of cgroup `path` under `mount`, or `undefined` when the mount does not show it. */
function directoryOf(mount: CgroupMount, path: string): string | undefined {
  const root = mount.root === "/" ? "" : mount.root;
  if (root && path !== root && !path.startsWith(`${root}/`)) return undefined;
  return join(mount.mountPoint, path.slice(root.length));
}

/**
 * Finds the cgroups this host can make tenant groups in, makes its own directory there and
 * removes those of hosts that were killed. `disabled`: the reason not to (`--no-cgroups`).
 */
export function detectCgroups(
  options: { disabled?: string; sources?: CgroupSources } = {},
): CgroupSupport {
  if (options.disabled) return { kind: "none", reason: options.disabled };
  if (Deno.build.os !== "linux") return { kind: "none", reason: "not Linux" };
  const sources = options.sources ?? procCgroupSources();
  if (!sources) return { kind: "none", reason: "/proc/self/cgroup is not readable" };
  const pid = sources.pid ?? Deno.pid;
  const memberships = parseSelfCgroup(sources.selfCgroup);
  const mounts = parseCgroupMounts(sources.mountInfo);
  const reasons: string[] = [];
  const v2 = tryV2(memberships, mounts, pid);
  if (typeof v2 !== "string") return { kind: "v2", cgroups: v2 };
  reasons.push(`v2: ${v2}`);
  const v1 = tryV1(memberships, mounts, pid);
  if (typeof v1 !== "string") return { kind: "v1", cgroups: v1 };
  reasons.push(`v1: ${v1}`);
  return { kind: "none", reason: reasons.join("; ") };
}

const PREFIX = "deploy-tenant-";

function tryV2(
  memberships: CgroupMembership[],
  mounts: CgroupMount[],
  pid: number,
): HostCgroups | string {
  const membership = memberships.find((m) => m.controllers.length === 0);
  const mount = mounts.find((m) => m.type === "cgroup2");
  if (!membership || !mount) return "no unified hierarchy";
  if (mount.readOnly) return `${mount.mountPoint} is mounted read-only`;
  const own = directoryOf(mount, membership.path);
  if (!own) return `the host's cgroup ${membership.path} is outside ${mount.mountPoint}`;
  const available = readWords(join(own, "cgroup.controllers"));
  const missing = ["memory", "cpu"].filter((c) => !available.includes(c));
  if (missing.length > 0) {
    return `the controllers ${missing.join(", ")} are not available in ${own}`;
  }
  removeStale([own], pid);
  let hostDir = own;
  const enabled = readWords(join(own, "cgroup.subtree_control"));
  if (!enabled.includes("memory") || !enabled.includes("cpu")) {
    // A cgroup with processes cannot enable controllers for its children: a host alone in
    // its cgroup (a service with Delegate=yes) moves into a leaf of its own first.
    try {
      writeFile(join(own, "cgroup.subtree_control"), "+memory +cpu");
    } catch (error) {
      const procs = readWords(join(own, "cgroup.procs"));
      if (procs.length !== 1 || procs[0] !== String(pid)) {
        return `cannot enable memory and cpu under ${own} (${message(error)}), and other ` +
          "processes share the host's cgroup";
      }
      try {
        const leaf = join(own, `${PREFIX}${pid}-host`);
        Deno.mkdirSync(leaf, { recursive: true });
        writeFile(join(leaf, "cgroup.procs"), String(pid));
        writeFile(join(own, "cgroup.subtree_control"), "+memory +cpu");
        hostDir = leaf;
      } catch (error) {
        return `cannot enable memory and cpu under ${own}: ${message(error)}`;
      }
    }
  }
  // The task limit where the kernel has it (threads count: a tenant must not take the machine's).
  if (available.includes("pids")) tryWrite(join(own, "cgroup.subtree_control"), "+pids");
  const prefix = `${PREFIX}${pid}-${randomSuffix()}-`;
  const probe = probeDirs([own], prefix);
  if (probe) return probe;
  return new HostCgroups("v2", { unified: own }, prefix, hostDir);
}

function tryV1(
  memberships: CgroupMembership[],
  mounts: CgroupMount[],
  pid: number,
): HostCgroups | string {
  const dirs: Partial<Record<"memory" | "cpu" | "cpuacct" | "pids", string>> = {};
  for (const controller of ["memory", "cpu", "cpuacct", "pids"] as const) {
    const mount = mounts.find((m) => m.type === "cgroup" && m.controllers.includes(controller));
    const membership = memberships.find((m) => m.controllers.includes(controller));
    if (!mount || !membership) {
      // CPU time is then read from /proc; tasks are not limited.
      if (controller === "cpuacct" || controller === "pids") continue;
      return `no ${controller} hierarchy`;
    }
    if (mount.readOnly) return `${mount.mountPoint} is mounted read-only`;
    const own = directoryOf(mount, membership.path);
    if (!own) return `the host's ${controller} cgroup is outside ${mount.mountPoint}`;
    dirs[controller] = own;
  }
  const owns = [...new Set(Object.values(dirs))];
  removeStale(owns, pid);
  const prefix = `${PREFIX}${pid}-${randomSuffix()}-`;
  const probe = probeDirs(owns, prefix);
  if (probe) return probe;
  return new HostCgroups("v1", dirs, prefix, dirs.cpu);
}

/** Whether a cgroup can be made (and removed) under each of `owns`: why not, or `undefined`. */
function probeDirs(owns: string[], prefix: string): string | undefined {
  for (const own of owns) {
    const dir = join(own, `${prefix}probe`);
    try {
      Deno.mkdirSync(dir);
    } catch (error) {
      return `cannot make a cgroup under ${own}: ${message(error)}`;
    }
    removeDir(dir);
  }
  return undefined;
}

/**
 * The cgroups of one host: a child of the host's own cgroup per tenant process, in each
 * hierarchy, named `<prefix>t<n>`. Made by {@link detectCgroups}.
 *
 * The tenants' cgroups sit beside the host's processes, not under one directory of the
 * host's: the scheduler weighs a group as one entity against its siblings, so a parent common
 * to every tenant stays runnable while any tenant boots, and a serving tenant waking up inside
 * it waits for that parent's turn; a cgroup of its own that slept wakes up as a sleeping task
 * would. The price: a booting tenant's low weight is low against every process beside the
 * host, not only against serving tenants.
 */
export class HostCgroups {
  #count = 0;
  #tenants = new Set<TenantCgroup>();
  #hostDir?: string;
  #loweredPid?: number;
  #services: string[] = [];

  /**
   * Wraps the host's own cgroup directories (`unified` for v2; `memory`, `cpu`, `cpuacct`
   * for v1), the prefix of its tenants' cgroups, and the directory the host process is in
   * (of the CPU controller's hierarchy; for {@link lowerHost}).
   */
  constructor(
    readonly version: "v1" | "v2",
    readonly dirs: {
      unified?: string;
      memory?: string;
      cpu?: string;
      cpuacct?: string;
      pids?: string;
    },
    readonly prefix: string,
    hostDir?: string,
  ) {
    this.#hostDir = hostDir;
  }

  /**
   * Moves the host process (all its threads) into a cgroup of its own at
   * {@link HOST_CPU_WEIGHT}, until {@link close}: when HAProxy serves the tenants, the host is
   * not on a warm request's path, and a deploy's work in the host (upload, store, build) must
   * not hold a core a serving tenant or HAProxy is waiting for. Processes the host started
   * before stay where they are; later ones inherit the cgroup (tenants and HAProxy go to their
   * own). Whether the host moved.
   */
  lowerHost(pid: number = Deno.pid): boolean {
    if (this.#loweredPid !== undefined || !this.#hostDir) return false;
    const group = this.serviceCgroup("host", HOST_CPU_WEIGHT);
    if (!group || !tryWrite(group.procsFiles[0], String(pid))) return false;
    this.#loweredPid = pid;
    return true;
  }

  /**
   * A cgroup for one of the host's own services (`<prefix><name>`, CPU controller only) at a
   * v2 `weight`, removed at {@link close}; `undefined` if the kernel refuses. HAProxy runs in
   * one (`edge`): beside the tenants' cgroups rather than among the host's processes, it serves
   * ~12% more hello requests per second (bench/throughput.ts: 0.43–0.45× → 0.47–0.50× of a bare
   * `deno serve`, against a proxy bound of 0.50–0.53×).
   */
  serviceCgroup(name: string, weight: number): { procsFiles: string[] } | undefined {
    const parent = this.version === "v2" ? this.dirs.unified! : this.dirs.cpu!;
    const dir = join(parent, `${this.prefix}${name}`);
    if (!this.#services.includes(dir)) {
      try {
        Deno.mkdirSync(dir);
        const [file, value] = weightFile(this.version, weight);
        writeFile(join(dir, file), value);
      } catch {
        removeDir(dir);
        return undefined;
      }
      this.#services.push(dir);
    }
    return { procsFiles: [join(dir, "cgroup.procs")] };
  }

  /** The host's own cgroup directories, one per hierarchy, where its tenants' cgroups go. */
  get paths(): string[] {
    return [...new Set(Object.values(this.dirs).filter((dir): dir is string => !!dir))];
  }

  /** One line for the host's log and `host status`. */
  describe(): string {
    const where = `${this.paths.join(", ")} (${this.prefix}t<n>)`;
    return this.version === "v2"
      ? `cgroup v2 (memory, cpu) under ${where}`
      : `cgroup v1 (memory, cpu${this.dirs.cpuacct ? ", cpuacct" : ""}${
        this.dirs.pids ? ", pids" : ""
      }) under ${where}`;
  }

  /**
   * Makes the cgroup of a new tenant process: its memory limit (`memoryBytes`, swap
   * included) and CPU weight. Throws if the kernel refuses.
   */
  create(limits: { memoryBytes: number; weight: CpuWeight }): TenantCgroup {
    const name = `${this.prefix}t${++this.#count}`;
    const cgroup = this.version === "v2"
      ? TenantCgroup.makeV2(join(this.dirs.unified!, name), limits)
      : TenantCgroup.makeV1({
        memory: join(this.dirs.memory!, name),
        cpu: join(this.dirs.cpu!, name),
        cpuacct: this.dirs.cpuacct && this.dirs.cpuacct !== this.dirs.cpu
          ? join(this.dirs.cpuacct, name)
          : undefined,
        pids: this.dirs.pids && join(this.dirs.pids, name),
      }, limits);
    this.#tenants.add(cgroup);
    cgroup.removed.then(() => this.#tenants.delete(cgroup));
    return cgroup;
  }

  /** Tenant cgroups not removed yet. */
  get size(): number {
    return this.#tenants.size;
  }

  /**
   * Removes every tenant cgroup (their processes must have exited) and moves the host back
   * to the cgroup it came from.
   */
  async close(): Promise<void> {
    if (this.#loweredPid !== undefined) {
      tryWrite(join(this.#hostDir!, "cgroup.procs"), String(this.#loweredPid));
      this.#loweredPid = undefined;
    }
    await Promise.all([...this.#tenants].map((cgroup) => cgroup.remove()));
    // A service's processes (HAProxy) have exited by now, or are being reaped.
    for (const dir of this.#services.splice(0)) await removeDirWhenEmpty(dir);
  }
}

/**
 * The most tasks (processes and threads) a tenant's cgroup may hold: Deno runs ~8, a Worker ~10
 * more; a tenant making threads without end (a pending file lock holds one) would otherwise
 * take the machine's `pid_max`, and every process on it could no longer fork.
 */
export const TENANT_MAX_TASKS = 512;

/** A tenant cgroup's directory in each hierarchy (all one directory under v2). */
interface TenantDirs {
  memory: string;
  cpu: string;
  cpuacct?: string;
  pids?: string;
}

/** The cgroup of one tenant process. */
export class TenantCgroup {
  #dirs: TenantDirs;
  #version: "v1" | "v2";
  #weight: CpuWeight;
  #idleTimer?: ReturnType<typeof setTimeout>;
  #removing?: Promise<void>;
  #removed = Promise.withResolvers<void>();
  /** The files {@link cpuSeconds} and {@link memoryCurrent} read, joined once: read often. */
  #cpuFile: string;
  #memoryCurrentFile: string;

  private constructor(version: "v1" | "v2", dirs: TenantDirs, weight: CpuWeight) {
    this.#version = version;
    this.#dirs = dirs;
    this.#weight = weight;
    this.#cpuFile = version === "v2"
      ? join(dirs.cpu, "cpu.stat")
      : join(dirs.cpuacct ?? dirs.cpu, "cpuacct.usage");
    this.#memoryCurrentFile = join(
      dirs.memory,
      version === "v2" ? "memory.current" : "memory.usage_in_bytes",
    );
  }

  /** @internal Makes a v2 tenant cgroup at `dir`. */
  static makeV2(dir: string, limits: { memoryBytes: number; weight: CpuWeight }): TenantCgroup {
    Deno.mkdirSync(dir);
    const cgroup = new TenantCgroup("v2", { memory: dir, cpu: dir }, limits.weight);
    try {
      writeFile(join(dir, "memory.max"), String(limits.memoryBytes));
      tryWrite(join(dir, "memory.swap.max"), "0");
      // The whole tree (bubblewrap and Deno) goes at once, as a guard kill would.
      tryWrite(join(dir, "memory.oom.group"), "1");
      writeFile(join(dir, "cpu.weight"), String(CPU_WEIGHTS[limits.weight]));
      tryWrite(join(dir, "pids.max"), String(TENANT_MAX_TASKS));
      cgroup.#startIdle();
    } catch (error) {
      removeDir(dir);
      throw error;
    }
    return cgroup;
  }

  /** @internal Makes a v1 tenant cgroup in each hierarchy. */
  static makeV1(
    dirs: TenantDirs,
    limits: { memoryBytes: number; weight: CpuWeight },
  ): TenantCgroup {
    const made: string[] = [];
    try {
      for (const dir of [dirs.memory, dirs.cpu, dirs.cpuacct, dirs.pids]) {
        if (!dir) continue;
        Deno.mkdirSync(dir);
        made.push(dir);
      }
      writeFile(join(dirs.memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
      // Memory + swap at the same limit: no swapping past it (only where swap is accounted).
      tryWrite(join(dirs.memory, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes));
      writeFile(join(dirs.cpu, "cpu.shares"), weightFile("v1", CPU_WEIGHTS[limits.weight])[1]);
      if (dirs.pids) writeFile(join(dirs.pids, "pids.max"), String(TENANT_MAX_TASKS));
    } catch (error) {
      for (const dir of made.reverse()) removeDir(dir);
      throw error;
    }
    const cgroup = new TenantCgroup("v1", dirs, limits.weight);
    cgroup.#startIdle();
    return cgroup;
  }

  /** A `low` cgroup starts idle for {@link IDLE_BOOT_MS}. */
  #startIdle(): void {
    if (this.#weight !== "low" || !tryWrite(join(this.#dirs.cpu, "cpu.idle"), "1")) return;
    const timer = setTimeout(() => this.#endIdle(), IDLE_BOOT_MS);
    Deno.unrefTimer(timer);
    this.#idleTimer = timer;
  }

  #endIdle(): void {
    if (this.#idleTimer === undefined) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    // Leaving idle resets the kernel's weight to the default, and a weight cannot be written
    // while idle: the weight goes after.
    tryWrite(join(this.#dirs.cpu, "cpu.idle"), "0");
    this.#writeWeight();
  }

  /** Whether the cgroup is idle now (see {@link IDLE_BOOT_MS}). */
  get idle(): boolean {
    return this.#idleTimer !== undefined;
  }

  /** The `cgroup.procs` files a process writes its pid to, to join this cgroup. */
  get procsFiles(): string[] {
    const dirs = [
      ...new Set([this.#dirs.memory, this.#dirs.cpu, this.#dirs.cpuacct, this.#dirs.pids]),
    ];
    return dirs.filter((dir): dir is string => !!dir).map((dir) => join(dir, "cgroup.procs"));
  }

  /** The CPU weight now. */
  get weight(): CpuWeight {
    return this.#weight;
  }

  /** Sets the CPU weight (a no-op when it is already that, or the cgroup is gone). */
  setWeight(weight: CpuWeight): void {
    if (weight === this.#weight || this.#removing) return;
    this.#weight = weight;
    if (this.#idleTimer !== undefined) this.#endIdle();
    else this.#writeWeight();
  }

  #writeWeight(): void {
    const [file, value] = weightFile(this.#version, CPU_WEIGHTS[this.#weight]);
    tryWrite(join(this.#dirs.cpu, file), value);
  }

  /** How many processes of this cgroup the kernel's OOM killer killed (0 if unreadable). */
  oomKills(): number {
    const file = this.#version === "v2" ? "memory.events" : "memory.oom_control";
    try {
      const text = Deno.readTextFileSync(join(this.#dirs.memory, file));
      return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  /** The memory limit in bytes, as the kernel holds it. */
  memoryLimit(): number | undefined {
    const file = this.#version === "v2" ? "memory.max" : "memory.limit_in_bytes";
    return readNumber(join(this.#dirs.memory, file));
  }

  /** Memory charged to the cgroup now, in bytes. */
  memoryCurrent(): number | undefined {
    return readNumber(this.#memoryCurrentFile);
  }

  /**
   * CPU time of every process that ran in the cgroup, in seconds: v2 `cpu.stat` `usage_usec`,
   * v1 `cpuacct.usage`; `undefined` when there is no such file (v1 without cpuacct) or it is
   * gone.
   */
  cpuSeconds(): number | undefined {
    if (this.#version === "v2") {
      try {
        const text = Deno.readTextFileSync(this.#cpuFile);
        const usec = /^usage_usec (\d+)$/m.exec(text)?.[1];
        return usec === undefined ? undefined : Number(usec) / 1e6;
      } catch {
        return undefined;
      }
    }
    const ns = readNumber(this.#cpuFile);
    return ns === undefined ? undefined : ns / 1e9;
  }

  /** Settles once the cgroup is removed. */
  get removed(): Promise<void> {
    return this.#removed.promise;
  }

  /**
   * Removes the cgroup once its processes are gone (the kernel refuses while one is still
   * being reaped: it retries for a second).
   */
  remove(): Promise<void> {
    return this.#removing ??= (async () => {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
      const dirs = [this.#dirs.memory, this.#dirs.cpu, this.#dirs.cpuacct, this.#dirs.pids];
      for (const dir of new Set(dirs)) {
        if (dir) await removeDirWhenEmpty(dir);
      }
      this.#removed.resolve();
    })();
  }
}

/** The file a v2 CPU `weight` (1–10000) goes to, and its value there (v1 shares: × 1024 / 100). */
function weightFile(version: "v1" | "v2", weight: number): [file: string, value: string] {
  return version === "v2"
    ? ["cpu.weight", String(weight)]
    : ["cpu.shares", String(Math.max(2, Math.round(weight * 1024 / 100)))];
}

/**
 * A command started inside `cgroup`: `/bin/sh` writes its pid to the cgroup's `cgroup.procs`
 * files, then `exec`s the command (same pid), so everything the command starts is inside too
 * (see shell_prelude.ts).
 */
export function inCgroup<T extends { command: string; args: string[] }>(
  command: T,
  cgroup: { procsFiles: string[] },
): T {
  const join = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; ';
  return withShellPrelude(command, join, [...cgroup.procsFiles, "--"]);
}

/**
 * Removes the cgroups of hosts that are gone under each of `owns`: named
 * `deploy-tenant-<pid>-…` with a pid no longer running and no process left in them.
 */
function removeStale(owns: string[], self: number): void {
  for (const own of owns) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(own)];
    } catch {
      continue;
    }
    for (const entry of entries) {
      const match = new RegExp(`^${PREFIX}(\\d+)-`).exec(entry.name);
      if (!entry.isDirectory || !match) continue;
      const pid = Number(match[1]);
      if (pid === self || isAlive(pid)) continue;
      removeTree(join(own, entry.name));
    }
  }
}

/** Removes an empty cgroup tree, children first; one with processes left stays. */
function removeTree(dir: string): void {
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isDirectory) removeTree(join(dir, entry.name));
    }
    if (readWords(join(dir, "cgroup.procs")).length === 0) removeDir(dir);
  } catch { /* raced, or not ours to remove */ }
}

function isAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes a cgroup directory; whether it is gone. `rmdir` is what the kernel accepts (its files
 * cannot be deleted; it refuses while a process is in the cgroup), and `Deno.removeSync` of a
 * directory is `rmdir`; a fake tree (tests) has plain files, removed first.
 */
function removeDir(dir: string): boolean {
  try {
    Deno.removeSync(dir);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    // A process is still in it (Deno reports EBUSY as a plain Error with its code).
    if (error instanceof Deno.errors.Busy || (error as { code?: string }).code === "EBUSY") {
      return false;
    }
    try {
      for (const entry of Deno.readDirSync(dir)) {
        if (entry.isFile) Deno.removeSync(join(dir, entry.name));
      }
      Deno.removeSync(dir);
      return true;
    } catch {
      return false; // still busy, or not ours
    }
  }
}

/**
 * Removes a cgroup directory once its last process is gone: the kernel refuses while one is
 * still being reaped, so it retries for a second.
 */
async function removeDirWhenEmpty(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 20 && !removeDir(dir); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function readWords(path: string): string[] {
  try {
    return Deno.readTextFileSync(path).split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

function readNumber(path: string): number | undefined {
  try {
    const text = Deno.readTextFileSync(path).trim();
    if (text === "max") return Infinity;
    const value = Number(text);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function writeFile(path: string, value: string): void {
  Deno.writeTextFileSync(path, value);
}

/** Writes `value` to `path`; whether it could (the file is not on every kernel). */
function tryWrite(path: string, value: string): boolean {
  try {
    writeFile(path, value);
    return true;
  } catch {
    return false;
  }
}

function randomSuffix(): string {
  return crypto.randomUUID().slice(0, 8);
}

function message(error: unknown): string {
  return (error as Error).message;
}

/**
 * The memory limit of the host's own cgroup and what it uses now, in bytes (`undefined`
 * when it has no limit, or it cannot be read): tenants count against it too.
 */
export function hostMemoryLimit(
  sources: CgroupSources | undefined = procCgroupSources(),
): { limitBytes: number; usageBytes: number } | undefined {
  if (!sources) return undefined;
  const memberships = parseSelfCgroup(sources.selfCgroup);
  const mounts = parseCgroupMounts(sources.mountInfo);
  const v1 = mounts.find((m) => m.type === "cgroup" && m.controllers.includes("memory"));
  const v1Member = memberships.find((m) => m.controllers.includes("memory"));
  const v2 = mounts.find((m) => m.type === "cgroup2");
  const v2Member = memberships.find((m) => m.controllers.length === 0);
  const candidates: [string | undefined, string, string][] = [
    [
      v1 && v1Member && directoryOf(v1, v1Member.path),
      "memory.limit_in_bytes",
      "memory.usage_in_bytes",
    ],
    [v2 && v2Member && directoryOf(v2, v2Member.path), "memory.max", "memory.current"],
  ];
  for (const [dir, limitFile, usageFile] of candidates) {
    if (!dir) continue;
    const limit = readNumber(join(dir, limitFile));
    // v1 says "no limit" with a huge number (PAGE_COUNTER_MAX pages).
    if (limit === undefined || limit === Infinity || limit >= 2 ** 62) continue;
    return { limitBytes: limit, usageBytes: readNumber(join(dir, usageFile)) ?? 0 };
  }
  return undefined;
}
