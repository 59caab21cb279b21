/**
 * The client's record of which file contents it has already uploaded to an API and
 * organization, so the next deployment can send those files as `{kind:"file", gitSha1}`.
 *
 * One small text file per (API URL, organization), one git blob SHA-1 per line, oldest
 * first. It is a cache: a missing or corrupt file means "nothing known", never an error.
 *
 * @example
 * ```ts
 * const cache = await UploadCache.open(defaultCacheDir(), apiUrl, organizationId);
 * const body = deploymentBody(request, packed, { reuse: (sha) => cache.has(sha) });
 * // … after the deployment was accepted:
 * cache.add(packed.entries.flatMap((e) => e.kind === "file" ? [e.gitSha1] : []));
 * await cache.save();
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { isGitSha1 } from "./git_sha1.ts";

/** How many hashes a cache keeps by default; older ones are dropped first. */
export const DEFAULT_MAX_ENTRIES = 200_000;

/** Options of {@link UploadCache.open}. */
export interface UploadCacheOptions {
  /** How many hashes to keep (default {@link DEFAULT_MAX_ENTRIES}). */
  maxEntries?: number;
}

/** The git blob SHA-1s already uploaded to one API URL and organization. */
export class UploadCache {
  /** The cache file. */
  readonly path: string;
  // A Set iterates in insertion order: the first hashes are the oldest.
  #hashes: Set<string>;
  #maxEntries: number;
  #dirty = false;
  #cleared = false;

  private constructor(path: string, hashes: Set<string>, maxEntries: number) {
    this.path = path;
    this.#hashes = hashes;
    this.#maxEntries = maxEntries;
  }

  /** Loads the cache of `apiUrl` and `organizationId` kept under `dir`. */
  static async open(
    dir: string,
    apiUrl: string,
    organizationId: string,
    options: UploadCacheOptions = {},
  ): Promise<UploadCache> {
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const path = join(dir, cacheFileName(apiUrl, organizationId));
    const cache = new UploadCache(path, await readHashes(path, maxEntries), maxEntries);
    cache.#evictOldest();
    return cache;
  }

  /** How many hashes are known. */
  get size(): number {
    return this.#hashes.size;
  }

  /** Whether content with this git blob SHA-1 was uploaded before. */
  has(gitSha1: string): boolean {
    return this.#hashes.has(gitSha1);
  }

  /** Records hashes as uploaded (or used again), making them the most recent. */
  add(gitSha1s: Iterable<string>): void {
    for (const hash of gitSha1s) {
      if (!isGitSha1(hash)) continue;
      this.#hashes.delete(hash);
      this.#hashes.add(hash);
      this.#dirty = true;
    }
    this.#evictOldest();
  }

  /** Forgets every hash, e.g. after the server rejected one it was said to hold. */
  clear(): void {
    this.#hashes.clear();
    this.#cleared = true;
    this.#dirty = true;
  }

  /**
   * Writes the cache atomically (temp file + rename, mode 0600), merged with what other
   * processes saved meanwhile. Best effort: a cache that cannot be written is not an error.
   */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    if (!this.#cleared) {
      // Keep hashes another process saved since we loaded, ours counting as more recent.
      const merged = await readHashes(this.path, this.#maxEntries);
      for (const hash of this.#hashes) {
        merged.delete(hash);
        merged.add(hash);
      }
      this.#hashes = merged;
      this.#evictOldest();
    }
    const dir = dirname(this.path);
    const temp = `${this.path}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      const text = this.#hashes.size > 0 ? [...this.#hashes].join("\n") + "\n" : "";
      await Deno.writeTextFile(temp, text, { mode: 0o600 });
      await Deno.rename(temp, this.path);
      this.#dirty = false;
      this.#cleared = false;
    } catch {
      await Deno.remove(temp).catch(() => {});
    }
  }

  #evictOldest(): void {
    let excess = this.#hashes.size - this.#maxEntries;
    for (const hash of this.#hashes) {
      if (excess-- <= 0) break;
      this.#hashes.delete(hash);
    }
  }
}

/** `uploads-<first 16 hex of sha256(apiUrl, organizationId)>.txt`. */
function cacheFileName(apiUrl: string, organizationId: string): string {
  const key = `${apiUrl.replace(/\/+$/, "")}\n${organizationId}`;
  const digest = createHash("sha256").update(key).digest("hex");
  return `uploads-${digest.slice(0, 16)}.txt`;
}

/** The hashes in `path`, or none if it is missing, unreadable, oversized or corrupt. */
async function readHashes(path: string, maxEntries: number): Promise<Set<string>> {
  try {
    const { size } = await Deno.stat(path);
    // 41 bytes a line; anything far larger was not written by us.
    if (size > (maxEntries + 1) * 41 * 2) return new Set();
    const lines = (await Deno.readTextFile(path)).split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.every(isGitSha1) ? new Set(lines) : new Set();
  } catch {
    return new Set();
  }
}
