/**
 * Per-user directories, following the XDG base directory convention.
 *
 * @module
 */
import { join } from "node:path";

function home(): string {
  return Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
}

/** Where the local host keeps its data by default: `$XDG_DATA_HOME/deploy-tenant`. */
export function defaultDataDir(): string {
  const base = Deno.env.get("XDG_DATA_HOME") || join(home(), ".local", "share");
  return join(base, "deploy-tenant");
}

/** Where the CLI keeps caches (e.g. uploaded hashes): `$XDG_CACHE_HOME/deploy-tenant`. */
export function defaultCacheDir(): string {
  const base = Deno.env.get("XDG_CACHE_HOME") || join(home(), ".cache");
  return join(base, "deploy-tenant");
}
