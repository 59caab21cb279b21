/**
 * A front-proxy slot's name reaches the socket of the process that holds the slot, and the next
 * holder's once it is linked again; across file systems (where no hard link can be made) too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { linkSlot } from "../host/edge/front_proxy.ts";

/** A server on a new unix socket in `dir` that answers with `name`. */
function serveAt(dir: string, name: string) {
  const path = join(dir, `${name}.sock`);
  const server = Deno.serve({ path, onListen() {} }, () => new Response(name));
  return { path, [Symbol.asyncDispose]: () => server.shutdown() };
}

async function get(socketPath: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path: socketPath });
  await conn.write(
    new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
  );
  const text = await new Response(conn.readable).text();
  return text.slice(text.indexOf("\r\n\r\n") + 4);
}

Deno.test("a slot reaches its holder's socket, then the next holder's", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using first = serveAt(dir, "first");
    await using second = serveAt(dir, "second");
    const slot = join(dir, "0.sock");
    linkSlot(first.path, slot);
    assert.equal(await get(slot), "first");
    assert.equal((await Deno.lstat(slot)).isSymlink, false, "a hard link, no new inode");
    linkSlot(second.path, slot);
    assert.equal(await get(slot), "second");
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((entry) => entry.name).sort(),
      ["0.sock", "first.sock", "second.sock"],
      "no temporary name left behind",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a socket on another file system is reached through a symlink", async (t) => {
  const shm = "/dev/shm";
  const slotDir = await Deno.makeTempDir();
  const canTest = await Deno.stat(shm).then((info) => info.isDirectory, () => false) &&
    (await Deno.stat(slotDir)).dev !== (await Deno.stat(shm)).dev;
  if (!canTest) {
    await Deno.remove(slotDir);
    console.log("skipped: no second file system (/dev/shm) to link across");
    return;
  }
  const socketDir = await Deno.makeTempDir({ dir: shm });
  try {
    await using holder = serveAt(socketDir, "holder");
    const slot = join(slotDir, "0.sock");
    linkSlot(holder.path, slot);
    assert.equal((await Deno.lstat(slot)).isSymlink, true);
    assert.equal(await get(slot), "holder");
    await t.step("and a hard link replaces it when one can be made", async () => {
      await using local = serveAt(slotDir, "local");
      linkSlot(local.path, slot);
      assert.equal(await get(slot), "local");
    });
  } finally {
    await Deno.remove(socketDir, { recursive: true });
    await Deno.remove(slotDir, { recursive: true });
  }
});
