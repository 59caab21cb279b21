/**
 * `deploy --dry-run` shows every file on one row of its table, whatever its name holds.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli } from "./helpers/cli.ts";

Deno.test("a dry run's table escapes a newline in a file name: one file, one row", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      "export default { fetch: () => new Response() };",
    );
    await Deno.writeTextFile(join(dir, "new\nline.txt"), "x");
    await Deno.writeTextFile(join(dir, "bell\x07.txt"), "x");
    // No API and no local host: a dry run sends nothing and needs none.
    const env = { DEPLOY_TENANT_DATA_DIR: `${dir}-no-host` };
    const result = await runCli(["deploy", dir, "--dry-run"], { env });
    assert.equal(result.code, 0, describe(result));
    assert.match(result.stdout, /^new\\nline\.txt +1 B +utf-8$/m);
    assert.match(result.stdout, /^bell\\x07\.txt +1 B +utf-8$/m);
    assert.doesNotMatch(result.stdout, /^line\.txt/m, "the name does not break the row");
    assert.ok(!result.stdout.includes("\x07"));
    // --json keeps the names as they are.
    const json = await runCli(["deploy", dir, "--dry-run", "--json"], { env });
    const paths = jsonOf<{ files: { path: string }[] }>(json).files.map((file) => file.path);
    assert.ok(paths.includes("new\nline.txt"), paths.join(", "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
