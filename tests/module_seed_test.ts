/**
 * Module seeds (host/tenant/module_seed.ts): what Deno learnt loading a deployment's modules,
 * harvested when its build's check served, and planted in the pooled runtime it is handed
 * next, which then loads them without transpiling again; a seed from another Deno version, or
 * a cache Deno has not set up, is left alone. A pooled runtime's loader is warm (it imported a
 * module of the host's) before it is handed anything.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { dirname, join } from "node:path";
import { deploymentDirs } from "../host/tenant/runtime.ts";
import { tenantDenoBinary } from "../host/tenant/sandbox.ts";
import {
  harvestModuleSeed,
  type ModuleSeed,
  readModuleSeed,
  SeedBed,
} from "../host/tenant/module_seed.ts";
import { requires } from "./helpers/programs.ts";
import { tenantGet } from "./helpers/tenant_fetch.ts";
import { isolation, poolableDeployment, pooledRuntime } from "./helpers/pooled_runtime.ts";
import { waitFor } from "./helpers/wait_for.ts";

Deno.test(requires(["bwrap"], {
  name: "a deployment's modules, harvested from its check, load in a pooled runtime from the " +
    "seed: the emitted code it runs is the seed's own file",
  ignore: isolation.kind !== "bwrap",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-seed-" });
    const deploymentsDir = join(root, "deployments");
    const runtime = pooledRuntime(root);
    const deployment = poolableDeployment("hooks");
    const { app, root: deploymentRoot } = deploymentDirs(deploymentsDir, deployment.id);
    try {
      await Deno.mkdir(join(app, "lib"), { recursive: true });
      await Deno.writeTextFile(
        join(app, "main.ts"),
        `import { greet } from "./lib/greet.ts";
        export default { fetch: (): Response => new Response(greet("lead")) };`,
      );
      await Deno.writeTextFile(
        join(app, "lib/greet.ts"),
        "export const greet = (name: string): string => `hello, ${name}`;",
      );
      runtime.warmUp();
      await waitFor(() => runtime.pooled === 1, 15_000);
      // Its loader warmed up on a module of the host's before it is handed anything.
      const [member] = [...Deno.readDirSync(join(root, "pool"))];
      const warmed = join(root, "pool", member.name, "cache/gen/file/run/deployment/warm.ts.js");
      await waitFor(() => exists(warmed), 15_000);

      await runtime.ensure(deployment, "check");
      const seedDir = join(deploymentRoot, "module_seed");
      const seed = readModuleSeed(seedDir);
      assert.ok(seed, "harvested once the check served");
      assert.deepEqual(
        seed.modules.map((module) => module.specifier).sort(),
        ["file:///app/lib/greet.ts", "file:///app/main.ts"],
      );
      await runtime.stop(deployment.id);

      await waitFor(() => runtime.pooled === 1, 15_000);
      const instance = await runtime.ensure(deployment);
      assert.equal(await (await tenantGet(instance.client)).text(), "hello, lead");
      const cache = join(dirname(dirname(instance.socketPath)), "cache");
      assert.ok(instance.socketPath.startsWith(join(root, "pool")), "served by a pooled runtime");
      for (const file of ["main.ts.js", "lib/greet.ts.js"]) {
        // Deno writes a module it transpiles to a new file (and renames it into place).
        const planted = await Deno.stat(join(cache, "gen/file/app", file));
        const kept = await Deno.stat(join(seedDir, "gen", file));
        assert.equal(planted.ino, kept.ino, `${file}: the seed's, not transpiled again`);
      }
    } finally {
      await runtime.stopAll();
      await Deno.remove(root, { recursive: true });
    }
  },
}));

Deno.test("a seed is planted only under the Deno version that wrote it; a cache Deno has not set up is left alone", async () => {
  const root = await Deno.makeTempDir({ prefix: "dt-seed-bed-" });
  try {
    assert.equal(SeedBed.open(root), undefined);
    assert.deepEqual(
      [...Deno.readDirSync(root)],
      [],
      "nothing created in a cache Deno has not set up",
    );
    assert.equal(readModuleSeed(root), undefined);

    // A real Deno cache, as a runtime leaves it once it has loaded a module.
    await Deno.writeTextFile(join(root, "warm.ts"), "export const warm: number = 1;\n");
    const cache = join(root, "cache");
    const loaded = await new Deno.Command(tenantDenoBinary(), {
      args: ["run", "--no-lock", join(root, "warm.ts")],
      env: { DENO_DIR: cache, DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    assert.ok(loaded.success);
    const db = new DatabaseSync(join(cache, "dep_analysis_cache_v2"), { readOnly: true });
    const denoVersion = String(
      db.prepare("SELECT value FROM info WHERE key = 'CLI_VERSION'").get()?.value,
    );
    const seed = (version: string): ModuleSeed => ({
      denoVersion: version,
      modules: [{
        specifier: "file:///app/main.ts",
        mediaType: 5,
        sourceHash: "-1234567890123456789",
        moduleInfo: "{}",
      }],
    });
    const plantedHash = () => {
      const select = db.prepare("SELECT source_hash FROM moduleinfocache WHERE specifier = ?");
      select.setReadBigInts(true);
      return select.get("file:///app/main.ts")?.source_hash;
    };

    const bed = SeedBed.open(cache);
    assert.ok(bed);
    assert.equal(bed.plant(seed("0.0.1")), false, "another Deno's entries are not planted");
    assert.equal(plantedHash(), undefined);
    assert.equal(bed.plant(seed(denoVersion)), true);
    bed.close();
    assert.equal(plantedHash(), -1234567890123456789n, "planted under the same version");
    db.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a harvest keeps only the deployment's own modules, appears whole or not at all, never brings a deleted deployment's directory back, and never throws", async () => {
  const root = await Deno.makeTempDir({ prefix: "dt-seed-harvest-" });
  try {
    // A Deno cache laid out as Deno 2 leaves it: the module info table and the emitted code.
    const cache = join(root, "cache");
    await Deno.mkdir(join(cache, "gen/file/app/lib"), { recursive: true });
    await Deno.writeTextFile(join(cache, "gen/file/app/main.ts.js"), "export default {};");
    await Deno.writeTextFile(join(cache, "gen/file/app/lib/greet.ts.js"), "export {};");
    const db = new DatabaseSync(join(cache, "dep_analysis_cache_v2"));
    db.exec(`CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE moduleinfocache (specifier TEXT PRIMARY KEY, media_type INTEGER NOT NULL,
        source_hash INTEGER NOT NULL, module_info TEXT NOT NULL);
      INSERT INTO info VALUES ('CLI_VERSION', '2.9.6');`);
    const insert = db.prepare("INSERT INTO moduleinfocache VALUES (?, 5, ?, '{}')");
    insert.run("file:///app/main.ts", -1234567890123456789n);
    insert.run("file:///app/lib/greet.ts", 42);
    insert.run("file:///deno/warm.ts", 7);
    db.close();

    assert.equal(harvestModuleSeed(join(root, "nowhere"), join(root, "none")), false);
    assert.equal(exists(join(root, "none")), false);

    const seedDir = join(root, "seed");
    // What a harvest killed mid-way left.
    await Deno.mkdir(join(root, "seed.tmp/gen"), { recursive: true });
    assert.equal(harvestModuleSeed(cache, seedDir), true);
    const seed = readModuleSeed(seedDir);
    assert.ok(seed);
    assert.equal(seed.denoVersion, "2.9.6");
    assert.deepEqual(
      seed.modules.map((m) => [m.specifier, m.sourceHash]).sort(),
      [["file:///app/lib/greet.ts", "42"], ["file:///app/main.ts", "-1234567890123456789"]],
      "the deployment's modules only, hashes exact",
    );
    assert.equal(
      (await Deno.stat(join(seedDir, "gen/lib/greet.ts.js"))).ino,
      (await Deno.stat(join(cache, "gen/file/app/lib/greet.ts.js"))).ino,
    );

    // Its deployment deleted meanwhile: its directory does not come back.
    assert.equal(harvestModuleSeed(cache, join(root, "deleted", "module_seed")), false);
    assert.equal(exists(join(root, "deleted")), false);

    // Nowhere to write it (a file where its directory would be): no seed, and no throw.
    await Deno.writeTextFile(join(root, "file"), "");
    assert.equal(harvestModuleSeed(cache, join(root, "file", "seed")), false);

    // A second harvest (another process of the deployment) finds it there: nothing changes.
    assert.equal(harvestModuleSeed(cache, seedDir), false);
    assert.deepEqual(
      [...Deno.readDirSync(root)].map((entry) => entry.name).sort(),
      ["cache", "file", "seed"],
      "no half-made seed left behind",
    );
    assert.deepEqual(readModuleSeed(seedDir), seed);

    await Deno.writeTextFile(join(seedDir, "modules.json"), "{not json");
    assert.equal(readModuleSeed(seedDir), undefined, "an unreadable seed is no seed");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
