/**
 * What a deployment keeps in host.db besides its files and variables (a v2 revision's `config`
 * and labels, v1's compiler options, permissions, entry point and so on) is bounded in bytes, as
 * its variables and asset paths are: host.db is outside the storage quota.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, startApiHost } from "./helpers/api_host.ts";
import { MAX_SETTINGS_BYTES } from "../host/api/deployment_writes.ts";

const MAIN = {
  kind: "file",
  encoding: "utf-8",
  content: "export default { fetch: () => new Response('hi') };\n",
};

/** host.db's size with its write-ahead log, in bytes. */
async function storeBytes(dataDir: string): Promise<number> {
  let bytes = 0;
  for (const suffix of ["", "-wal"]) {
    bytes += await Deno.stat(join(dataDir, `host.db${suffix}`)).then((s) => s.size, () => 0);
  }
  return bytes;
}

Deno.test("a deployment's settings kept in host.db are bounded in bytes, v1 and v2", async () => {
  await using api = await startApiHost();
  const big = "x".repeat(8 * 1024 * 1024);
  await ok(api, "POST", "/v2/apps", { json: { slug: "bloat" } });
  const before = await storeBytes(api.host.dataDir);

  // v2: a config key the host keeps but does not act on (install commands are not run).
  const v2 = await api.request("POST", "/v2/apps/bloat/deploy", {
    json: {
      assets: { "main.ts": MAIN },
      config: { runtime: { type: "dynamic", entrypoint: "main.ts" }, install: big },
    },
  });
  const v2Body = await v2.json();
  assert.equal(v2.status, 400, JSON.stringify(v2Body).slice(0, 300));
  assert.equal(v2Body.code, "SETTINGS_TOO_LARGE");
  // Loose config keys count too.
  const loose = await api.request("POST", "/v2/apps/bloat/deploy", {
    json: { assets: { "main.ts": MAIN }, config: { anything: { nested: [big] } } },
  });
  assert.equal(loose.status, 400);
  await loose.body?.cancel();

  // v1: compiler options' strings.
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "bloat-v1" },
  });
  const v1 = await api.request("POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: { "main.ts": MAIN },
      compilerOptions: { jsx: "react-jsx", jsxImportSource: big },
    },
  });
  const v1Body = await v1.json();
  assert.equal(v1.status, 400, JSON.stringify(v1Body).slice(0, 300));
  assert.equal(v1Body.code, "settingsTooLarge");

  const grown = (await storeBytes(api.host.dataDir)) - before;
  assert.ok(grown < 2 * 1024 * 1024, `host.db grew by ${(grown / 1048576).toFixed(1)} MiB`);

  // What Deploy allows fits: 32 labels of 16 values of 256 characters, a usual config.
  const labels = Object.fromEntries(
    Array.from({ length: 32 }, (_, i) => [`label-${i}`, Array(16).fill("v".repeat(256))]),
  );
  await ok(api, "POST", "/v2/apps/bloat/deploy", {
    json: {
      assets: { "main.ts": MAIN },
      labels,
      config: { runtime: { type: "dynamic", entrypoint: "main.ts" }, install: "npm ci" },
    },
  });
  assert.ok(JSON.stringify(labels).length < MAX_SETTINGS_BYTES);
});
