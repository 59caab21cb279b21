/**
 * A process runs in its deployment's context: `production` while it holds its project's
 * production name, else `development` (deploy/reference/env_vars_and_contexts.md). When the name
 * moves (a promote, a domain attached or detached, a new production build), the processes on both
 * sides start again with their new context's variables and `DENO_TIMELINE`, as on Deploy, where
 * the production timeline and a preview timeline run apart.
 */
import assert from "node:assert/strict";
import { deployModule, ok, startApiHost } from "./helpers/api_host.ts";
import { rawGetJson } from "./helpers/raw_http.ts";

const ENV_APP = `Deno.serve(() => Response.json({
  timeline: Deno.env.get("DENO_TIMELINE"),
  prod: Deno.env.get("ONLY_PROD") ?? null,
  dev: Deno.env.get("ONLY_DEV") ?? null,
}));
`;

const CONTEXT_VARS = [
  { key: "ONLY_PROD", value: "p", contexts: ["production"] },
  { key: "ONLY_DEV", value: "d", contexts: ["development"] },
];

async function deployRevision(
  api: Awaited<ReturnType<typeof startApiHost>>,
  app: string,
  production: boolean,
): Promise<string> {
  const revision = await ok(api, "POST", `/v2/apps/${app}/deploy`, {
    json: { assets: { "main.ts": { content: ENV_APP } }, production, preview: !production },
  });
  for (const deadline = Date.now() + 60_000;;) {
    const now = await ok(api, "GET", `/v2/revisions/${revision.id}`);
    if (now.status === "succeeded") return String(revision.id);
    assert.ok(["queued", "building"].includes(String(now.status)), JSON.stringify(now));
    assert.ok(Date.now() < deadline, "still building after 60 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("a promote moves the production context: the demoted revision runs as a preview again", async () => {
  await using api = await startApiHost();
  const port = api.host.port;
  await ok(api, "POST", "/v2/apps", { json: { slug: "ctx", env_vars: CONTEXT_VARS } });
  const first = await deployRevision(api, "ctx", true);
  const second = await deployRevision(api, "ctx", false);
  const at = (revision: string) => rawGetJson(port, `ctx-${revision}.local.localhost:${port}`);
  assert.deepEqual(await at(first), { timeline: "production", prod: "p", dev: null });

  await ok(api, "POST", `/v2/revisions/${second}/promote`);
  assert.deepEqual(await rawGetJson(port, `ctx.local.localhost:${port}`), {
    timeline: "production",
    prod: "p",
    dev: null,
  });
  assert.deepEqual(await at(first), { timeline: `preview/${first}`, prod: null, dev: "d" });

  // A new production build takes the name the same way.
  const third = await deployRevision(api, "ctx", true);
  assert.deepEqual(await at(third), { timeline: "production", prod: "p", dev: null });
  assert.deepEqual(await at(second), { timeline: `preview/${second}`, prod: null, dev: "d" });
});

Deno.test("attaching a project's production name (v1, as deploy --prod does) starts the deployment in the production context", async () => {
  await using api = await startApiHost();
  const port = api.host.port;
  const { id, host } = await deployModule(api, "ctx-one", ENV_APP);
  const project = await ok(api, "GET", `/v1/deployments/${id}`);
  await ok(api, "PATCH", `/v2/apps/${project.projectId}`, { json: { env_vars: CONTEXT_VARS } });
  assert.deepEqual(await rawGetJson(port, host), {
    timeline: `preview/${id}`,
    prod: null,
    dev: "d",
  });

  await ok(api, "PUT", `/v1/deployments/${id}/domains/ctx-one.localhost`);
  assert.deepEqual(await rawGetJson(port, `ctx-one.localhost:${port}`), {
    timeline: "production",
    prod: "p",
    dev: null,
  });

  await ok(api, "DELETE", `/v1/deployments/${id}/domains/ctx-one.localhost`);
  assert.deepEqual(await rawGetJson(port, host), {
    timeline: `preview/${id}`,
    prod: null,
    dev: "d",
  });
});
