import assert from "node:assert/strict";
import { V1Api } from "../lib/api.ts";
import { ApiError, DeployTenantError, ExitCode } from "../lib/errors.ts";
import type { Project } from "../lib/types.ts";
import { rejection } from "./helpers/rejection.ts";

const ORG = "5b484959-cba2-482d-95ab-ba592784af80";
const PROJECT_ID = "0c7e0f2b-3b5f-4f0e-9d7a-1a2b3c4d5e6f";

function project(name: string, id = crypto.randomUUID()): Project {
  const now = "2025-01-01T00:00:00.000000Z";
  return { id, name, description: "", createdAt: now, updatedAt: now };
}

/** A loopback server with one handler; every request is logged as "METHOD path?query". */
function serve(handler: (request: Request, url: URL) => Response | Promise<Response>) {
  const log: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    const url = new URL(request.url);
    log.push(`${request.method} ${url.pathname}${url.search}`);
    return handler(request, url);
  });
  const baseUrl = `http://127.0.0.1:${server.addr.port}/v1`;
  const api = new V1Api({ baseUrl, token: "t", organizationId: ORG, retryBaseMs: 1 });
  return Object.assign(server, { log, baseUrl, api });
}

Deno.test("projects.get by name searches with q and picks the exact name across pages", async () => {
  await using server = serve((_request, url) => {
    if (url.searchParams.get("page") === "2") return Response.json([project("acme")]);
    return Response.json([project("acme-staging"), project("old-acme")], {
      headers: {
        link: `<${server.baseUrl}/organizations/${ORG}/projects?q=acme&page=2>; rel="next"`,
      },
    });
  });

  const found = await server.api.projects.get("acme");
  assert.equal(found.name, "acme");
  assert.deepEqual(server.log, [
    `GET /v1/organizations/${ORG}/projects?limit=100&q=acme`,
    `GET /v1/organizations/${ORG}/projects?q=acme&page=2`,
  ]);
});

Deno.test("projects.get of an unknown name is a 404 projectNotFound with a hint", async () => {
  await using server = serve(() => Response.json([project("acme-staging")]));

  const error = await rejection(server.api.projects.get("acme"));
  assert.ok(error instanceof ApiError);
  assert.equal(error.status, 404);
  assert.equal(error.code, "projectNotFound");
  assert.match(error.message, /acme/);
  assert.ok(error.hint);
  assert.equal(error.exitCode, ExitCode.notFound);
});

Deno.test("projects.get by UUID reads /projects/{id}", async () => {
  await using server = serve(() => Response.json(project("acme", PROJECT_ID)));

  assert.equal((await server.api.projects.get(PROJECT_ID)).id, PROJECT_ID);
  assert.deepEqual(server.log, [`GET /v1/projects/${PROJECT_ID}`]);
});

Deno.test("list options become the query and all pages are read", async () => {
  await using server = serve((_request, url) => {
    const page = url.searchParams.get("page");
    const next = `<${server.baseUrl}${url.pathname}?page=2&limit=1>; rel="next"`;
    return page === "2"
      ? Response.json([{ id: "d2" }])
      : Response.json([{ id: "d1" }], { headers: { link: next } });
  });

  const deployments = await Array.fromAsync(
    server.api.deployments.list(PROJECT_ID, { limit: 1, sort: "created_at", order: "desc" }),
  );
  assert.deepEqual(deployments.map((deployment) => deployment.id), ["d1", "d2"]);
  assert.equal(
    server.log[0],
    `GET /v1/projects/${PROJECT_ID}/deployments?limit=1&sort=created_at&order=desc`,
  );
});

Deno.test("deployments.create streams a body factory as JSON", async () => {
  let received: { type: string | null; body: unknown } | undefined;
  await using server = serve(async (request) => {
    received = { type: request.headers.get("content-type"), body: await request.json() };
    return Response.json({ id: "abcde12vwxyz", projectId: PROJECT_ID, status: "pending" });
  });
  const json = JSON.stringify({ entryPointUrl: "main.ts", assets: {}, envVars: {} });

  const deployment = await server.api.deployments.create(
    PROJECT_ID,
    () => new Blob([json]).stream(),
  );
  assert.equal(deployment.status, "pending");
  assert.deepEqual(server.log, [`POST /v1/projects/${PROJECT_ID}/deployments`]);
  assert.deepEqual(received, { type: "application/json", body: JSON.parse(json) });
});

Deno.test("streamBuildLogs asks for NDJSON and yields each line", async () => {
  let accept: string | null = null;
  await using server = serve((request) => {
    accept = request.headers.get("accept");
    const lines = [
      '{"level":"info","message":"Building"}\n',
      '{"level":"info","message":"Done"}\n',
    ];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const line = lines.shift();
        if (line === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(line));
      },
    });
    return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
  });

  const entries = await Array.fromAsync(server.api.deployments.streamBuildLogs("abcde12vwxyz"));
  assert.equal(accept, "application/x-ndjson");
  assert.deepEqual(entries.map((entry) => entry.message), ["Building", "Done"]);
  assert.deepEqual(server.log, ["GET /v1/deployments/abcde12vwxyz/build_logs"]);
});

Deno.test("ids are encoded as one path segment and '..' is refused", async () => {
  await using server = serve(() => new Response(null));

  await server.api.deployments.delete("a/b?c");
  assert.deepEqual(server.log, ["DELETE /v1/deployments/a%2Fb%3Fc"]);
  const error = await rejection(server.api.deployments.get(".."));
  assert.ok(error instanceof DeployTenantError);
  assert.equal(error.exitCode, ExitCode.usage);
  assert.equal(server.log.length, 1);
});

Deno.test("an organization call without an organization id is a usage error", async () => {
  const api = new V1Api({ baseUrl: "http://127.0.0.1:9/v1", organizationId: "" });
  const error = await rejection(api.organization());
  assert.ok(error instanceof DeployTenantError);
  assert.equal(error.code, "organizationMissing");
  assert.equal(error.exitCode, ExitCode.usage);
});
