/**
 * The deployments that had a process when the host stopped, kept across a restart.
 *
 * A restart turns every warm deployment cold at once, and their first requests come back
 * together: the worst burst of cold starts a host sees. So the runtime writes the warm
 * deployments' ids (most recently used first) to a small JSON file when they change and at
 * stop, and a restarted host starts them again before it says it is ready
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
