/**
 * `kv.watch()` sees every write to the database, as on Deno Deploy, where a database is one
 * store for every deployment bound to it: here each deployment is a process of its own over
 * one SQLite file, and Deno's local KV wakes a watcher only for writes made in its own process.
 */
import assert from "node:assert/strict";
import { rawGet } from "./helpers/raw_http.ts";
import { deployModule, ok, startApiHost } from "./helpers/api_host.ts";

/** Watches `["status"]` from its start; `/` answers every value seen so far, `/?v=x` sets x. */
const WATCHER = `const kv = await Deno.openKv();
const seen = [];
(async () => {
  for await (const [entry] of kv.watch([["status"]])) seen.push(entry.value);
})();
Deno.serve(async (request) => {
  const value = new URL(request.url).searchParams.get("v");
  if (value) await kv.set(["status"], value);
  return Response.json(seen);
});
`;

/** `/?v=x` sets `["status"]` to x. */
const WRITER = `const kv = await Deno.openKv();
Deno.serve(async (request) => {
  await kv.set(["status"], new URL(request.url).searchParams.get("v"));
  return new Response("set");
});
`;

Deno.test("kv.watch() in one deployment sees a write another deployment bound to the database made", async () => {
  await using api = await startApiHost();
  const database = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/databases`, {
    json: { description: "shared" },
  });
  const bound = { databases: { default: String(database.id) } };
  const watcher = await deployModule(api, "kv-watcher", WATCHER, bound);
  const writer = await deployModule(api, "kv-writer", WRITER, bound);
  const port = api.host.port;
  const seen = async () => JSON.parse((await rawGet(port, watcher.host)).body);
  assert.deepEqual(await seen(), [null]);

  assert.equal((await rawGet(port, writer.host, "/?v=ready")).body, "set");
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && (await seen()).length < 2) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(await seen(), [null, "ready"]);

  // Its own write is seen at once, and once.
  await rawGet(port, watcher.host, "/?v=own");
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  assert.deepEqual(await seen(), [null, "ready", "own"]);
});
