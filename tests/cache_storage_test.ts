/**
 * The Cache API (and localStorage) a deployment uses without any permission: Deno keeps them under
 * its `DENO_DIR` (`location_data`), which is the deployment's cache dir on the host's disk. They
 * are capped, best-effort as on Deploy: past the cap an entry is not kept, and the API still works.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";
import { invoke } from "../lib/invoke.ts";
import { CACHE_STORAGE_BYTES, detectIsolation } from "../host/tenant/sandbox.ts";

const sandboxed = (await detectIsolation()).kind === "bwrap";

const MAIN = `
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const cache = await caches.open("fill");
    if (url.pathname === "/fill") {
      const mb = Number(url.searchParams.get("mb"));
      const chunk = new Uint8Array(8 * 1024 * 1024).fill(65);
      for (let i = 0; i < mb / 8; i++) await cache.put("https://example.com/" + i, new Response(chunk));
      return new Response("stored");
    }
    await cache.put("https://example.com/small", new Response("kept"));
    const hit = await cache.match("https://example.com/small");
    return new Response(hit ? await hit.text() : "miss");
  },
};
`;

function duBytes(dir: string): number {
  const out = new Deno.Command("du", { args: ["-sb", dir] }).outputSync();
  return Number(new TextDecoder().decode(out.stdout).split("\t")[0]);
}

Deno.test({
  name:
    "the Cache API cannot fill the host's disk: entries past the cap are dropped, and it still works",
  ignore: !sandboxed,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using api = await startApiHost({ frontProxy: false });
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "cachefill" },
  });
  const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: { "main.ts": { kind: "file", content: MAIN, encoding: "utf-8" } },
    },
  });
  assert.equal(await waitForBuild(api, String(deployment.id)), "success");
  const url = `http://cachefill-${deployment.id}.localhost:${api.host.port}`;
  const call = async (path: string) => {
    const response = await invoke(url + path, {}, { timeoutMs: 60_000 });
    return { status: response.status, text: await response.text() };
  };
  assert.deepEqual(await call("/"), { status: 200, text: "kept" });
  const dataDir = api.host.dataDir;
  const before = duBytes(dataDir);
  const filled = await call("/fill?mb=160");
  assert.deepEqual(
    filled,
    { status: 200, text: "stored" },
    "a put past the cap is dropped, not an error",
  );
  const grown = duBytes(dataDir) - before;
  assert.ok(
    grown < 16 * 1024 * 1024,
    `160 MiB of cache.put() grew its deployment's files by ${(grown / 1048576).toFixed(1)} MiB`,
  );
  assert.ok(CACHE_STORAGE_BYTES < 160 * 1024 * 1024);
  // Still usable once full: a small entry is kept or dropped, never an error.
  const after = await call("/");
  assert.equal(after.status, 200, after.text);
  assert.ok(after.text === "kept" || after.text === "miss", after.text);
});

/** Imports `n` TypeScript modules of `kb` kB it makes at run time, as `data:` and `blob:` URLs. */
const MODULE_MAKER = `
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n"));
    const pad = "x".repeat(Number(url.searchParams.get("kb")) * 1024);
    for (let i = 0; i < n; i++) {
      const source = "const s: string = " + JSON.stringify(Math.random() + pad) + "; export default s;";
      await import(i % 2
        ? "data:application/typescript;base64," + btoa(source)
        : URL.createObjectURL(new Blob([source], { type: "application/typescript" })));
    }
    return new Response("imported " + n);
  },
};
`;

function fileCount(dir: string): number {
  const out = new Deno.Command("find", { args: [dir] }).outputSync();
  return new TextDecoder().decode(out.stdout).trim().split("\n").length;
}

Deno.test({
  name: "modules a tenant makes at run time cannot fill the host's disk with Deno's caches",
  ignore: !sandboxed,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const cap = 16 * 1024 * 1024;
  await using api = await startApiHost({ frontProxy: false, cacheDatabaseBytes: cap });
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "modulemaker" },
  });
  const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: { "main.ts": { kind: "file", content: MODULE_MAKER, encoding: "utf-8" } },
    },
  });
  assert.equal(await waitForBuild(api, String(deployment.id)), "success");
  const url = `http://modulemaker-${deployment.id}.localhost:${api.host.port}`;
  const call = async (path: string) => {
    const response = await invoke(url + path, {}, { timeoutMs: 60_000 });
    return { status: response.status, text: await response.text() };
  };
  assert.deepEqual(await call("/?n=0&kb=0"), { status: 200, text: "imported 0" });
  // The deployments' own files (the warm pool's runtimes come and go beside them).
  const dataDir = join(api.host.dataDir, "deployments");
  const [bytes, files] = [duBytes(dataDir), fileCount(dataDir)];
  for (let round = 0; round < 2; round++) {
    assert.deepEqual(await call("/?n=120&kb=50"), { status: 200, text: "imported 120" });
  }
  assert.deepEqual(await call("/?n=0&kb=0"), { status: 200, text: "imported 0" });
  const grown = duBytes(dataDir) - bytes;
  const made = fileCount(dataDir) - files;
  assert.ok(
    grown < cap + 8 * 1024 * 1024 && made < 20,
    `240 imports of modules made at run time grew its deployment's files by ` +
      `${(grown / 1048576).toFixed(1)} MiB and ${made} files`,
  );
});
