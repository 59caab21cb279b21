/**
 * Git blob SHA-1: the content address the Deploy API uses for asset reuse.
 *
 * `SHA1("blob " + byteLength + "\0" + bytes)`, the same as `git hash-object`.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";

const encoder = new TextEncoder();

/** A streaming git blob hasher: create with the total size, feed chunks, then `digest()`. */
export class GitSha1 {
  #hash: Hash;

  /** Starts a blob hash of `size` bytes. */
  constructor(size: number) {
    this.#hash = createHash("sha1");
    this.#hash.update(encoder.encode(`blob ${size}\0`));
  }

  /** Feeds the next chunk of the blob. */
  update(chunk: Uint8Array): this {
    this.#hash.update(chunk);
    return this;
  }

  /** The lowercase hex digest. */
  digest(): string {
    return this.#hash.digest("hex");
  }
}

/** The git blob SHA-1 of `bytes` (`"a\n"` → `78981922613b2afb6025042ff6bd878ac1994e85`). */
export function gitSha1(bytes: Uint8Array | string): string {
  const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  return new GitSha1(data.byteLength).update(data).digest();
}

/** Whether `value` looks like a git SHA-1 (40 lowercase hex digits). */
export function isGitSha1(value: string): boolean {
  return /^[0-9a-f]{40}$/.test(value);
}
