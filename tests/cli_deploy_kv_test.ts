/**
 * A deploy whose modules open the default KV database with none bound says so, and
 * `"deploy": {"db": "<id>"}` in deno.json binds one on every deploy, as --db does once: each v1
 * deployment names its database anew, so a routine redeploy without --db cut a working app off
 * its data with no word (its Deno.openKv() threw in every request).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost } from "./helpers/host.ts";
import { modulesOpeningDefaultKv } from "../lib/kv_usage.ts";
import { pack } from "../lib/packer.ts";

const COUNTER = `import { key } from "./key.ts";
Deno.serve(async () => {
  const kv = await Deno.openKv();
  await kv.atomic().sum(key, 1n).commit();
  return new Response(String((await kv.get(key)).value));
});
`;

Deno.test("deploy warns when its modules call Deno.openKv() with no database bound; deploy.db binds one", async () => {
  await using host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const app = await Deno.makeTempDir({ prefix: "deploy-tenant-kv-app-" });
  try {
    await Deno.writeTextFile(join(app, "main.ts"), COUNTER);
    await Deno.writeTextFile(join(app, "key.ts"), `export const key = ["count"];\n`);

    const unbound = await cli("deploy", app, "-p", "kv-hooks", "--create");
    assert.equal(unbound.code, 0, describe(unbound));
    assert.match(
      unbound.stderr,
      /main\.ts calls Deno\.openKv\(\), but no KV database is bound: .*--db <id>/,
      describe(unbound),
    );

    const db = jsonOf<{ id: string }>(await cli("db", "create", "--json"));
    await Deno.writeTextFile(
      join(app, "deno.json"),
      JSON.stringify({ deploy: { project: "kv-hooks", db: db.id } }),
    );
    for (const expected of ["1", "2"]) {
      const bound = await cli("deploy", app);
      assert.equal(bound.code, 0, describe(bound));
      assert.doesNotMatch(bound.stderr, /openKv/, describe(bound));
      const hit = await cli("invoke", "kv-hooks");
      assert.equal(hit.stdout.trim(), expected, describe(hit));
    }
  } finally {
    await Deno.remove(app, { recursive: true });
  }
});

Deno.test("modulesOpeningDefaultKv finds Deno.openKv() calls in the deployed modules only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deploy-tenant-kv-scan-" });
  try {
    const files: Record<string, string> = {
      "main.ts": `import "./lib/store.js";\nDeno.serve(() => new Response("hi"));\n`,
      "lib/store.js": "export const kv = await Deno . openKv( );\n",
      "local.ts": `const kv = await Deno.openKv("./local.db");\n`,
      "README.md": "Call `Deno.openKv()` to get the database.\n",
      "node_modules/pkg/index.js": "await Deno.openKv();\n",
    };
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(join(dir, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    const packed = await pack({ root: dir, include: ["**"] });
    assert.deepEqual(await modulesOpeningDefaultKv(packed), ["lib/store.js"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
