import assert from "node:assert/strict";
import { join } from "node:path";
import { GitSha1, gitSha1, isGitSha1 } from "../lib/git_sha1.ts";
import { requires } from "./helpers/programs.ts";

Deno.test("gitSha1 matches the known git blob vectors", () => {
  assert.equal(gitSha1("a\n"), "78981922613b2afb6025042ff6bd878ac1994e85");
  assert.equal(gitSha1(new Uint8Array()), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  assert.equal(gitSha1("hello world"), "95d09f2b10159347eece71399a7e2e907ea3df4f");
});

Deno.test("GitSha1 fed in chunks equals the one-shot hash", () => {
  const bytes = sampleBytes(100_003);
  const hasher = new GitSha1(bytes.length);
  for (let offset = 0; offset < bytes.length; offset += 4096) {
    hasher.update(bytes.subarray(offset, offset + 4096));
  }
  assert.equal(hasher.digest(), gitSha1(bytes));
});

Deno.test("isGitSha1 accepts only 40 lowercase hex digits", () => {
  assert.ok(isGitSha1("78981922613b2afb6025042ff6bd878ac1994e85"));
  assert.ok(!isGitSha1("78981922613B2AFB6025042FF6BD878AC1994E85"));
  assert.ok(!isGitSha1("7898192"));
  assert.ok(!isGitSha1("z8981922613b2afb6025042ff6bd878ac1994e85"));
});

Deno.test(requires(["git"], {
  name: "gitSha1 agrees with `git hash-object`",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const samples: Record<string, Uint8Array> = {
        "empty": new Uint8Array(),
        "text.txt": new TextEncoder().encode("héllo 👋\r\nline two\n"),
        "binary.bin": sampleBytes(70_000),
        "nul.bin": new Uint8Array([0, 0, 0, 1, 0]),
      };
      for (const [name, bytes] of Object.entries(samples)) {
        const path = join(dir, name);
        await Deno.writeFile(path, bytes);
        // --no-filters: hash the bytes as they are, without autocrlf or attributes.
        const output = await new Deno.Command("git", {
          args: ["hash-object", "--no-filters", path],
          stdout: "piped",
        }).output();
        assert.ok(output.success);
        assert.equal(gitSha1(bytes), new TextDecoder().decode(output.stdout).trim(), name);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
}));

/** Deterministic pseudo-random bytes. */
function sampleBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = 12345;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    bytes[i] = state >> 16;
  }
  return bytes;
}
