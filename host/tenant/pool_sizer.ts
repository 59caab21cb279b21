/**
 * How many runtimes the warm pool keeps: as many as the largest recent burst of cold starts,
 * within a memory budget.
 *
 * Cold starts come in bursts (a host restart turns every warm deployment cold at once; at
 * 9 a.m. many customers' hooks fire together), and a pooled runtime spares a cold start only
 * if it was started before the burst. So the pool is sized to the most cold starts seen within
 * {@link BURST_WINDOW_MS} over the last {@link DEMAND_MEMORY_MS}. The size never passes what the
 * memory budget pays for ({@link POOLED_RUNTIME_MB} each) and never falls below the operator's
 * minimum. (A restart's own burst is met otherwise: the host starts the deployments that were
 * warm again before it says it is ready, see warm_set.ts.)
 *
 * The peak is kept across a restart in a small JSON file (see {@link PoolDemand}); the
 * runtime writes it when it changes.
 *
 * @module
 */

/**
 * What one pooled runtime costs in memory, sandbox included: PSS measured by bench/idle.ts
 * (12.8 MB per warm hello tenant) rounded up.
 */
export const POOLED_RUNTIME_MB = 16;

/** Cold starts this close together count as one burst. */
export const BURST_WINDOW_MS = 10_000;

/** How long a burst is remembered before the pool shrinks back. */
export const DEMAND_MEMORY_MS = 10 * 60_000;

/**
 * The default memory budget of the pool: 5% of the machine's memory, at most 1 GiB, but room
 * for a burst of 32 (512 MiB) where that is at most an eighth of it. It is a ceiling, not a
 * reservation (the pool grows only to the bursts it saw), and it also bounds how many warm
 * deployments a restart starts again: at 5% an 8 GiB machine would bring back 25 of them, and a
 * restart's burst of 32 callers would meet 7 cold.
 */
export function defaultPoolBudgetMb(totalMemoryMb: number): number {
  const floor = Math.min(32 * POOLED_RUNTIME_MB, totalMemoryMb / 8);
  return Math.floor(Math.min(1024, Math.max(totalMemoryMb * 0.05, floor)));
}

/** The demand worth keeping across a restart. */
export interface PoolDemand {
  /** The largest burst of cold starts remembered. */
  peak: number;
  /** When that burst was seen (ms since the epoch). */
  peakAt: number;
}

/** Settings of a {@link PoolSizer}. */
export interface PoolSizerOptions {
  /** The operator's minimum (`--warm-pool`); 0 turns the pool off. */
  minimum: number;
  /** The memory the pool may hold (`--warm-pool-memory`), in MiB. */
  budgetMb: number;
  /** What the host saved before its last restart. */
  saved?: PoolDemand;
  /** The clock (tests move it). */
  now?: () => number;
}

/** Tracks cold starts and says how large the warm pool should be. */
export class PoolSizer {
  #minimum: number;
  #maximum: number;
  #now: () => number;
  /** Cold starts within the last burst window, oldest first. */
  #recent: number[] = [];
  #peak = 0;
  #peakAt = 0;

  /** Creates a sizer; `saved` carries the demand over a restart. */
  constructor(options: PoolSizerOptions) {
    this.#minimum = options.minimum;
    this.#maximum = options.minimum === 0
      ? 0
      : Math.max(options.minimum, Math.floor(options.budgetMb / POOLED_RUNTIME_MB));
    this.#now = options.now ?? Date.now;
    if (options.saved) {
      this.#peak = options.saved.peak;
      this.#peakAt = options.saved.peakAt;
    }
  }

  /** The most runtimes the budget pays for (or the minimum, when that is more). */
  get maximum(): number {
    return this.#maximum;
  }

  /** Counts a cold start now. */
  coldStart(): void {
    const now = this.#now();
    this.#recent.push(now);
    while (this.#recent[0] <= now - BURST_WINDOW_MS) this.#recent.shift();
    if (this.#recent.length >= this.#currentPeak(now)) {
      this.#peak = this.#recent.length;
      this.#peakAt = now;
    }
  }

  /** How many runtimes the pool should hold now. */
  get target(): number {
    const now = this.#now();
    return Math.min(this.#maximum, Math.max(this.#minimum, this.#currentPeak(now)));
  }

  /** What to save for the next start. */
  demand(): PoolDemand {
    return { peak: this.#currentPeak(this.#now()), peakAt: this.#peakAt };
  }

  /** The remembered peak, forgotten once it is older than {@link DEMAND_MEMORY_MS}. */
  #currentPeak(now: number): number {
    return now - this.#peakAt < DEMAND_MEMORY_MS ? this.#peak : 0;
  }
}
