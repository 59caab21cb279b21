/**
 * Whether a deployment's own modules open the default KV database, so that a deploy without one
 * bound can say so before it goes live: `Deno.openKv()` throws in every request of a deployment
 * with no `databases.default`, and on Subhosting each deployment names its database anew, so a
 * routine redeploy without `--db` would quietly cut a working app off its data.
 *
 * @module
 */
import type { Pack } from "./packer.ts";

/** Source files worth reading: a module's name, never a dependency's. */
const MODULE = /\.(?:[cm]?[jt]s|[jt]sx)$/;
/** Larger files are bundles or data, not what someone wrote `Deno.openKv()` in. */
const MAX_MODULE_BYTES = 1024 ** 2;

/**
 * The deployed modules (paths relative to the root) that call `Deno.openKv` with no argument or
 * an empty one, the default database; at most `limit` of them. Vendored and installed packages
 * (`node_modules/`, `vendor/`) are not read.
 */
export async function modulesOpeningDefaultKv(pack: Pack, limit = 3): Promise<string[]> {
  const found: string[] = [];
  for (const entry of pack.entries) {
    if (found.length >= limit) break;
    if (entry.kind !== "file" || entry.size > MAX_MODULE_BYTES || !MODULE.test(entry.path)) {
      continue;
    }
    if (/(?:^|\/)(?:node_modules|vendor)\//.test(entry.path)) continue;
    let source: string;
    try {
      source = await Deno.readTextFile(entry.absPath);
    } catch {
      continue; // the upload says what is wrong with it
    }
    if (OPENS_DEFAULT_KV.test(source)) found.push(entry.path);
  }
  return found;
}

/** `Deno.openKv()`, `Deno.openKv( )` or `Deno.openKv(undefined)`: not a path or URL. */
const OPENS_DEFAULT_KV = /\bDeno\s*\.\s*openKv\s*\(\s*(?:undefined\s*)?\)/;

/** The warning for a deploy of `modules` with no database bound. */
export function unboundKvWarning(modules: string[]): string {
  return `${modules.join(", ")} ${
    modules.length === 1 ? "calls" : "call"
  } Deno.openKv(), but no KV ` +
    "database is bound: it will throw in this deployment. Bind one with --db <id> (or " +
    '"deploy": {"db": "<id>"} in deno.json); `deploy-tenant db list` shows them, `db create` ' +
    "makes one.";
}
