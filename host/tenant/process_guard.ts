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
 * and less often (10 s, 20 s, 40 s, then every 60 s), so idle tenants cost the host little. A
 * quiet process waits in a schedule by the second it is due, untouched until then or until it
 * serves a request ({@link GuardHandle.active}): on this VM, touching the bookkeeping of a
 * thousand idle processes once a second cost the host 1–2% of a core by itself (objects the
 * host has not touched for a few seconds cost ~10 µs each to read again).
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
   * How long after a sample that found a process quiet (under 0.5% of a core since the sample
   * before, and no request in flight; where its memory is sampled, no request since at all) it is
   * sampled again: it can neither burn CPU nor grow without CPU time. Default 10 s; doubled after
   * each quiet sample in a row, up to {@link GuardOptions.maxQuietIntervalMs}.
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

/** What {@link ProcessGuard.watch} returns. */
export interface GuardHandle {
  /** The process serves a request: quiet or not, it is sampled at the next tick. */
  active(): void;
  /** Stops watching the process. */
  forget(): void;
}

interface Watched {
  process: GuardedProcess;
  samples: { at: number; cpuSeconds: number }[];
  done: boolean;
  /** Quiet samples in a row: the quiet interval doubles with each. */
  quietStreak: number;
  /** The second (`now / 1000`) it is due at while quiet, its key in the schedule. */
  dueSecond?: number;
}

/** Samples watched processes and reports the ones over their limits. */
export class ProcessGuard {
  #options: Required<Omit<GuardOptions, "residentMemoryMb">> & { residentMemoryMb: number };
  #read: (pid: number) => ProcessTreeUsage | undefined;
  #now: () => number;
  /** Every watched process: sampled each tick, unless it waits in {@link #quiet}. */
  #watched = new Set<Watched>();
  /** Quiet processes by the second they are next due at. */
  #quiet = new Map<number, Set<Watched>>();
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

  /** Watches `process` until it is forgotten or goes over a limit. */
  watch(process: GuardedProcess): GuardHandle {
    const watched: Watched = { process, samples: [], done: false, quietStreak: 0 };
    this.#watched.add(watched);
    this.#sampleOne(watched);
    if (!this.#timer && this.#options.intervalMs > 0) {
      this.#timer = setInterval(() => this.sample(), this.#options.intervalMs);
      Deno.unrefTimer(this.#timer as unknown as number);
    }
    return { active: () => this.#wake(watched), forget: () => this.#forget(watched) };
  }

  /**
   * Samples the watched processes now: every busy one, and a quiet one once its quiet interval
   * has passed or it served a request since. Quiet ones not due are not looked at.
   */
  sample(): void {
    const second = Math.floor(this.#now() / 1000);
    // A few dozen keys at most: quiet intervals end within a minute.
    for (const [dueSecond, due] of this.#quiet) {
      if (dueSecond > second) continue;
      this.#quiet.delete(dueSecond);
      for (const watched of due) {
        watched.dueSecond = undefined;
        this.#watched.add(watched);
      }
    }
    // Deleting from a Set while iterating it is safe; one quiet now leaves the set.
    for (const watched of this.#watched) this.#sampleOne(watched);
  }

  /** Stops sampling. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
    this.#quiet.clear();
  }

  /** A quiet process served a request: back to every tick. */
  #wake(watched: Watched): void {
    if (watched.done || !this.#unschedule(watched)) return;
    this.#watched.add(watched);
  }

  /** Takes `watched` out of the quiet schedule; whether it was in it. */
  #unschedule(watched: Watched): boolean {
    if (watched.dueSecond === undefined) return false;
    const due = this.#quiet.get(watched.dueSecond);
    due?.delete(watched);
    if (due?.size === 0) this.#quiet.delete(watched.dueSecond);
    watched.dueSecond = undefined;
    return true;
  }

  #forget(watched: Watched): void {
    watched.done = true;
    this.#watched.delete(watched);
    this.#unschedule(watched);
    if (this.#watched.size === 0 && this.#quiet.size === 0 && this.#timer) {
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
    // Where its memory is sampled here, any request since the sample before keeps a process on
    // the every-second round: memory can grow at little CPU (ArrayBuffers). Where the kernel
    // caps its memory only CPU matters, and a request finished is no CPU: only one in flight
    // keeps it there (a thousand tenants that each served once are not all read 10 s later).
    const lastActive = watched.process.lastActive();
    const quiet = previous !== undefined &&
      usage.cpuSeconds - previous.cpuSeconds <
        QUIET_CPU_FRACTION * Math.max(now - previous.at, 1) / 1000 &&
      (watched.process.memoryEnforced ? lastActive < now : lastActive <= previous.at);
    watched.quietStreak = quiet ? watched.quietStreak + 1 : 0;
    if (quiet) {
      const interval = Math.min(
        limits.quietIntervalMs * 2 ** (watched.quietStreak - 1),
        limits.maxQuietIntervalMs,
      );
      this.#watched.delete(watched);
      watched.dueSecond = Math.floor((now + interval) / 1000);
      const due = this.#quiet.get(watched.dueSecond);
      if (due) due.add(watched);
      else this.#quiet.set(watched.dueSecond, new Set([watched]));
    }
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
