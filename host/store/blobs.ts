/**
 * A content-addressed store for asset bytes, keyed by git blob SHA-1 (the hash the
 * Deploy API uses for asset reuse).
 *
 * A blob lives at `<dir>/<first two hex digits>/<other 38>`. Writes go to a temp file in
 * `<dir>/.tmp`, are fsynced, then renamed into place, so a crash never leaves a
 * half-written blob at its final path.
 *
 * A deployment's files are hard links to its project's own copy of each blob
 * (`<dir>/projects/<project id>/…`, {@link BlobStore.projectCopy}), never to the blob itself: a
 * tenant can read a file's link count (`Deno.stat().nlink`), and with one inode for every project
 * holding the same bytes that count told it whether another tenant's deployment had a file it
 * guessed (a config file with a low-entropy secret, say: thousands of guesses in one deploy).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { GitSha1, gitSha1, isGitSha1 } from "../../lib/git_sha1.ts";

const TEMP_DIR = ".tmp";
const PROJECTS_DIR = "projects";
const READ_CHUNK = 256 * 1024;

/** Asset bytes on disk, addressed by their git blob SHA-1. */
export class BlobStore {
  /** The root directory of the store. */
  readonly dir: string;

  /** Opens (lazily creates) a store rooted at `dir`. */
  constructor(dir: string) {
    this.dir = dir;
  }

  /** Where the blob `gitSha1` lives. Throws on anything but 40 lowercase hex digits. */
  path(gitSha1: string): string {
    return shardedPath(this.dir, gitSha1);
  }

  /** Whether the blob is stored. */
  async has(gitSha1: string): Promise<boolean> {
    try {
      return (await Deno.stat(this.path(gitSha1))).isFile;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /**
   * Stores `bytes` and returns their git blob SHA-1. Storing the same bytes again is a no-op,
   * unless the stored file has another size: then it is damaged, and replaced.
   */
  async put(bytes: Uint8Array, hash: string = gitSha1(bytes)): Promise<string> {
    if (await this.#sizeOf(hash) === bytes.length) return hash;

    const tempDir = join(this.dir, TEMP_DIR);
    await Deno.mkdir(tempDir, { recursive: true, mode: 0o700 });
    const tempPath = join(tempDir, `${hash}.${crypto.randomUUID()}`);
    try {
      using file = await Deno.open(tempPath, { write: true, createNew: true, mode: 0o600 });
      await writeAll(file, bytes);
      await file.sync();
    } catch (error) {
      await removeIfExists(tempPath);
      throw error;
    }

    const finalPath = this.path(hash);
    const shardDir = join(this.dir, hash.slice(0, 2));
    try {
      await Deno.mkdir(shardDir, { recursive: true, mode: 0o700 });
      // Atomic on POSIX: a concurrent put of the same bytes just replaces an identical file.
      await Deno.rename(tempPath, finalPath);
    } catch (error) {
      await removeIfExists(tempPath);
      throw error;
    }
    await syncDirectory(shardDir);
    return hash;
  }

  async #sizeOf(gitSha1: string): Promise<number | undefined> {
    try {
      return (await Deno.stat(this.path(gitSha1))).size;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /** Re-hashes the stored file and compares: false when it is missing or corrupt. */
  async verify(gitSha1: string): Promise<boolean> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.path(gitSha1), { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
    try {
      const { size } = await file.stat();
      const hasher = new GitSha1(size);
      const buffer = new Uint8Array(READ_CHUNK);
      let total = 0;
      while (true) {
        const read = await file.read(buffer);
        if (read === null) break;
        hasher.update(buffer.subarray(0, read));
        total += read;
      }
      return total === size && hasher.digest() === gitSha1;
    } finally {
      file.close();
    }
  }

  /**
   * The project's own copy of blob `gitSha1`, made on its first use: what the project's
   * deployments' files are hard links to. No two projects share one (see the module doc); the
   * blob must be stored. Concurrent calls agree on one copy.
   */
  async projectCopy(projectId: string, gitSha1: string): Promise<string> {
    const target = this.#projectPath(projectId, gitSha1);
    try {
      await Deno.lstat(target);
      return target;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const tempDir = join(this.dir, TEMP_DIR);
    await Deno.mkdir(tempDir, { recursive: true, mode: 0o700 });
    await Deno.mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const tempPath = join(tempDir, `${gitSha1}.${crypto.randomUUID()}`);
    try {
      // A new inode (on a filesystem with reflinks, the same blocks).
      await Deno.copyFile(this.path(gitSha1), tempPath);
      // Not a rename: a copy made meanwhile stays the one its deployments link to.
      await Deno.link(tempPath, target).catch((error) => {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      });
    } finally {
      await removeIfExists(tempPath);
    }
    return target;
  }

  /** Removes the project's copy of a blob its deployments no longer use. */
  async deleteProjectCopy(projectId: string, gitSha1: string): Promise<void> {
    await removeIfExists(this.#projectPath(projectId, gitSha1));
  }

  /** Removes every copy the project holds (it is being deleted). */
  async deleteProjectCopies(projectId: string): Promise<void> {
    await removeIfExists(this.#projectDir(projectId), { recursive: true });
  }

  #projectDir(projectId: string): string {
    // The id becomes a path component: never let anything else through.
    if (!/^[0-9A-Za-z-]{1,64}$/.test(projectId)) {
      throw new TypeError(`Not a project id: ${JSON.stringify(projectId)}`);
    }
    return join(this.dir, PROJECTS_DIR, projectId);
  }

  #projectPath(projectId: string, gitSha1: string): string {
    return shardedPath(this.#projectDir(projectId), gitSha1);
  }

  /**
   * Removes the temp files of writes a crash cut short and returns how many there were.
   * Call it at start, before any {@link put}: it would take a write in flight's temp file.
   */
  async removeTempFiles(): Promise<number> {
    const tempDir = join(this.dir, TEMP_DIR);
    let removed = 0;
    try {
      for await (const entry of Deno.readDir(tempDir)) {
        await removeIfExists(join(tempDir, entry.name));
        removed++;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return removed;
  }

  /** Removes the blob; a missing blob is not an error. */
  async delete(gitSha1: string): Promise<void> {
    await removeIfExists(this.path(gitSha1));
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    written += await file.write(bytes.subarray(written));
  }
}

/** `<root>/<first two hex digits>/<other 38>`. Throws on anything but 40 lowercase hex digits. */
function shardedPath(root: string, gitSha1: string): string {
  // The hash becomes a file path: never let anything else through.
  if (!isGitSha1(gitSha1)) throw new TypeError(`Not a git SHA-1: ${JSON.stringify(gitSha1)}`);
  return join(root, gitSha1.slice(0, 2), gitSha1.slice(2));
}

async function removeIfExists(path: string, options?: Deno.RemoveOptions): Promise<void> {
  try {
    await Deno.remove(path, options);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Makes a rename durable: the new directory entry reaches the disk, not only the file data. */
async function syncDirectory(path: string): Promise<void> {
  try {
    using dir = await Deno.open(path, { read: true });
    await dir.sync();
  } catch {
    // Not every platform lets a directory be opened or fsynced; the rename already happened.
  }
}
