/**
 * Redeploy: the merge rules (notes A5) on their own, then `POST /deployments/{id}/redeploy`
 * and `GET /deployments/{id}/env_vars` through the real API app.
 */
import assert from "node:assert/strict";
import { newToken } from "../host/store/ids.ts";
import { merge, mergeRedeploy, type RedeploySettings } from "../host/api/v1/redeploy_body.ts";
import { RequestError } from "../host/api/validate.ts";
import type { Deployment } from "../lib/types.ts";
import { createKvDatabase } from "../host/store/kv_databases.ts";
import { type ApiApp, RecordingEngine, serveApi } from "./helpers/api_app.ts";

const DB_A = "5b484959-cba2-482d-95ab-ba592784af80";
const DB_B = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

const SOURCE: RedeploySettings = {
  envVars: { a: "alice", b: "bob", c: "charlie" },
  databases: { default: DB_A },
  description: "first",
  requestTimeout: 5000,
  permissions: { net: ["example.com"] },
};

function assertRefused(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof RequestError, String(error));
    assert.equal(error.status, 400);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("merge: a string sets a key, null deletes it (the spec's example)", () => {
  assert.deepEqual(
    merge({ a: "alice", b: "bob", c: "charlie" }, { a: "alice2", b: null, d: "david" }),
    { a: "alice2", c: "charlie", d: "david" },
  );
  assert.deepEqual(merge({ a: "1" }, { missing: null }), { a: "1" });
  // "__proto__" stays an ordinary key instead of touching the prototype.
  const odd = merge({}, JSON.parse('{"__proto__": "x"}'));
  assert.deepEqual(Object.keys(odd), ["__proto__"]);
  assert.equal(Object.getPrototypeOf(odd), Object.prototype);
});

Deno.test("mergeRedeploy: an empty request keeps every setting", () => {
  assert.deepEqual(mergeRedeploy(SOURCE, {}), SOURCE);
  assert.deepEqual(
    mergeRedeploy(SOURCE, {
      envVars: null,
      databases: null,
      description: null,
      requestTimeout: null,
      permissions: null,
    }),
    SOURCE,
  );
});

Deno.test("mergeRedeploy: envVars and the deprecated env_vars merge, envVars wins", () => {
  assert.deepEqual(
    mergeRedeploy(SOURCE, { envVars: { a: "alice2", b: null, d: "david" } }).envVars,
    { a: "alice2", c: "charlie", d: "david" },
  );
  assert.deepEqual(
    mergeRedeploy(SOURCE, { env_vars: { c: null, e: "eve" } }).envVars,
    { a: "alice", b: "bob", e: "eve" },
  );
  assert.deepEqual(
    mergeRedeploy(SOURCE, { env_vars: { a: "old", x: "1" }, envVars: { a: "new" } }).envVars,
    { a: "new", b: "bob", c: "charlie", x: "1" },
  );
});

Deno.test("mergeRedeploy: databases merge; null unbinds; only default, only UUIDs", () => {
  assert.deepEqual(mergeRedeploy(SOURCE, { databases: { default: DB_B } }).databases, {
    default: DB_B,
  });
  assert.deepEqual(mergeRedeploy(SOURCE, { databases: { default: null } }).databases, {});
  assert.deepEqual(mergeRedeploy(SOURCE, { databases: {} }).databases, { default: DB_A });
  assertRefused(
    () => mergeRedeploy(SOURCE, { databases: { analytics: DB_B } }),
    "invalidRequest",
    /"analytics" is not supported/,
  );
  assertRefused(
    () => mergeRedeploy(SOURCE, { databases: { other: null } }),
    "invalidRequest",
    /"other" is not supported/,
  );
  assertRefused(
    () => mergeRedeploy(SOURCE, { databases: { default: "not-a-uuid" } }),
    "invalidRequest",
    /not a UUID/,
  );
});

Deno.test("mergeRedeploy: description, requestTimeout and permissions.net replace", () => {
  const merged = mergeRedeploy(SOURCE, {
    description: "second",
    requestTimeout: 100,
    permissions: { net: [] },
  });
  assert.equal(merged.description, "second");
  assert.equal(merged.requestTimeout, 100);
  assert.deepEqual(merged.permissions, { net: [] });
  // `net` omitted: no change; `null`: no restriction any more.
  assert.deepEqual(mergeRedeploy(SOURCE, { permissions: {} }).permissions, SOURCE.permissions);
  assert.deepEqual(mergeRedeploy(SOURCE, { permissions: { net: null } }).permissions, {
    net: null,
  });
  assert.deepEqual(mergeRedeploy({ ...SOURCE, permissions: null }, {}).permissions, null);
});

Deno.test("mergeRedeploy: new env vars are checked as at creation", () => {
  assertRefused(
    () => mergeRedeploy(SOURCE, { envVars: { DENO_DEPLOYMENT_ID: "x" } }),
    "invalidEnvVar",
    /reserved/,
  );
  assertRefused(
    () => mergeRedeploy(SOURCE, { env_vars: { "1BAD": "x" } }),
    "invalidEnvVar",
    /Invalid environment variable name "1BAD"/,
  );
  assertRefused(
    () => mergeRedeploy(SOURCE, { envVars: { OK: "a\0b" } }),
    "invalidEnvVar",
    /NUL/,
  );
  // Deleting a name that could never be set is harmless.
  assert.deepEqual(mergeRedeploy(SOURCE, { envVars: { DENO_X: null } }).envVars, SOURCE.envVars);
});

// ---- through the API ----

interface TestApi extends ApiApp {
  engine: RecordingEngine;
  call(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
}

async function startApi(): Promise<TestApi> {
  const engine = new RecordingEngine();
  const served = await serveApi(engine);
  const { url, token } = served;
  return {
    ...served,
    engine,
    async call(method, path, body, as = token) {
      const response = await fetch(`${url}/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${as}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    },
  };
}

async function createDeployment(api: TestApi, extra: Record<string, unknown> = {}) {
  const project = await api.call("POST", `/organizations/${api.orgId}/projects`, {
    name: `hook-${api.engine.created.length}x`,
  });
  const created = await api.call("POST", `/projects/${project.body.id}/deployments`, {
    entryPointUrl: "main.ts",
    assets: {
      "main.ts": { kind: "file", content: "Deno.serve(() => new Response('hi'));" },
      "lib/util.ts": { kind: "file", content: "export const x = 1;" },
      "link.ts": { kind: "symlink", target: "main.ts" },
    },
    envVars: { KEEP: "1", CHANGE: "old", DROP: "x" },
    description: "v1",
    ...extra,
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  return created.body as unknown as Deployment;
}

Deno.test("POST /deployments/{id}/redeploy creates a new pending deployment, merged", async () => {
  await using api = await startApi();
  const source = await createDeployment(api, { requestTimeout: 2000 });

  const response = await api.call("POST", `/deployments/${source.id}/redeploy`, {
    envVars: { CHANGE: "new", DROP: null, ADDED: "yes" },
    description: "v2",
  });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const redeployed = response.body as unknown as Deployment;
  assert.notEqual(redeployed.id, source.id);
  assert.equal(redeployed.projectId, source.projectId);
  assert.equal(redeployed.status, "pending");
  assert.equal(redeployed.description, "v2");
  assert.equal(redeployed.requestTimeout, 2000);
  assert.deepEqual(api.engine.created, [source.id, redeployed.id], "the engine builds it");

  const record = api.store.getDeploymentRecord(redeployed.id)!;
  assert.deepEqual(record.envVars, { KEEP: "1", CHANGE: "new", ADDED: "yes" });
  assert.equal(record.entryPointUrl, "main.ts");
  assert.deepEqual(
    api.store.listDeploymentAssets(redeployed.id),
    api.store.listDeploymentAssets(source.id),
    "same files",
  );
  // The original is untouched.
  assert.deepEqual(api.store.getDeploymentRecord(source.id)!.envVars, {
    KEEP: "1",
    CHANGE: "old",
    DROP: "x",
  });

  const envVars = await api.call("GET", `/deployments/${redeployed.id}/env_vars`);
  assert.deepEqual(envVars, {
    status: 200,
    body: { envVars: { KEEP: "1", CHANGE: "new", ADDED: "yes" } },
  });
});

Deno.test("redeploy keeps the original's domains request, re-resolved for the new id", async () => {
  await using api = await startApi();
  const byDefault = await createDeployment(api);
  const again = await api.call("POST", `/deployments/${byDefault.id}/redeploy`, {});
  assert.equal(again.status, 200);
  assert.equal(api.store.getDeploymentRecord(String(again.body.id))!.domains, null);

  const custom = await createDeployment(api, {
    domains: ["{project.name}-{deployment.id}.localhost", "{project.name}.localhost"],
  });
  const redeployed = await api.call("POST", `/deployments/${custom.id}/redeploy`, {});
  const id = String(redeployed.body.id);
  const project = api.store.getDeploymentRecord(id)!.projectName;
  assert.deepEqual(api.store.getDeploymentRecord(id)!.domains, [
    `${project}-${id}.localhost`,
    `${project}.localhost`,
  ]);

  const none = await createDeployment(api, { domains: [] });
  const stillNone = await api.call("POST", `/deployments/${none.id}/redeploy`, {});
  assert.deepEqual(api.store.getDeploymentRecord(String(stillNone.body.id))!.domains, []);
});

Deno.test("redeploy refuses what create refuses, and unknown deployments", async () => {
  await using api = await startApi();
  const source = await createDeployment(api);
  const refused = async (body: unknown, status: number, code: string) => {
    const response = await api.call("POST", `/deployments/${source.id}/redeploy`, body);
    assert.equal(response.status, status, JSON.stringify(response.body));
    assert.equal(response.body.code, code, String(response.body.message));
    assert.deepEqual(Object.keys(response.body).sort(), ["code", "message"]);
  };
  await refused({ envVars: { DENO_REGION: "x" } }, 400, "invalidEnvVar");
  await refused({ envVars: { A: 1 } }, 400, "invalidRequest");
  await refused({ entryPointUrl: "other.ts" }, 400, "invalidRequest");
  await refused({ databases: { default: DB_A } }, 400, "databaseNotFound");
  await refused({ description: "x".repeat(1001) }, 400, "invalidRequest");
  await refused({ requestTimeout: 0 }, 400, "invalidRequest");
  // The merged variables are held to v2's bounds (512 KiB together), whatever each change adds.
  const big = Object.fromEntries(
    Array.from({ length: 9 }, (_, i) => [`V${i}`, "x".repeat(60_000)]),
  );
  await refused({ envVars: big }, 400, "invalidEnvVar");
  assert.deepEqual(api.engine.created, [source.id], "nothing was built");

  const missing = await api.call("POST", "/deployments/abcde12vwxyz/redeploy", {});
  assert.equal(missing.status, 404);
  assert.equal(missing.body.code, "deploymentNotFound");
  const missingEnv = await api.call("GET", "/deployments/abcde12vwxyz/env_vars");
  assert.equal(missingEnv.status, 404);
  assert.equal(missingEnv.body.code, "deploymentNotFound");

  // Another organization's deployment does not exist for it.
  const rival = api.store.createOrganization("globex");
  const rivalToken = newToken();
  api.store.setToken(rival.id, rivalToken);
  const stolen = await api.call("POST", `/deployments/${source.id}/redeploy`, {}, rivalToken);
  assert.equal(stolen.status, 404);
  const peek = await api.call("GET", `/deployments/${source.id}/env_vars`, undefined, rivalToken);
  assert.equal(peek.status, 404);
});

Deno.test("redeploy binds and unbinds the organization's databases only", async () => {
  await using api = await startApi();
  const source = await createDeployment(api);
  const db = await api.call("POST", `/organizations/${api.orgId}/databases`, {});
  const bound = await api.call("POST", `/deployments/${source.id}/redeploy`, {
    databases: { default: db.body.id },
  });
  assert.equal(bound.status, 200, JSON.stringify(bound.body));
  assert.deepEqual(bound.body.databases, { default: db.body.id });
  const unbound = await api.call("POST", `/deployments/${bound.body.id}/redeploy`, {
    databases: { default: null },
  });
  assert.deepEqual(unbound.body.databases, {});

  const rival = api.store.createOrganization("globex");
  const theirs = createKvDatabase(api.store, rival.id, "not yours");
  const refused = await api.call("POST", `/deployments/${source.id}/redeploy`, {
    databases: { default: theirs.id },
  });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.code, "databaseNotFound");
});
