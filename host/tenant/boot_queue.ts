/**
 * Tenant boots (a fresh process starting, a pooled runtime importing the module it was handed)
 * a few at a time, first come first served, requests before builds' checks.
 *
 * A boot is CPU-bound. Thirty-two boots started together on two cores share them evenly and
 * all finish at the end, so every first request of a burst waits for the last boot; run two at
 * a time, the first ones answer after their own boot and the median after half the burst.
 * A boot that takes longer than {@link BootQueueOptions.holdMs} gives its turn back anyway:
 * a module that never finishes loading (a hostile tenant's top-level `await`) must not hold
 * other tenants' cold starts for the whole start timeout.
 *
 * @module
 */

/** Why a tenant boots: for a request (or a cron job), or for a build's check. */
export type BootPurpose = "serve" | "check";

/** Settings of a {@link BootQueue}. */
export interface BootQueueOptions {
  /** Boots at once. Default: the number of cores, at least 2. */
  limit?: number;
  /** After this long a boot gives its turn back, finished or not. Default 1 000 ms. */
  holdMs?: number;
}

/** At most `limit` boots at once; the others wait their turn. */
export class BootQueue {
  #free: number;
  #holdMs: number;
  #waiting: Record<BootPurpose, (() => void)[]> = { serve: [], check: [] };

  /** Creates a queue. */
  constructor(options: BootQueueOptions = {}) {
    this.#free = options.limit ?? Math.max(2, navigator.hardwareConcurrency || 1);
    this.#holdMs = options.holdMs ?? 1_000;
  }

  /** Boots waiting for their turn now. */
  get waiting(): number {
    return this.#waiting.serve.length + this.#waiting.check.length;
  }

  /** Waits for a turn; returns the function that gives it back (idempotent). */
  async acquire(purpose: BootPurpose): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting[purpose].push(resolve));
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      clearTimeout(timer);
      const next = this.#waiting.serve.shift() ?? this.#waiting.check.shift();
      if (next) next();
      else this.#free++;
    };
    const timer = setTimeout(release, this.#holdMs);
    return release;
  }
}
