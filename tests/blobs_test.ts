import assert from "node:assert/strict";
import { join } from "node:path";
import { BlobStore } from "../host/store/blobs.ts";
import { gitSha1 } from "../lib/git_sha1.ts";

async function tempStore(): Promise<BlobStore & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "blobs_test_" });
  return Object.assign(new BlobStore(dir), {
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  });
}

async function listFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...await listFiles(path));
    else files.push(path);
  }
  return files.sort();
}

Deno.test("put stores bytes under their git blob SHA-1 and has/verify see them", async () => {
  await using blobs = await tempStore();
  const hash = await blobs.put(new TextEncoder().encode("a\n"));
  assert.equal(hash, "78981922613b2afb6025042ff6bd878ac1994e85"); // `git hash-object` of "a\n"
  assert.equal(blobs.path(hash), join(blobs.dir, "78", "981922613b2afb6025042ff6bd878ac1994e85"));
  assert.equal(await Deno.readTextFile(blobs.path(hash)), "a\n");
  assert.equal(await blobs.has(hash), true);
  assert.equal(await blobs.verify(hash), true);
});

Deno.test("put round-trips binary bytes, including an empty blob", async () => {
  await using blobs = await tempStore();
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const hash = await blobs.put(bytes);
  assert.equal(hash, gitSha1(bytes));
  assert.deepEqual(await Deno.readFile(blobs.path(hash)), bytes);

  const empty = await blobs.put(new Uint8Array());
  assert.equal(empty, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"); // git's empty blob
  assert.equal(await blobs.verify(empty), true);
});

Deno.test("put is idempotent, also concurrently, and leaves no temp files", async () => {
  await using blobs = await tempStore();
  const bytes = new TextEncoder().encode("same content");
  const hashes = await Promise.all(Array.from({ length: 5 }, () => blobs.put(bytes)));
  assert.equal(new Set(hashes).size, 1);
  assert.equal(await blobs.put(bytes), hashes[0]);
  assert.deepEqual(await listFiles(blobs.dir), [blobs.path(hashes[0])]);
});

Deno.test("has and verify are false for a missing blob; delete is idempotent", async () => {
  await using blobs = await tempStore();
  const hash = await blobs.put(new TextEncoder().encode("to delete"));
  await blobs.delete(hash);
  assert.equal(await blobs.has(hash), false);
  assert.equal(await blobs.verify(hash), false);
  await blobs.delete(hash);
});

Deno.test("verify fails for a corrupt or truncated blob", async () => {
  await using blobs = await tempStore();
  const hash = await blobs.put(new TextEncoder().encode("original content"));
  await Deno.writeTextFile(blobs.path(hash), "tampered content");
  assert.equal(await blobs.verify(hash), false);
  await Deno.writeTextFile(blobs.path(hash), "");
  assert.equal(await blobs.verify(hash), false);
});

Deno.test("path refuses anything but a lowercase git SHA-1", async () => {
  await using blobs = await tempStore();
  for (const bad of ["../../etc/passwd", "", "78981922613B2AFB6025042FF6BD878AC1994E85", "abc"]) {
    assert.throws(() => blobs.path(bad), TypeError, bad);
    await assert.rejects(blobs.has(bad), TypeError);
  }
});

Deno.test("put replaces a stored blob whose size says it was damaged", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const blobs = new BlobStore(dir);
    const bytes = new TextEncoder().encode("export const price = 100;\n");
    const hash = await blobs.put(bytes);
    await Deno.writeTextFile(blobs.path(hash), "tampered");
    assert.equal(await blobs.verify(hash), false);
    assert.equal(await blobs.put(bytes), hash);
    assert.equal(await blobs.verify(hash), true, "a damaged blob is rewritten, not reused");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("each project gets its own copy of a blob, shared by its deployments only", async () => {
  await using blobs = await tempStore();
  const hash = await blobs.put(new TextEncoder().encode("API_KEY=1234\n"));
  const [a, again, b] = await Promise.all([
    blobs.projectCopy("project-a", hash),
    blobs.projectCopy("project-a", hash),
    blobs.projectCopy("project-b", hash),
  ]);
  assert.equal(again, a, "one copy per project, also when asked twice at once");
  assert.equal(await Deno.readTextFile(a), "API_KEY=1234\n");
  assert.equal(await Deno.readTextFile(b), "API_KEY=1234\n");
  const inodes = [blobs.path(hash), a, b].map((path) => Deno.statSync(path).ino);
  assert.equal(new Set(inodes).size, 3, "no inode is shared between projects, nor with the blob");
  assert.equal(Deno.statSync(a).nlink, 1);
  assert.equal(Deno.statSync(blobs.path(hash)).nlink, 1);

  await blobs.deleteProjectCopy("project-a", hash);
  await assert.rejects(Deno.stat(a), Deno.errors.NotFound);
  await blobs.deleteProjectCopies("project-b");
  await assert.rejects(Deno.stat(b), Deno.errors.NotFound);
  await blobs.deleteProjectCopies("project-b"); // nothing left: not an error
  assert.ok(await blobs.has(hash), "the blob itself stays");
  await assert.rejects(blobs.projectCopy("../x", hash), TypeError);
  await assert.rejects(blobs.projectCopy("project-c", "0".repeat(40)), Deno.errors.NotFound);
});
