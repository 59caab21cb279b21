/**
 * A real host started in this process (`startHost` on port 0 in a temporary data dir), with
 * what API attack tests need: raw requests with any token, a second organization made
 * through the store, and one of each resource per organization.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type HostOptions, type RunningHost, startHost } from "../../host/mod.ts";
import { newToken } from "../../host/store/ids.ts";
import { Store } from "../../host/store/store.ts";
import { closeInvokeClients } from "../../lib/invoke.ts";
import { hasProgram } from "../../lib/programs.ts";
import type { Analytics } from "../../lib/types.ts";

/** A running in-process host. */
export interface ApiHost extends AsyncDisposable {
  host: RunningHost;
  /** `http://127.0.0.1:<port>`: the API is under `/v1`. */
  origin: string;
  /** Sends a request to `origin + path`; `token: null` sends no `Authorization` header. */
  request(method: string, path: string, init?: RequestOptions): Promise<Response>;
  /** Makes another organization and a token for it directly in the store. */
  createOrganization(name: string): { id: string; token: string };
}

/** Options of {@link ApiHost.request}. */
export interface RequestOptions {
  /** Bearer token; default the host's own; `null` for none. */
  token?: string | null;
  /** Sent with `JSON.stringify` and `Content-Type: application/json`. */
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
}

/** One resource of each kind in an organization. */
export interface Resources {
  organizationId: string;
  token: string;
  projectId: string;
  projectName: string;
  deploymentId: string;
  databaseId: string;
  domainId: string;
  domain: string;
  /** A v2 layer. */
  layerId: string;
}

/** A hello-world deployment body. */
export function helloDeployment(text = "hello"): Record<string, unknown> {
  return {
    entryPointUrl: "main.ts",
    envVars: {},
    assets: {
      "main.ts": {
        kind: "file",
        content: `export default { fetch: () => new Response(${JSON.stringify(text)}) };\n`,
        encoding: "utf-8",
      },
    },
  };
}

/**
 * Starts a host in a fresh temporary data dir. Domains under `.test` are verified without
 * DNS, so no test sends traffic beyond loopback.
 */
export async function startApiHost(options: Partial<HostOptions> = {}): Promise<ApiHost> {
  const root = await Deno.makeTempDir({ prefix: "deploy-tenant-api-" });
  const dataDir = join(root, "data");
  const host = await startHost({
    dataDir,
    port: 0,
    trustDomains: ["test"],
    unsandboxed: Deno.env.get("DEPLOY_TENANT_TEST_UNSANDBOXED") === "1",
    // One pooled runtime: see tests/helpers/host.ts.
    warmPoolMemoryMb: 16,
    ...options,
  });
  const origin = new URL(host.apiUrl).origin;
  return {
    host,
    origin,
    request(method, path, { token = host.token, json, body, headers = {} } = {}) {
      const all = new Headers(headers);
      if (token !== null) all.set("authorization", `Bearer ${token}`);
      if (json !== undefined) all.set("content-type", "application/json");
      return fetch(`${origin}${path}`, {
        method,
        headers: all,
        body: json === undefined ? body : JSON.stringify(json),
      });
    },
    createOrganization(name) {
      const store = Store.open(join(host.dataDir, "host.db"));
      try {
        const organization = store.createOrganization(name);
        const token = newToken();
        store.setToken(organization.id, token);
        return { id: organization.id, token };
      } finally {
        store.close();
      }
    },
    async [Symbol.asyncDispose]() {
      closeInvokeClients();
      await host.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/**
 * Defines the test `name` once per data path a request takes to a deployment: `frontProxy`
 * true, "… behind HAProxy" (ignored where HAProxy is not installed), and false, "… through the
 * host's router" (the path where it is not, and a cold start's behind it). `fn` starts its host
 * with `startApiHost({ frontProxy })`; `options` are `Deno.test`'s sanitizers.
 */
export function testEachDataPath(
  name: string,
  fn: (frontProxy: boolean) => Promise<void>,
  options: Pick<Deno.TestDefinition, "sanitizeOps" | "sanitizeResources"> = {},
): void {
  for (const frontProxy of [true, false]) {
    Deno.test({
      name: `${name} ${frontProxy ? "behind HAProxy" : "through the host's router"}`,
      ignore: frontProxy && !hasProgram("haproxy"),
      ...options,
      fn: () => fn(frontProxy),
    });
  }
}

/** Sends a request that must succeed (any 2xx) and returns its JSON (or `null` for an empty body). */
export async function ok<T = Record<string, unknown>>(
  api: ApiHost,
  method: string,
  path: string,
  init: RequestOptions = {},
): Promise<T> {
  const response = await api.request(method, path, init);
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/**
 * What a project has been billed so far: each number of its analytics
 * (`GET /v1/projects/{id}/analytics`) summed over the buckets, by field name, e.g.
 * `networkEgressBytes`. A field the answer lacks is `undefined`, which no comparison passes.
 */
export async function billedUsage(
  api: ApiHost,
  projectId: string,
): Promise<Record<string, number>> {
  const { fields, values } = await ok<Analytics>(api, "GET", `/v1/projects/${projectId}/analytics`);
  const sums: Record<string, number> = {};
  for (const [column, field] of fields.entries()) {
    if (field.type !== "number") continue;
    sums[field.name] = values.reduce((sum, row) => sum + Number(row[column]), 0);
  }
  return sums;
}

/** Creates a project, a deployment (built), a KV database, a domain and a v2 layer through the API. */
export async function createResources(
  api: ApiHost,
  organization: { id: string; token: string },
  prefix: string,
): Promise<Resources> {
  const { id: organizationId, token } = organization;
  const project = await ok(api, "POST", `/v1/organizations/${organizationId}/projects`, {
    token,
    json: { name: `${prefix}-hooks` },
  });
  const projectId = String(project.id);
  const deployment = await ok(api, "POST", `/v1/projects/${projectId}/deployments`, {
    token,
    json: helloDeployment(prefix),
  });
  const deploymentId = String(deployment.id);
  await waitForBuild(api, deploymentId, token);
  const database = await ok(api, "POST", `/v1/organizations/${organizationId}/databases`, {
    token,
    json: { description: prefix },
  });
  const domain = `${prefix}.corpus.test`;
  const created = await ok(api, "POST", `/v1/organizations/${organizationId}/domains`, {
    token,
    json: { domain },
  });
  const layer = await ok(api, "POST", "/v2/layers", { token, json: { slug: `${prefix}-layer` } });
  return {
    organizationId,
    token,
    layerId: String(layer.id),
    projectId,
    projectName: String(project.name),
    deploymentId,
    databaseId: String(database.id),
    domainId: String(created.id),
    domain,
  };
}

/** Polls a deployment until its build ended; returns the final status. */
export async function waitForBuild(
  api: ApiHost,
  deploymentId: string,
  token = api.host.token,
): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const deployment = await ok(api, "GET", `/v1/deployments/${deploymentId}`, { token });
    if (deployment.status !== "pending") return String(deployment.status);
    assert.ok(Date.now() < deadline, `deployment ${deploymentId} still pending after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Creates project `name` and deploys `main.ts` = `code` to it (v1), with `deployment`'s other
 * fields; fails unless it builds. Returns its id and the Host it answers on.
 */
export async function deployModule(
  api: ApiHost,
  name: string,
  code: string,
  deployment: Record<string, unknown> = {},
): Promise<{ id: string; host: string }> {
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name },
  });
  const created = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: { "main.ts": { kind: "file", content: code } },
      ...deployment,
    },
  });
  const id = String(created.id);
  const status = await waitForBuild(api, id);
  if (status !== "success") {
    const logs = await ok<{ message: string }[]>(api, "GET", `/v1/deployments/${id}/build_logs`);
    assert.fail(`${name} did not build:\n${logs.map((line) => line.message).join("\n")}`);
  }
  return { id, host: `${name}-${id}.localhost:${api.host.port}` };
}
