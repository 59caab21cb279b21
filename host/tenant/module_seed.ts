/**
 * Module seeds: what Deno learnt loading a deployment's own modules (each module's dependencies
 * and its transpiled code), kept by the host and planted in the Deno cache of a pooled runtime
 * before it is handed that deployment, so that it loads them as from a warm cache.
 *
 * A pooled runtime's cache starts empty (host/tenant/warm_pool.ts): on a cold start it parsed
 * and transpiled the entry point, and wrote both to its cache, with a hop to a blocking thread
 * for each (~1.3 ms of a hello's 2.5 ms import here). The entries are those Deno itself wrote
 * when a process of the deployment first ran (its build's check): {@link harvestModuleSeed}
 * copies them once it serves. Only `file:///app/` modules are kept: a deployment's own files,
 * the same in every sandbox it runs in.
 *
 * This reads and writes two of Deno's own cache formats (the module info table of
 * `dep_analysis_cache_v2`, the `gen/` tree of emitted code), so a seed names the Deno version
 * that wrote it and is planted only under the same version. Any failure is a cache miss: the
 * runtime then parses and transpiles as it would have, and Deno checks each emitted file
 * against its source's hash before it uses it.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import { APP_IN_SANDBOX } from "./sandbox.ts";
import { linkTree } from "./link_tree.ts";

/** Deno's module info cache, in its cache dir (Deno 2.x). */
const MODULE_INFO_DB = "dep_analysis_cache_v2";

/** Where Deno keeps the code it emitted for `file:///app/…`, in its cache dir. */
const EMITTED_APP = join("gen", "file", APP_IN_SANDBOX);

/** The specifiers of a deployment's own modules. */
const APP_SPECIFIERS = `file://${APP_IN_SANDBOX}/%`;

/** The seed's record of module infos, in its directory (emitted code lies beside it). */
const SEED_FILE = "modules.json";

/** One row of Deno's module info cache. */
export interface ModuleInfoRow {
  /** The module's URL, `file:///app/…`. */
  specifier: string;
  /** Deno's number for its media type (TypeScript, JavaScript, …). */
  mediaType: number;
  /** The hash of its source, a 64-bit integer written in decimal. */
  sourceHash: string;
  /** What Deno found in it (its imports and exports), as Deno wrote it. */
  moduleInfo: string;
}

/** A deployment's module seed, as read from its directory. */
export interface ModuleSeed {
  /** The Deno version that wrote the entries (its cache's `CLI_VERSION`). */
  denoVersion: string;
  /** The module info of each of the deployment's modules that was loaded. */
  modules: ModuleInfoRow[];
  /** The emitted code, mirroring Deno's `gen/file/app`; absent when there is none (plain JS). */
  emittedDir?: string;
}

/**
 * Copies the entries for `/app` modules from the Deno cache at `cacheDir` (a process of the
 * deployment served from it) into `seedDir`, which must not exist; it appears whole or not at
 * all. Returns whether there was anything to keep.
 */
export function harvestModuleSeed(cacheDir: string, seedDir: string): boolean {
  let db: DatabaseSync | undefined;
  let denoVersion: string;
  let modules: ModuleInfoRow[];
  try {
    db = new DatabaseSync(join(cacheDir, MODULE_INFO_DB), { readOnly: true });
    denoVersion = cacheDenoVersion(db);
    const select = db.prepare(
      "SELECT specifier, media_type, source_hash, module_info FROM moduleinfocache " +
        "WHERE specifier LIKE ?",
    );
    select.setReadBigInts(true); // the hash is a 64-bit integer
    modules = select.all(APP_SPECIFIERS).map((row) => ({
      specifier: String(row.specifier),
      mediaType: Number(row.media_type),
      sourceHash: String(row.source_hash),
      moduleInfo: String(row.module_info),
    }));
  } catch {
    return false;
  } finally {
    db?.close();
  }
  if (!denoVersion || modules.length === 0) return false;
  // One name: a harvest runs whole, synchronously, so none runs beside it in the host, and what
  // one killed mid-way left is cleared by the next.
  const temporary = `${seedDir}.tmp`;
  try {
    try {
      Deno.removeSync(temporary, { recursive: true });
    } catch { /* none left */ }
    Deno.mkdirSync(temporary); // not its parent: a deployment deleted meanwhile stays deleted
    const emitted = join(cacheDir, EMITTED_APP);
    if (isDirectory(emitted)) {
      Deno.mkdirSync(join(temporary, "gen"));
      linkTree(emitted, join(temporary, "gen"));
    }
    Deno.writeTextFileSync(join(temporary, SEED_FILE), JSON.stringify({ denoVersion, modules }));
    Deno.renameSync(temporary, seedDir);
    return true;
  } catch {
    try {
      Deno.removeSync(temporary, { recursive: true });
    } catch { /* never made */ }
    return false;
  }
}

/** The seed in `seedDir`, or `undefined` when there is none (or it cannot be read). */
export function readModuleSeed(seedDir: string): ModuleSeed | undefined {
  try {
    const { denoVersion, modules } = JSON.parse(Deno.readTextFileSync(join(seedDir, SEED_FILE)));
    if (typeof denoVersion !== "string" || !Array.isArray(modules)) return undefined;
    const emittedDir = join(seedDir, "gen");
    return { denoVersion, modules, emittedDir: isDirectory(emittedDir) ? emittedDir : undefined };
  } catch {
    return undefined;
  }
}

/**
 * A pooled runtime's Deno cache, opened ahead of its handoff (after its warm-up has created it),
 * so that planting a seed on the cold start's path costs a few inserts and links.
 */
export class SeedBed {
  readonly #cacheDir: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #denoVersion: string;

  private constructor(cacheDir: string, db: DatabaseSync) {
    this.#cacheDir = cacheDir;
    this.#db = db;
    // Where the emitted code goes, made now rather than at the plant (Deno makes it too).
    Deno.mkdirSync(join(cacheDir, EMITTED_APP), { recursive: true });
    // The runtime's own writes wait for nothing of ours, and ours need no fsync: a lost
    // entry is a miss.
    db.exec("PRAGMA synchronous = OFF; PRAGMA busy_timeout = 0");
    this.#denoVersion = cacheDenoVersion(db);
    this.#insert = db.prepare(
      "INSERT OR REPLACE INTO moduleinfocache (specifier, media_type, source_hash, module_info) " +
        "VALUES (?, ?, ?, ?)",
    );
  }

  /** The cache at `cacheDir`, or `undefined` when Deno has not created it as expected. */
  static open(cacheDir: string): SeedBed | undefined {
    let db: DatabaseSync | undefined;
    try {
      // Not created here: Deno sets its own up.
      if (!Deno.lstatSync(join(cacheDir, MODULE_INFO_DB)).isFile) return undefined;
      db = new DatabaseSync(join(cacheDir, MODULE_INFO_DB));
      return new SeedBed(cacheDir, db);
    } catch {
      db?.close();
      return undefined;
    }
  }

  /**
   * Plants `seed` (before the runtime is handed its deployment): its module infos, and its
   * emitted code linked in. Returns whether it took; either way the runtime works.
   */
  plant(seed: ModuleSeed): boolean {
    if (seed.denoVersion !== this.#denoVersion) return false;
    try {
      if (seed.emittedDir) linkTree(seed.emittedDir, join(this.#cacheDir, EMITTED_APP));
      this.#db.exec("BEGIN");
      try {
        for (const row of seed.modules) {
          this.#insert.run(row.specifier, row.mediaType, BigInt(row.sourceHash), row.moduleInfo);
        }
        this.#db.exec("COMMIT");
      } catch (error) {
        this.#db.exec("ROLLBACK");
        throw error;
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Lets go of the cache (the runtime keeps using it). */
  close(): void {
    try {
      this.#db.close();
    } catch { /* closed */ }
  }
}

/** The Deno version that wrote the cache `db` (`""` when it does not say). */
function cacheDenoVersion(db: DatabaseSync): string {
  return String(db.prepare("SELECT value FROM info WHERE key = 'CLI_VERSION'").get()?.value ?? "");
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
