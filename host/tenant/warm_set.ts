/**
 * The deployments that had a process when the host stopped, kept across a restart.
 *
 * A restart turns every warm deployment cold at once, and their first requests come back
 * together: the worst burst of cold starts a host sees. So the runtime writes the warm
 * deployments' ids (most recently used first) to a small JSON file when they change and at
 * stop ({@link WarmSetSaver}), and a restarted host starts them again before it says it is ready
 * ({@link Runtime.restore} in runtime.ts): the restart is not seen by their callers. A host
 * killed outright has a list half a second old (its order: one sweep, a few seconds).
 *
 * @module
 */

/** The warm set saved by the last host on this data dir; empty if none or unreadable. */
export function readWarmSet(path: string): string[] {
  try {
    const value = JSON.parse(Deno.readTextFileSync(path));
    const ids = value?.warm;
    if (Array.isArray(ids) && ids.every((id) => typeof id === "string" && ID.test(id))) {
      return ids;
    }
  } catch { /* none yet, or unreadable: nothing to restore */ }
  return [];
}

/** Saves `ids` (most recently used first) for the next start: written aside, then renamed. */
export function writeWarmSet(path: string, ids: readonly string[]): void {
  const temporary = `${path}.tmp`;
  Deno.writeTextFileSync(temporary, JSON.stringify({ warm: ids }));
  Deno.renameSync(temporary, path);
}

/** What a deployment id looks like: the file is the host's, but is read as untrusted. */
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Keeps a running host's warm set on disk: saved shortly after it changes (one save for a burst
 * of changes), and whenever the supervisor asks (its sweep, its stop), written only when it
 * differs from what the file holds. The supervisor says what the set is (`current`).
 */
export class WarmSetSaver {
  #path: string;
  #current: () => string[];
  #log: (line: string) => void;
  /** The warm set last saved to the file (or read from it), as JSON. */
  #saved: string;
  /** A save soon after the set changed (see {@link WARM_SET_SAVE_DELAY_MS}). */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * A saver to `path`, which holds `saved` now, of `current()`: the deployments with a process,
   * most recently used first. `log` hears a save that failed.
   */
  constructor(
    path: string,
    saved: readonly string[],
    current: () => string[],
    log: (line: string) => void,
  ) {
    this.#path = path;
    this.#saved = JSON.stringify(saved);
    this.#current = current;
    this.#log = log;
  }

  /**
   * Saves the warm set shortly after a process came up or was stopped, not at the next sweep:
   * a host killed right after its deploys restores them too. One save covers a burst of changes.
   */
  changed(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.save();
    }, WARM_SET_SAVE_DELAY_MS);
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  /** Writes the deployments with a process, most recently used first, when they changed. */
  save(): void {
    if (this.#closed) return;
    const ids = this.#current();
    const json = JSON.stringify(ids);
    if (json === this.#saved) return;
    this.#saved = json;
    try {
      writeWarmSet(this.#path, ids);
    } catch (error) {
      this.#log(`could not save the warm deployments: ${(error as Error).message}`);
    }
  }

  /** Saves no more: the host stops (it saved last before). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}

/**
 * How long after a process came up or was stopped the warm set is saved: after the rest of a
 * burst of cold starts (the save is a write and a rename on the host's thread).
 */
const WARM_SET_SAVE_DELAY_MS = 500;
