/**
 * Authentication and exposure of the host's API: every route refuses a missing, malformed
 * or wrong token and hides other organizations' resources; tokens are stored and compared
 * as hashes; the data dir and its secrets are private; the API listens on loopback.
 *
 * On constant time: `Store.organizationForToken` looks the token up by its SHA-256 and
 * compares the hashes with `timingSafeEqual`. The SQL index lookup itself compares bytes
 * of the hash, and may stop at the first difference — but what that could leak is a prefix
 * of a SHA-256, which an attacker cannot steer a guess towards (that would need preimages),
 * so the token stays secret. Timing is not asserted (tests never do); the test below checks
 * the property the argument rests on: only the hash is stored, and only the token (not its
 * hash) authenticates.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createApi } from "../host/api/mod.ts";
import { BlobStore } from "../host/store/blobs.ts";
import { newToken } from "../host/store/ids.ts";
import { Store } from "../host/store/store.ts";
import { createTelemetry } from "../host/tenant/telemetry.ts";
import {
  createResources,
  helloDeployment,
  ok,
  type Resources,
  startApiHost,
} from "./helpers/api_host.ts";

/** Served without a token. */
const PUBLIC_ROUTES = ["GET /health"];

/** The v2 routes (served at both /v2 and /api/v2); `own`: acting on the caller's organization. */
const V2_ROUTES: { route: string; body?: unknown; own?: boolean }[] = [
  { route: "GET /apps", own: true },
  { route: "POST /apps", body: { slug: "auth-v2-new" }, own: true },
  { route: "GET /apps/:app" },
  { route: "PATCH /apps/:app", body: { labels: { a: "b" } } },
  { route: "DELETE /apps/:app" },
  { route: "POST /apps/:app/deploy", body: { assets: { "main.ts": { content: "x" } } } },
  { route: "GET /apps/:app/revisions" },
  { route: "GET /apps/:app/timelines" },
  { route: "GET /apps/:app/logs" },
  { route: "GET /apps/:app/analytics" },
  { route: "GET /revisions/:id" },
  { route: "PATCH /revisions/:id", body: { retention: "auto" } },
  { route: "DELETE /revisions/:id" },
  { route: "POST /revisions/:id/cancel" },
  { route: "POST /revisions/:id/promote" },
  { route: "GET /revisions/:id/timelines" },
  { route: "GET /revisions/:id/progress" },
  { route: "GET /revisions/:id/build_logs" },
  { route: "PUT /revisions/:id/domains", body: { production: [] } },
  { route: "DELETE /revisions/:id/domains/:hostname" },
  { route: "GET /layers", own: true },
  { route: "POST /layers", body: { slug: "auth-v2-layer" }, own: true },
  { route: "GET /layers/:layer" },
  { route: "PATCH /layers/:layer", body: { description: "x" } },
  { route: "DELETE /layers/:layer" },
  { route: "GET /layers/:layer/apps" },
  { route: "GET /domains", own: true },
  { route: "POST /domains", body: { domain: "v2.auth.test" }, own: true },
  { route: "GET /domains/:domain" },
  { route: "DELETE /domains/:domain" },
  { route: "POST /domains/:domain/verify" },
  { route: "GET /domains/:domain/certificates" },
  { route: "POST /domains/:domain/certificates", body: { certificate: "c", private_key: "k" } },
  { route: "POST /domains/:domain/certificates/provision" },
];

/** Every authenticated route, with a body the route would accept where it takes one. */
const ROUTES: { route: string; body?: unknown; own?: boolean }[] = [
  { route: "GET /v1/organizations/:organizationId" },
  { route: "GET /v1/organizations/:organizationId/projects" },
  { route: "POST /v1/organizations/:organizationId/projects", body: { name: "auth-new" } },
  { route: "GET /v1/organizations/:organizationId/databases" },
  { route: "POST /v1/organizations/:organizationId/databases", body: { description: "x" } },
  { route: "GET /v1/organizations/:organizationId/domains" },
  { route: "POST /v1/organizations/:organizationId/domains", body: { domain: "new.auth.test" } },
  { route: "GET /v1/organizations/:organizationId/analytics" },
  { route: "GET /v1/projects/:projectId" },
  { route: "PATCH /v1/projects/:projectId", body: { description: "renamed" } },
  { route: "DELETE /v1/projects/:projectId" },
  { route: "GET /v1/projects/:projectId/deployments" },
  { route: "POST /v1/projects/:projectId/deployments", body: helloDeployment() },
  { route: "GET /v1/projects/:projectId/analytics" },
  { route: "GET /v1/deployments/:deploymentId" },
  { route: "DELETE /v1/deployments/:deploymentId" },
  { route: "GET /v1/deployments/:deploymentId/build_logs" },
  { route: "GET /v1/deployments/:deploymentId/app_logs" },
  { route: "GET /v1/deployments/:deploymentId/env_vars" },
  { route: "POST /v1/deployments/:deploymentId/redeploy", body: {} },
  { route: "PUT /v1/deployments/:deploymentId/domains/:domain" },
  { route: "DELETE /v1/deployments/:deploymentId/domains/:domain" },
  { route: "PATCH /v1/databases/:databaseId", body: { description: "x" } },
  { route: "POST /v1/databases/:databaseId/clear" },
  { route: "DELETE /v1/databases/:databaseId" },
  { route: "GET /v1/domains/:domainId" },
  { route: "PATCH /v1/domains/:domainId", body: { deploymentId: null } },
  { route: "DELETE /v1/domains/:domainId" },
  { route: "POST /v1/domains/:domainId/verify" },
  {
    route: "POST /v1/domains/:domainId/certificates",
    body: { privateKey: "key", certificateChain: "chain" },
  },
  { route: "POST /v1/domains/:domainId/certificates/provision" },
  ...["/v2", "/api/v2"].flatMap((prefix) =>
    V2_ROUTES.map((r) => {
      const [method, path] = r.route.split(" ");
      return { ...r, route: `${method} ${prefix}${path}` };
    })
  ),
];

/** The routes the host's API app registers, as `METHOD /path` (middleware left out). */
async function registeredRoutes(): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "api_auth_test_" });
  const store = Store.open(":memory:");
  const telemetry = createTelemetry(store);
  try {
    const engine = {
      baseDomain: "localhost",
      deploymentCreated() {},
      deploymentDeleted: () => Promise.resolve(),
    };
    // The same options startHost passes: app logs and usage add their routes.
    const app = createApi(store, new BlobStore(join(dir, "blobs")), engine, {
      appLogs: telemetry.appLogs,
      usage: telemetry.usage,
    });
    return app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`);
  } finally {
    telemetry.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function pathFor(route: string, resources: Resources): { method: string; path: string } {
  const [method, template] = route.split(" ");
  const values: Record<string, string> = {
    organizationId: resources.organizationId,
    projectId: resources.projectId,
    deploymentId: resources.deploymentId,
    databaseId: resources.databaseId,
    domainId: resources.domainId,
    domain: resources.domain,
    app: resources.projectId,
    id: resources.deploymentId,
    layer: resources.layerId,
    hostname: `${resources.projectName}.localhost`,
  };
  const path = template.replace(/:(\w+)/g, (_, name) => {
    assert.ok(name in values, `no value for :${name} in ${route}`);
    return values[name];
  });
  return { method, path };
}

async function expectError(response: Response, status: number, code: string, what: string) {
  const text = await response.text();
  assert.equal(response.status, status, `${what}: ${text}`);
  const body = JSON.parse(text);
  assert.equal(body.code, code, `${what}: ${text}`);
  assert.ok(typeof body.message === "string" && body.message.length > 0, what);
}

Deno.test("the route table lists every route the API registers", async () => {
  const listed = [...PUBLIC_ROUTES, ...ROUTES.map((r) => r.route)].sort();
  assert.deepEqual(
    listed,
    (await registeredRoutes()).sort(),
    "a route was added or removed: list it in ROUTES (authenticated) or PUBLIC_ROUTES",
  );
});

Deno.test("API authentication and organization boundaries", async (t) => {
  await using api = await startApiHost();
  const own = await createResources(
    api,
    { id: api.host.organizationId, token: api.host.token },
    "own",
  );
  const other = api.createOrganization("other");

  await t.step("every route refuses a missing, malformed or wrong token with 401", async () => {
    const bad: [string, Record<string, string>][] = [
      ["no Authorization header", {}],
      ["Basic credentials", { authorization: `Basic ${btoa(`user:${api.host.token}`)}` }],
      ["the token without Bearer", { authorization: api.host.token }],
      ["Bearer without a token", { authorization: "Bearer" }],
      ["Bearer and blanks", { authorization: "Bearer   " }],
      ["a wrong token", { authorization: `Bearer ${newToken()}` }],
      ["a token with a character changed", {
        authorization: `Bearer ${api.host.token.slice(0, -1)}${
          api.host.token.endsWith("a") ? "b" : "a"
        }`,
      }],
      ["two tokens", { authorization: `Bearer ${api.host.token} ${api.host.token}` }],
    ];
    for (const { route, body } of ROUTES) {
      const { method, path } = pathFor(route, own);
      for (const [name, headers] of bad) {
        const response = await api.request(method, path, {
          token: null,
          headers: body === undefined
            ? headers
            : { ...headers, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const code = route.includes("/v2/") ? "UNAUTHORIZED" : "unauthorized";
        await expectError(response, 401, code, `${route} with ${name}`);
      }
    }
  });

  await t.step("another organization gets 404 for every route on our resources", async () => {
    for (const { route, body } of ROUTES.filter((r) => !r.own)) {
      const { method, path } = pathFor(route, own);
      const response = await api.request(method, path, { token: other.token, json: body });
      const expected = route.includes("/v2/domains")
        ? "DOMAIN_NOT_FOUND"
        : route.includes(":app")
        ? "APP_NOT_FOUND"
        : route.includes("/revisions/:id")
        ? "REVISION_NOT_FOUND"
        : route.includes(":layer")
        ? "LAYER_NOT_FOUND"
        : route.includes(":organizationId")
        ? "organizationNotFound"
        : route.includes(":projectId")
        ? "projectNotFound"
        : route.includes(":deploymentId")
        ? "deploymentNotFound"
        : route.includes(":databaseId")
        ? "databaseNotFound"
        : "domainNotFound";
      await expectError(response, 404, expected, `${route} as the other organization`);
    }
    // Nothing was changed or deleted on the way: our resources are as they were.
    const project = await ok(api, "GET", `/v1/projects/${own.projectId}`);
    assert.equal(project.description, "");
    const deployment = await ok(api, "GET", `/v1/deployments/${own.deploymentId}`);
    assert.equal(deployment.status, "success");
    const domain = await ok(api, "GET", `/v1/domains/${own.domainId}`);
    assert.equal(domain.domain, own.domain);
    const databases = await ok<{ id: string; description: string }[]>(
      api,
      "GET",
      `/v1/organizations/${own.organizationId}/databases`,
    );
    assert.deepEqual(databases.map((d) => [d.id, d.description]), [[own.databaseId, "own"]]);
    const projects = await ok<unknown[]>(
      api,
      "GET",
      `/v1/organizations/${own.organizationId}/projects`,
    );
    assert.equal(projects.length, 1);
    // And the other organization sees none of it in its own lists.
    const theirs = await ok<unknown[]>(api, "GET", `/v1/organizations/${other.id}/projects`, {
      token: other.token,
    });
    assert.deepEqual(theirs, []);
  });

  await t.step("our own token still works on the same routes", async () => {
    const response = await api.request("GET", `/v1/projects/${own.projectId}/deployments`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const created = await ok(api, "POST", `/v1/projects/${own.projectId}/deployments`, {
      json: helloDeployment("mine"),
    });
    assert.equal(created.projectId, own.projectId);
  });
});

Deno.test("tokens are stored as SHA-256 hashes and only the token itself authenticates", () => {
  const store = Store.open(":memory:");
  try {
    const organization = store.ensureOrganization("acme");
    const token = newToken();
    store.setToken(organization.id, token);
    const hash = createHash("sha256").update(token).digest("hex");

    const rows = store.database.prepare("SELECT * FROM tokens").all();
    assert.equal(rows.length, 1);
    const stored = Object.values(rows[0]).map(String);
    assert.ok(!stored.some((value) => value.includes(token)), "the token is not stored");
    assert.ok(stored.includes(hash), "its SHA-256 is");

    assert.equal(store.organizationForToken(token), organization.id);
    assert.equal(store.organizationForToken(hash), undefined, "the hash is no token");
    assert.equal(store.organizationForToken(token.slice(0, -1)), undefined);
    assert.equal(store.organizationForToken(`${token}x`), undefined);
    assert.equal(store.organizationForToken(token.toUpperCase()), undefined);
    assert.equal(store.organizationForToken(""), undefined);
  } finally {
    store.close();
  }
});

Deno.test("a host started with a new token no longer takes the old one", async () => {
  // Rotating a leaked token (host --token, DEPLOY_TENANT_HOST_TOKEN, or a new token file) added
  // the new token beside the old: the old one authenticated on, with no way to revoke it.
  const root = await Deno.makeTempDir({ prefix: "api_auth_test_" });
  const status = async (api: Awaited<ReturnType<typeof startApiHost>>, token: string) => {
    const statuses = [];
    for (const path of ["/v1/organizations/" + api.host.organizationId, "/v2/apps"]) {
      const response = await api.request("GET", path, { token });
      await response.body?.cancel();
      statuses.push(response.status);
    }
    return statuses;
  };
  try {
    const dataDir = join(root, "data");
    let first: string;
    {
      await using api = await startApiHost({ dataDir });
      first = api.host.token;
      assert.deepEqual(await status(api, first), [200, 200]);
    }
    const rotated = newToken();
    {
      await using api = await startApiHost({ dataDir, token: rotated });
      assert.deepEqual(await status(api, rotated), [200, 200]);
      assert.deepEqual(await status(api, first), [401, 401], "the token it was started without");
    }
    const written = newToken();
    await Deno.writeTextFile(join(dataDir, "token"), `${written}\n`);
    {
      await using api = await startApiHost({ dataDir });
      assert.deepEqual(await status(api, written), [200, 200]);
      assert.deepEqual(await status(api, rotated), [401, 401]);
      assert.deepEqual(await status(api, first), [401, 401]);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the data dir, host.json and the token file are private to the host's user", async () => {
  const root = await Deno.makeTempDir({ prefix: "api_auth_test_" });
  try {
    // A data dir and a token file someone made world-readable are tightened at start.
    const dataDir = join(root, "data");
    await Deno.mkdir(dataDir, { mode: 0o755 });
    await Deno.chmod(dataDir, 0o755);
    await Deno.writeTextFile(join(dataDir, "token"), `${newToken()}\n`, { mode: 0o644 });
    await Deno.chmod(join(dataDir, "token"), 0o644);
    await using api = await startApiHost({ dataDir });

    const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;
    assert.equal(await mode(dataDir), 0o700, "data dir");
    assert.equal(await mode(join(dataDir, "host.json")), 0o600, "host.json");
    assert.equal(await mode(join(dataDir, "token")), 0o600, "token file");
    // Everything else lives inside the 0700 data dir, so other users cannot reach it.
    const info = JSON.parse(await Deno.readTextFile(join(dataDir, "host.json")));
    assert.equal(info.token, api.host.token);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the API listens on loopback only unless told otherwise", async (t) => {
  await using api = await startApiHost();
  const info = JSON.parse(await Deno.readTextFile(join(api.host.dataDir, "host.json")));
  assert.equal(new URL(info.apiUrl).hostname, "127.0.0.1");
  assert.equal(new URL(api.host.apiUrl).hostname, "127.0.0.1");
  const health = await api.request("GET", "/health", { token: null });
  assert.equal(health.status, 200);
  await health.body?.cancel();

  // Only this machine's own addresses are tried; link-local ones need a scope and are skipped.
  const addresses = Deno.networkInterfaces()
    .map((i) => i.address)
    .filter((address) =>
      !address.startsWith("127.") && address !== "::1" && !address.startsWith("fe80:")
    );
  await t.step({
    name: `the API port is closed on this machine's other addresses (${addresses.length})`,
    ignore: addresses.length === 0,
    async fn() {
      for (const hostname of addresses) {
        await assert.rejects(
          Deno.connect({ hostname, port: api.host.port }),
          Deno.errors.ConnectionRefused,
          `${hostname}:${api.host.port} accepted a connection`,
        );
      }
    },
  });
});
