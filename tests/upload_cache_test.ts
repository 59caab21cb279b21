import assert from "node:assert/strict";
import { join } from "node:path";
import { gitSha1 } from "../lib/git_sha1.ts";
import { UploadCache } from "../lib/upload_cache.ts";

const API = "http://127.0.0.1:8000/v1";
const A = gitSha1("a\n");
const B = gitSha1("b\n");
const C = gitSha1("c\n");

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("UploadCache remembers saved hashes across opens", async () => {
  await withTempDir(async (dir) => {
    const cache = await UploadCache.open(dir, API, "org-1");
    assert.equal(cache.has(A), false);
    cache.add([A, B]);
    assert.ok(cache.has(A));
    await cache.save();

    const reopened = await UploadCache.open(dir, API, "org-1");
    assert.ok(reopened.has(A));
    assert.ok(reopened.has(B));
    assert.equal(reopened.has(C), false);
  });
});

Deno.test("UploadCache writes one private file per API and organization", async () => {
  await withTempDir(async (dir) => {
    const cache = await UploadCache.open(dir, API, "org-1");
    cache.add([A]);
    await cache.save();

    assert.match(cache.path, /uploads-[0-9a-f]{16}\.txt$/);
    assert.equal((await Deno.stat(cache.path)).mode! & 0o777, 0o600);
    assert.equal(await Deno.readTextFile(cache.path), `${A}\n`);
    assert.equal((await UploadCache.open(dir, API, "org-2")).has(A), false);
    assert.equal((await UploadCache.open(dir, "https://api.deno.com/v1", "org-1")).has(A), false);
    assert.ok((await UploadCache.open(dir, `${API}/`, "org-1")).has(A), "trailing slash ignored");
    // Only the cache file is left: the temp file was renamed over it.
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, [cache.path.slice(dir.length + 1)]);
  });
});

Deno.test("UploadCache treats a corrupt file as empty", async () => {
  await withTempDir(async (dir) => {
    const cache = await UploadCache.open(dir, API, "org-1");
    await Deno.writeTextFile(cache.path, `${A}\nnot a hash\n`);
    const reopened = await UploadCache.open(dir, API, "org-1");
    assert.equal(reopened.size, 0);
    assert.equal(reopened.has(A), false);

    reopened.add([B]);
    await reopened.save();
    assert.equal(await Deno.readTextFile(cache.path), `${B}\n`);
  });
});

Deno.test("UploadCache ignores values that are not git SHA-1s", async () => {
  await withTempDir(async (dir) => {
    const cache = await UploadCache.open(dir, API, "org-1");
    cache.add(["nope", A.toUpperCase(), A]);
    assert.equal(cache.size, 1);
  });
});

Deno.test("UploadCache keeps only the most recent hashes", async () => {
  await withTempDir(async (dir) => {
    const cache = await UploadCache.open(dir, API, "org-1", { maxEntries: 2 });
    cache.add([A, B]);
    cache.add([A]); // used again: now the most recent
    cache.add([C]);
    assert.deepEqual([cache.has(A), cache.has(B), cache.has(C)], [true, false, true]);
    await cache.save();

    const reopened = await UploadCache.open(dir, API, "org-1", { maxEntries: 1 });
    assert.deepEqual([reopened.has(A), reopened.has(C)], [false, true]);
  });
});

Deno.test("UploadCache.save merges what another process saved meanwhile", async () => {
  await withTempDir(async (dir) => {
    const first = await UploadCache.open(dir, API, "org-1");
    const second = await UploadCache.open(dir, API, "org-1");
    first.add([A]);
    await first.save();
    second.add([B]);
    await second.save();

    const reopened = await UploadCache.open(dir, API, "org-1");
    assert.ok(reopened.has(A));
    assert.ok(reopened.has(B));
  });
});

Deno.test("UploadCache.clear forgets everything, also on disk", async () => {
  await withTempDir(async (dir) => {
    const cache = await UploadCache.open(dir, API, "org-1");
    cache.add([A, B]);
    await cache.save();
    cache.clear();
    assert.equal(cache.has(A), false);
    await cache.save();
    assert.equal((await UploadCache.open(dir, API, "org-1")).size, 0);
  });
});

Deno.test("UploadCache.save creates the cache directory and never throws", async () => {
  await withTempDir(async (dir) => {
    const nested = join(dir, "a", "b");
    const cache = await UploadCache.open(nested, API, "org-1");
    cache.add([A]);
    await cache.save();
    assert.ok((await UploadCache.open(nested, API, "org-1")).has(A));

    // A file where the directory should be: saving fails quietly.
    const blocked = join(dir, "blocked");
    await Deno.writeTextFile(blocked, "");
    const unwritable = await UploadCache.open(blocked, API, "org-1");
    unwritable.add([A]);
    await unwritable.save();
  });
});
