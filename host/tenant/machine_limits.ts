/**
 * What the machine allows the host, read at start: open files and processes
 * (`/proc/self/limits`), pids and threads system-wide (`/proc/sys/kernel/pid_max`,
 * `threads-max`, and the tasks running now from `/proc/loadavg`), and memory (`MemAvailable`
 * from `/proc/meminfo`, and the host's own cgroup limit when it has one) — and how many warm
 * tenants that makes room for, from what one costs ({@link TENANT_COST}). The host warns
 * when `--max-warm` asks for more, and `host status` shows the figures.
 *
 * @module
 */
import { hostMemoryLimit } from "./cgroups.ts";

/** A soft and hard resource limit; `null` is unlimited. */
export interface ResourceLimit {
  soft: number | null;
  hard: number | null;
}

/** The machine's limits as the host found them; `null` where a figure is unknown. */
export interface MachineLimits {
  /** `RLIMIT_NOFILE` of the host process. */
  openFiles: ResourceLimit | null;
  /** `RLIMIT_NPROC`: tasks (processes and threads) of the user; root is not held to it. */
  processes: ResourceLimit | null;
  /** Whether the host runs as root (then {@link processes} does not apply). */
  root: boolean;
  /** Highest pid + 1: every thread takes a pid. */
  pidMax: number | null;
  /** Threads the kernel allows system-wide. */
  threadsMax: number | null;
  /** Tasks (processes and threads) running on the machine now. */
  tasks: number | null;
  /** Open file descriptors of the host now. */
  hostOpenFiles: number | null;
  /** `MemAvailable` of `/proc/meminfo`, in bytes. */
  memoryAvailableBytes: number | null;
  /** The host's cgroup memory limit and use, in bytes, when it has a limit. */
  cgroupMemory: { limitBytes: number; usageBytes: number } | null;
}

/**
 * What one warm tenant costs, measured with `bench/tenant_cost.ts` (hello tenants under
 * bubblewrap, HAProxy in front; 4.0 descriptors, 7.4 tasks each) and `bench/idle.ts` (PSS):
 * file descriptors of the host process (the tenant's stdin, stdout and stderr pipes, and its
 * client's connection; HAProxy holds ~2 more of its own), tasks (bubblewrap, and Deno's
 * threads: its main thread, V8's workers, Tokio's), and memory (PSS of the tree).
 */
export const TENANT_COST = { fds: 4, tasks: 8, memoryBytes: 13 * 2 ** 20 } as const;

/** Kept aside for the host itself: descriptors (store, listeners, clients) and tasks. */
const RESERVE = { fds: 256, tasks: 256, memoryBytes: 256 * 2 ** 20 } as const;

/** How many warm tenants the machine's limits allow, and which limit binds first. */
export interface WarmCapacity {
  /** `null` when no limit could be read. */
  tenants: number | null;
  /** `open files`, `processes`, `pids`, `threads` or `memory`; `null` when none is known. */
  boundBy: string | null;
  /** The room each limit leaves, in tenants. */
  each: Record<string, number>;
}

/** The warm tenants `limits` make room for, at `cost` each. */
export function warmCapacity(
  limits: MachineLimits,
  cost: { fds: number; tasks: number; memoryBytes: number } = TENANT_COST,
): WarmCapacity {
  const each: Record<string, number> = {};
  const room = (name: string, total: number | null | undefined, used: number, per: number) => {
    if (total === null || total === undefined || !Number.isFinite(total)) return;
    each[name] = Math.max(0, Math.floor((total - used) / per));
  };
  room("open files", limits.openFiles?.soft, limits.hostOpenFiles ?? RESERVE.fds, cost.fds);
  if (!limits.root) {
    room("processes", limits.processes?.soft, limits.tasks ?? RESERVE.tasks, cost.tasks);
  }
  room("pids", limits.pidMax, (limits.tasks ?? 0) + RESERVE.tasks, cost.tasks);
  room("threads", limits.threadsMax, (limits.tasks ?? 0) + RESERVE.tasks, cost.tasks);
  const memory = [
    limits.memoryAvailableBytes,
    limits.cgroupMemory ? limits.cgroupMemory.limitBytes - limits.cgroupMemory.usageBytes : null,
  ].filter((value): value is number => value !== null);
  if (memory.length > 0) room("memory", Math.min(...memory), RESERVE.memoryBytes, cost.memoryBytes);
  let boundBy: string | null = null;
  for (const [name, tenants] of Object.entries(each)) {
    if (boundBy === null || tenants < each[boundBy]) boundBy = name;
  }
  return { tenants: boundBy === null ? null : each[boundBy], boundBy, each };
}

/** Reads the machine's limits (Linux; elsewhere every figure is `null`). */
export function readMachineLimits(): MachineLimits {
  const limits = parseProcLimits(read("/proc/self/limits") ?? "");
  const meminfo = parseMeminfo(read("/proc/meminfo") ?? "");
  let hostOpenFiles: number | null = null;
  try {
    hostOpenFiles = [...Deno.readDirSync("/proc/self/fd")].length;
  } catch { /* not Linux */ }
  let root = false;
  try {
    root = Deno.uid() === 0;
  } catch { /* not Unix */ }
  return {
    openFiles: limits["Max open files"] ?? null,
    processes: limits["Max processes"] ?? null,
    root,
    pidMax: readNumber("/proc/sys/kernel/pid_max"),
    threadsMax: readNumber("/proc/sys/kernel/threads-max"),
    tasks: parseLoadavgTasks(read("/proc/loadavg") ?? ""),
    hostOpenFiles,
    memoryAvailableBytes: meminfo.MemAvailable ?? null,
    cgroupMemory: hostMemoryLimit() ?? null,
  };
}

/** Parses `/proc/<pid>/limits` into soft and hard limits by name (`Max open files`…). */
export function parseProcLimits(text: string): Record<string, ResourceLimit> {
  const limits: Record<string, ResourceLimit> = {};
  for (const line of text.split("\n").slice(1)) {
    const match = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = (word: string) => word === "unlimited" ? null : Number(word);
    limits[match[1].trim()] = { soft: value(match[2]), hard: value(match[3]) };
  }
  return limits;
}

/** Parses `/proc/meminfo` into bytes by field. */
export function parseMeminfo(text: string): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = /^(\w+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (match) fields[match[1]] = Number(match[2]) * (line.includes("kB") ? 1024 : 1);
  }
  return fields;
}

/** The tasks running now: the `running/total` field of `/proc/loadavg`, its total. */
export function parseLoadavgTasks(text: string): number | null {
  const match = /\s\d+\/(\d+)\s/.exec(text);
  return match ? Number(match[1]) : null;
}

/**
 * The warning the host logs when `maxWarm` is more than `capacity` allows, or `undefined`.
 */
export function capacityWarning(maxWarm: number, capacity: WarmCapacity): string | undefined {
  if (capacity.tenants === null || maxWarm <= capacity.tenants) return undefined;
  return `warning: --max-warm is ${maxWarm}, but this machine's ${capacity.boundBy} limit leaves room ` +
    `for about ${capacity.tenants} warm tenants (each costs ~${TENANT_COST.fds} open files, ` +
    `~${TENANT_COST.tasks} tasks, ~${
      Math.round(TENANT_COST.memoryBytes / 2 ** 20)
    } MiB): raise the limit (ulimit -n, ` +
    "kernel.pid_max, memory) or lower --max-warm";
}

function read(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

function readNumber(path: string): number | null {
  const text = read(path)?.trim();
  return text && /^\d+$/.test(text) ? Number(text) : null;
}
