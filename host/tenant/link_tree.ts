/**
 * Mirroring a directory tree with hard links: how a deployment's files reach a pooled runtime's
 * `/app` at its handoff (warm_pool.ts), and how a module seed's emitted code is kept and planted
 * (module_seed.ts). Its own module so that both can use it without importing each other.
 *
 * @module
 */
import { join } from "node:path";

/**
 * Mirrors the tree at `from` into the empty directory `to` with hard links (symlinks are
 * copied as they are): the files are the blob store's, read-only to the tenant either way.
 *
 * Synchronous, like `poolable` in warm_pool.ts: on a cold start's path, a few system calls of a
 * few microseconds each cost less than a trip through the I/O thread pool each.
 */
export function linkTree(from: string, to: string): void {
  for (const entry of Deno.readDirSync(from)) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory) {
      Deno.mkdirSync(target);
      linkTree(source, target);
    } else if (entry.isSymlink) {
      Deno.symlinkSync(Deno.readLinkSync(source), target);
    } else {
      try {
        Deno.linkSync(source, target);
      } catch {
        Deno.copyFileSync(source, target);
      }
    }
  }
}
