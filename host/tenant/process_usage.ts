/**
 * CPU time, uptime and memory of tenant processes, sampled from `/proc` (Linux) and added to
 * the {@link UsageMeter}.
 *
 * A tenant runs as a small process tree (bubblewrap, its init, then Deno), so each sample sums the
 * tree. CPU time includes children already reaped (`cutime`, `cstime`), so the sum only grows. A
 * sample is taken on demand before an analytics query, just before the host stops a process, every
 * interval for a process that served since its last one (the runtime says so:
 * {@link ProcessSampler.served}), and for every process once a 15-minute bucket has ended (work it
 * does on its own, timers, still gets billed); uptime is counted when a process is read, split at the
 * buckets' edges. A round does not look at the others at all: a thousand idle tenants cost the host
 * no reads in between, and no walk over them every round. A process that dies on its own has the
 * CPU time since its last read counted from its cgroup, read at its exit; without cgroups that time
 * is lost, while its uptime is counted to its exit.
 *
 * @module
 */
import {
  BUCKET_SECONDS,
  bucketOf,
  type UsageCounts,
  type UsageMeter,
  type UsageOwner,
} from "./usage.ts";

/** What one reading of a process tree found. */
export interface ProcessTreeUsage {
  /** User + system CPU time of the tree, including reaped children. */
  cpuSeconds: number;
  /** Resident memory of the tree now. */
  rssBytes: number;
}

/** A process that serves is read at most this often. */
export const MIN_READ_INTERVAL_MS = 10_000;

/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

/** Reads the usage of `pid` and its descendants, or `undefined` if it is gone (or not Linux). */
export function readProcessTreeUsage(pid: number): ProcessTreeUsage | undefined {
  const root = readProcess(pid);
  if (!root) return undefined;
  const total = { cpuSeconds: root.cpuSeconds, rssBytes: root.rssBytes };
  for (const child of processTree(pid).slice(1)) {
    const usage = readProcess(child);
    if (!usage) continue;
    total.cpuSeconds += usage.cpuSeconds;
    total.rssBytes += usage.rssBytes;
  }
  return total;
}

/**
 * `pid` and its descendants, parents first, through each one's main thread (see
 * {@link childrenOf}): a tenant's tree of bubblewrap and Deno.
 */
export function processTree(pid: number): number[] {
  const tree = [pid];
  const seen = new Set(tree);
  for (let i = 0; i < tree.length; i++) {
    for (const child of childrenOf(tree[i])) {
      if (!seen.has(child)) {
        seen.add(child);
        tree.push(child);
      }
    }
  }
  return tree;
}

/**
 * The kernel's page size, which stat(5)'s `rss` counts in: `AT_PAGESZ` (6) from this process's
 * auxiliary vector (64-bit key-value pairs); 4 KiB where it cannot be read.
 */
const PAGE_SIZE = (() => {
  try {
    const auxv = Deno.readFileSync("/proc/self/auxv");
    const view = new DataView(auxv.buffer, auxv.byteOffset, auxv.byteLength);
    for (let at = 0; at + 16 <= auxv.byteLength; at += 16) {
      if (view.getBigUint64(at, true) === 6n) return Number(view.getBigUint64(at + 8, true));
    }
  } catch { /* not Linux */ }
  return 4096;
})();

/** One process's CPU time and resident memory: one file (stat), not two (status as well). */
function readProcess(pid: number): ProcessTreeUsage | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14-17 of stat(5) (utime, stime, cutime, cstime), and 24 (rss, in pages), counted
  // here from field 3.
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + (Number(fields[i]) || 0), 0);
  return { cpuSeconds: ticks / CLOCK_TICKS, rssBytes: (Number(fields[21]) || 0) * PAGE_SIZE };
}

/**
 * The children of `pid` that its main thread started. A tenant's tree is bubblewrap (one
 * thread) and the Deno it starts; Deno may not spawn processes, so its other threads (a dozen,
 * each with its own `children` file) are not read: one file per process instead of one per
 * thread, sampled for every tenant.
 */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`);
    for (const id of text.split(" ")) if (id.trim()) children.push(Number(id));
  } catch { /* gone meanwhile, or no CONFIG_PROC_CHILDREN */ }
  return children;
}

interface Tracked {
  owner: UsageOwner;
  pid: number;
  /** Reads it another way than walking `/proc` (its cgroup); `undefined` falls back. */
  read?: () => ProcessTreeUsage | undefined;
  cpuSeconds: number;
  /** Uptime is counted up to here. */
  sampledAt: number;
  /** When the process was last read. */
  readAt: number;
  lastActive?: () => number;
}

/** Tunables of {@link ProcessSampler}. */
export interface ProcessSamplerOptions {
  /**
   * Interval between rounds; `0` disables the timer. Default 5 s: a process that served is read
   * at the first round {@link MIN_READ_INTERVAL_MS} after its last read, so a request's CPU time
   * is read within seconds of it, not in the middle of the quiet that follows. Usage is billed
   * in 15-minute buckets, and a process is also sampled when it stops, exits, and before every
   * query.
   */
  intervalMs?: number;
  /** Reads a process tree; tests replace it. */
  read?: (pid: number) => ProcessTreeUsage | undefined;
  /** The clock in milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Samples the tenant processes it is told about and adds the deltas to a meter. */
export class ProcessSampler {
  #meter: Pick<UsageMeter, "add">;
  #read: (pid: number) => ProcessTreeUsage | undefined;
  #now: () => number;
  #tracked = new Map<number, Tracked>();
  /** Processes the next round reads: they served since their last read, or just started. */
  #served = new Set<Tracked>();
  /** The bucket of the last round: a round in a new one reads every process. */
  #bucket: number;
  #timer?: ReturnType<typeof setInterval>;

  /** Starts sampling every `intervalMs`. */
  constructor(meter: Pick<UsageMeter, "add">, options: ProcessSamplerOptions = {}) {
    this.#meter = meter;
    this.#read = options.read ?? readProcessTreeUsage;
    this.#now = options.now ?? Date.now;
    this.#bucket = bucketOf(this.#now());
    const intervalMs = options.intervalMs ?? 5_000;
    if (intervalMs > 0) {
      this.#timer = setInterval(() => this.round(), intervalMs);
      Deno.unrefTimer(this.#timer as unknown as number);
    }
  }

  /**
   * A tenant process was spawned: its usage from now on is the owner's; the next round reads
   * it. `lastActive` says when it last served (`Date.now()` while it serves: rounds go on reading
   * it); without it, every round reads it. `read` reads its usage from its cgroup (one or two
   * files, not four in `/proc` per tenant: a round after a thousand tenants served reads them
   * all).
   */
  started(
    owner: UsageOwner,
    pid: number,
    lastActive?: () => number,
    read?: () => ProcessTreeUsage | undefined,
  ): void {
    const now = this.#now();
    const tracked = { owner, pid, read, cpuSeconds: 0, sampledAt: now, readAt: now, lastActive };
    this.#tracked.set(pid, tracked);
    this.#served.add(tracked);
  }

  /** `pid` got a request: the next round reads it. */
  served(pid: number): void {
    const tracked = this.#tracked.get(pid);
    if (tracked) this.#served.add(tracked);
  }

  /** Samples every tracked process. */
  sample(): void {
    for (const tracked of this.#tracked.values()) this.#sampleOne(tracked);
  }

  /** The host is about to stop `pid`: a last sample, then it is forgotten. */
  stopping(pid: number): void {
    const tracked = this.#tracked.get(pid);
    if (!tracked) return;
    this.#sampleOne(tracked);
    this.#tracked.delete(pid);
    this.#served.delete(tracked);
  }

  /**
   * `pid` exited: its uptime is counted to now, and, when `cpuSeconds` says what its tree used
   * in all (its cgroup's count), the CPU time since its last read; then it is forgotten.
   */
  exited(pid: number, cpuSeconds?: number): void {
    const tracked = this.#tracked.get(pid);
    if (!tracked) return;
    this.#tracked.delete(pid);
    this.#served.delete(tracked);
    this.#countTo(tracked, this.#now(), {
      cpuSeconds: cpuSeconds === undefined ? 0 : Math.max(0, cpuSeconds - tracked.cpuSeconds),
    });
  }

  /** Stops the timer. */
  close(): void {
    clearInterval(this.#timer);
  }

  /**
   * What the timer runs: reads the processes that served since their last read (once
   * {@link MIN_READ_INTERVAL_MS} has passed since it), and every one once a bucket has ended.
   */
  round(): void {
    const now = this.#now();
    const bucket = bucketOf(now);
    if (bucket !== this.#bucket) {
      this.#bucket = bucket;
      this.sample();
    }
    for (const tracked of this.#served) {
      if (now - tracked.readAt < MIN_READ_INTERVAL_MS) continue; // at a later round
      this.#sampleOne(tracked);
      // One that still serves (a stream, a long request) is read again later too.
      if (tracked.lastActive && tracked.lastActive() < now) this.#served.delete(tracked);
    }
  }

  #sampleOne(tracked: Tracked): void {
    const now = this.#now();
    const usage = tracked.read?.() ?? this.#read(tracked.pid);
    tracked.readAt = now;
    if (!usage) return this.#countTo(tracked, now, {});
    const cpuSeconds = Math.max(0, usage.cpuSeconds - tracked.cpuSeconds);
    tracked.cpuSeconds = Math.max(tracked.cpuSeconds, usage.cpuSeconds);
    this.#countTo(tracked, now, { cpuSeconds, maxRssMemoryBytes: usage.rssBytes });
  }

  /**
   * Adds `counts` and the uptime since the last count to `now`: the uptime into each 15-minute
   * bucket it spans, the rest into the bucket of `now`.
   */
  #countTo(tracked: Tracked, now: number, counts: Partial<UsageCounts>): void {
    let from = tracked.sampledAt;
    for (
      let edge = (bucketOf(from) + BUCKET_SECONDS) * 1000;
      edge <= now;
      edge += BUCKET_SECONDS * 1000
    ) {
      this.#meter.add(tracked.owner, { uptimeSeconds: (edge - from) / 1000 }, from);
      from = edge;
    }
    this.#meter.add(tracked.owner, { ...counts, uptimeSeconds: (now - from) / 1000 }, now);
    tracked.sampledAt = now;
  }
}
