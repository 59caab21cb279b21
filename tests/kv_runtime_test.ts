/**
 * The KV binding in the runtime: the sandbox flags for a bound database, and real tenant
 * processes where `Deno.openKv()` opens the bound database and nothing else.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runnableDeployment } from "../host/build/builder.ts";
import { deploymentDirs, kvDatabaseDir, Runtime } from "../host/tenant/runtime.ts";
import {
  detectIsolation,
  type Isolation,
  KV_FILE_NAME,
  tenantCommand,
  tenantDenoBinary,
  type TenantSpec,
} from "../host/tenant/sandbox.ts";
import type { DeploymentRecord } from "../host/store/store.ts";
import { TENANT_SPEC } from "./helpers/tenant_spec.ts";
import { tenantGet } from "./helpers/tenant_fetch.ts";

const bootstrap = fileURLToPath(new URL("../host/tenant/bootstrap.js", import.meta.url));
const DB = "5b484959-cba2-482d-95ab-ba592784af80";

const SPEC: TenantSpec = { ...TENANT_SPEC, envVars: { A: "1" } };

function flag(args: string[], name: string): string | undefined {
  return args.find((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1);
}

Deno.test("tenantCommand binds the database directory read-write at /kv, and only it", () => {
  const bwrap: Isolation = { kind: "bwrap", bwrap: "/usr/bin/bwrap" };
  const { args, env } = tenantCommand({ ...SPEC, kvDir: `/data/kv/${DB}` }, bwrap);
  const bind = args.indexOf(`/data/kv/${DB}`);
  assert.deepEqual(args.slice(bind - 1, bind + 2), ["--bind", `/data/kv/${DB}`, "/kv"]);
  // The directory is mounted (SQLite keeps -wal and -shm beside the file); Deno opens the file.
  assert.equal(flag(args, "--allow-read"), `/app,/run/deployment,/kv/${KV_FILE_NAME}`);
  assert.equal(flag(args, "--allow-write"), `/run/deployment/http.sock,/kv/${KV_FILE_NAME}`);
  assert.equal(env.DENO_DEPLOYMENT_KV_PATH, `/kv/${KV_FILE_NAME}`);

  const unbound = tenantCommand(SPEC, bwrap);
  assert.ok(!unbound.args.includes("/kv"));
  assert.equal(flag(unbound.args, "--allow-read"), "/app,/run/deployment");
  assert.equal(flag(unbound.args, "--allow-write"), "/run/deployment/http.sock");
  assert.equal(unbound.env.DENO_DEPLOYMENT_KV_PATH, undefined);
});

Deno.test("tenantCommand without a sandbox grants the database's real directory", () => {
  const none: Isolation = { kind: "none", reason: "test", accepted: true };
  const { args, env } = tenantCommand({ ...SPEC, kvDir: `/data/kv/${DB}` }, none);
  const file = `/data/kv/${DB}/${KV_FILE_NAME}`;
  assert.equal(flag(args, "--allow-read"), `${SPEC.appDir},${SPEC.runDir},${file}`);
  assert.equal(flag(args, "--allow-write"), `${SPEC.runDir}/http.sock,${file}`);
  assert.equal(env.DENO_DEPLOYMENT_KV_PATH, `/data/kv/${DB}/${KV_FILE_NAME}`);
});

Deno.test("runnableDeployment passes databases.default as the KV binding", async () => {
  const appDir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(appDir, "main.ts"), "");
    const record = {
      id: "abcde12vwxyz",
      entryPointUrl: "main.ts",
      envVars: {},
      databases: { default: DB },
      importMapUrl: null,
      lockFileUrl: null,
      compilerOptions: null,
      permissions: null,
    } as unknown as DeploymentRecord;
    assert.equal(runnableDeployment(record, appDir).kvDatabaseId, DB);
    assert.equal(runnableDeployment({ ...record, databases: {} }, appDir).kvDatabaseId, null);
  } finally {
    await Deno.remove(appDir, { recursive: true });
  }
});

// ---- real tenants, under the OS sandbox (when there is one) and without it ----

const detected = await detectIsolation();
const ISOLATIONS: Isolation[] = [
  ...(detected.kind === "bwrap" ? [detected] : []),
  { kind: "none", reason: "testing Deno's permissions alone", accepted: true },
];

/** A tenant reporting what each KV attempt did. */
const KV_APP = `
const attempts = {
  count: async () => {
    const kv = await Deno.openKv();
    await kv.atomic().sum(["hits"], 1n).commit();
    return String((await kv.get(["hits"])).value);
  },
  openPath: () => Deno.openKv("/tmp/x"),
  openMemory: () => Deno.openKv(":memory:"),
  openOwnFileByPath: () => Deno.openKv("/kv/kv.sqlite3"),
  readOtherDb: () => Deno.readFile(Deno.env.get("OTHER_DB")),
  fill: async () => {
    const kv = await Deno.openKv();
    const value = new Uint8Array(60_000);
    let i = 0;
    try {
      for (; i < 1_000; i++) await kv.set(["fill", i], value);
    } catch (error) {
      const kept = (await kv.get(["fill", 0])).value?.length;
      return \`full after \${i}, the first entry \${kept} bytes: \${error.message}\`;
    }
    return "never full";
  },
};
Deno.serve(async (request) => {
  const name = new URL(request.url).pathname.slice(1);
  try {
    return new Response("ok " + await attempts[name]());
  } catch (error) {
    return new Response("refused " + error.message);
  }
});
`;

async function withRuntime(
  isolation: Isolation,
  fn: (runtime: Runtime, root: string) => Promise<void>,
  kvMaxBytes?: number,
) {
  const root = await Deno.makeTempDir({ prefix: "dt-kv-" });
  const runtime = new Runtime({
    isolation,
    deploymentsDir: join(root, "deployments"),
    kvDir: join(root, "kv"),
    kvMaxBytes,
    bootstrap,
    deno: tenantDenoBinary(),
  });
  try {
    await fn(runtime, root);
  } finally {
    await runtime.stopAll();
    await Deno.remove(root, { recursive: true });
  }
}

async function startTenant(runtime: Runtime, root: string, id: string, db: string | null) {
  const { app } = deploymentDirs(join(root, "deployments"), id);
  await Deno.mkdir(app, { recursive: true });
  await Deno.writeTextFile(join(app, "main.ts"), KV_APP);
  const otherDb = join(kvDatabaseDir(join(root, "kv"), crypto.randomUUID()), KV_FILE_NAME);
  await Deno.mkdir(join(otherDb, ".."), { recursive: true });
  await Deno.writeTextFile(otherDb, "another tenant's data");
  const instance = await runtime.ensure({
    id,
    entrypoint: "main.ts",
    envVars: { OTHER_DB: otherDb },
    kvDatabaseId: db,
    denoFlags: [],
  });
  return async (attempt: string) => {
    const response = await tenantGet(instance.client, `/${attempt}`);
    return await response.text();
  };
}

for (const isolation of ISOLATIONS) {
  Deno.test(`[${isolation.kind}] a bound tenant's Deno.openKv() opens its database, which outlives the process`, () =>
    withRuntime(isolation, async (runtime, root) => {
      let call = await startTenant(runtime, root, "kvtenant0001", DB);
      assert.equal(await call("count"), "ok 1");
      assert.equal(await call("count"), "ok 2");
      await runtime.stop("kvtenant0001");

      call = await startTenant(runtime, root, "kvtenant0001", DB);
      assert.equal(await call("count"), "ok 3", "the data survived a restart");
      const files = await Array.fromAsync(Deno.readDir(kvDatabaseDir(join(root, "kv"), DB)));
      assert.ok(files.some((file) => file.name === KV_FILE_NAME), JSON.stringify(files));

      const other = await startTenant(runtime, root, "kvtenant0002", DB);
      assert.equal(await other("count"), "ok 4", "a second deployment shares the database");
      assert.equal(await call("count"), "ok 5");
    }));

  Deno.test(`[${isolation.kind}] a tenant can open no other database, and an unbound one none at all`, () =>
    withRuntime(isolation, async (runtime, root) => {
      const bound = await startTenant(runtime, root, "kvtenant0003", DB);
      for (const attempt of ["openPath", "openMemory", "openOwnFileByPath"]) {
        assert.equal(await bound(attempt), "refused Non-default databases are not supported");
      }
      assert.match(await bound("readOtherDb"), /^refused .*(Requires read access|No such file)/);

      const unbound = await startTenant(runtime, root, "kvtenant0004", null);
      assert.equal(await unbound("count"), "refused Default database is not available");
      assert.equal(await unbound("openPath"), "refused Non-default databases are not supported");
      assert.match(await unbound("readOtherDb"), /^refused .*(Requires read access|No such file)/);
    }));

  Deno.test(`[${isolation.kind}] a KV database stops growing at its size limit; its data stays, the tenant serves on`, () =>
    withRuntime(isolation, async (runtime, root) => {
      const call = await startTenant(runtime, root, "kvtenant0005", DB);
      const filled = await call("fill");
      assert.match(
        filled,
        /^ok full after \d+, the first entry 60000 bytes: .*the KV database is at its size limit \(4 MiB\)/,
      );
      for await (const file of Deno.readDir(kvDatabaseDir(join(root, "kv"), DB))) {
        const { size } = await Deno.stat(join(kvDatabaseDir(join(root, "kv"), DB), file.name));
        assert.ok(size <= 4 * 1024 ** 2, `${file.name} grew to ${size} bytes`);
      }
      assert.match(await call("count"), /^(ok 1|refused .*size limit)/, "it still answers");
    }, 4 * 1024 ** 2));
}

Deno.test("tenantCommand holds every file a tenant writes to a size: its KV database's, or the cache's cap", () => {
  const bwrap: Isolation = { kind: "bwrap", bwrap: "/usr/bin/bwrap" };
  const none: Isolation = { kind: "none", reason: "test", accepted: true };
  for (const isolation of [bwrap, none]) {
    const bound = tenantCommand(
      { ...SPEC, kvDir: `/data/kv/${DB}`, kvMaxBytes: 2 ** 30 },
      isolation,
    );
    assert.equal(bound.command, "/bin/sh");
    assert.match(bound.args[1], /^ulimit -f 2097152 2>\/dev\/null; trap '' XFSZ && /);
    const unbound = tenantCommand(SPEC, isolation);
    assert.match(unbound.args[1], /^ulimit -f 524288 2>\/dev\/null; trap '' XFSZ && /, "256 MiB");
    const capped = tenantCommand({ ...SPEC, cacheFileBytes: 16 * 2 ** 20 }, isolation);
    assert.match(capped.args[1], /^ulimit -f 32768 /, "the runtime's cache cap");
  }
});
