/**
 * A counting semaphore: at most `limit` tasks at once, the others queued in order. The
 * builder boots at most a few deployments at once with it.
 *
 * @module
 */

/** At most `limit` tasks at once; the others wait their turn, first come first served. */
export class Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];
  #peak = 0;

  /** Allows `limit` tasks at once. */
  constructor(readonly limit: number) {
    this.#free = limit;
  }

  /** The most tasks that ever ran at once. */
  get peak(): number {
    return this.#peak;
  }

  /** Runs `task` once fewer than `limit` others run. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#peak = Math.max(this.#peak, this.limit - this.#free);
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}
