/**
 * Request-shape tests of the v2 adapter (lib/v2_api.ts, lib/v2_deploy.ts) against a loopback
 * server playing Deploy v2 with examples from the API notes part B: paths, headers, bodies,
 * NDJSON streams, Link pagination, and the mapping to projects and deployments.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveApiConfig } from "../lib/config.ts";
import { deploy } from "../lib/deploy.ts";
import { DeployTenantError, ExitCode } from "../lib/errors.ts";
import { UploadCache } from "../lib/upload_cache.ts";
import {
  analyticsOf,
  deploymentStatusOf,
  V2Api,
  type V2ApiOptions,
  wireObject,
} from "../lib/v2_api.ts";
import { analyticsRows } from "../lib/analytics.ts";
import type { App, Domain, Revision } from "../lib/v2/types.ts";
import { rejection } from "./helpers/rejection.ts";
import { type Handler, recordingServer } from "./helpers/recording_server.ts";

const ROOT = "/v2";

/** A loopback server under `/v2` that records every request; `await using` stops it. */
function serve(handler: Handler) {
  return recordingServer(ROOT, handler);
}

function api(baseUrl: string, options: Partial<V2ApiOptions> = {}): V2Api {
  return new V2Api({ baseUrl, token: "ddo_test", retryBaseMs: 1, maxRetries: 0, ...options });
}

function ndjsonResponse(values: unknown[]): Response {
  return new Response(values.map((value) => JSON.stringify(value)).join("\n") + "\n", {
    headers: { "content-type": "application/x-ndjson" },
  });
}

const APP: App = {
  id: "0b1c2d3e-0000-4000-8000-000000000001",
  slug: "acme-crm",
  labels: {},
  layers: [],
  env_vars: [],
  config: {},
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-02T00:00:00Z",
};

function revision(status: string, extra: Partial<Revision> = {}): Revision {
  return {
    id: "r2ysnrrhr352",
    status,
    failure_reason: null,
    failure_detail: null,
    labels: {},
    created_at: "2026-01-03T00:00:00Z",
    cancellation_requested_at: null,
    build_finished_at: status === "succeeded" || status === "failed"
      ? "2026-01-03T00:01:00Z"
      : null,
    deleted_at: null,
    ...extra,
  };
}

const TIMELINES = [
  { name: "Production", context: "production", hostnames: ["acme-crm.my-org.deno.net"] },
  {
    name: "Preview",
    context: "preview",
    hostnames: ["acme-crm-r2ysnrrhr352.my-org.deno.net"],
  },
];

function progress(status: string) {
  const stage = { status };
  return {
    queued: { status: "succeeded" },
    preparing: stage,
    installing: { ...stage, command: null },
    building: { ...stage, command: null },
    deploying: { status, timelines: [] },
  };
}

async function tempApp(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "v2-api-test-" });
  await Deno.writeTextFile(join(dir, "main.ts"), 'Deno.serve(() => new Response("hi"));\n');
  await Deno.writeFile(join(dir, "logo.bin"), new Uint8Array([0xff, 0x00, 0xfe]));
  await Deno.symlink("main.ts", join(dir, "alias.ts"));
  return dir;
}

Deno.test("projects are apps: list follows Link pages, create posts the slug, raw apps kept", async () => {
  await using server = serve((request, seen) => {
    if (seen.method === "GET" && seen.path === "/apps") {
      if (!seen.query.has("cursor")) {
        return Response.json([APP], {
          headers: { link: `<${new URL(request.url).origin}${ROOT}/apps?cursor=p2>; rel="next"` },
        });
      }
      return Response.json([{ ...APP, id: "id-2", slug: "beta" }]);
    }
    if (seen.method === "POST" && seen.path === "/apps") return Response.json(APP);
    if (seen.method === "DELETE") return new Response(null, { status: 204 });
    return Response.json({ code: "NOT_FOUND", message: "no" }, { status: 404 });
  });
  const v2 = api(server.baseUrl);
  const projects = await Array.fromAsync(v2.projects.list());
  assert.deepEqual(projects.map((p) => p.name), ["acme-crm", "beta"]);
  assert.deepEqual(projects[0], {
    id: APP.id,
    name: "acme-crm",
    description: "",
    createdAt: APP.created_at,
    updatedAt: APP.updated_at,
  });
  assert.deepEqual(wireObject(projects[0]), APP);
  assert.equal(server.requests[1].query.get("cursor"), "p2");

  const created = await v2.projects.create({ name: "acme-crm" });
  assert.equal(created.id, APP.id);
  assert.deepEqual(JSON.parse(server.requests[2].body), { slug: "acme-crm" });
  // An organization token names its organization: no X-Deno-Org.
  assert.equal(server.requests[2].headers.get("authorization"), "Bearer ddo_test");
  assert.equal(server.requests[2].headers.get("x-deno-org"), null);

  const error = await rejection(v2.projects.create({ name: "x", description: "words" }));
  assert.ok(error instanceof DeployTenantError && error.exitCode === ExitCode.usage);
  assert.equal(server.requests.length, 3, "refused before sending");

  await v2.projects.delete(APP.id);
  assert.equal(server.requests[3].method, "DELETE");
  assert.equal(server.requests[3].path, `/apps/${APP.id}`);
});

Deno.test("a personal token sends X-Deno-Org with the organization", async () => {
  await using server = serve(() => Response.json(APP));
  await api(server.baseUrl, { token: "ddp_me", org: "my-org" }).projects.get("acme-crm");
  assert.equal(server.requests[0].headers.get("x-deno-org"), "my-org");
  assert.equal(server.requests[0].path, "/apps/acme-crm");
});

Deno.test("revision statuses map to deployment statuses, unknown ones are still pending", () => {
  assert.equal(deploymentStatusOf("queued"), "pending");
  assert.equal(deploymentStatusOf("building"), "pending");
  assert.equal(deploymentStatusOf("succeeded"), "success");
  assert.equal(deploymentStatusOf("failed"), "failed");
  assert.equal(deploymentStatusOf("skipped"), "failed");
  assert.equal(deploymentStatusOf("routed"), "pending");
});

Deno.test("deploy sends every file with content, the runtime, env_vars, labels and production", async () => {
  let polls = 0;
  await using server = serve((_request, seen) => {
    if (seen.path === "/apps/acme-crm") return Response.json(APP);
    if (seen.path === `/apps/${APP.id}/deploy`) {
      return Response.json(revision("queued"), { status: 202 });
    }
    if (seen.path === "/revisions/r2ysnrrhr352/progress") {
      return ndjsonResponse([progress("running"), progress("succeeded")]);
    }
    if (seen.path === "/revisions/r2ysnrrhr352") {
      polls++;
      return Response.json(revision("succeeded", { timelines: TIMELINES }));
    }
    return Response.json({ code: "NOT_FOUND", message: seen.path }, { status: 404 });
  });
  const root = await tempApp();
  // A cache that claims every file was uploaded: v2 must still send content.
  const cacheDir = await Deno.makeTempDir();
  const cache = await UploadCache.open(cacheDir, server.baseUrl, "org");
  cache.add(["0".repeat(40)]);
  const events: string[] = [];
  try {
    const result = await deploy({
      api: api(server.baseUrl),
      project: "acme-crm",
      root,
      cache,
      envVars: { MIN_SCORE: "70" },
      labels: { "custom.customer": "acme" },
      production: true,
      onProgress: (event) => {
        if (event.type === "progress") events.push(`${event.stage}:${event.status}`);
      },
    });
    const post = server.requests.find((seen) => seen.path.endsWith("/deploy"))!;
    assert.equal(post.method, "POST");
    assert.equal(post.headers.get("content-type"), "application/json");
    const body = JSON.parse(post.body);
    assert.deepEqual(body.config, { runtime: { type: "dynamic", entrypoint: "main.ts" } });
    assert.deepEqual(body.env_vars, [{ key: "MIN_SCORE", value: "70" }]);
    assert.deepEqual(body.labels, { "custom.customer": "acme" });
    assert.equal(body.production, true);
    assert.equal(body.preview, false);
    assert.deepEqual(body.assets["main.ts"], {
      kind: "file",
      encoding: "utf-8",
      content: 'Deno.serve(() => new Response("hi"));\n',
    });
    assert.deepEqual(body.assets["logo.bin"], {
      kind: "file",
      encoding: "base64",
      content: "/wD+",
    });
    assert.deepEqual(body.assets["alias.ts"], { kind: "symlink", target: "main.ts" });
    assert.ok(!post.body.includes("gitSha1"));

    const stream = server.requests.find((seen) => seen.path.endsWith("/progress"))!;
    assert.equal(stream.headers.get("accept"), "application/x-ndjson");
    assert.ok(polls >= 1, "the revision is read after the stream ends");
    assert.ok(events.includes("building:running") && events.includes("building:succeeded"));

    assert.equal(result.deployment.status, "success");
    assert.equal(result.deployment.projectId, APP.id);
    assert.deepEqual(result.deployment.domains, [
      "acme-crm-r2ysnrrhr352.my-org.deno.net",
      "acme-crm.my-org.deno.net",
    ]);
    assert.equal((wireObject(result.deployment) as Revision).status, "succeeded");
    assert.equal(result.upload.reusedFiles, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("without --prod the revision is preview only", async () => {
  await using server = serve((_request, seen) => {
    if (seen.path === "/apps/acme-crm") return Response.json(APP);
    if (seen.path.endsWith("/deploy")) return Response.json(revision("queued"), { status: 202 });
    return Response.json({ code: "NOT_FOUND", message: seen.path }, { status: 404 });
  });
  const root = await tempApp();
  try {
    const result = await deploy({
      api: api(server.baseUrl),
      project: "acme-crm",
      root,
      wait: false,
    });
    assert.equal(result.deployment.status, "pending");
    const body = JSON.parse(server.requests.find((seen) => seen.path.endsWith("/deploy"))!.body);
    assert.equal(body.production, false);
    assert.equal(body.preview, true);
    assert.equal(body.labels, undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a failed revision carries its build log and failure_detail explained", async () => {
  await using server = serve((_request, seen) => {
    if (seen.path === "/apps/acme-crm") return Response.json(APP);
    if (seen.path.endsWith("/deploy")) return Response.json(revision("queued"), { status: 202 });
    if (seen.path.endsWith("/progress")) return ndjsonResponse([progress("errored")]);
    if (seen.path.endsWith("/build_logs")) {
      return ndjsonResponse([
        { timestamp: "2026-01-03T00:00:01Z", level: "info", message: "Building", step: "building" },
        {
          timestamp: "2026-01-03T00:00:02Z",
          level: "error",
          message: "Uncaught Error: boom",
          step: "deploying",
        },
      ]);
    }
    return Response.json(revision("failed", {
      failure_reason: "error",
      failure_detail: { stage: "warmup", code: "boot_failed", message: "exited with 1" },
    }));
  });
  const root = await tempApp();
  try {
    const result = await deploy({ api: api(server.baseUrl), project: "acme-crm", root });
    assert.equal(result.deployment.status, "failed");
    assert.match(result.buildError!, /Uncaught Error: boom/);
    assert.match(
      result.buildError!,
      /the app failed to start: see `deploy-tenant logs \S+ --build`/,
    );
    assert.match(result.buildError!, /exited with 1/);
    const logs = server.requests.find((seen) => seen.path.endsWith("/build_logs"))!;
    assert.equal(logs.headers.get("accept"), "application/x-ndjson");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a progress stream that fails falls back to polling the revision", async () => {
  let gets = 0;
  await using server = serve((_request, seen) => {
    if (seen.path === "/apps/acme-crm") return Response.json(APP);
    if (seen.path.endsWith("/deploy")) return Response.json(revision("queued"), { status: 202 });
    if (seen.path.endsWith("/progress")) {
      return Response.json({ code: "INTERNAL", message: "stream broke" }, { status: 500 });
    }
    gets++;
    return Response.json(revision(gets < 3 ? "building" : "succeeded", { timelines: TIMELINES }));
  });
  const root = await tempApp();
  const reasons: string[] = [];
  try {
    const result = await deploy({
      api: api(server.baseUrl),
      project: "acme-crm",
      root,
      pollIntervalMs: 10,
      onProgress: (event) => {
        if (event.type === "polling") reasons.push(event.reason);
      },
    });
    assert.equal(result.deployment.status, "success");
    assert.ok(gets >= 3);
    assert.match(reasons[0], /progress stream failed/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("v1-only settings are refused with exit 2 before anything is sent", async () => {
  await using server = serve(() => Response.json(APP));
  const v2 = api(server.baseUrl);
  for (
    const setting of [
      { requestTimeout: 1000 },
      { permissions: { net: [] } },
      { importMapUrl: "import_map.json" },
      { lockFileUrl: "deno.lock" },
      { compilerOptions: { jsx: "react" } },
      { description: "x" },
      { databases: { default: "db" } },
    ]
  ) {
    const error = await rejection(deploy({ api: v2, project: "acme-crm", root: ".", ...setting }));
    assert.ok(error instanceof DeployTenantError, String(error));
    assert.equal(error.code, "notInV2");
    assert.equal(error.exitCode, ExitCode.usage);
    assert.ok(error.hint, "names the v2 way");
  }
  assert.equal(server.requests.length, 0);
  for (
    const refused of [
      v2.deployments.redeploy("r1", {}),
      v2.analytics.organization(),
      v2.databases.create(),
      v2.env.set("r1", { A: "1" }),
    ]
  ) {
    const error = await rejection(refused);
    assert.ok(error instanceof DeployTenantError && error.exitCode === ExitCode.usage);
  }
});

Deno.test("app variables: PATCH env_vars merges, --secret and contexts, delete:true unsets", async () => {
  await using server = serve(() => Response.json(APP));
  const v2 = api(server.baseUrl);
  await v2.appEnv.set("acme-crm", { A: "1", B: "2" }, {
    secret: true,
    contexts: ["production"],
  });
  await v2.appEnv.unset("acme-crm", ["A"]);
  assert.equal(server.requests[0].method, "PATCH");
  assert.equal(server.requests[0].path, "/apps/acme-crm");
  assert.deepEqual(JSON.parse(server.requests[0].body), {
    env_vars: [
      { key: "A", value: "1", secret: true, contexts: ["production"] },
      { key: "B", value: "2", secret: true, contexts: ["production"] },
    ],
  });
  assert.deepEqual(JSON.parse(server.requests[1].body), {
    env_vars: [{ key: "A", delete: true }],
  });
});

Deno.test("attaching a layer appends its id to the app's layers; detaching removes it", async () => {
  const layer = {
    id: "lyr_abc123",
    slug: "crm-defaults",
    layers: [],
    env_vars: [],
    app_count: 0,
    created_at: APP.created_at,
    updated_at: APP.updated_at,
  };
  const withBase = { ...APP, layers: [{ id: "lyr_base", slug: "base" }] };
  let current = withBase;
  await using server = serve((_request, seen) => {
    if (seen.path === "/layers/crm-defaults") return Response.json(layer);
    if (seen.method === "PATCH") {
      const layers = JSON.parse(seen.body).layers as string[];
      current = {
        ...APP,
        layers: layers.map((id) => ({ id, slug: id === layer.id ? layer.slug : "base" })),
      };
    }
    return Response.json(current);
  });
  const v2 = api(server.baseUrl);
  const attached = await v2.attachLayer("acme-crm", "crm-defaults");
  const patch = server.requests.find((seen) => seen.method === "PATCH")!;
  assert.deepEqual(JSON.parse(patch.body), { layers: ["lyr_base", "lyr_abc123"] });
  assert.deepEqual(attached.layers.map((ref) => ref.slug), ["base", "crm-defaults"]);
  await v2.detachLayer("acme-crm", "crm-defaults");
  const second = server.requests.filter((seen) => seen.method === "PATCH")[1];
  assert.deepEqual(JSON.parse(second.body), { layers: ["lyr_base"] });
});

Deno.test("a v2 domain keeps every alternative DNS record set", async () => {
  const domain: Domain = {
    id: "d1",
    organization_id: "o1",
    domain: "shop.example.com",
    kind: "base_only",
    verification_token: "tok",
    is_validated: false,
    dns_records: [
      [
        { name: "shop", base: "example.com", type: "CNAME", value: "my-org.deno.net" },
        { name: "_acme-challenge.shop", base: "example.com", type: "CNAME", value: "x.acme" },
      ],
      [
        { name: "shop", base: "example.com", type: "A", value: "34.120.54.55" },
        { name: "_acme-challenge.shop", base: "example.com", type: "CNAME", value: "x.acme" },
      ],
    ],
    provisioning_status: { code: "pending" },
    certificates: [],
    created_at: APP.created_at,
    updated_at: APP.updated_at,
  } as unknown as Domain;
  await using server = serve(() => Response.json(domain));
  const v2 = api(server.baseUrl);
  const found = await v2.domains.create("shop.example.com");
  assert.deepEqual(JSON.parse(server.requests[0].body), { domain: "shop.example.com" });
  assert.equal(found.dnsRecordSets?.length, 2);
  assert.deepEqual(found.dnsRecords[0], {
    type: "CNAME",
    name: "shop",
    content: "my-org.deno.net",
  });
  assert.equal(found.dnsRecordSets![1][0].type, "A");
  assert.deepEqual(wireObject(found), domain);
  await v2.domains.create("*.example.net");
  assert.deepEqual(JSON.parse(server.requests[1].body), {
    domain: "example.net",
    kind: "wildcard_only",
  });
});

Deno.test("app logs of a revision: its app from the preview hostname, start/end, minimum level", async () => {
  const logs = [
    { timestamp: "2026-01-03T00:00:01Z", level: "info", message: "lead A" },
    { timestamp: "2026-01-03T00:00:02Z", level: "warn", message: "lead B", region: "local" },
    { timestamp: "2026-01-03T00:00:03Z", level: "error", message: "lead C" },
  ];
  await using server = serve((_request, seen) => {
    if (seen.path === "/revisions/r2ysnrrhr352") {
      return Response.json(revision("succeeded", { timelines: TIMELINES }));
    }
    if (seen.path === "/apps/acme-crm") return Response.json(APP);
    if (seen.path === `/apps/${APP.id}/logs`) {
      const min = seen.query.get("level");
      return Response.json({
        logs: min === "warn" ? logs.slice(1) : logs,
        next_cursor: null,
      });
    }
    return Response.json({ code: "NOT_FOUND", message: seen.path }, { status: 404 });
  });
  const v2 = api(server.baseUrl);
  const page = await v2.appLogs.query("r2ysnrrhr352", {
    since: "2026-01-03T00:00:00Z",
    until: "2026-01-04T00:00:00Z",
    levels: ["warning", "error"],
  });
  const seen = server.requests.find((request) => request.path.endsWith("/logs"))!;
  assert.equal(seen.query.get("start"), "2026-01-03T00:00:00Z");
  assert.equal(seen.query.get("end"), "2026-01-04T00:00:00Z");
  assert.equal(seen.query.get("revision_id"), "r2ysnrrhr352");
  assert.equal(seen.query.get("level"), "warn");
  // Newest first, as v1's default order.
  assert.deepEqual(page.entries.map((entry) => [entry.level, entry.message]), [
    ["error", "lead C"],
    ["warning", "lead B"],
  ]);
  assert.equal(page.entries[1].region, "local");
});

Deno.test("the API URL chooses the version; a ddo_ token needs no organization on v2", async () => {
  const v2 = await resolveApiConfig({}, {
    env: { DEPLOY_API_URL: "https://console.deno.com", DENO_DEPLOY_TOKEN: "ddo_x" },
  });
  assert.equal(v2.apiVersion, "v2");
  assert.equal(v2.organizationId, "");
  for (const url of ["https://api.deno.com/v2", "http://127.0.0.1:8000/api/v2"]) {
    const config = await resolveApiConfig({ api: url, token: "ddo_x" }, { env: {} });
    assert.equal(config.apiVersion, "v2");
  }
  const v1 = await resolveApiConfig({ api: "https://api.deno.com/v1", token: "t", org: "o" }, {
    env: {},
  });
  assert.equal(v1.apiVersion, "v1");
  const org = await resolveApiConfig({}, {
    env: {
      DENO_DEPLOY_ENDPOINT: "https://console.deno.com",
      DENO_DEPLOY_TOKEN: "ddp_x",
      DENO_DEPLOY_ORG: "my-org",
    },
  });
  assert.equal(org.organizationId, "my-org");
  const missing = await rejection(
    resolveApiConfig({ api: "https://api.deno.com/v2", token: "ddp_x" }, { env: {} }),
  );
  assert.ok(missing instanceof DeployTenantError);
  assert.equal(missing.code, "missingOrganization");
  assert.match(missing.hint!, /DENO_DEPLOY_ORG/);
  const mismatch = await rejection(
    resolveApiConfig({ api: "https://api.deno.com/v1", token: "t", org: "o", apiVersion: "v2" }, {
      env: {},
    }),
  );
  assert.ok(mismatch instanceof DeployTenantError && mismatch.exitCode === ExitCode.usage);
});

Deno.test("v2 analytics columns are read under v1's names, by name", () => {
  const v2 = {
    fields: [
      { name: "time", type: "time" },
      { name: "memory_time_byte_seconds", type: "number" },
      { name: "request_count", type: "number" },
      { name: "cpu_seconds", type: "number" },
      { name: "runtime_seconds", type: "number" },
      { name: "network_egress_bytes", type: "number" },
      { name: "kv_write_units", type: "number" },
    ],
    values: [["2026-01-03T00:00:00Z", 9, "12", 0.5, 900, 2048, 3]],
  };
  const [row] = analyticsRows(analyticsOf(v2));
  assert.equal(row.time, "2026-01-03T00:00:00Z");
  assert.equal(row.requestCount, 12);
  assert.equal(row.cpuSeconds, 0.5);
  assert.equal(row.uptimeSeconds, 900);
  assert.equal(row.networkEgressBytes, 2048);
  assert.equal(row.kvWriteCount, 3);
  assert.equal(row.networkIngressBytes, 0);
  assert.deepEqual(wireObject(analyticsOf(v2)), v2);
});
