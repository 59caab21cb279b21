/**
 * A cap on what Deno writes into a tenant's own cache while it runs. The cache dir is the
 * deployment's, on the host's disk and bound read-write into the sandbox: Deno keeps in it, in
 * SQLite, the compiled code and the module info of every module the process loads, including the
 * ones a deployment makes at run time (`import()` of `data:` or `blob:` URLs, Workers from them),
 * without end: 200 such imports of 50 kB grew it by 85 MB, and a process that exits and comes
 * back does it again. (The code Deno emits for such modules, a file each, goes to a small tmpfs
 * in the sandbox instead: `RUNTIME_MODULE_DIRS` in sandbox.ts.)
 *
 * These databases are only caches: Deno makes them again when they are gone, and runs on without
 * caching more when a write fails. So the kernel holds each of them to
 * {@link CACHE_DATABASE_BYTES} while a process runs (its `RLIMIT_FSIZE`, sandbox.ts), and they are
 * removed before a deployment's next process starts once together they pass it.
 *
 * @module
 */
import { join } from "node:path";

/** Deno's SQLite caches that grow with the modules a process loads (Deno 2.x names). */
export const GROWING_CACHE_DATABASES: readonly string[] = [
  "v8_code_cache_v2",
  "dep_analysis_cache_v2",
  "node_analysis_cache_v2",
];

/** The most bytes those databases (with their `-wal` files) may take in one tenant's cache. */
export const CACHE_DATABASE_BYTES = 256 * 1024 * 1024;

/** `bytes` in MiB, rounded: how a cap is named in a deployment's logs. */
export function cacheLimitMib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/** Bytes the growing databases take in the Deno cache at `cacheDir` (a few `stat`s). */
export function cacheDatabaseBytes(cacheDir: string): number {
  let bytes = 0;
  for (const name of GROWING_CACHE_DATABASES) {
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        bytes += Deno.statSync(join(cacheDir, name + suffix)).size;
      } catch { /* not made yet */ }
    }
  }
  return bytes;
}

/**
 * Removes the growing databases from the cache at `cacheDir` (no process may have them open)
 * when they take more than `limit` bytes; whether it did.
 */
export function pruneCacheDatabases(cacheDir: string, limit = CACHE_DATABASE_BYTES): boolean {
  if (cacheDatabaseBytes(cacheDir) <= limit) return false;
  for (const name of GROWING_CACHE_DATABASES) {
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        Deno.removeSync(join(cacheDir, name + suffix));
      } catch { /* not there */ }
    }
  }
  return true;
}
