import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { DeployTenantError, ExitCode } from "../lib/errors.ts";
import { gitSha1 } from "../lib/git_sha1.ts";
import {
  deploymentBody,
  detectEntrypoint,
  ENTRYPOINT_CANDIDATES,
  type Pack,
  pack,
  type PackedFile,
  type PackOptions,
  type UploadStats,
} from "../lib/packer.ts";
import { Base64Encoder, ChunkBatcher, JsonTextEncoder } from "../lib/stream_json.ts";
import type { Asset } from "../lib/types.ts";

type Tree = Record<string, string | Uint8Array>;

const PNG_HEADER = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const isRoot = Deno.uid() === 0;

async function withTree(tree: Tree, fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "packer_test_" });
  try {
    await writeTree(root, tree);
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function writeTree(root: string, tree: Tree): Promise<void> {
  for (const [path, content] of Object.entries(tree)) {
    const absPath = join(root, path);
    await Deno.mkdir(dirname(absPath), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(absPath, content);
    else await Deno.writeFile(absPath, content);
  }
}

async function packedPaths(root: string, options: Partial<PackOptions> = {}): Promise<string[]> {
  const packed = await pack({ root, ...options });
  return packed.entries.map((entry) => entry.path);
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<DeployTenantError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return error instanceof DeployTenantError && error.code === code;
  });
  return caught as DeployTenantError;
}

function file(packed: Pack, path: string): PackedFile {
  const entry = packed.entries.find((e) => e.path === path);
  assert.ok(entry?.kind === "file", `${path} is a packed file`);
  return entry;
}

async function readBody(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function contentBytes(asset: Asset): Uint8Array {
  assert.ok("content" in asset, "asset has content");
  return asset.encoding === "base64"
    ? Uint8Array.fromBase64(asset.content)
    : new TextEncoder().encode(asset.content);
}

// --- Walking and hashing ----------------------------------------------------------------------

Deno.test("pack lists files with POSIX paths, sizes and git hashes", async () => {
  await withTree({ "main.ts": "export {};\n", "src/lib/a.ts": "a\n", "empty.txt": "" }, async (
    root,
  ) => {
    const progress: number[] = [];
    const packed = await pack({ root, onProgress: ({ files }) => progress.push(files) });

    assert.deepEqual(packed.entries.map((e) => e.path), ["empty.txt", "main.ts", "src/lib/a.ts"]);
    const a = file(packed, "src/lib/a.ts");
    assert.equal(a.size, 2);
    assert.equal(a.gitSha1, "78981922613b2afb6025042ff6bd878ac1994e85");
    assert.equal(a.absPath, join(root, "src", "lib", "a.ts"));
    assert.equal(file(packed, "empty.txt").gitSha1, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    assert.equal(packed.totalBytes, 11 + 2);
    assert.equal(packed.entrypoint, "main.ts");
    assert.equal(packed.root, root);
    assert.deepEqual(packed.warnings, []);
    assert.deepEqual(progress, [1, 2, 3]);
  });
});

Deno.test("pack detects binary files and keeps valid UTF-8 as text", async () => {
  // Characters straddling a read boundary (192 KiB) must not be mistaken for invalid UTF-8.
  const straddling = "x".repeat(192 * 1024 - 2) + "😀 done";
  const euro = "x".repeat(192 * 1024 - 1) + "€" + "y".repeat(192 * 1024 - 2) + "😀";
  const late = new Uint8Array([...new TextEncoder().encode("z".repeat(200 * 1024)), 0xff, 0x41]);
  await withTree({
    "main.ts": "",
    "logo.png": PNG_HEADER,
    "emoji.txt": "héllo 👋 wörld",
    "straddling.txt": straddling,
    "bom.txt": "\uFEFFwith a byte order mark",
    "latin1.txt": new Uint8Array([0x63, 0x61, 0x66, 0xe9]), // "café" in Latin-1
    "truncated.txt": new TextEncoder().encode("ok 😀").slice(0, -1),
    "euro.txt": euro,
    "late.txt": late,
  }, async (root) => {
    const packed = await pack({ root });
    assert.equal(file(packed, "logo.png").encoding, "base64");
    assert.equal(file(packed, "emoji.txt").encoding, "utf-8");
    assert.equal(file(packed, "straddling.txt").encoding, "utf-8");
    assert.equal(file(packed, "bom.txt").encoding, "utf-8");
    assert.equal(file(packed, "latin1.txt").encoding, "base64");
    assert.equal(file(packed, "truncated.txt").encoding, "base64");
    assert.equal(file(packed, "euro.txt").encoding, "utf-8");
    assert.equal(
      file(packed, "late.txt").encoding,
      "base64",
      "an invalid byte after the first read",
    );
    assert.equal(file(packed, "straddling.txt").gitSha1, gitSha1(straddling));
  });
});

Deno.test("a file of NUL bytes goes as base64, not six times its size as JSON text", async () => {
  // Valid UTF-8, but `\u0000` in JSON: 1 MiB of zeros was a 6 MiB body. A NUL in the first
  // 8000 bytes makes a file binary, as for git (a database file's header has one).
  const zeros = new Uint8Array(1024 * 1024);
  const header = new TextEncoder().encode("SQLite format 3\0" + "a".repeat(300 * 1024));
  await withTree({ "main.ts": "", "zeros.bin": zeros, "data.db": header }, async (root) => {
    const packed = await pack({ root });
    assert.equal(file(packed, "zeros.bin").encoding, "base64");
    assert.equal(file(packed, "data.db").encoding, "base64");
    assert.equal(file(packed, "main.ts").encoding, "utf-8");
    const body = await readBody(deploymentBody({ entryPointUrl: "main.ts", envVars: {} }, packed));
    assert.ok(body.length < 1.4 * zeros.length + 600 * 1024, `body of ${body.length} bytes`);
  });
});

// --- Ignore rules -----------------------------------------------------------------------------

const IGNORE_TREE: Tree = {
  "main.ts": "",
  ".gitignore": "*.log\n!keep.log\ndist/\n",
  "app.log": "",
  "keep.log": "",
  "dist/bundle.js": "",
  "secret.txt": "",
  "sub/.gitignore": "secret.txt\n!important.log\n",
  "sub/secret.txt": "",
  "sub/important.log": "",
  "sub/debug.log": "",
  "sub/code.ts": "",
  ".git/HEAD": "ref: refs/heads/main\n",
  "node_modules/dep/index.js": "",
  "sub/node_modules/x.js": "",
};

Deno.test("pack honours root and nested .gitignore files and skips .git and node_modules", async () => {
  await withTree(IGNORE_TREE, async (root) => {
    assert.deepEqual(await packedPaths(root), [
      ".gitignore",
      "keep.log",
      "main.ts",
      "secret.txt",
      "sub/.gitignore",
      "sub/code.ts",
      "sub/important.log",
    ]);
  });
});

Deno.test("pack with gitignore: false packs ignored files but still skips .git", async () => {
  await withTree(IGNORE_TREE, async (root) => {
    const paths = await packedPaths(root, { gitignore: false });
    assert.ok(paths.includes("app.log"));
    assert.ok(paths.includes("dist/bundle.js"));
    assert.ok(paths.includes("sub/secret.txt"));
    assert.ok(!paths.some((path) => path.startsWith(".git/")));
    assert.ok(!paths.some((path) => path.includes("node_modules")));
  });
});

Deno.test("pack include narrows, exclude wins, and include can opt into node_modules", async () => {
  await withTree(IGNORE_TREE, async (root) => {
    assert.deepEqual(await packedPaths(root, { include: ["*.ts"] }), ["main.ts", "sub/code.ts"]);
    assert.deepEqual(
      await packedPaths(root, { include: ["*.ts"], exclude: ["sub/"] }),
      ["main.ts"],
    );
    assert.deepEqual(
      await packedPaths(root, { include: ["main.ts", "node_modules/"] }),
      ["main.ts", "node_modules/dep/index.js", "sub/node_modules/x.js"],
    );
    assert.deepEqual(
      await packedPaths(root, { include: ["main.ts", "/node_modules/"] }),
      ["main.ts", "node_modules/dep/index.js"],
    );
    assert.deepEqual(
      await packedPaths(root, { exclude: ["*.log", "/secret.txt", ".gitignore"] }),
      ["main.ts", "sub/code.ts"],
    );
  });
});

Deno.test("pack warns when .env files would be uploaded", async () => {
  await withTree({ "main.ts": "", ".env": "TOKEN=x", "api/.env.local": "" }, async (root) => {
    const packed = await pack({ root });
    assert.equal(packed.warnings.length, 1);
    assert.match(packed.warnings[0], /"\.env", "api\/\.env\.local".*secrets/);
    assert.deepEqual((await pack({ root, exclude: [".env*"] })).warnings, []);
  });
});

// --- Symlinks ---------------------------------------------------------------------------------

Deno.test("pack turns symlinks inside the root into symlink assets", async () => {
  await withTree({ "main.ts": "", "lib/a.ts": "a\n", "sub/x.ts": "" }, async (root) => {
    await Deno.symlink("lib/a.ts", join(root, "alias.ts"));
    await Deno.symlink("../lib/a.ts", join(root, "sub", "up.ts"));
    await Deno.symlink("lib", join(root, "lib2"));
    const packed = await pack({ root });
    const links = packed.entries.filter((entry) => entry.kind === "symlink");
    assert.deepEqual(links, [
      { kind: "symlink", path: "alias.ts", target: "lib/a.ts" },
      { kind: "symlink", path: "lib2", target: "lib" },
      { kind: "symlink", path: "sub/up.ts", target: "lib/a.ts" },
    ]);
    // The linked directory is not walked a second time.
    assert.ok(!packed.entries.some((entry) => entry.path.startsWith("lib2/")));
    assert.deepEqual(packed.warnings, []);
    // On the wire a target is relative to the link's own directory, as readlink gives it.
    const body = JSON.parse(new TextDecoder().decode(
      await readBody(deploymentBody({ entryPointUrl: "main.ts", envVars: {} }, packed)),
    ));
    assert.deepEqual(body.assets["sub/up.ts"], { kind: "symlink", target: "../lib/a.ts" });
    assert.deepEqual(body.assets["alias.ts"], { kind: "symlink", target: "lib/a.ts" });
  });
});

Deno.test("pack warns about a symlink whose target is left out", async () => {
  await withTree({ "main.ts": "", "big.bin": "" }, async (root) => {
    await Deno.symlink("big.bin", join(root, "link.bin"));
    const packed = await pack({ root, exclude: ["big.bin"] });
    assert.match(packed.warnings.join("\n"), /"link\.bin" points to "big\.bin"/);
  });
});

Deno.test("pack rejects symlinks that escape the root, dangle or loop, naming them", async () => {
  await withTree({ "main.ts": "" }, async (root) => {
    await Deno.symlink("/etc/hostname", join(root, "escape"));
    let error = await rejectsWith(pack({ root }), "symlinkEscapesRoot");
    assert.match(error.message, /"escape"/);
    await Deno.remove(join(root, "escape"));

    await Deno.symlink("missing.ts", join(root, "dangling"));
    error = await rejectsWith(pack({ root }), "symlinkDangling");
    assert.match(error.message, /"dangling".*missing\.ts/);
    await Deno.remove(join(root, "dangling"));

    await Deno.symlink("loop-b", join(root, "loop-a"));
    await Deno.symlink("loop-a", join(root, "loop-b"));
    error = await rejectsWith(pack({ root }), "symlinkLoop");
    assert.match(error.message, /"loop-a"/);
    await Deno.remove(join(root, "loop-a"));
    await Deno.remove(join(root, "loop-b"));

    await Deno.mkdir(join(root, "dir"));
    await Deno.symlink("..", join(root, "dir", "up"));
    error = await rejectsWith(pack({ root }), "symlinkLoop");
    assert.match(error.message, /"dir\/up"/);
  });
});

Deno.test("pack accepts an escaping symlink that exclude leaves out", async () => {
  await withTree({ "main.ts": "" }, async (root) => {
    await Deno.symlink("/etc", join(root, "outside"));
    assert.deepEqual(await packedPaths(root, { exclude: ["outside"] }), ["main.ts"]);
  });
});

// --- Entry point ------------------------------------------------------------------------------

Deno.test("detectEntrypoint tries the candidates in order", () => {
  assert.deepEqual(ENTRYPOINT_CANDIDATES, [
    "main.ts",
    "main.tsx",
    "main.js",
    "mod.ts",
    "src/main.ts",
    "index.ts",
    "index.js",
  ]);
  assert.equal(detectEntrypoint(["index.js", "index.ts", "main.js", "mod.ts"]), "main.js");
  assert.equal(detectEntrypoint(["index.ts", "src/main.ts"]), "src/main.ts");
  assert.equal(detectEntrypoint(["index.js", "index.ts"]), "index.ts");
  assert.equal(detectEntrypoint(["main.tsx", "main.ts"]), "main.ts");
});

Deno.test("detectEntrypoint uses an explicit entry point only if it exists", () => {
  assert.equal(detectEntrypoint(["main.ts", "hooks/lead.ts"], "./hooks/lead.ts"), "hooks/lead.ts");
  for (const [paths, explicit] of [[["main.ts"], "other.ts"], [["lib.ts"], undefined]] as const) {
    assert.throws(() => detectEntrypoint(paths, explicit), (error) => {
      assert.ok(error instanceof DeployTenantError);
      assert.equal(error.code, "entrypointNotFound");
      assert.equal(error.exitCode, ExitCode.usage);
      assert.match(error.hint ?? "", /--entrypoint/);
      return true;
    });
  }
});

Deno.test("pack resolves the entry point and rejects an excluded one", async () => {
  await withTree({ "main.ts": "", "hooks/lead.ts": "" }, async (root) => {
    assert.equal((await pack({ root, entrypoint: "hooks/lead.ts" })).entrypoint, "hooks/lead.ts");
    assert.equal(
      (await pack({ root, entrypoint: join(root, "hooks", "lead.ts") })).entrypoint,
      "hooks/lead.ts",
    );
    await rejectsWith(
      pack({ root, entrypoint: "hooks/lead.ts", exclude: ["hooks/"] }),
      "entrypointNotFound",
    );
  });
});

// --- Root and limits --------------------------------------------------------------------------

Deno.test("pack rejects a missing root, a file root and an empty directory", async () => {
  await withTree(
    { "main.ts": "", "empty/.gitkeep-ignored": "", "ignored/.gitignore": "*\n" },
    async (
      root,
    ) => {
      const missing = await rejectsWith(pack({ root: join(root, "nope") }), "rootNotFound");
      assert.equal(missing.exitCode, ExitCode.usage);
      assert.match(missing.message, /nope/);

      const notDir = await rejectsWith(pack({ root: join(root, "main.ts") }), "rootNotDirectory");
      assert.equal(notDir.exitCode, ExitCode.usage);

      await Deno.mkdir(join(root, "void"));
      const empty = await rejectsWith(pack({ root: join(root, "void") }), "emptyDirectory");
      assert.equal(empty.exitCode, ExitCode.usage);

      const allIgnored = await rejectsWith(pack({ root: join(root, "ignored") }), "emptyDirectory");
      assert.match(allIgnored.message, /left out by ignore rules/);
    },
  );
});

Deno.test("pack rejects a tree over maxTotalBytes before reading it", async () => {
  await withTree({ "main.ts": "x".repeat(600), "b.txt": "y".repeat(600) }, async (root) => {
    let hashed = 0;
    const error = await rejectsWith(
      pack({ root, maxTotalBytes: 1000, onProgress: () => hashed++ }),
      "deploymentTooLarge",
    );
    assert.match(error.message, /1200 bytes/);
    assert.match(error.message, /1000 bytes/);
    assert.equal(hashed, 0);
    assert.equal((await pack({ root, maxTotalBytes: 1200 })).totalBytes, 1200);
  });
});

Deno.test({
  name: "pack names an unreadable file or directory",
  ignore: isRoot, // root reads files whatever their mode
  async fn() {
    await withTree({ "main.ts": "", "locked.ts": "", "private/x.ts": "" }, async (root) => {
      await Deno.chmod(join(root, "locked.ts"), 0o000);
      const fileError = await rejectsWith(pack({ root }), "unreadable");
      assert.match(fileError.message, /"locked\.ts"/);
      await Deno.chmod(join(root, "locked.ts"), 0o644);

      await Deno.chmod(join(root, "private"), 0o000);
      try {
        const dirError = await rejectsWith(pack({ root }), "unreadable");
        assert.match(dirError.message, /"private"/);
      } finally {
        await Deno.chmod(join(root, "private"), 0o755); // so the temp dir can be removed
      }
    });
  },
});

// --- The streamed body ------------------------------------------------------------------------

/** A text with multi-byte characters across the 48 KiB body chunks and every JSON escape. */
function trickyText(): string {
  const chunk = 48 * 1024;
  return "x".repeat(chunk - 2) + "😀" + // 4-byte character split 2 + 2
    "y".repeat(chunk - 1) + "€" + // 3-byte character split 1 + 2
    'quotes " backslash \\ tab \t nul \0 bell \x07 newline \n ls \u2028 ps \u2029 ' +
    "\uFEFF é 中文 🎉\r\n";
}

function binaryBytes(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7919 + 13) % 256);
}

const BODY_TREE: Tree = {
  "main.ts": 'Deno.serve(() => new Response("hi"));\n',
  "text.txt": trickyText(),
  "empty.txt": "",
  "bom.ts": "\uFEFFexport const withBom = true;\n",
  "logo.png": PNG_HEADER,
  "blob.bin": binaryBytes(100_001), // over two chunks, not a multiple of 3
  "dir/unicode-名前.ts": "export const x = 1;\n",
};

Deno.test("deploymentBody streams JSON that round-trips every file's bytes", async () => {
  await withTree(BODY_TREE, async (root) => {
    await Deno.symlink("logo.png", join(root, "alias.png"));
    const packed = await pack({ root });
    const request = {
      entryPointUrl: packed.entrypoint,
      envVars: { GREETING: 'héllo "there"' },
      description: undefined,
      databases: null,
      permissions: { net: ["example.com"] },
    };
    const parsed = JSON.parse(
      new TextDecoder().decode(await readBody(deploymentBody(request, packed))),
    );

    assert.equal(parsed.assets["text.txt"].encoding, "utf-8");
    assert.equal(parsed.assets["blob.bin"].encoding, "base64");
    assert.deepEqual(parsed.assets["alias.png"], { kind: "symlink", target: "logo.png" });

    const assets: Record<string, Asset> = {};
    const keepBom = new TextDecoder("utf-8", { ignoreBOM: true });
    for (const entry of packed.entries) {
      if (entry.kind === "symlink") {
        assets[entry.path] = { kind: "symlink", target: entry.target };
        continue;
      }
      const bytes = await Deno.readFile(entry.absPath);
      assets[entry.path] = entry.encoding === "utf-8"
        ? { kind: "file", encoding: "utf-8", content: keepBom.decode(bytes) }
        : { kind: "file", encoding: "base64", content: bytes.toBase64() };
    }
    const { description: _, ...defined } = request;
    assert.deepEqual(parsed, { ...defined, assets });

    // The decoded content is byte for byte the file, BOM and all.
    for (const [path, content] of Object.entries(BODY_TREE)) {
      const expected = typeof content === "string" ? new TextEncoder().encode(content) : content;
      assert.deepEqual(contentBytes(parsed.assets[path]), expected, path);
    }
  });
});

Deno.test("deploymentBody sends reused files by hash and counts what it sent", async () => {
  await withTree(BODY_TREE, async (root) => {
    const packed = await pack({ root });
    const reused = new Set([file(packed, "blob.bin").gitSha1, file(packed, "empty.txt").gitSha1]);
    const stats: UploadStats = { files: 0, reusedFiles: 0, bytesSent: 0 };
    const progress: number[] = [];
    const body = await readBody(deploymentBody({ entryPointUrl: "main.ts", envVars: {} }, packed, {
      reuse: (sha) => reused.has(sha),
      onBytes: (bytes) => progress.push(bytes),
      stats,
    }));
    const parsed = JSON.parse(new TextDecoder().decode(body));

    assert.deepEqual(parsed.assets["blob.bin"], {
      kind: "file",
      gitSha1: file(packed, "blob.bin").gitSha1,
    });
    assert.deepEqual(parsed.assets["empty.txt"], {
      kind: "file",
      gitSha1: "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
    });
    assert.equal(parsed.assets["logo.png"].content, PNG_HEADER.toBase64());
    assert.deepEqual(stats, { files: 7, reusedFiles: 2, bytesSent: body.byteLength });
    assert.equal(progress.at(-1), body.byteLength);
  });
});

Deno.test("deploymentBody reads files only when pulled and fails if one changed", async () => {
  await withTree({ "main.ts": "export {};\n" }, async (root) => {
    const packed = await pack({ root });
    const reported: unknown[] = [];
    const body = deploymentBody({ entryPointUrl: "main.ts", envVars: {} }, packed, {
      onError: (error) => reported.push(error),
    });
    // Time enough for a stream that reads ahead of its consumer to read the whole file.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await Deno.writeTextFile(join(root, "main.ts"), "export {}; // edited\n");
    const error = await rejectsWith(readBody(body), "fileChanged");
    assert.match(error.message, /"main\.ts"/);
    assert.deepEqual(reported, [error]);
  });
});

Deno.test("deploymentBody notices a same-size edit by the file's stamp, or without one by its hash", async () => {
  await withTree({ "main.ts": "export const a = 1;\n" }, async (root) => {
    const path = join(root, "main.ts");
    const hourAgo = new Date(Date.now() - 3_600_000);
    await Deno.utime(path, hourAgo, hourAgo); // an old file: its stamp can be trusted
    const packed = await pack({ root });
    const entry = file(packed, "main.ts");
    assert.equal(entry.stamp?.mtime, hourAgo.getTime());
    const body = () => readBody(deploymentBody({ entryPointUrl: "main.ts", envVars: {} }, packed));
    await body(); // unchanged: fine

    // Same size, later mtime: the stamp says so (the hash is not computed again).
    await Deno.writeTextFile(path, "export const b = 2;\n");
    await rejectsWith(body(), "fileChanged");

    // Same size, mtime put back: only a second hash can tell, which a file without a stamp
    // (built by hand, not by pack) gets.
    await Deno.utime(path, hourAgo, hourAgo);
    await body(); // the stamp matches: sent as it is
    delete entry.stamp;
    await rejectsWith(body(), "fileChanged");
  });
});

Deno.test("deploymentBody notices a same-size edit within one mtime tick of packing", async () => {
  // Written, packed and edited within milliseconds: the edit can keep the very same mtime (a
  // kernel tick on ext4, a second or two elsewhere), so a file this fresh is hashed again.
  await withTree({ "main.ts": "export const a = 1;\n" }, async (root) => {
    const path = join(root, "main.ts");
    const packed = await pack({ root });
    const entry = file(packed, "main.ts");
    assert.equal(entry.stamp, undefined, "a fresh file has no stamp to trust");
    const { mtime } = await Deno.stat(path);
    await Deno.writeTextFile(path, "export const b = 2;\n");
    await Deno.utime(path, mtime!, mtime!); // the worst case: the tick did not move
    const error = await rejectsWith(
      readBody(deploymentBody({ entryPointUrl: "main.ts", envVars: {} }, packed)),
      "fileChanged",
    );
    assert.match(error.message, /"main\.ts"/);
  });
});

Deno.test("deploymentBody notices a file replaced by another with the same size and mtime", async () => {
  await withTree(
    { "main.ts": "export const a = 1;\n", "other.ts": "export const b = 2;\n" },
    async (root) => {
      const hourAgo = new Date(Date.now() - 3_600_000);
      for (const name of ["main.ts", "other.ts"]) {
        await Deno.utime(
          join(root, name),
          hourAgo,
          hourAgo,
        );
      }
      const packed = await pack({ root });
      assert.ok(file(packed, "main.ts").stamp);
      await Deno.rename(join(root, "other.ts"), join(root, "main.ts")); // like rsync -a does
      await rejectsWith(
        readBody(deploymentBody({ entryPointUrl: "main.ts", envVars: {} }, packed)),
        "fileChanged",
      );
    },
  );
});

Deno.test("deploymentBody closes the open file when the consumer cancels", async () => {
  await withTree({ "main.ts": "", "big.bin": binaryBytes(300_000) }, async (root) => {
    const packed = await pack({ root });
    const reader = deploymentBody({ entryPointUrl: "main.ts", envVars: {} }, packed).getReader();
    const first = await reader.read();
    assert.ok(!first.done && first.value.byteLength > 0);
    // The resource sanitizer fails this test if big.bin stays open.
    await reader.cancel();
  });
});

// --- Streaming encoders, fed at awkward boundaries ----------------------------------------------

/** `bytes` cut into pieces of 1, 2, 3, … bytes, so every boundary offset occurs. */
function awkwardPieces(bytes: Uint8Array): Uint8Array[] {
  const pieces = [];
  for (let offset = 0, size = 1; offset < bytes.length; offset += size, size = size % 7 + 1) {
    pieces.push(bytes.subarray(offset, offset + size));
  }
  return pieces;
}

Deno.test("Base64Encoder joins pieces into the base64 of the whole", () => {
  for (const length of [0, 1, 2, 3, 4, 5, 100]) {
    const bytes = binaryBytes(length);
    const encoder = new Base64Encoder();
    const encoded = awkwardPieces(bytes).map((piece) => encoder.encode(piece)).join("") +
      encoder.finish();
    assert.equal(encoded, bytes.toBase64(), `length ${length}`);
  }
});

Deno.test("JsonTextEncoder escapes text split inside multi-byte characters", () => {
  const text = 'a😀b€c"\\\n\0\u2028é中🎉';
  const encoder = new JsonTextEncoder();
  const pieces = awkwardPieces(new TextEncoder().encode(text)).map((p) => encoder.encode(p));
  assert.equal(JSON.parse(`"${pieces.join("")}${encoder.finish()}"`), text);

  const truncated = new JsonTextEncoder();
  truncated.encode(new TextEncoder().encode("😀").subarray(0, 2));
  assert.throws(() => truncated.finish(), TypeError);
});

Deno.test("ChunkBatcher gathers small pieces into larger chunks", () => {
  const batcher = new ChunkBatcher(8);
  assert.equal(batcher.push("abc"), undefined);
  assert.equal(batcher.push("def"), undefined);
  assert.equal(new TextDecoder().decode(batcher.push("ghé")), "abcdefghé");
  assert.equal(batcher.flush(), undefined);
  batcher.push("z");
  assert.equal(new TextDecoder().decode(batcher.flush()), "z");
});

Deno.test("a tree deeper than the system's path limit fails with a short path and a fitting hint", async () => {
  await withTree({ "main.ts": "export {};\n" }, async (root) => {
    // 200 levels of 30 characters, made one relative step at a time: the shell stops being
    // able to enter them once the path passes PATH_MAX (4096), which is deep enough.
    const name = "d".repeat(30);
    await new Deno.Command("sh", {
      args: [
        "-c",
        `cd "$1" && for i in $(seq 200); do mkdir ${name} && cd ${name} || exit 1; done`,
        "sh",
        root,
      ],
      stderr: "null",
    }).output();
    const error = await rejectsWith(pack({ root }), "unreadable");
    assert.ok(error.message.length < 400, `message of ${error.message.length} characters`);
    assert.match(error.message, /…/);
    assert.match(error.hint ?? "", /longer than the system allows/);
    assert.doesNotMatch(error.hint ?? "", /permissions/);
  });
});

Deno.test("pack refuses more assets than the limit before it reads a file", async () => {
  const tree = Object.fromEntries(
    Array.from({ length: 5 }, (_, i) => [`f${i}.ts`, "export {};\n"]),
  );
  await withTree({ ...tree, "main.ts": "export {};\n" }, async (root) => {
    let read = 0;
    const error = await rejectsWith(
      pack({ root, maxAssets: 3, onProgress: () => read++ }),
      "tooManyAssets",
    );
    assert.match(error.message, /6 files and symlinks to deploy, over the limit of 3/);
    assert.equal(read, 0, "no file was read");
    assert.equal((await pack({ root, maxAssets: 6 })).entries.length, 6);
  });
});
