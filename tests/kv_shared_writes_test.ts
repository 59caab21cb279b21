/**
 * Deployments bound to one database write to it at the same time without failing, as on Deno
 * Deploy: here each is a process over one SQLite file, and Deno's local KV gives up at once on
 * a write another process holds the lock for ("database is locked").
 */
import assert from "node:assert/strict";
import { rawGet } from "./helpers/raw_http.ts";
import { deployModule, ok, startApiHost } from "./helpers/api_host.ts";

/** 20 concurrent writers, 25 rounds each: a checked update, an atomic sum and a set. */
const WRITER = `const kv = await Deno.openKv();
Deno.serve(async () => {
  const errors = [];
  await Promise.all(Array.from({ length: 20 }, async (_, writer) => {
    for (let i = 0; i < 25; i++) {
      try {
        for (let done = false; !done;) {
          const entry = await kv.get(["checked"]);
          done = (await kv.atomic().check(entry).set(["checked"], (entry.value ?? 0) + 1).commit()).ok;
        }
        await kv.atomic().sum(["count"], 1n).commit();
        await kv.set(["seen", Deno.env.get("DENO_DEPLOYMENT_ID"), writer, i], true);
      } catch (error) {
        errors.push(error.message);
      }
    }
  }));
  return Response.json(errors);
});
`;

const READER = `const kv = await Deno.openKv();
Deno.serve(async () => Response.json({
  count: String((await kv.get(["count"])).value?.value),
  checked: (await kv.get(["checked"])).value,
}));
`;

Deno.test("two deployments bound to one database write to it at once: no write fails as locked", async () => {
  await using api = await startApiHost();
  const database = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/databases`, {
    json: { description: "shared" },
  });
  const bound = { databases: { default: String(database.id) } };
  const first = await deployModule(api, "kv-writer-a", WRITER, bound);
  const second = await deployModule(api, "kv-writer-b", WRITER, bound);
  const reader = await deployModule(api, "kv-reader", READER, bound);
  const port = api.host.port;
  const answers = await Promise.all([rawGet(port, first.host), rawGet(port, second.host)]);
  for (const answer of answers) {
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(JSON.parse(answer.body), []);
  }
  assert.deepEqual(JSON.parse((await rawGet(port, reader.host)).body), {
    count: "1000",
    checked: 1000,
  });
});
