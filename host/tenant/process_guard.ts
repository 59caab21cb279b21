/**
 * Stops tenant processes that go over their resources where no request limit sees it:
 *
 * - **memory**: V8's heap cap (`--max-old-space-size`) does not cover ArrayBuffers or
 *   WebAssembly memory, so the resident memory of the process tree is sampled and the process
 *   killed above its limit;
 * - **CPU**: a busy loop in a timer or a background task burns a core with no request in
 *   flight, where the request timeout never fires. A process above `maxCpuFraction` of a core
 *   for `cpuIdleWindowMs` with no request in flight — or for `cpuBusyWindowMs` whatever it
 *   serves — is killed ("CPU time limit exceeded", as Deploy says).
 *
 * Where the kernel enforces a process's memory limit (its cgroup, see `cgroups.ts`), the guard
 * does not sample its memory, and reads its CPU time from the cgroup (one file) rather than
 * walking its tree in `/proc`; CPU outside requests is a policy, not a cap the kernel has, so
 * it is still sampled: every second while a process serves or uses CPU, then, once quiet, less
 * and less often (10 s, 20 s, 40 s, then every 60 s), so idle tenants cost the host little.
 *
 * The runtime restarts a killed process on the next request.
 *
 * @module
 */
import { type ProcessTreeUsage, readProcessTreeUsage } from "./process_usage.ts";

/** Limits and sampling of {@link ProcessGuard}. */
export interface GuardOptions {
  /** Share of one core above which a process counts as burning CPU. Default 0.5. */
  maxCpuFraction?: number;
  /** Kill a process burning CPU this long with no request in flight. Default 10 s. */
  cpuIdleWindowMs?: number;
  /** Kill a process burning CPU this long even while it serves. Default 5 minutes. */
  cpuBusyWindowMs?: number;
  /** Resident memory limit of a process tree in MiB. Default: see {@link residentLimitMb}. */
  residentMemoryMb?: number;
  /** How often processes are sampled (about 0.3 ms per process here). Default 1 s. */
  intervalMs?: number;
  /**
   * How long after a sample that found a process quiet (no request since the sample before,
   * under 0.5% of a core) it is sampled again: it can neither burn CPU nor grow without CPU
   * time. Default 10 s; doubled after each quiet sample in a row, up to
   * {@link GuardOptions.maxQuietIntervalMs}.
   */
  quietIntervalMs?: number;
  /**
   * The longest quiet interval. Default 60 s: a thousand idle tenants cost the host ~17 reads
   * a second, and a long-quiet process that starts burning CPU is caught at most this late.
   */
  maxQuietIntervalMs?: number;
}

/** Below this share of a core between two samples a process without requests is quiet. */
const QUIET_CPU_FRACTION = 0.005;

/** The resident memory allowed by default for a V8 heap cap of `heapMb`: the heap plus Deno's own. */
export function residentLimitMb(heapMb: number): number {
  return Math.round(heapMb * 1.25 + 64);
}

/** Which limit a process went over. */
export type GuardLimit = "memory" | "cpu";

/** A process the guard watches. */
export interface GuardedProcess {
  pid: number;
  /** When the process last had a request in flight (`Date.now()` while it has one). */
  lastActive(): number;
  /** Called once when the process goes over a limit; the callee kills it. */
  exceeded(limit: GuardLimit, message: string): void;
  /** Whether the kernel enforces its memory limit (a cgroup): then memory is not sampled. */
  memoryEnforced?: boolean;
  /**
   * Reads its usage another way than walking `/proc` (its cgroup's CPU time);
   * `undefined` from it falls back to `/proc`.
   */
  readUsage?: () => ProcessTreeUsage | undefined;
}

interface Watched {
  process: GuardedProcess;
  samples: { at: number; cpuSeconds: number }[];
  done: boolean;
  /** A quiet process is next sampled then, unless it serves a request first. */
  quietUntil: number;
  /** Quiet samples in a row: the quiet interval doubles with each. */
  quietStreak: number;
}

/** Samples watched processes and reports the ones over their limits. */
export class ProcessGuard {
  #options: Required<Omit<GuardOptions, "residentMemoryMb">> & { residentMemoryMb: number };
  #read: (pid: number) => ProcessTreeUsage | undefined;
  #now: () => number;
  #watched = new Set<Watched>();
  #timer?: ReturnType<typeof setInterval>;

  /**
   * Creates a guard for processes with a V8 heap cap of `heapMb`. `read` and `now` are for
   * tests; with `intervalMs: 0` nothing is sampled unless {@link sample} is called.
   */
  constructor(
    heapMb: number,
    options: GuardOptions = {},
    read: (pid: number) => ProcessTreeUsage | undefined = readProcessTreeUsage,
    now: () => number = Date.now,
  ) {
    this.#options = {
      maxCpuFraction: options.maxCpuFraction ?? 0.5,
      cpuIdleWindowMs: options.cpuIdleWindowMs ?? 10_000,
      cpuBusyWindowMs: options.cpuBusyWindowMs ?? 5 * 60_000,
      residentMemoryMb: options.residentMemoryMb ?? residentLimitMb(heapMb),
      intervalMs: options.intervalMs ?? 1_000,
      quietIntervalMs: options.quietIntervalMs ?? 10_000,
      maxQuietIntervalMs: options.maxQuietIntervalMs ?? 60_000,
    };
    this.#read = read;
    this.#now = now;
  }

  /** The resident memory limit of a process tree, in MiB (also a cgroup's memory limit). */
  get residentMemoryMb(): number {
    return this.#options.residentMemoryMb;
  }

  /** Watches `process` until the returned function is called or it goes over a limit. */
  watch(process: GuardedProcess): () => void {
    const watched: Watched = { process, samples: [], done: false, quietUntil: 0, quietStreak: 0 };
    this.#watched.add(watched);
    this.#sampleOne(watched);
    if (!this.#timer && this.#options.intervalMs > 0) {
      this.#timer = setInterval(() => this.sample(), this.#options.intervalMs);
      Deno.unrefTimer(this.#timer as unknown as number);
    }
    return () => this.#forget(watched);
  }

  /**
   * Samples the watched processes now: every busy one, and a quiet one once its quiet interval
   * has passed or it served a request since (idle tenants cost the host little).
   */
  sample(): void {
    const now = this.#now();
    // Deleting from a Set while iterating it is safe: no copy of a thousand entries a second.
    for (const watched of this.#watched) {
      const last = watched.samples.at(-1);
      const active = last !== undefined && watched.process.lastActive() > last.at;
      if (now < watched.quietUntil && !active) continue;
      this.#sampleOne(watched);
    }
  }

  /** Stops sampling. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
  }

  #forget(watched: Watched): void {
    watched.done = true;
    this.#watched.delete(watched);
    if (this.#watched.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #sampleOne(watched: Watched): void {
    const usage = watched.process.readUsage?.() ?? this.#read(watched.process.pid);
    if (!usage) return; // exiting; the runtime forgets it
    const now = this.#now();
    const limits = this.#options;
    const residentMb = usage.rssBytes / 2 ** 20;
    if (!watched.process.memoryEnforced && residentMb > limits.residentMemoryMb) {
      return this.#exceeded(
        watched,
        "memory",
        `Memory limit exceeded: the process used ${Math.round(residentMb)} MiB ` +
          `(the limit is ${limits.residentMemoryMb} MiB)`,
      );
    }
    const samples = watched.samples;
    const previous = samples.at(-1);
    samples.push({ at: now, cpuSeconds: usage.cpuSeconds });
    const quiet = previous !== undefined &&
      usage.cpuSeconds - previous.cpuSeconds <
        QUIET_CPU_FRACTION * Math.max(now - previous.at, 1) / 1000 &&
      watched.process.lastActive() <= previous.at;
    watched.quietStreak = quiet ? watched.quietStreak + 1 : 0;
    watched.quietUntil = quiet
      ? now + Math.min(
        limits.quietIntervalMs * 2 ** (watched.quietStreak - 1),
        limits.maxQuietIntervalMs,
      )
      : 0;
    // Keep one sample at least as old as the longest window.
    while (samples.length > 2 && now - samples[1].at >= limits.cpuBusyWindowMs) samples.shift();

    const idle = this.#burning(samples, now, limits.cpuIdleWindowMs);
    if (idle && watched.process.lastActive() <= idle.since) {
      return this.#exceeded(
        watched,
        "cpu",
        `CPU time limit exceeded: the process used ${percent(idle.fraction)} of a CPU for ` +
          `${seconds(now - idle.since)} with no request in flight, and was terminated`,
      );
    }
    const busy = this.#burning(samples, now, limits.cpuBusyWindowMs);
    if (busy) {
      this.#exceeded(
        watched,
        "cpu",
        `CPU time limit exceeded: the process used ${percent(busy.fraction)} of a CPU for ` +
          `${seconds(now - busy.since)}, and was terminated`,
      );
    }
  }

  /** The CPU share over the last `windowMs`, if the samples cover it and it is over the limit. */
  #burning(
    samples: { at: number; cpuSeconds: number }[],
    now: number,
    windowMs: number,
  ): { since: number; fraction: number } | undefined {
    const start = samples.findLast((sample) => now - sample.at >= windowMs);
    if (!start) return undefined;
    const last = samples[samples.length - 1];
    const fraction = (last.cpuSeconds - start.cpuSeconds) / ((now - start.at) / 1000);
    return fraction > this.#options.maxCpuFraction ? { since: start.at, fraction } : undefined;
  }

  #exceeded(watched: Watched, limit: GuardLimit, message: string): void {
    if (watched.done) return;
    this.#forget(watched);
    watched.process.exceeded(limit, message);
  }
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
