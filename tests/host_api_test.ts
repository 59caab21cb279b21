import assert from "node:assert/strict";
import { newToken } from "../host/store/ids.ts";
import { gitSha1 } from "../lib/git_sha1.ts";
import { createCustomDomain, markCustomDomainVerified } from "../host/store/custom_domains.ts";
import { type ApiApp, RecordingEngine, serveApi } from "./helpers/api_app.ts";

const PROJECT_KEYS = ["createdAt", "description", "id", "name", "updatedAt"];
const DEPLOYMENT_KEYS = [
  "createdAt",
  "databases",
  "description",
  "domains",
  "id",
  "permissions",
  "projectId",
  "requestTimeout",
  "status",
  "updatedAt",
];

interface Host extends ApiApp {
  engine: RecordingEngine;
  /** fetch with the organization's token. */
  api(path: string, init?: RequestInit & { json?: unknown; token?: string }): Promise<Response>;
}

async function startHost(options: { maxBodyBytes?: number } = {}): Promise<Host> {
  const engine = new RecordingEngine();
  const served = await serveApi(engine, options);
  const { url, token } = served;
  return {
    ...served,
    engine,
    api(path, { json, token: as = token, ...init } = {}) {
      const headers = new Headers(init.headers);
      if (as) headers.set("authorization", `Bearer ${as}`);
      if (json !== undefined) headers.set("content-type", "application/json");
      return fetch(`${url}${path}`, {
        ...init,
        headers,
        body: json === undefined ? init.body : JSON.stringify(json),
      });
    },
  };
}

/** Reads the body and checks an error answer: status, `{code, message}` only, a trace id. */
async function assertError(response: Response, status: number, code: string): Promise<string> {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.deepEqual(Object.keys(body).sort(), ["code", "message"]);
  assert.equal(body.code, code, body.message);
  assert.match(response.headers.get("x-deno-ray") ?? "", /^[0-9a-f]{16}$/);
  return body.message;
}

async function createProject(host: Host, name: string | null = null) {
  const response = await host.api(`/v1/organizations/${host.orgId}/projects`, {
    method: "POST",
    json: { name },
  });
  assert.equal(response.status, 200);
  return await response.json();
}

const MAIN_TS = 'export default { fetch: () => new Response("hello") };\n';
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 255, 128]);

function deploymentBody(assets: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { entryPointUrl: "main.ts", envVars: {}, assets, ...extra };
}

function mainAsset() {
  return { "main.ts": { kind: "file", content: MAIN_TS, encoding: "utf-8" } };
}

async function deploy(host: Host, projectId: string, body: unknown): Promise<Response> {
  return await host.api(`/v1/projects/${projectId}/deployments`, { method: "POST", json: body });
}

function linkRels(response: Response): Record<string, string> {
  const rels: Record<string, string> = {};
  for (const part of (response.headers.get("link") ?? "").split(", ")) {
    const match = part.match(/^<([^>]+)>; rel="(\w+)"$/);
    assert.ok(match, `bad Link part: ${part}`);
    rels[match[2]] = match[1];
  }
  return rels;
}

Deno.test("GET /health answers without a token", async () => {
  await using host = await startHost();
  const response = await fetch(`${host.url}/health`);
  assert.deepEqual(await response.json(), { ok: true });
  assert.match(response.headers.get("x-deno-ray") ?? "", /^[0-9a-f]{16}$/);
});

Deno.test("/v1 needs a valid bearer token", async () => {
  await using host = await startHost();
  const path = `/v1/organizations/${host.orgId}`;
  assert.match(
    await assertError(await host.api(path, { token: "" }), 401, "unauthorized"),
    /Bearer/,
  );
  await assertError(await host.api(path, { token: newToken() }), 401, "unauthorized");
  await assertError(
    await fetch(`${host.url}${path}`, { headers: { authorization: `Basic ${host.token}` } }),
    401,
    "unauthorized",
  );
  const ok = await host.api(path);
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("GET /v1/organizations/{id} returns the token's organization only", async () => {
  await using host = await startHost();
  const response = await host.api(`/v1/organizations/${host.orgId}`);
  const org = await response.json();
  assert.deepEqual(Object.keys(org).sort(), ["createdAt", "id", "name", "updatedAt"]);
  assert.equal(org.id, host.orgId);
  assert.equal(org.name, "acme");
  assert.match(org.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

  const other = host.store.createOrganization("globex");
  await assertError(await host.api(`/v1/organizations/${other.id}`), 404, "organizationNotFound");
  await assertError(await host.api(`/v1/organizations/not-a-uuid`), 404, "organizationNotFound");
});

Deno.test("unknown routes, bad JSON and bugs answer {code, message}", async () => {
  await using host = await startHost();
  await assertError(await host.api("/v1/nothing-here"), 404, "notFound");
  await assertError(await fetch(`${host.url}/elsewhere`), 404, "notFound");
  await assertError(
    await host.api(`/v1/organizations/${host.orgId}/projects`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    }),
    400,
    "invalidJson",
  );
  await assertError(
    await host.api(`/v1/organizations/${host.orgId}/projects`, { method: "POST" }),
    400,
    "invalidJson",
  );

  const project = await createProject(host, "buggy");
  const created = await (await deploy(host, project.id, deploymentBody(mainAsset()))).json();
  host.engine.failDelete = true;
  const logged: unknown[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const response = await host.api(`/v1/deployments/${created.id}`, { method: "DELETE" });
    const ray = response.headers.get("x-deno-ray");
    const message = await assertError(response, 500, "internalServerError");
    assert.ok(message.includes(ray!), "the message quotes the trace id");
    assert.doesNotMatch(message, /engine exploded|\n\s+at /);
  } finally {
    console.error = consoleError;
  }
  assert.equal(logged.length, 1, "the bug is logged on the host");
});

Deno.test("projects: create, get, rename, describe, delete", async () => {
  await using host = await startHost();
  const created = await createProject(host, "lead-hook");
  assert.deepEqual(Object.keys(created).sort(), PROJECT_KEYS);
  assert.equal(created.name, "lead-hook");
  assert.equal(created.description, "");

  const fetched = await (await host.api(`/v1/projects/${created.id}`)).json();
  assert.deepEqual(fetched, created);

  const renamed = await (await host.api(`/v1/projects/${created.id}`, {
    method: "PATCH",
    json: { name: "crm-lead-hook", description: "Runs when a lead is captured" },
  })).json();
  assert.deepEqual(Object.keys(renamed).sort(), PROJECT_KEYS);
  assert.equal(renamed.name, "crm-lead-hook");
  assert.equal(renamed.description, "Runs when a lead is captured");
  assert.ok(renamed.updatedAt > created.updatedAt);

  const unchanged = await (await host.api(`/v1/projects/${created.id}`, {
    method: "PATCH",
    json: { name: null },
  })).json();
  assert.equal(unchanged.name, "crm-lead-hook");
  assert.equal(unchanged.description, "Runs when a lead is captured");

  const deleted = await host.api(`/v1/projects/${created.id}`, { method: "DELETE" });
  assert.equal(deleted.status, 200);
  assert.equal(await deleted.text(), "");
  await assertError(await host.api(`/v1/projects/${created.id}`), 404, "projectNotFound");
});

Deno.test("projects: a null or missing name gets a random valid name", async () => {
  await using host = await startHost();
  const named = await createProject(host, null);
  assert.match(named.name, /^[a-z]+-[a-z]+-\d\d$/);
  const response = await host.api(`/v1/organizations/${host.orgId}/projects`, {
    method: "POST",
    json: { description: "no name" },
  });
  const project = await response.json();
  assert.match(project.name, /^[a-z]+-[a-z]+-\d\d$/);
  assert.equal(project.description, "no name");
});

Deno.test("projects: invalid names are refused with the rule, taken names with 409", async () => {
  await using host = await startHost();
  const invalid = {
    "ab": "3 to 26",
    "a-name-that-is-much-too-long": "3 to 26",
    "Upper-case": "a-z, 0-9",
    "under_score": "a-z, 0-9",
    "-leading": "start or end",
    "trailing-": "start or end",
    "shop-abcdefgh": "8 characters",
    "shop-abcdefghijkl": "12 characters",
  };
  for (const [name, reason] of Object.entries(invalid)) {
    const response = await host.api(`/v1/organizations/${host.orgId}/projects`, {
      method: "POST",
      json: { name },
    });
    const message = await assertError(response, 400, "invalidProjectName");
    assert.ok(message.includes(reason), `${name}: ${message}`);
    assert.ok(message.includes("3 to 26 characters from a-z, 0-9 and -"), message);
  }
  // A first part of 8 or 12 characters is fine: only parts after a hyphen are restricted.
  await createProject(host, "abcdefgh-1");

  const taken = await createProject(host, "taken-name");
  await assertError(
    await host.api(`/v1/organizations/${host.orgId}/projects`, {
      method: "POST",
      json: { name: "taken-name" },
    }),
    409,
    "projectNameTaken",
  );
  const other = await createProject(host, "other-name");
  await assertError(
    await host.api(`/v1/projects/${other.id}`, { method: "PATCH", json: { name: taken.name } }),
    409,
    "projectNameTaken",
  );
  await assertError(
    await host.api(`/v1/projects/${other.id}`, { method: "PATCH", json: { name: "Bad" } }),
    400,
    "invalidProjectName",
  );
  await assertError(
    await host.api(`/v1/organizations/${host.orgId}/projects`, {
      method: "POST",
      json: { name: "described", description: "x".repeat(1001) },
    }),
    400,
    "invalidRequest",
  );
  const unknownField = await assertError(
    await host.api(`/v1/organizations/${host.orgId}/projects`, {
      method: "POST",
      json: { name: "fielded", colour: "red" },
    }),
    400,
    "invalidRequest",
  );
  assert.match(unknownField, /"colour"/);
});

Deno.test("projects: list pages with Link headers, filters with q, sorts", async () => {
  await using host = await startHost();
  for (const name of ["delta", "alpha", "echo", "charlie", "bravo"]) {
    await createProject(host, name);
  }
  const list = async (query: string) => {
    const response = await host.api(`/v1/organizations/${host.orgId}/projects${query}`);
    assert.equal(response.status, 200);
    const items = await response.json();
    for (const item of items) assert.deepEqual(Object.keys(item).sort(), PROJECT_KEYS);
    return { names: items.map((p: { name: string }) => p.name), links: linkRels(response) };
  };

  const all = await list("");
  assert.deepEqual(all.names, ["delta", "alpha", "echo", "charlie", "bravo"]); // updated_at asc

  const base = `${host.url}/v1/organizations/${host.orgId}/projects`;
  const first = await list("?limit=2&sort=name");
  assert.deepEqual(first.names, ["alpha", "bravo"]);
  assert.deepEqual(first.links, {
    next: `${base}?limit=2&sort=name&page=2`,
    first: `${base}?limit=2&sort=name&page=1`,
    last: `${base}?limit=2&sort=name&page=3`,
  });
  const middle = await list("?limit=2&sort=name&page=2");
  assert.deepEqual(middle.names, ["charlie", "delta"]);
  assert.equal(middle.links.prev, `${base}?limit=2&sort=name&page=1`);
  assert.equal(middle.links.next, `${base}?limit=2&sort=name&page=3`);
  const last = await list("?limit=2&sort=name&page=3");
  assert.deepEqual(last.names, ["echo"]);
  assert.equal(last.links.next, undefined);

  assert.deepEqual((await list("?sort=name&order=desc")).names, [
    "echo",
    "delta",
    "charlie",
    "bravo",
    "alpha",
  ]);
  assert.deepEqual((await list("?q=ha&sort=name")).names, ["alpha", "charlie"]);

  for (const bad of ["?limit=0", "?limit=101", "?page=0", "?page=x", "?sort=id", "?order=up"]) {
    await assertError(
      await host.api(`/v1/organizations/${host.orgId}/projects${bad}`),
      400,
      "invalidQuery",
    );
  }
});

Deno.test("deployments: create with utf-8, base64 and symlink assets stores the blobs", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  const response = await deploy(
    host,
    project.id,
    deploymentBody({
      ...mainAsset(),
      "images/logo.png": {
        kind: "file",
        content: btoa(String.fromCharCode(...PNG)),
        encoding: "base64",
      },
      "lib/util.ts": { kind: "file", content: "export const x = 1;\n" },
      "logo.png": { kind: "symlink", target: "images/logo.png" },
      "lib/logo.png": { kind: "symlink", target: "../images/logo.png" },
    }, {
      entryPointUrl: "./main.ts",
      envVars: { API_KEY: "secret", _private: "1" },
      description: "first",
      requestTimeout: 3000,
      permissions: { net: ["example.com"] },
    }),
  );
  assert.equal(response.status, 200);
  const deployment = await response.json();
  assert.deepEqual(Object.keys(deployment).sort(), DEPLOYMENT_KEYS);
  assert.match(deployment.id, /^[a-z0-9]{12}$/);
  assert.equal(deployment.projectId, project.id);
  assert.equal(deployment.status, "pending");
  assert.equal(deployment.domains, null);
  assert.deepEqual(deployment.databases, {});
  assert.equal(deployment.description, "first");
  assert.equal(deployment.requestTimeout, 3000);
  assert.deepEqual(deployment.permissions, { net: ["example.com"] });
  assert.deepEqual(host.engine.created, [deployment.id]);

  const mainSha = gitSha1(MAIN_TS);
  const pngSha = gitSha1(PNG);
  assert.deepEqual(await Deno.readFile(host.blobs.path(pngSha)), PNG);
  assert.equal(await Deno.readTextFile(host.blobs.path(mainSha)), MAIN_TS);
  assert.equal(await host.blobs.verify(gitSha1("export const x = 1;\n")), true);
  assert.deepEqual(host.store.listDeploymentAssets(deployment.id), [
    { path: "images/logo.png", kind: "file", gitSha1: pngSha },
    { path: "lib/logo.png", kind: "symlink", target: "images/logo.png" },
    { path: "lib/util.ts", kind: "file", gitSha1: gitSha1("export const x = 1;\n") },
    { path: "logo.png", kind: "symlink", target: "images/logo.png" },
    { path: "main.ts", kind: "file", gitSha1: mainSha },
  ]);
  const record = host.store.getDeploymentRecord(deployment.id)!;
  assert.equal(record.entryPointUrl, "main.ts");
  assert.deepEqual(record.envVars, { API_KEY: "secret", _private: "1" });

  assert.deepEqual(await (await host.api(`/v1/deployments/${deployment.id}`)).json(), deployment);
});

Deno.test("deployments: a second deployment reuses blobs by gitSha1", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  await (await deploy(host, project.id, deploymentBody(mainAsset()))).body?.cancel();
  const response = await deploy(
    host,
    project.id,
    deploymentBody({ "src/main.ts": { kind: "file", gitSha1: gitSha1(MAIN_TS).toUpperCase() } }, {
      entryPointUrl: "file:///src/src/main.ts",
    }),
  );
  assert.equal(response.status, 200);
  const { id } = await response.json();
  assert.deepEqual(host.store.listDeploymentAssets(id), [
    { path: "src/main.ts", kind: "file", gitSha1: gitSha1(MAIN_TS) },
  ]);
  assert.equal(host.store.getDeploymentRecord(id)?.entryPointUrl, "src/main.ts");
});

Deno.test("deployments: an unknown or another organization's gitSha1 is unknownGitSha1", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  const never = "0123456789abcdef0123456789abcdef01234567";
  const message = await assertError(
    await deploy(
      host,
      project.id,
      deploymentBody({ ...mainAsset(), "data/never.json": { kind: "file", gitSha1: never } }),
    ),
    400,
    "unknownGitSha1",
  );
  assert.match(message, /"data\/never\.json"/);
  assert.deepEqual(host.engine.created, []);

  // Another organization uploads a file; knowing its hash is not enough to read it.
  const rival = host.store.createOrganization("globex");
  const rivalToken = newToken();
  host.store.setToken(rival.id, rivalToken);
  const rivalProject = await (await host.api(`/v1/organizations/${rival.id}/projects`, {
    method: "POST",
    json: { name: "rival" },
    token: rivalToken,
  })).json();
  const secret = "export const secret = 42;\n";
  const rivalDeploy = await host.api(`/v1/projects/${rivalProject.id}/deployments`, {
    method: "POST",
    token: rivalToken,
    json: deploymentBody({ "main.ts": { kind: "file", content: secret } }),
  });
  assert.equal(rivalDeploy.status, 200);
  await rivalDeploy.body?.cancel();
  assert.equal(await host.blobs.has(gitSha1(secret)), true);

  const stolen = await assertError(
    await deploy(
      host,
      project.id,
      deploymentBody({ ...mainAsset(), "secret.ts": { kind: "file", gitSha1: gitSha1(secret) } }),
    ),
    400,
    "unknownGitSha1",
  );
  assert.match(stolen, /"secret\.ts"/);
});

Deno.test("deployments: invalid requests are refused naming what is wrong", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    [
      "invalid base64",
      deploymentBody({
        ...mainAsset(),
        "a.bin": { kind: "file", content: "@@@", encoding: "base64" },
      }),
      "invalidAsset",
      /"a\.bin".*base64/,
    ],
    [
      "base64 with whitespace",
      deploymentBody({
        ...mainAsset(),
        "b.bin": { kind: "file", content: "QQ==\n", encoding: "base64" },
      }),
      "invalidAsset",
      /"b\.bin"/,
    ],
    [
      "absolute path",
      deploymentBody({ ...mainAsset(), "/etc/x": { kind: "file", content: "" } }),
      "invalidAsset",
      /"\/etc\/x".*absolute/,
    ],
    [
      "parent segment",
      deploymentBody({ ...mainAsset(), "../x": { kind: "file", content: "" } }),
      "invalidAsset",
      /"\.\.\/x"/,
    ],
    [
      "dot segment",
      deploymentBody({ ...mainAsset(), "a/./x": { kind: "file", content: "" } }),
      "invalidAsset",
      /"a\/\.\/x"/,
    ],
    [
      "empty segment",
      deploymentBody({ ...mainAsset(), "a//x": { kind: "file", content: "" } }),
      "invalidAsset",
      /"a\/\/x"/,
    ],
    [
      "NUL",
      deploymentBody({ ...mainAsset(), "a\0b": { kind: "file", content: "" } }),
      "invalidAsset",
      /NUL/,
    ],
    [
      "backslash",
      deploymentBody({ ...mainAsset(), "a\\b": { kind: "file", content: "" } }),
      "invalidAsset",
      /backslash/,
    ],
    [
      "file and directory",
      deploymentBody({
        ...mainAsset(),
        "lib": { kind: "file", content: "" },
        "lib/x.ts": { kind: "file", content: "" },
      }),
      "invalidAsset",
      /"lib".*directory/,
    ],
    [
      "symlink to a missing asset",
      deploymentBody({ ...mainAsset(), "link": { kind: "symlink", target: "missing.ts" } }),
      "invalidAsset",
      /"link".*missing\.ts/,
    ],
    [
      "symlink escaping the root",
      deploymentBody({ ...mainAsset(), "link": { kind: "symlink", target: "../../etc/passwd" } }),
      "invalidAsset",
      /"link".*outside/,
    ],
    [
      "symlink loop",
      deploymentBody({
        ...mainAsset(),
        "a": { kind: "symlink", target: "b" },
        "b": { kind: "symlink", target: "a" },
      }),
      "invalidAsset",
      /loops/,
    ],
    ["no assets", deploymentBody({}), "invalidAsset", /at least one asset/],
    [
      "content and gitSha1",
      deploymentBody({ "main.ts": { kind: "file", content: "x", gitSha1: gitSha1("x") } }),
      "invalidAsset",
      /not both/,
    ],
    [
      "unknown field",
      { ...deploymentBody(mainAsset()), colour: "red" },
      "invalidRequest",
      /Unknown field "colour"/,
    ],
    [
      "unknown asset field",
      deploymentBody({ "main.ts": { kind: "file", content: "", mode: 755 } }),
      "invalidRequest",
      /assets\["main\.ts"\].*"mode"/,
    ],
    [
      "unknown asset kind",
      deploymentBody({ "main.ts": { kind: "dir" } }),
      "invalidRequest",
      /assets\["main\.ts"\]\.kind/,
    ],
    [
      "missing entry point",
      { assets: mainAsset(), envVars: {} },
      "invalidRequest",
      /entryPointUrl/,
    ],
    [
      "missing envVars",
      { assets: mainAsset(), entryPointUrl: "main.ts" },
      "invalidRequest",
      /envVars/,
    ],
    [
      "entry point not an asset",
      deploymentBody(mainAsset(), { entryPointUrl: "server.ts" }),
      "invalidEntryPoint",
      /"server\.ts"/,
    ],
    [
      "remote entry point",
      deploymentBody(mainAsset(), { entryPointUrl: "https://example.com/main.ts" }),
      "invalidEntryPoint",
      /example\.com/,
    ],
    [
      "reserved env var",
      deploymentBody(mainAsset(), { envVars: { DENO_DIR: "/x" } }),
      "invalidEnvVar",
      /"DENO_DIR".*reserved/,
    ],
    [
      "reserved LD_ env var",
      deploymentBody(mainAsset(), { envVars: { LD_PRELOAD: "/x.so" } }),
      "invalidEnvVar",
      /"LD_PRELOAD"/,
    ],
    [
      "invalid env name",
      deploymentBody(mainAsset(), { envVars: { "1BAD-NAME": "x" } }),
      "invalidEnvVar",
      /"1BAD-NAME"/,
    ],
    // v2's bounds: unbounded, one deployment's variables went into host.db outside every quota.
    [
      "too many env vars",
      deploymentBody(mainAsset(), {
        envVars: Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`V${i}`, "x"])),
      }),
      "invalidEnvVar",
      /At most 500 environment variables/,
    ],
    [
      "an env value over 64 Ki",
      deploymentBody(mainAsset(), { envVars: { BIG: "x".repeat(65_537) } }),
      "invalidEnvVar",
      /"BIG" is 65537 characters/,
    ],
    [
      "env vars over 512 KiB together",
      deploymentBody(mainAsset(), {
        envVars: Object.fromEntries(
          Array.from({ length: 9 }, (_, i) => [`V${i}`, "x".repeat(60_000)]),
        ),
      }),
      "invalidEnvVar",
      /at most 524288 per deployment/,
    ],
    [
      "non-string env value",
      deploymentBody(mainAsset(), { envVars: { PORT: 8000 } }),
      "invalidRequest",
      /envVars\.PORT/,
    ],
    [
      "other database",
      deploymentBody(mainAsset(), { databases: { cache: crypto.randomUUID() } }),
      "invalidRequest",
      /only the "default"/,
    ],
    [
      "net entry with comma",
      deploymentBody(mainAsset(), { permissions: { net: ["a.com,127.0.0.1"] } }),
      "invalidRequest",
      /permissions\.net\[0\]/,
    ],
    [
      "zero timeout",
      deploymentBody(mainAsset(), { requestTimeout: 0 }),
      "invalidRequest",
      /requestTimeout/,
    ],
    [
      "other tenant's base domain",
      deploymentBody(mainAsset(), { domains: ["victim.localhost"] }),
      "invalidDomain",
      /victim\.localhost/,
    ],
    [
      "unknown placeholder",
      deploymentBody(mainAsset(), { domains: ["{project.id}.example.com"] }),
      "invalidDomain",
      /\{project\.id\}/,
    ],
  ];
  for (const [name, body, code, pattern] of cases) {
    const message = await assertError(await deploy(host, project.id, body), 400, code);
    assert.match(message, pattern, `${name}: ${message}`);
  }
  assert.deepEqual(host.engine.created, []);
  assert.deepEqual(host.store.listDeploymentIds(project.id), []);
});

Deno.test("deployments: domains resolve placeholders; the project's own names only", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  // A custom name must be registered and verified first (tests/host_domains_test.ts).
  const custom = createCustomDomain(host.store, host.orgId, "hooks.example.com", "token");
  markCustomDomainVerified(host.store, custom.id);
  const response = await deploy(
    host,
    project.id,
    deploymentBody(mainAsset(), {
      domains: [
        "{project.name}.localhost",
        "{project.name}-{deployment.id}.localhost",
        "Hooks.Example.com",
      ],
    }),
  );
  const deployment = await response.json();
  assert.deepEqual(deployment.domains, [
    "lead-hook.localhost",
    `lead-hook-${deployment.id}.localhost`,
    "hooks.example.com",
  ]);
  const none = await (await deploy(host, project.id, deploymentBody(mainAsset(), { domains: [] })))
    .json();
  assert.deepEqual(none.domains, []);
});

Deno.test("deployments: another organization's project, or none, is 404", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  const created = await (await deploy(host, project.id, deploymentBody(mainAsset()))).json();

  const rival = host.store.createOrganization("globex");
  const rivalToken = newToken();
  host.store.setToken(rival.id, rivalToken);
  const as = { token: rivalToken };
  await assertError(await host.api(`/v1/projects/${project.id}`, as), 404, "projectNotFound");
  await assertError(
    await host.api(`/v1/projects/${project.id}`, {
      ...as,
      method: "PATCH",
      json: { name: "mine" },
    }),
    404,
    "projectNotFound",
  );
  await assertError(
    await host.api(`/v1/projects/${project.id}`, { ...as, method: "DELETE" }),
    404,
    "projectNotFound",
  );
  await assertError(
    await host.api(`/v1/projects/${project.id}/deployments`, {
      ...as,
      method: "POST",
      json: deploymentBody(mainAsset()),
    }),
    404,
    "projectNotFound",
  );
  await assertError(
    await host.api(`/v1/projects/${project.id}/deployments`, as),
    404,
    "projectNotFound",
  );
  await assertError(await host.api(`/v1/deployments/${created.id}`, as), 404, "deploymentNotFound");
  await assertError(
    await host.api(`/v1/deployments/${created.id}/build_logs`, as),
    404,
    "deploymentNotFound",
  );
  await assertError(
    await host.api(`/v1/deployments/${created.id}`, { ...as, method: "DELETE" }),
    404,
    "deploymentNotFound",
  );
  await assertError(
    await host.api(`/v1/organizations/${host.orgId}/projects`, as),
    404,
    "organizationNotFound",
  );
  assert.deepEqual(host.engine.deleted, []);

  const missing = crypto.randomUUID();
  await assertError(await host.api(`/v1/projects/${missing}`), 404, "projectNotFound");
  await assertError(
    await deploy(host, missing, deploymentBody(mainAsset())),
    404,
    "projectNotFound",
  );
  await assertError(await host.api(`/v1/deployments/aaaaaaaaaaaa`), 404, "deploymentNotFound");
});

Deno.test("deployments: list pages and sorts by id or created_at", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push((await (await deploy(host, project.id, deploymentBody(mainAsset()))).json()).id);
  }
  const list = async (query: string) => {
    const response = await host.api(`/v1/projects/${project.id}/deployments${query}`);
    const items = await response.json();
    for (const item of items) assert.deepEqual(Object.keys(item).sort(), DEPLOYMENT_KEYS);
    return { ids: items.map((d: { id: string }) => d.id), links: linkRels(response) };
  };
  assert.deepEqual((await list("")).ids, ids);
  assert.deepEqual((await list("?order=desc")).ids, [...ids].reverse());
  assert.deepEqual((await list("?sort=id")).ids, [...ids].sort());
  const page = await list("?limit=1&page=2");
  assert.deepEqual(page.ids, [ids[1]]);
  assert.ok(page.links.next.endsWith("?limit=1&page=3"));
  assert.ok(page.links.prev.endsWith("?limit=1&page=1"));
  assert.deepEqual((await list(`?q=${ids[2]}`)).ids, [ids[2]]);
  await assertError(
    await host.api(`/v1/projects/${project.id}/deployments?sort=name`),
    400,
    "invalidQuery",
  );
});

Deno.test("build logs: JSON array, and an NDJSON stream that follows the build", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  const { id } = await (await deploy(host, project.id, deploymentBody(mainAsset()))).json();
  const path = `/v1/deployments/${id}/build_logs`;

  assert.deepEqual(await (await host.api(path)).json(), []);
  host.store.appendBuildLog(id, "info", "Building");

  const response = await host.api(path, { headers: { accept: "application/x-ndjson" } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/x-ndjson");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const readLine = async () => {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      text += value;
    }
    const line = text.slice(0, text.indexOf("\n"));
    text = text.slice(line.length + 1);
    return JSON.parse(line);
  };
  assert.deepEqual(await readLine(), { level: "info", message: "Building" });
  host.store.appendBuildLog(id, "info", "Checked the module graph");
  assert.deepEqual(await readLine(), { level: "info", message: "Checked the module graph" });
  host.store.appendBuildLog(id, "info", "Deployed");
  host.store.setDeploymentStatus(id, "success", [`lead-hook-${id}.localhost`]);
  assert.deepEqual(await readLine(), { level: "info", message: "Deployed" });
  assert.equal(await readLine(), undefined, "the stream ends with the build");

  assert.deepEqual(
    (await (await host.api(path)).json()).map((e: { message: string }) => e.message),
    [
      "Building",
      "Checked the module graph",
      "Deployed",
    ],
  );
  const deployment = await (await host.api(`/v1/deployments/${id}`)).json();
  assert.equal(deployment.status, "success");
  assert.deepEqual(deployment.domains, [`lead-hook-${id}.localhost`]);

  // A finished build streams its lines and ends at once.
  const finished = await host.api(path, { headers: { accept: "application/x-ndjson" } });
  assert.equal((await finished.text()).trim().split("\n").length, 3);
});

Deno.test("deleting a deployment frees its own blobs and keeps shared ones", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  const uniqueContent = "only in the first deployment\n";
  const first = await (await deploy(
    host,
    project.id,
    deploymentBody({ ...mainAsset(), "unique.txt": { kind: "file", content: uniqueContent } }),
  )).json();
  const second = await (await deploy(
    host,
    project.id,
    deploymentBody({ "main.ts": { kind: "file", gitSha1: gitSha1(MAIN_TS) } }),
  )).json();

  const deleted = await host.api(`/v1/deployments/${first.id}`, { method: "DELETE" });
  assert.equal(deleted.status, 200);
  await deleted.body?.cancel();
  assert.deepEqual(host.engine.deleted, [first.id]);
  await assertError(await host.api(`/v1/deployments/${first.id}`), 404, "deploymentNotFound");
  assert.equal(await host.blobs.has(gitSha1(uniqueContent)), false);
  assert.equal(host.store.orgHasBlob(host.orgId, gitSha1(uniqueContent)), false);
  assert.equal(await host.blobs.verify(gitSha1(MAIN_TS)), true);

  // The freed hash is no longer reusable: the client must send the content again.
  await assertError(
    await deploy(
      host,
      project.id,
      deploymentBody({
        ...mainAsset(),
        "unique.txt": { kind: "file", gitSha1: gitSha1(uniqueContent) },
      }),
    ),
    400,
    "unknownGitSha1",
  );

  // Deleting the project deletes its remaining deployments through the engine.
  const gone = await host.api(`/v1/projects/${project.id}`, { method: "DELETE" });
  assert.equal(gone.status, 200);
  await gone.body?.cancel();
  assert.deepEqual(host.engine.deleted, [first.id, second.id]);
  assert.equal(await host.blobs.has(gitSha1(MAIN_TS)), false);
});

Deno.test("a body larger than the first read buffer arrives whole, declared or streamed", async () => {
  await using host = await startHost();
  const project = await createProject(host, "lead-hook");
  const blob = new Uint8Array(20 * 1024 * 1024);
  for (let at = 0; at < blob.length; at += 65_536) {
    crypto.getRandomValues(blob.subarray(at, at + 65_536));
  }
  const text = JSON.stringify(deploymentBody({
    ...mainAsset(),
    "data.bin": { kind: "file", content: blob.toBase64(), encoding: "base64" },
  }));
  const bytes = new TextEncoder().encode(text);
  const pieces = function* () {
    for (let at = 0; at < bytes.length; at += 100_000) yield bytes.subarray(at, at + 100_000);
  };
  const sends = [
    { body: text, declared: true },
    { body: ReadableStream.from(pieces()), declared: false },
  ];
  for (const { body, declared } of sends) {
    const response = await host.api(`/v1/projects/${project.id}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    assert.equal(
      response.status,
      200,
      `${declared ? "declared" : "streamed"}: ${await response.clone().text()}`,
    );
    const { id } = await response.json();
    const asset = host.store.listDeploymentAssets(id).find((a) => a.path === "data.bin");
    assert.equal(asset?.gitSha1, gitSha1(blob));
  }
  assert.deepEqual(await Deno.readFile(host.blobs.path(gitSha1(blob))), blob);
});

Deno.test("a body over the size limit is 413 payloadTooLarge", async () => {
  await using host = await startHost({ maxBodyBytes: 1024 });
  const project = await createProject(host, "lead-hook");
  const big = deploymentBody({ "main.ts": { kind: "file", content: "x".repeat(2048) } });
  await assertError(await deploy(host, project.id, big), 413, "payloadTooLarge");
  // Without Content-Length (a streamed body) the limit holds as well.
  const stream = ReadableStream.from([new TextEncoder().encode(JSON.stringify(big))]);
  await assertError(
    await host.api(`/v1/projects/${project.id}/deployments`, { method: "POST", body: stream }),
    413,
    "payloadTooLarge",
  );
  const small = await deploy(host, project.id, deploymentBody(mainAsset()));
  assert.equal(small.status, 200);
  await small.body?.cancel();
});
