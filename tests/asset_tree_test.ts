/**
 * The directories a deployment's asset paths imply are bounded, and checked in time linear in
 * the request: the host walked up every path one directory at a time, each step a new string of
 * up to 4 KiB hashed into a set, so a path 2 000 directories deep cost ~6 ms of the host's event
 * loop (API and, without HAProxy, every tenant's requests): a 40 MB request held it a minute.
 * And the build made every one of those directories on the host's disk (2 000 per asset, 100 000
 * assets allowed), outside every quota.
 */
import assert from "node:assert/strict";
import { ok, startApiHost } from "./helpers/api_host.ts";

/** A deployment body: `main.ts`, and `paths` as empty files. */
function body(paths: string[]) {
  const assets: Record<string, unknown> = {
    "main.ts": { kind: "file", content: `Deno.serve(() => new Response("up"));\n` },
  };
  for (const path of paths) assets[path] = { kind: "file", content: "" };
  return { entryPointUrl: "main.ts", envVars: {}, assets };
}

Deno.test("asset paths nested too deep, or implying too many directories, are refused at once", async () => {
  await using api = await startApiHost();
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "deep-tree" },
  });
  const create = async (paths: string[]) => {
    const started = performance.now();
    const response = await api.request("POST", `/v1/projects/${project.id}/deployments`, {
      json: body(paths),
    });
    return { response, ms: performance.now() - started };
  };

  // 200 paths of 4 000 bytes, each ~2 000 directories deep: 400 000 directories.
  const deep = Array.from({ length: 200 }, (_, i) => `d${i}/${"a/".repeat(1990)}f`);
  const refusedDeep = await create(deep);
  assert.equal(refusedDeep.response.status, 400);
  const error = await refusedDeep.response.json();
  assert.equal(error.code, "invalidAsset");
  assert.match(error.message, /deeper than 128 directories/);
  assert.ok(refusedDeep.ms < 1_000, `refused after ${refusedDeep.ms.toFixed(0)} ms`);

  // Within the depth, but over 100 000 directories in all (800 paths, 127 each).
  const wide = Array.from({ length: 800 }, (_, i) => `d${i}/${"b/".repeat(126)}f`);
  const refusedWide = await create(wide);
  assert.equal(refusedWide.response.status, 400);
  const wideError = await refusedWide.response.json();
  assert.equal(wideError.code, "tooManyDirectories");
  assert.ok(refusedWide.ms < 2_000, `refused after ${refusedWide.ms.toFixed(0)} ms`);

  // An ordinary tree is taken.
  const tree = Array.from({ length: 50 }, (_, i) => `src/lib/part${i % 5}/file${i}.ts`);
  const accepted = await create(tree);
  assert.equal(accepted.response.status, 200, await accepted.response.text());
});

Deno.test("a deployment's asset paths are bounded in bytes, as they are kept in host.db", async () => {
  await using api = await startApiHost();
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "long-paths" },
  });
  // 5 000 empty files (no stored bytes) in one directory chain of 15, each path 4 000 bytes:
  // 20 MB of paths, which host.db kept twice over (an 80 MB request grew it by 173 MiB).
  const dir = Array.from({ length: 15 }, (_, i) => String(i).padEnd(250, "x")).join("/");
  const paths = Array.from({ length: 5_000 }, (_, i) => `${dir}/${String(i).padEnd(200, "y")}`);
  const hostDb = () => {
    let bytes = 0;
    for (const entry of Deno.readDirSync(api.host.dataDir)) {
      if (entry.name.startsWith("host.db")) {
        bytes += Deno.statSync(`${api.host.dataDir}/${entry.name}`).size;
      }
    }
    return bytes;
  };
  const before = hostDb();
  const response = await api.request("POST", `/v1/projects/${project.id}/deployments`, {
    json: body(paths),
  });
  const error = await response.json();
  assert.equal(response.status, 400, JSON.stringify(error).slice(0, 200));
  assert.equal(error.code, "assetPathsTooLarge");
  assert.ok(hostDb() - before < 1048576, "nothing of it was written");
});
