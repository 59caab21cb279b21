/**
 * A platform's backend on the official Subhosting v1 SDK (`subhosting` on npm, generated from
 * the v1 OpenAPI file), as a program of its own: run by tests/v1_sdk_test.ts against a local
 * host (`SUBHOSTING_BASE_URL`, `DEPLOY_ACCESS_TOKEN`, `DEPLOY_ORG_ID`, `HOST_PORT`), it walks
 * a customer's life — project, KV database, deploy, logs, redeploy, custom domain, analytics,
 * typed errors, deletes — printing `ok <step>` after each, and throws at the first surprise.
 *
 * Run with `--no-lock`: the SDK depends on Node 18's types (`@types/node`), which, once in the
 * lock file, replace Deno's own in the type check of every file here. For the same reason it is
 * imported by a name the type checker does not follow, and {@link Sdk} says what is called.
 *
 * @module
 */
import assert from "node:assert/strict";
import { rawGetJson } from "./helpers/raw_http.ts";

/** The SDK's surface this program calls. */
interface Sdk {
  organizations: {
    get(id: string): Promise<{ id: string }>;
    projects: {
      create(org: string, body: { name: string; description: string }): Promise<Project>;
      list(org: string, query: { q: string }): Promise<Project[]>;
    };
    databases: {
      create(org: string, body: { description: string }): Promise<Database>;
      list(org: string): Promise<Database[]>;
    };
    domains: {
      create(org: string, body: { domain: string }): Promise<Domain>;
      list(org: string): Promise<Domain[]>;
    };
    analytics: { get(org: string, query: Span): Promise<Analytics> };
  };
  projects: {
    get(id: string): Promise<Project>;
    update(id: string, body: { description: string }): Promise<Project>;
    delete(id: string): Promise<void>;
    deployments: {
      create(project: string, body: Record<string, unknown>): Promise<Deployment>;
      list(project: string): Promise<Deployment[]>;
    };
    analytics: { get(project: string, query: Span): Promise<Analytics> };
  };
  databases: { update(id: string, body: { description: string }): Promise<Database> };
  deployments: {
    get(id: string): Promise<Deployment>;
    delete(id: string): Promise<void>;
    redeploy(id: string, body: Record<string, unknown>): Promise<Deployment>;
    buildLogs: { get(id: string): Promise<{ level: string; message: string }[]> };
    appLogs: {
      get(id: string, query: { q: string; since: string }): Promise<{ message: string }[]>;
    };
  };
  domains: {
    get(id: string): Promise<Domain>;
    verify(id: string): Promise<void>;
    update(id: string, body: { deploymentId: string }): Promise<void>;
  };
}
interface Project {
  id: string;
  name: string;
  description: string;
}
interface Database {
  id: string;
  description: string;
}
interface Deployment {
  id: string;
  status: string;
  domains?: string[];
}
interface Domain {
  id: string;
  domain: string;
  isValidated: boolean;
  deploymentId?: string;
}
interface Span {
  since: string;
  until: string;
}
interface Analytics {
  fields: unknown[];
  values: unknown[];
}
type SdkModule = {
  default: new (options: { bearerToken: string; baseURL: string; maxRetries: number }) => Sdk;
  AuthenticationError: ErrorConstructor;
  BadRequestError: ErrorConstructor;
  NotFoundError: ErrorConstructor;
};
const SDK = "npm:subhosting@0.1.0-alpha.1";
const { default: Subhosting, AuthenticationError, BadRequestError, NotFoundError } =
  (await import(SDK)) as SdkModule;

const HOOK = `Deno.serve(async () => {
  const kv = await Deno.openKv();
  const seen = await kv.atomic().sum(["calls"], 1n).commit();
  console.log("lead captured");
  return Response.json({
    stage: Deno.env.get("STAGE") ?? null,
    key: Deno.env.get("API_KEY") ?? null,
    kv: seen.ok,
  });
});
`;

const organizationId = Deno.env.get("DEPLOY_ORG_ID")!;
const baseURL = Deno.env.get("SUBHOSTING_BASE_URL")!;
const port = Number(Deno.env.get("HOST_PORT"));
const sdk = new Subhosting({
  bearerToken: Deno.env.get("DEPLOY_ACCESS_TOKEN")!,
  baseURL,
  maxRetries: 0,
});

/** Runs one step of the walk and says it passed. */
async function step(name: string, fn: () => Promise<void>): Promise<void> {
  await fn();
  console.log(`ok ${name}`);
}

/** Waits for deployment `id`'s build to end; its final state. */
async function built(id: string): Promise<Deployment> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const deployment = await sdk.deployments.get(id);
    if (deployment.status !== "pending") return deployment;
    assert.ok(Date.now() < deadline, "still building after 60 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The hook's JSON answer at `domain`, sent to the host's port with it as the Host. */
const call = (domain: string) => rawGetJson<Record<string, unknown>>(port, domain);

/** A rejection's error; fails when `promise` resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

const organization = await sdk.organizations.get(organizationId);
assert.equal(organization.id, organizationId);
const project = await sdk.organizations.projects.create(organizationId, {
  name: "sdk-v1-hooks",
  description: "customer 42",
});
const database = await sdk.organizations.databases.create(organizationId, {
  description: "customer 42's data",
});
let deploymentId = "";
let domain = "";

await step("create a project and a KV database, deploy, follow the build", async () => {
  assert.equal(project.name, "sdk-v1-hooks");
  assert.equal((await sdk.projects.get(project.id)).description, "customer 42");
  // Updates are PATCHes, which the SDK's fetch sends as `patch`.
  await sdk.projects.update(project.id, { description: "customer 42 (gold)" });
  assert.equal((await sdk.projects.get(project.id)).description, "customer 42 (gold)");
  await sdk.databases.update(database.id, { description: "hooks' data" });
  const projects = await sdk.organizations.projects.list(organizationId, { q: "sdk-v1" });
  assert.deepEqual(projects.map((p) => p.id), [project.id]);
  const databases = await sdk.organizations.databases.list(organizationId);
  assert.equal(databases.find((d) => d.id === database.id)?.description, "hooks' data");

  const deployment = await sdk.projects.deployments.create(project.id, {
    entryPointUrl: "main.ts",
    assets: { "main.ts": { kind: "file", content: HOOK, encoding: "utf-8" } },
    envVars: { STAGE: "staging" },
    databases: { default: database.id },
    description: "first hook",
  });
  assert.equal(deployment.status, "pending");
  const done = await built(deployment.id);
  assert.equal(done.status, "success", JSON.stringify(done));
  deploymentId = done.id;
  domain = done.domains![0];
  assert.deepEqual(await call(domain), { stage: "staging", key: null, kv: true });
  const logs = await sdk.deployments.buildLogs.get(deploymentId);
  assert.ok(Array.isArray(logs) && logs.length > 0, JSON.stringify(logs));
  assert.ok(logs.every((line) => typeof line.message === "string"));
  const listed = await sdk.projects.deployments.list(project.id);
  assert.deepEqual(listed.map((d) => d.id), [deploymentId]);
});

await step("read the app logs the hook wrote", async () => {
  const since = new Date(Date.now() - 60_000).toISOString();
  const deadline = Date.now() + 10_000;
  let logs: { message: string }[] = [];
  while (!logs.some((line) => line.message.includes("lead captured"))) {
    assert.ok(Date.now() < deadline, JSON.stringify(logs));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Past logs (with `since`; without, the API streams live ones).
    logs = await sdk.deployments.appLogs.get(deploymentId, { q: "lead", since });
  }
});

await step("redeploy with a new env var: a new deployment, the old one kept", async () => {
  const next = await sdk.deployments.redeploy(deploymentId, {
    env_vars: { API_KEY: "k-1" },
  });
  assert.notEqual(next.id, deploymentId);
  const done = await built(next.id);
  assert.equal(done.status, "success");
  assert.deepEqual(await call(done.domains![0]), { stage: "staging", key: "k-1", kv: true });
  assert.deepEqual(await call(domain), { stage: "staging", key: null, kv: true });
});

await step("attach a custom domain, verify it, route it to the deployment", async () => {
  const custom = await sdk.organizations.domains.create(organizationId, {
    domain: "hooks.acme.test",
  });
  assert.equal(custom.domain, "hooks.acme.test");
  await sdk.domains.verify(custom.id);
  await sdk.domains.update(custom.id, { deploymentId });
  const seen = await sdk.domains.get(custom.id);
  assert.equal(seen.isValidated, true);
  assert.equal(seen.deploymentId, deploymentId);
  const listed = await sdk.organizations.domains.list(organizationId);
  assert.deepEqual(listed.map((d) => d.domain), ["hooks.acme.test"]);
  assert.deepEqual(await call("hooks.acme.test"), {
    stage: "staging",
    key: null,
    kv: true,
  });
});

await step("analytics of the project and of the organization", async () => {
  const since = new Date(Date.now() - 3_600_000).toISOString();
  const until = new Date(Date.now() + 60_000).toISOString();
  const projectAnalytics = await sdk.projects.analytics.get(project.id, { since, until });
  assert.ok(Array.isArray(projectAnalytics.fields), JSON.stringify(projectAnalytics));
  assert.ok(Array.isArray(projectAnalytics.values));
  const organizationAnalytics = await sdk.organizations.analytics.get(organizationId, {
    since,
    until,
  });
  assert.ok(Array.isArray(organizationAnalytics.fields));
});

await step("its typed errors: unknown ids, bad input, a wrong token", async () => {
  assert.ok(
    (await rejection(sdk.deployments.get("nosuchdeployment"))) instanceof NotFoundError,
  );
  assert.ok(
    (await rejection(sdk.projects.deployments.create(project.id, {
      entryPointUrl: "main.ts",
      assets: {},
      envVars: { "": "x" },
    }))) instanceof BadRequestError,
  );
  const stranger = new Subhosting({
    bearerToken: "ddp_not_a_token",
    baseURL,
    maxRetries: 0,
  });
  assert.ok(
    (await rejection(stranger.organizations.get(organizationId))) instanceof
      AuthenticationError,
  );
});

await step("delete the deployment, then the project", async () => {
  await sdk.deployments.delete(deploymentId);
  assert.ok((await rejection(sdk.deployments.get(deploymentId))) instanceof NotFoundError);
  await sdk.projects.delete(project.id);
  assert.ok((await rejection(sdk.projects.get(project.id))) instanceof NotFoundError);
});
