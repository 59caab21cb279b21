/**
 * KV databases through the real API app: create, list (pages, `q`, sort), PATCH, binding at
 * deployment creation, and the organization boundary.
 */
import assert from "node:assert/strict";
import { newToken } from "../host/store/ids.ts";
import type { KvDatabase } from "../lib/types.ts";
import { createKvDatabase, getKvDatabase } from "../host/store/kv_databases.ts";
import { type ApiApp, RecordingEngine, serveApi } from "./helpers/api_app.ts";

const KV_KEYS = ["createdAt", "description", "id", "organizationId", "updatedAt"];

interface TestApi extends ApiApp {
  call(method: string, path: string, body?: unknown, token?: string): Promise<Response>;
}

async function startApi(): Promise<TestApi> {
  const served = await serveApi(new RecordingEngine());
  const { url, token } = served;
  return {
    ...served,
    call(method, path, body, as = token) {
      return fetch(`${url}/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${as}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    },
  };
}

async function ok<T>(response: Response): Promise<T> {
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body as T;
}

async function assertError(response: Response, status: number, code: string): Promise<void> {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.deepEqual(Object.keys(body).sort(), ["code", "message"]);
  assert.equal(body.code, code, body.message);
}

Deno.test("databases: create answers a KvDatabase; a null description is empty", async () => {
  await using api = await startApi();
  const path = `/organizations/${api.orgId}/databases`;
  const described = await ok<KvDatabase>(
    await api.call("POST", path, { description: "CRM state" }),
  );
  assert.deepEqual(Object.keys(described).sort(), KV_KEYS);
  assert.match(
    described.id,
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  assert.equal(described.organizationId, api.orgId);
  assert.equal(described.description, "CRM state");
  assert.match(described.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

  assert.equal((await ok<KvDatabase>(await api.call("POST", path, {}))).description, "");
  const nulled = await ok<KvDatabase>(await api.call("POST", path, { description: null }));
  assert.equal(nulled.description, "");

  await assertError(
    await api.call("POST", path, { description: "x".repeat(1001) }),
    400,
    "invalidRequest",
  );
  await assertError(await api.call("POST", path, { name: "nope" }), 400, "invalidRequest");
});

Deno.test("databases: list pages with Link, filters by id with q, sorts by created_at", async () => {
  await using api = await startApi();
  const path = `/organizations/${api.orgId}/databases`;
  const created: KvDatabase[] = [];
  for (let i = 0; i < 5; i++) {
    created.push(await ok(await api.call("POST", path, { description: `db ${i}` })));
  }

  const all = await ok<KvDatabase[]>(await api.call("GET", path));
  assert.deepEqual(all.map((d) => d.id), created.map((d) => d.id), "oldest first by default");

  const page = await api.call("GET", `${path}?limit=2&page=2`);
  assert.deepEqual((await ok<KvDatabase[]>(page)).map((d) => d.description), ["db 2", "db 3"]);
  const link = page.headers.get("link") ?? "";
  assert.match(link, /[?&]page=3>; rel="next"/);
  assert.match(link, /[?&]page=1>; rel="prev"/);
  assert.match(link, /[?&]page=3>; rel="last"/);

  const newest = await ok<KvDatabase[]>(
    await api.call("GET", `${path}?sort=created_at&order=desc&limit=1`),
  );
  assert.equal(newest[0].id, created[4].id);

  const byId = await ok<KvDatabase[]>(await api.call("GET", `${path}?q=${created[3].id}`));
  assert.deepEqual(byId.map((d) => d.id), [created[3].id]);

  await assertError(await api.call("GET", `${path}?sort=description`), 400, "invalidQuery");
});

Deno.test("databases: PATCH changes the description; null or absent leaves it", async () => {
  await using api = await startApi();
  const db = await ok<KvDatabase>(
    await api.call("POST", `/organizations/${api.orgId}/databases`, { description: "before" }),
  );
  const renamed = await ok<KvDatabase>(
    await api.call("PATCH", `/databases/${db.id}`, { description: "after" }),
  );
  assert.deepEqual(Object.keys(renamed).sort(), KV_KEYS);
  assert.equal(renamed.description, "after");
  assert.equal(renamed.createdAt, db.createdAt);
  assert.ok(renamed.updatedAt > db.updatedAt);

  const unchanged = await ok<KvDatabase>(
    await api.call("PATCH", `/databases/${db.id}`, { description: null }),
  );
  assert.equal(unchanged.description, "after");
  assert.equal(
    (await ok<KvDatabase>(await api.call("PATCH", `/databases/${db.id}`, {})))
      .description,
    "after",
  );

  await assertError(
    await api.call("PATCH", `/databases/${crypto.randomUUID()}`, { description: "x" }),
    404,
    "databaseNotFound",
  );
  await assertError(await api.call("PATCH", "/databases/not-a-uuid", {}), 404, "databaseNotFound");
});

Deno.test("databases: another organization sees none of them", async () => {
  await using api = await startApi();
  const db = await ok<KvDatabase>(
    await api.call("POST", `/organizations/${api.orgId}/databases`, {}),
  );
  const rival = api.store.createOrganization("globex");
  const rivalToken = newToken();
  api.store.setToken(rival.id, rivalToken);

  await assertError(
    await api.call("PATCH", `/databases/${db.id}`, { description: "mine" }, rivalToken),
    404,
    "databaseNotFound",
  );
  await assertError(
    await api.call("GET", `/organizations/${api.orgId}/databases`, undefined, rivalToken),
    404,
    "organizationNotFound",
  );
  assert.deepEqual(
    await ok(await api.call("GET", `/organizations/${rival.id}/databases`, undefined, rivalToken)),
    [],
  );
  assert.equal(getKvDatabase(api.store, db.id)?.description, "", "not renamed");
});

Deno.test("deployments may bind only a database of their own organization", async () => {
  await using api = await startApi();
  const project = await ok<{ id: string }>(
    await api.call("POST", `/organizations/${api.orgId}/projects`, { name: "kv-hook" }),
  );
  const deploy = (databases: Record<string, string>) =>
    api.call("POST", `/projects/${project.id}/deployments`, {
      entryPointUrl: "main.ts",
      assets: { "main.ts": { kind: "file", content: "Deno.serve(() => new Response(''));" } },
      envVars: {},
      databases,
    });

  const db = await ok<KvDatabase>(
    await api.call("POST", `/organizations/${api.orgId}/databases`, {}),
  );
  const bound = await ok<{ databases: Record<string, string> }>(await deploy({ default: db.id }));
  assert.deepEqual(bound.databases, { default: db.id });

  await assertError(await deploy({ default: crypto.randomUUID() }), 400, "databaseNotFound");
  const theirs = createKvDatabase(api.store, api.store.createOrganization("globex").id, "");
  await assertError(await deploy({ default: theirs.id }), 400, "databaseNotFound");
  await assertError(await deploy({ analytics: db.id }), 400, "invalidRequest");
});
