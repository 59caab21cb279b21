/**
 * KV databases through the CLI against a real host: `db create|list|rename`, `deploy --db`,
 * and a counter whose count survives redeploys and a host restart, shared by two
 * deployments; unbound deployments and other database files are refused as on Deploy;
 * `db clear` empties it for every bound deployment and `db delete` waits until none is.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost, type TestHost } from "./helpers/host.ts";
import type { Deployment, KvDatabase } from "../lib/types.ts";

type Deployed = Deployment & { url: string };

/** `/inc` adds one and answers the count; `/other` tries to open another database file. */
const COUNTER_APP = `
Deno.serve(async (request) => {
  try {
    if (new URL(request.url).pathname === "/other") {
      await Deno.openKv("/tmp/x");
      return new Response("opened /tmp/x");
    }
    const kv = await Deno.openKv();
    await kv.atomic().sum(["count"], 1n).commit();
    const { value } = await kv.get(["count"]);
    kv.close();
    return new Response(String(value));
  } catch (error) {
    return new Response(error.message, { status: 500 });
  }
});
`;

Deno.test("a KV counter survives redeploys and a host restart, shared by deployments", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "deploy-tenant-kv-e2e-" });
  const dataDir = join(root, "data");
  const app = join(root, "counter");
  await Deno.mkdir(app);
  await Deno.writeTextFile(join(app, "main.ts"), COUNTER_APP);

  let host: TestHost | undefined = await startTestHost({ dataDir });
  const cli = (...args: string[]) => runCli(args, { env: host!.env });
  const hit = async (target: string, path = "/inc") => {
    const result = await cli("invoke", target, path);
    return { code: result.code, body: result.stdout.trim(), stderr: result.stderr };
  };

  try {
    let db: KvDatabase;
    await t.step("db create, list and rename", async () => {
      const human = await cli("db", "create");
      assert.equal(human.code, 0, describe(human));
      assert.match(human.stdout, /^Created KV database [0-9a-f-]{36}$/m);

      db = jsonOf<KvDatabase>(await cli("db", "create", "--description", "counter", "--json"));
      assert.deepEqual(
        Object.keys(db).sort(),
        ["createdAt", "description", "id", "organizationId", "updatedAt"],
      );
      assert.equal(db.description, "counter");

      const renamed = jsonOf<KvDatabase>(
        await cli("db", "rename", db.id, "visit counter", "--json"),
      );
      assert.equal(renamed.description, "visit counter");

      const listed = jsonOf<KvDatabase[]>(await cli("db", "list", "--json"));
      assert.equal(listed.length, 2);
      assert.equal(listed[1].id, db.id);
      assert.equal(listed[1].description, "visit counter");
      const table = await cli("db", "list");
      assert.match(table.stdout, new RegExp(`^${db.id} .* visit counter$`, "m"));

      const unknown = await cli("db", "rename", crypto.randomUUID(), "x");
      assert.equal(unknown.code, 4, describe(unknown));
    });

    let first: Deployed;
    await t.step("deploy --db binds the database to Deno.openKv()", async () => {
      assert.equal((await cli("project", "create", "kv-counter")).code, 0);
      first = jsonOf<Deployed>(
        await cli("deploy", app, "-p", "kv-counter", "--db", db.id, "--json"),
      );
      assert.equal(first.status, "success");
      assert.deepEqual(first.databases, { default: db.id });
      assert.equal((await hit(first.id)).body, "1");
      assert.equal((await hit(first.id)).body, "2");
    });

    let second: Deployed;
    await t.step("the count survives a redeploy, and both deployments share it", async () => {
      second = jsonOf<Deployed>(await cli("env", "set", first.id, "REDEPLOYED=1", "--json"));
      assert.equal(second.status, "success");
      assert.deepEqual(second.databases, { default: db.id });
      assert.equal((await hit(second.id)).body, "3");
      assert.equal((await hit(first.id)).body, "4");
      assert.equal((await hit(second.id)).body, "5");
    });

    await t.step("the count survives a host restart", async () => {
      await host!.stop();
      host = undefined;
      host = await startTestHost({ dataDir });
      assert.equal((await hit(second.id)).body, "6");
      assert.equal((await hit(first.id)).body, "7");
    });

    await t.step("an unbound deployment's Deno.openKv() fails as on Deploy", async () => {
      const unbound = jsonOf<Deployed>(await cli("deploy", app, "-p", "kv-counter", "--json"));
      assert.deepEqual(unbound.databases, {});
      const result = await hit(unbound.id);
      assert.equal(result.body, "Default database is not available", result.stderr);

      const unboundByRedeploy = jsonOf<Deployed>(
        await cli("deployments", "redeploy", second.id, "--no-db", "--json"),
      );
      assert.deepEqual(unboundByRedeploy.databases, {});
      assert.equal((await hit(unboundByRedeploy.id)).body, "Default database is not available");
    });

    await t.step("Deno.openKv(path) is refused", async () => {
      const result = await hit(second.id, "/other");
      assert.equal(result.body, "Non-default databases are not supported");
      assert.equal((await hit(second.id)).body, "8", "the database itself is untouched");
    });

    await t.step(
      "db clear empties it for every bound deployment; db delete waits for them",
      async () => {
        const refusedNoYes = await cli("db", "clear", db.id);
        assert.equal(refusedNoYes.code, 2, describe(refusedNoYes));
        assert.match(refusedNoYes.stderr, /--yes/);
        assert.equal((await hit(second.id)).body, "9", "nothing was cleared without --yes");

        const cleared = await cli("db", "clear", db.id, "--yes");
        assert.equal(cleared.code, 0, describe(cleared));
        assert.equal((await hit(second.id)).body, "1", "the count starts again");
        assert.equal((await hit(first.id)).body, "2", "for every deployment bound to it");

        const inUse = await cli("db", "delete", db.id, "--yes");
        assert.equal(inUse.code, 5, describe(inUse));
        assert.match(inUse.stderr, /bound to \d+ deployment/);
        const list = jsonOf<Deployed[]>(await cli("deployments", "list", "kv-counter", "--json"));
        for (const deployment of list.filter((d) => d.databases.default === db.id)) {
          assert.equal((await cli("deployments", "delete", deployment.id, "--yes")).code, 0);
        }
        const deleted = await cli("db", "delete", db.id, "--yes");
        assert.equal(deleted.code, 0, describe(deleted));
        const listed = jsonOf<KvDatabase[]>(await cli("db", "list", "--json"));
        assert.ok(!listed.some((d) => d.id === db.id));
        await assert.rejects(Deno.stat(join(dataDir, "kv", db.id)), Deno.errors.NotFound);
      },
    );

    await t.step("deploy --db with a database that does not exist is refused", async () => {
      const result = await cli("deploy", app, "-p", "kv-counter", "--db", crypto.randomUUID());
      assert.equal(result.code, 1, describe(result));
      assert.match(result.stderr, /KV database [0-9a-f-]{36} was not found/);
    });
  } finally {
    await host?.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("host --quota database-size caps a KV database: a write past it says so, and the host serves on", async () => {
  const root = await Deno.makeTempDir({ prefix: "deploy-tenant-kv-size-" });
  const app = join(root, "filler");
  await Deno.mkdir(app);
  await Deno.writeTextFile(
    join(app, "main.ts"),
    `Deno.serve(async () => {
      const kv = await Deno.openKv();
      try {
        for (let i = 0; i < 200; i++) await kv.set(["fill", i], new Uint8Array(60_000));
        return new Response("never full");
      } catch (error) {
        return new Response(error.message, { status: 507 });
      }
    });`,
  );
  const host = await startTestHost({ args: ["--quota", "database-size=2m"] });
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  try {
    const db = jsonOf<KvDatabase>(await cli("db", "create", "--json"));
    const deployed = jsonOf<Deployed>(
      await cli("deploy", app, "-p", "kv-filler", "--create", "--db", db.id, "--json"),
    );
    const filled = await cli("invoke", deployed.id, "/");
    assert.match(filled.stdout, /the KV database is at its size limit \(2 MiB\)/, describe(filled));
    for await (const file of Deno.readDir(join(host.dataDir, "kv", db.id))) {
      const { size } = await Deno.stat(join(host.dataDir, "kv", db.id, file.name));
      assert.ok(size <= 2 * 1024 ** 2, `${file.name}: ${size} bytes`);
    }
    assert.equal((await cli("projects", "list")).code, 0, "the host serves on");
  } finally {
    await host.stop();
    await Deno.remove(root, { recursive: true });
  }
});
