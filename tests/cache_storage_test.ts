/**
 * The Cache API (and localStorage) a deployment uses without any permission: Deno keeps them under
 * its `DENO_DIR` (`location_data`), which is the deployment's cache dir on the host's disk. They
 * are capped, best-effort as on Deploy: past the cap an entry is not kept, and the API still works.
 */
import assert from "node:assert/strict";
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
    `160 MiB of cache.put() grew the host's data dir by ${(grown / 1048576).toFixed(1)} MiB`,
  );
  assert.ok(CACHE_STORAGE_BYTES < 160 * 1024 * 1024);
  // Still usable once full: a small entry is kept or dropped, never an error.
  const after = await call("/");
  assert.equal(after.status, 200, after.text);
  assert.ok(after.text === "kept" || after.text === "miss", after.text);
});
