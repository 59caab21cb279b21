/**
 * Request-shape tests of the v2 client (lib/v2/) against a loopback server that records what
 * it receives and answers with examples from the references (the official SDK's types, the
 * API notes part B, the v2 OpenAPI).
 */
import assert from "node:assert/strict";
import { ApiError } from "../lib/errors.ts";
import type { RetryInfo } from "../lib/http.ts";
import {
  analyticsRows,
  apiVersionOf,
  sseData,
  v2BaseUrl,
  V2Client,
  type V2ClientOptions,
} from "../lib/v2/mod.ts";
import type { BuildLogEntry, Revision, RevisionProgress, RuntimeLog } from "../lib/v2/types.ts";
import { rejection } from "./helpers/rejection.ts";
import { type Handler, recordingServer, type Seen } from "./helpers/recording_server.ts";

/** What the server saw of one request. */
const ROOT = "/api/v2";

/** A loopback server under `/api/v2` that records every request; `await using` stops it. */
function serve(handler: Handler) {
  return recordingServer(ROOT, handler);
}

/** A client of `baseUrl` with an organization token and a tiny backoff. */
function client(baseUrl: string, options: Partial<V2ClientOptions> = {}) {
  return new V2Client({ baseUrl, token: "ddo_test", retryBaseMs: 1, ...options });
}

/** The JSON body of a recorded request. */
function json(seen: Seen): unknown {
  return JSON.parse(seen.body);
}

/** Collects an async iterable. */
async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const result: T[] = [];
  for await (const item of items) result.push(item);
  return result;
}

/** A streamed response sending `chunks` one by one, each flushed before the next. */
function chunked(chunks: string[], contentType: string): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(encoder.encode(chunk));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": contentType } });
}

/** A stream of `chunks` for the parsers, without a server. */
function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(
    chunks.map((chunk) => typeof chunk === "string" ? encoder.encode(chunk) : chunk),
  );
}

/** The `Revision` example of the v2 spec (revisions.yaml). */
const REVISION: Revision = {
  id: "r2ysnrrhr352",
  status: "succeeded",
  failure_reason: null,
  failure_detail: null,
  labels: { "custom.branch": "main", "custom.sha": "abc123def456" },
  layers: [{ id: "lyr_abc123", slug: "deployment-secrets" }],
  env_vars: [{ key: "BUILD_ID", value: "abc123" }],
  config: { framework: "fresh", install: "deno cache main.ts" },
  created_at: "2024-01-15T10:30:00Z",
  cancellation_requested_at: null,
  build_finished_at: "2024-01-15T10:31:50Z",
  deleted_at: null,
  timelines: [{ name: "Production", context: "Production", hostnames: ["my-app.my-org.deno.net"] }],
};

/** The `App` example of the v2 spec (apps.yaml). */
const APP = {
  id: "00000000-0000-0000-0000-000000000000",
  slug: "my-customer-app",
  labels: { "custom.customer_id": "cust_123", "custom.environment": "production" },
  layers: [{ id: "lyr_abc123", slug: "shared-secrets" }],
  env_vars: [{
    id: "00000000-0000-0000-0000-000000000001",
    key: "APP_NAME",
    value: "My Customer App",
    secret: false,
    contexts: "all",
  }],
  config: { framework: "nextjs", install: "npm install", build: "npm run build" },
  created_at: "2024-01-15T10:30:00Z",
  updated_at: "2024-01-15T10:30:00Z",
};

/** The `Domain` shape of the v2 spec (domains.yaml). */
const DOMAIN = {
  id: "5b5b2a4e-0000-4000-8000-000000000001",
  organization_id: "org-1",
  domain: "shop.acme.com",
  kind: "base_and_wildcard",
  verification_token: "tok123",
  is_validated: false,
  dns_records: [
    [
      { name: "shop", base: "acme.com", type: "CNAME", value: "cname.deno.net" },
      { name: "_acme-challenge.shop", base: "acme.com", type: "CNAME", value: "x.acme.deno.net" },
    ],
    [
      { name: "shop", base: "acme.com", type: "A", value: "34.120.54.55" },
      { name: "shop", base: "acme.com", type: "AAAA", value: "2600:1901:0:6d85::" },
      { name: "_acme-challenge.shop", base: "acme.com", type: "CNAME", value: "x.acme.deno.net" },
    ],
  ],
  provisioning_status: { code: "pending" },
  certificates: [],
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};

// ---------------------------------------------------------------------------------------------
// URLs and versions

Deno.test("apiVersionOf: /v1 → v1; /v2, /api/v2 and Deno's bare origins → v2; else v1", () => {
  const cases: [string, "v1" | "v2"][] = [
    ["https://api.deno.com/v1", "v1"],
    ["http://127.0.0.1:8000/v1/", "v1"],
    ["https://api.deno.com/v2", "v2"],
    ["https://console.deno.com/api/v2", "v2"],
    ["http://127.0.0.1:8000/api/v2/", "v2"],
    ["https://api.deno.com", "v2"],
    ["https://console.deno.com/", "v2"],
    ["http://127.0.0.1:8000", "v1"],
    ["https://example.com/api", "v1"],
    ["not a url", "v1"],
  ];
  for (const [url, version] of cases) assert.equal(apiVersionOf(url), version, url);
});

Deno.test("v2BaseUrl completes Deno's bare origins and keeps any other URL", () => {
  assert.equal(v2BaseUrl("https://console.deno.com"), "https://console.deno.com/api/v2");
  assert.equal(v2BaseUrl("https://console.deno.com/"), "https://console.deno.com/api/v2");
  assert.equal(v2BaseUrl("https://api.deno.com"), "https://api.deno.com/v2");
  assert.equal(v2BaseUrl("https://api.deno.com/v2/"), "https://api.deno.com/v2");
  assert.equal(v2BaseUrl("https://console.deno.com/api/v2"), "https://console.deno.com/api/v2");
  assert.equal(v2BaseUrl("http://127.0.0.1:8000/api/v2/"), "http://127.0.0.1:8000/api/v2");
});

// ---------------------------------------------------------------------------------------------
// Authentication

Deno.test("an organization token (ddo_) is sent alone, without X-Deno-Org even when org is set", async () => {
  await using server = serve(() => Response.json(APP));
  await client(server.baseUrl, { token: "ddo_abc", org: "acme" }).apps.get("my-customer-app");

  const [seen] = server.requests;
  assert.equal(seen.method, "GET");
  assert.equal(seen.path, "/apps/my-customer-app");
  assert.equal(seen.headers.get("authorization"), "Bearer ddo_abc");
  assert.equal(seen.headers.get("x-deno-org"), null);
  assert.equal(seen.headers.get("accept"), "application/json");
});

Deno.test("any other token sends X-Deno-Org with the org given, on every request of a list", async () => {
  let page = 0;
  await using server = serve((request) => {
    page++;
    const headers = page === 1
      ? { link: `<${new URL(request.url).origin}${ROOT}/layers?cursor=c2>; rel="next"` }
      : undefined;
    return Response.json([{ id: `lyr_${page}`, slug: `l${page}` }], { headers });
  });
  const v2 = client(server.baseUrl, { token: "ddp_personal", org: "acme-org" });
  const layers = await all(v2.layers.list());

  assert.deepEqual(layers.map((layer) => layer.id), ["lyr_1", "lyr_2"]);
  assert.equal(server.requests.length, 2);
  for (const seen of server.requests) {
    assert.equal(seen.headers.get("authorization"), "Bearer ddp_personal");
    assert.equal(seen.headers.get("x-deno-org"), "acme-org");
  }
});

// ---------------------------------------------------------------------------------------------
// Apps

Deno.test("apps.list sends labels[k]=v and layer, and follows the Link cursor to the last page", async () => {
  await using server = serve((request, seen) => {
    const next = `<${new URL(request.url).origin}${ROOT}/apps?cursor=NEXT123&limit=2>; rel="next"`;
    if (!seen.query.has("cursor")) {
      return Response.json([APP, { ...APP, id: "a2", slug: "second" }], {
        headers: { link: next },
      });
    }
    return Response.json([{ ...APP, id: "a3", slug: "third" }]);
  });
  const apps = await all(
    client(server.baseUrl).apps.list({
      labels: { "custom.customer_id": "cust_123", "custom.environment": "production" },
      layer: "shared-secrets",
      limit: 2,
    }),
  );

  assert.deepEqual(apps.map((app) => app.slug), ["my-customer-app", "second", "third"]);
  assert.equal(server.requests.length, 2);
  const [first, second] = server.requests;
  assert.equal(first.path, "/apps");
  assert.equal(first.query.get("labels[custom.customer_id]"), "cust_123");
  assert.equal(first.query.get("labels[custom.environment]"), "production");
  assert.equal(first.query.get("layer"), "shared-secrets");
  assert.equal(first.query.get("limit"), "2");
  assert.equal(first.query.get("cursor"), null);
  assert.equal(second.path, "/apps");
  assert.equal(second.query.get("cursor"), "NEXT123");
});

Deno.test("apps.create, update, delete: methods, paths and snake_case bodies as sent", async () => {
  await using server = serve((_request, seen) => {
    if (seen.method === "DELETE") return new Response(null, { status: 204 });
    return Response.json(APP);
  });
  const v2 = client(server.baseUrl);

  const created = await v2.apps.create({
    slug: "my-customer-app",
    labels: { "custom.customer_id": "cust_123" },
    layers: ["shared-secrets"],
    env_vars: [{ key: "API_KEY", value: "s3cret", secret: true, contexts: ["production"] }],
    config: { install: "deno install", runtime: { type: "dynamic", entrypoint: "main.ts" } },
  });
  await v2.apps.create();
  await v2.apps.update("my-customer-app", {
    labels: { "custom.tier": "gold" },
    env_vars: [
      { id: "00000000-0000-0000-0000-000000000001", delete: true },
      { key: "NEW_VAR", value: "1" },
    ],
    config: { runtime: { type: "static", cwd: "dist", spa: true } },
  });
  await v2.apps.delete("my-customer-app");

  assert.equal(created.slug, "my-customer-app");
  const [create, createEmpty, update, remove] = server.requests;
  assert.equal(create.method, "POST");
  assert.equal(create.path, "/apps");
  assert.equal(create.headers.get("content-type"), "application/json");
  assert.deepEqual(json(create), {
    slug: "my-customer-app",
    labels: { "custom.customer_id": "cust_123" },
    layers: ["shared-secrets"],
    env_vars: [{ key: "API_KEY", value: "s3cret", secret: true, contexts: ["production"] }],
    config: { install: "deno install", runtime: { type: "dynamic", entrypoint: "main.ts" } },
  });
  // The SDK sends `{}` for an app with a random slug: the body is required.
  assert.deepEqual(json(createEmpty), {});
  assert.equal(update.method, "PATCH");
  assert.equal(update.path, "/apps/my-customer-app");
  assert.deepEqual(json(update), {
    labels: { "custom.tier": "gold" },
    env_vars: [
      { id: "00000000-0000-0000-0000-000000000001", delete: true },
      { key: "NEW_VAR", value: "1" },
    ],
    config: { runtime: { type: "static", cwd: "dist", spa: true } },
  });
  assert.equal(remove.method, "DELETE");
  assert.equal(remove.path, "/apps/my-customer-app");
  assert.equal(remove.body, "");
});

Deno.test("apps.deploy POSTs assets (utf-8, base64, symlink), config.runtime, env, labels, targets; 202 → revision", async () => {
  const queued = { ...REVISION, status: "queued", build_finished_at: null, timelines: [] };
  await using server = serve(() => Response.json(queued, { status: 202 }));
  const v2 = client(server.baseUrl);

  const request = {
    assets: {
      "main.ts": {
        kind: "file" as const,
        encoding: "utf-8" as const,
        content: "Deno.serve(() => new Response('Hello'));",
      },
      "logo.png": { kind: "file" as const, encoding: "base64" as const, content: "iVBORw0KGgo=" },
      "current.ts": { kind: "symlink" as const, target: "main.ts" },
      "deno.json": { content: '{"imports": {}}' },
    },
    config: {
      install: "deno install",
      runtime: { type: "dynamic" as const, entrypoint: "main.ts" },
    },
    env_vars: [{ key: "MY_VAR", value: "my_value" }],
    labels: { "custom.branch": "main" },
    production: { domains: ["{deno.app.slug}.acme.deno.net", "hooks.acme.com"] },
    preview: true,
  };
  const revision = await v2.apps.deploy("my-app", request);
  const streamed = await v2.apps.deploy(
    "my-app",
    () => ReadableStream.from([new TextEncoder().encode('{"assets":{}}')]),
  );

  assert.equal(revision.id, "r2ysnrrhr352");
  assert.equal(revision.status, "queued");
  assert.equal(streamed.status, "queued");
  const [sent, sentStreamed] = server.requests;
  assert.equal(sent.method, "POST");
  assert.equal(sent.path, "/apps/my-app/deploy");
  assert.deepEqual(json(sent), request);
  assert.equal(sentStreamed.path, "/apps/my-app/deploy");
  assert.equal(sentStreamed.headers.get("content-type"), "application/json");
  assert.equal(sentStreamed.body, '{"assets":{}}');
});

Deno.test("apps.timelines and analytics: paths and query; analyticsRows maps columns by name", async () => {
  const analytics = {
    // Not the documented order, plus a field the client does not know.
    fields: [
      { name: "request_count", type: "number" },
      { name: "time", type: "time" },
      { name: "cpu_seconds", type: "number" },
      { name: "gpu_seconds", type: "number" },
    ],
    values: [[1200, "2026-06-01T00:00:00Z", 43.12, "7"], [0, "2026-06-01T00:15:00Z", 0]],
  };
  await using server = serve((_request, seen) => {
    if (seen.path.endsWith("/timelines")) {
      return Response.json([{
        slug: "production",
        partition: {},
        domains: [{ domain: "my-app.my-org.deno.net" }],
        app: { id: APP.id, slug: "my-app" },
        context: { slug: "production" },
      }]);
    }
    return Response.json(analytics);
  });
  const v2 = client(server.baseUrl);

  const timelines = await all(v2.apps.timelines("my-app"));
  const table = await v2.apps.analytics("my-app", {
    since: "2026-06-01T00:00:00Z",
    until: "2026-06-01T01:00:00Z",
  });

  assert.equal(timelines[0].domains[0].domain, "my-app.my-org.deno.net");
  const [timelinesSeen, analyticsSeen] = server.requests;
  assert.equal(timelinesSeen.path, "/apps/my-app/timelines");
  assert.equal(analyticsSeen.path, "/apps/my-app/analytics");
  assert.equal(analyticsSeen.query.get("since"), "2026-06-01T00:00:00Z");
  assert.equal(analyticsSeen.query.get("until"), "2026-06-01T01:00:00Z");
  assert.deepEqual(analyticsRows(table), [
    { time: "2026-06-01T00:00:00Z", request_count: 1200, cpu_seconds: 43.12, gpu_seconds: "7" },
    { time: "2026-06-01T00:15:00Z", request_count: 0, cpu_seconds: 0, gpu_seconds: null },
  ]);
});

Deno.test("app logs with end: JSON pages by next_cursor, then by a Link header, filters sent", async () => {
  const log = (message: string): RuntimeLog => ({
    timestamp: "2024-01-15T10:30:00.123Z",
    level: "info",
    message,
    revision_id: "r2ysnrrhr352",
    region: "us-east-1",
  });
  await using server = serve((request, seen) => {
    const cursor = seen.query.get("cursor");
    if (cursor === null) {
      return Response.json({ logs: [log("a"), log("b")], next_cursor: "eyJsYXN0" });
    }
    if (cursor === "eyJsYXN0") {
      const link = `<${
        new URL(request.url).origin
      }${ROOT}/apps/my-app/logs?cursor=FROMLINK>; rel="next"`;
      return Response.json({ logs: [log("c")], next_cursor: null }, { headers: { link } });
    }
    return Response.json({ logs: [log("d")], next_cursor: null });
  });
  const logs = await all(
    client(server.baseUrl).apps.logs("my-app", {
      start: "2024-01-15T00:00:00Z",
      end: "2024-01-16T00:00:00Z",
      level: "warn",
      query: "timeout",
      revision_id: "r2ysnrrhr352",
      limit: 2,
    }),
  );

  assert.deepEqual(logs.map((entry) => entry.message), ["a", "b", "c", "d"]);
  assert.deepEqual(server.requests.map((seen) => seen.query.get("cursor")), [
    null,
    "eyJsYXN0",
    "FROMLINK",
  ]);
  for (const seen of server.requests) {
    assert.equal(seen.path, "/apps/my-app/logs");
    assert.equal(seen.headers.get("accept"), "application/json");
    assert.equal(seen.query.get("start"), "2024-01-15T00:00:00Z");
    assert.equal(seen.query.get("end"), "2024-01-16T00:00:00Z");
    assert.equal(seen.query.get("level"), "warn");
    assert.equal(seen.query.get("query"), "timeout");
    assert.equal(seen.query.get("revision_id"), "r2ysnrrhr352");
    assert.equal(seen.query.get("limit"), "2");
  }
});

Deno.test("app logs without end: a live stream, SSE by default and NDJSON on request, no end sent", async () => {
  await using server = serve((_request, seen) => {
    if (seen.headers.get("accept") === "text/event-stream") {
      return chunked([
        ': keep-alive\n\ndata: {"timestamp":"t1","level":"info","mess',
        'age":"one"}\n\ndata: {"timestamp":"t2","level":"error","message":"two"}\n\n',
      ], "text/event-stream");
    }
    return chunked(
      [
        '{"timestamp":"t3","level":"info","message":"three"}\n{"timest',
        'amp":"t4","level":"info","message":"four"}\n',
      ],
      "application/x-ndjson",
    );
  });
  const v2 = client(server.baseUrl);

  const sse = await all(v2.apps.logs("my-app", { start: "2024-01-15T00:00:00Z" }));
  const lines = await all(
    v2.apps.logs("my-app", { start: "2024-01-15T00:00:00Z", format: "ndjson" }),
  );

  assert.deepEqual(sse.map((entry) => entry.message), ["one", "two"]);
  assert.deepEqual(lines.map((entry) => entry.message), ["three", "four"]);
  const [sseSeen, ndjsonSeen] = server.requests;
  assert.equal(sseSeen.headers.get("accept"), "text/event-stream");
  assert.equal(ndjsonSeen.headers.get("accept"), "application/x-ndjson");
  for (const seen of server.requests) {
    assert.equal(seen.path, "/apps/my-app/logs");
    assert.equal(seen.query.get("start"), "2024-01-15T00:00:00Z");
    assert.equal(seen.query.has("end"), false);
  }
});

// ---------------------------------------------------------------------------------------------
// Revisions

Deno.test("revisions: get tolerates unknown statuses, failure_detail codes and extra fields", async () => {
  const future = {
    ...REVISION,
    status: "verifying",
    failure_reason: "quota_exceeded",
    failure_detail: { stage: "routing", code: "dns_pending", message: "Waiting for DNS" },
    a_new_field: { nested: true },
  };
  await using server = serve(() => Response.json(future));
  const revision = await client(server.baseUrl).revisions.get("r2ysnrrhr352");

  assert.equal(server.requests[0].path, "/revisions/r2ysnrrhr352");
  assert.equal(revision.status, "verifying");
  assert.equal(revision.failure_reason, "quota_exceeded");
  assert.deepEqual(revision.failure_detail, future.failure_detail);
  assert.deepEqual((revision as unknown as Record<string, unknown>).a_new_field, { nested: true });
});

Deno.test("revisions: list with status, update, delete, cancel, promote, timelines, attach and detach domains", async () => {
  await using server = serve((_request, seen) => {
    if (seen.path === "/apps/my-app/revisions") {
      return Response.json([{ ...REVISION, status: "failed", failure_reason: "cancelled" }]);
    }
    if (seen.path.endsWith("/timelines")) {
      return Response.json([{ slug: "production", partition: {}, domains: [] }]);
    }
    if (seen.path.endsWith("/cancel")) {
      return Response.json({ ...REVISION, status: "building", cancellation_requested_at: "t" });
    }
    if (seen.method === "DELETE" || seen.method === "PUT" || seen.path.endsWith("/promote")) {
      return new Response(null, { status: 204 });
    }
    return Response.json(REVISION);
  });
  const revisions = client(server.baseUrl).revisions;

  const listed = await all(revisions.list("my-app", { status: "failed", limit: 10 }));
  await revisions.update("r1", { retention: "indefinite" });
  await revisions.delete("r1");
  const cancelled = await revisions.cancel("r1");
  await revisions.promote("r1");
  const timelines = await revisions.timelines("r1");
  await revisions.attachDomains("r1", {
    production: ["hooks.acme.com"],
    preview: ["pr-{deno.revision.id}.acme.com"],
  });
  await revisions.detachDomain("r1", "pr-{deno.revision.id}.acme.com");

  assert.equal(listed[0].failure_reason, "cancelled");
  assert.equal(cancelled.cancellation_requested_at, "t");
  assert.equal(timelines[0].slug, "production");
  const sent = server.requests.map((seen) => [seen.method, seen.path]);
  assert.deepEqual(sent, [
    ["GET", "/apps/my-app/revisions"],
    ["PATCH", "/revisions/r1"],
    ["DELETE", "/revisions/r1"],
    ["POST", "/revisions/r1/cancel"],
    ["POST", "/revisions/r1/promote"],
    ["GET", "/revisions/r1/timelines"],
    ["PUT", "/revisions/r1/domains"],
    ["DELETE", "/revisions/r1/domains/pr-%7Bdeno.revision.id%7D.acme.com"],
  ]);
  const [list, update, , cancel, promote, , attach] = server.requests;
  assert.equal(list.query.get("status"), "failed");
  assert.equal(list.query.get("limit"), "10");
  assert.deepEqual(json(update), { retention: "indefinite" });
  assert.equal(cancel.body, "");
  assert.equal(promote.body, "");
  assert.deepEqual(json(attach), {
    production: ["hooks.acme.com"],
    preview: ["pr-{deno.revision.id}.acme.com"],
  });
});

/** Progress events of one build, as the spec's example (trimmed). */
const PROGRESS: RevisionProgress[] = [
  {
    queued: { status: "succeeded", start: "t0", end: "t1" },
    preparing: { status: "running", start: "t1" },
    installing: { status: "pending", command: null },
    building: { status: "pending", command: "deno task build" },
    deploying: { status: "pending", timelines: [] },
  },
  {
    queued: { status: "succeeded", start: "t0", end: "t1" },
    preparing: { status: "succeeded", start: "t1", end: "t2" },
    installing: { status: "skipped", command: null },
    building: { status: "succeeded", start: "t2", end: "t3", command: "deno task build" },
    deploying: {
      status: "succeeded",
      start: "t3",
      end: "t4",
      timelines: [{
        status: "succeeded",
        start: "t3",
        end: "t4",
        slug: "production",
        partition: {},
        databases: [{ status: "succeeded", start: "t3", end: "t3", engine: "denokv" }],
        predeploy: { status: "skipped", command: null },
        routing: { status: "succeeded", start: "t3", end: "t4" },
      }],
    },
  },
];

Deno.test("revisions.progress reads SSE split across chunks (CRLF, multi-line data, comments) to the end", async () => {
  const [first, second] = PROGRESS.map((event) => JSON.stringify(event));
  const secondLines = JSON.stringify(PROGRESS[1], null, 1).split("\n");
  assert.ok(second);
  await using server = serve(() =>
    chunked([
      ": connected\r\n\r\nevent: progress\r\nda",
      `ta: ${first.slice(0, 40)}`,
      `${first.slice(40)}\r\n\r`,
      `\n${secondLines.map((line) => `data: ${line}`).join("\n")}\n\n`,
    ], "text/event-stream; charset=utf-8")
  );
  const events = await all(client(server.baseUrl).revisions.progress("r2ysnrrhr352"));

  assert.deepEqual(events, PROGRESS);
  assert.equal(server.requests[0].path, "/revisions/r2ysnrrhr352/progress");
  assert.equal(server.requests[0].headers.get("accept"), "text/event-stream");
});

Deno.test("revisions.buildLogs asks for NDJSON with step and timeline, reads lines split across chunks", async () => {
  const entries: BuildLogEntry[] = [
    {
      timestamp: "2024-01-15T10:30:05Z",
      level: "info",
      message: "Starting build… ✓",
      step: "deploying",
      timeline: "production",
    },
    {
      timestamp: "2024-01-15T10:30:06Z",
      level: "warn",
      message: "slow",
      step: "deploying",
      timeline: "production",
    },
  ];
  const bytes = new TextEncoder().encode(entries.map((entry) => JSON.stringify(entry)).join("\n"));
  await using server = serve(() => {
    // Split inside the multi-byte "…" and between lines; the last line has no newline.
    const cut = bytes.indexOf(0xe2) + 1;
    const body = ReadableStream.from([
      bytes.slice(0, cut),
      bytes.slice(cut, cut + 70),
      bytes.slice(cut + 70),
    ]);
    return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
  });
  const logs = await all(
    client(server.baseUrl).revisions.buildLogs("r1", {
      step: "deploying",
      timeline: "production",
      format: "ndjson",
    }),
  );

  assert.deepEqual(logs, entries);
  const [seen] = server.requests;
  assert.equal(seen.path, "/revisions/r1/build_logs");
  assert.equal(seen.headers.get("accept"), "application/x-ndjson");
  assert.equal(seen.query.get("step"), "deploying");
  assert.equal(seen.query.get("timeline"), "production");
});

Deno.test("revisions.buildLogs: SSE by default; breaking out early closes the stream", async () => {
  let cancelled = false;
  await using server = serve(() => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const line = { timestamp: "t", level: "info", message: "first", step: "building" };
        controller.enqueue(new TextEncoder().encode(`data: ${JSON.stringify(line)}\n\n`));
        // Left open, as during a running build.
      },
      cancel() {
        cancelled = true;
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const seen: string[] = [];
  for await (const entry of client(server.baseUrl).revisions.buildLogs("r1")) {
    seen.push(entry.message);
    break;
  }

  assert.deepEqual(seen, ["first"]);
  assert.equal(server.requests[0].headers.get("accept"), "text/event-stream");
  for (let i = 0; i < 100 && !cancelled; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cancelled, "the server saw the stream closed");
});

Deno.test("sseData gives the same events wherever the bytes are split", async () => {
  const text =
    ': hi\r\nid: 1\r\ndata: {"a":1}\r\n\r\nevent: x\ndata: {"b":\ndata: 2}\n\nretry: 10\n\n' +
    'data:{"c":"é"}\r\rdata: {"d":4}';
  const bytes = new TextEncoder().encode(text);
  const expected = ['{"a":1}', '{"b":\n2}', '{"c":"é"}', '{"d":4}'];
  for (let cut = 0; cut <= bytes.length; cut++) {
    const events = await all(sseData(streamOf([bytes.slice(0, cut), bytes.slice(cut)])));
    assert.deepEqual(events, expected, `split at ${cut}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Domains, layers, databases

Deno.test("domains: create with kind, list with search, get, verify, certificates upload/status/provision, delete", async () => {
  await using server = serve((_request, seen) => {
    if (seen.method === "DELETE") return new Response(null, { status: 204 });
    if (seen.path.endsWith("/provision")) return Response.json({ accepted: true }, { status: 202 });
    if (seen.method === "GET" && seen.path.endsWith("/certificates")) {
      return Response.json({ certificates: [], provisioning_status: { code: "pending" } });
    }
    if (seen.method === "GET" && seen.path === "/domains") return Response.json([DOMAIN]);
    return Response.json(DOMAIN);
  });
  const domains = client(server.baseUrl).domains;

  const created = await domains.create({ domain: "shop.acme.com", kind: "base_and_wildcard" });
  const listed = await all(domains.list({ search: "acme" }));
  await domains.get("shop.acme.com");
  await domains.verify("shop.acme.com");
  await domains.uploadCertificate(DOMAIN.id, {
    certificate: "-----BEGIN CERTIFICATE-----\n…",
    private_key: "-----BEGIN PRIVATE KEY-----\n…",
  });
  const status = await domains.certificates("shop.acme.com");
  const accepted = await domains.provisionCertificate("shop.acme.com");
  await domains.delete("shop.acme.com");

  assert.equal(created.dns_records.length, 2, "two alternative record sets");
  assert.equal(created.dns_records[1][1].type, "AAAA");
  assert.equal(listed[0].kind, "base_and_wildcard");
  assert.equal(status.provisioning_status.code, "pending");
  assert.deepEqual(accepted, { accepted: true });
  assert.deepEqual(server.requests.map((seen) => [seen.method, seen.path]), [
    ["POST", "/domains"],
    ["GET", "/domains"],
    ["GET", "/domains/shop.acme.com"],
    ["POST", "/domains/shop.acme.com/verify"],
    ["POST", `/domains/${DOMAIN.id}/certificates`],
    ["GET", "/domains/shop.acme.com/certificates"],
    ["POST", "/domains/shop.acme.com/certificates/provision"],
    ["DELETE", "/domains/shop.acme.com"],
  ]);
  const [create, list, , , upload] = server.requests;
  assert.deepEqual(json(create), { domain: "shop.acme.com", kind: "base_and_wildcard" });
  assert.equal(list.query.get("search"), "acme");
  assert.deepEqual(json(upload), {
    certificate: "-----BEGIN CERTIFICATE-----\n…",
    private_key: "-----BEGIN PRIVATE KEY-----\n…",
  });
});

Deno.test("layers CRUD and the apps using one; database instances", async () => {
  const layer = {
    id: "lyr_abc123",
    slug: "shared-secrets",
    description: "Shared",
    layers: [],
    env_vars: [],
    app_count: 1,
    created_at: "t",
    updated_at: "t",
  };
  await using server = serve((_request, seen) => {
    if (seen.method === "DELETE") return new Response(null, { status: 204 });
    if (seen.path.endsWith("/apps")) {
      return Response.json([{ id: APP.id, slug: "my-app", layer_position: 0 }]);
    }
    if (seen.path === "/database_instances") {
      return Response.json({
        id: "db-1",
        slug: "main-pg",
        engine: "postgresql",
        connection: {
          engine: "postgresql",
          hostname: "db.acme.com",
          port: 5432,
          username: "app",
          custom_certificate: false,
        },
        databases: [],
        created_at: "t",
      });
    }
    if (seen.method === "POST") return Response.json(layer, { status: 201 });
    return Response.json(layer);
  });
  const v2 = client(server.baseUrl);

  await v2.layers.create({
    slug: "shared-secrets",
    description: "Shared",
    layers: ["base"],
    env_vars: [{ key: "STRIPE_KEY", value: "sk", secret: true }],
  });
  await v2.layers.get("shared-secrets");
  await v2.layers.update("lyr_abc123", {
    env_vars: [{ key: "STRIPE_KEY", contexts: "all", delete: true }],
    layers: [],
  });
  const users = await all(v2.layers.apps("shared-secrets", { limit: 5 }));
  await v2.layers.delete("shared-secrets");
  const connection = {
    engine: "postgresql",
    hostname: "db.acme.com",
    port: 5432,
    username: "app",
    password: "pw",
    certificate: null,
  } as const;
  const instance = await v2.databases.createInstance({ slug: "main-pg", connection });

  assert.equal(users[0].layer_position, 0);
  assert.equal(instance.connection.hostname, "db.acme.com");
  assert.deepEqual(server.requests.map((seen) => [seen.method, seen.path]), [
    ["POST", "/layers"],
    ["GET", "/layers/shared-secrets"],
    ["PATCH", "/layers/lyr_abc123"],
    ["GET", "/layers/shared-secrets/apps"],
    ["DELETE", "/layers/shared-secrets"],
    ["POST", "/database_instances"],
  ]);
  const [create, , update, apps, , database] = server.requests;
  assert.deepEqual(json(create), {
    slug: "shared-secrets",
    description: "Shared",
    layers: ["base"],
    env_vars: [{ key: "STRIPE_KEY", value: "sk", secret: true }],
  });
  assert.deepEqual(json(update), {
    env_vars: [{ key: "STRIPE_KEY", contexts: "all", delete: true }],
    layers: [],
  });
  assert.equal(apps.query.get("limit"), "5");
  assert.deepEqual(json(database), { slug: "main-pg", connection });
});

// ---------------------------------------------------------------------------------------------
// Failures

Deno.test("a 429 without Retry-After is retried with backoff, then succeeds", async () => {
  let calls = 0;
  await using server = serve(() => {
    calls++;
    if (calls <= 2) {
      return Response.json({ code: "RATE_LIMITED", message: "Too many requests" }, { status: 429 });
    }
    return Response.json(REVISION);
  });
  const retries: RetryInfo[] = [];
  const v2 = client(server.baseUrl, { retryBaseMs: 2, onRetry: (info) => retries.push(info) });
  const revision = await v2.revisions.get("r2ysnrrhr352");

  assert.equal(revision.id, "r2ysnrrhr352");
  assert.equal(server.requests.length, 3);
  assert.deepEqual(retries.map((retry) => [retry.attempt, retry.reason]), [
    [1, "HTTP 429"],
    [2, "HTTP 429"],
  ]);
  // Full jitter below base·2^(n-1): backoff, not Retry-After.
  assert.ok(retries[0].delayMs <= 2 && retries[1].delayMs <= 4, JSON.stringify(retries));
});

Deno.test("an error answer surfaces {code, message}, the status and x-deno-trace-id", async () => {
  await using server = serve(() =>
    Response.json(
      { code: "REVISION_RETENTION_NOT_AVAILABLE", message: "Revision retention is not enabled" },
      { status: 403, headers: { "x-deno-trace-id": "0af7651916cd43dd8448eb211c80319c" } },
    )
  );
  const error = await rejection(
    client(server.baseUrl).revisions.update("r1", { retention: "indefinite" }),
  );

  assert.ok(error instanceof ApiError, String(error));
  assert.equal(error.status, 403);
  assert.equal(error.code, "REVISION_RETENTION_NOT_AVAILABLE");
  assert.equal(error.message, "Revision retention is not enabled");
  assert.equal(error.traceId, "0af7651916cd43dd8448eb211c80319c");
  assert.equal(server.requests.length, 1, "a 403 is not retried");
});

Deno.test("an error answer to a stream request is thrown before any event", async () => {
  await using server = serve(() =>
    Response.json({ code: "NOT_FOUND", message: "Revision not found" }, {
      status: 404,
      headers: { "x-deno-trace-id": "trace-404" },
    })
  );
  const error = await rejection(all(client(server.baseUrl).revisions.progress("missing")));

  assert.ok(error instanceof ApiError, String(error));
  assert.equal(error.status, 404);
  assert.equal(error.code, "NOT_FOUND");
  assert.equal(error.traceId, "trace-404");
});
