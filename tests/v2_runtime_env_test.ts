/**
 * A revision deployed over v2 sees Deploy's predefined variables
 * (deploy/reference/env_vars_and_contexts.md): `DENO_DEPLOY`, the organization's and app's ids
 * and slugs, `DENO_DEPLOY_BUILD_ID` (the revision) and `DENO_TIMELINE` (`production` for the
 * production revision, `preview/<revision>` for one outside production), beside its own and
 * its app's and layers' variables.
 */
import assert from "node:assert/strict";
import { ok, startApiHost } from "./helpers/api_host.ts";
import { rawGetJson } from "./helpers/raw_http.ts";

const ENV_APP = "Deno.serve(() => Response.json(Deno.env.toObject()));\n";

Deno.test("a v2 revision sees Deploy's predefined variables", async () => {
  await using api = await startApiHost();
  const port = api.host.port;
  const app = await ok(api, "POST", "/v2/apps", {
    json: { slug: "env-probe", env_vars: [{ key: "APP_VAR", value: "app" }] },
  });
  const deploy = async (production: boolean) => {
    const revision = await ok(api, "POST", "/v2/apps/env-probe/deploy", {
      json: {
        assets: { "main.ts": { content: ENV_APP } },
        env_vars: [{ key: "OWN", value: "mine" }],
        production,
        preview: !production,
      },
    });
    for (const deadline = Date.now() + 60_000;;) {
      const now = await ok(api, "GET", `/v2/revisions/${revision.id}`);
      if (now.status === "succeeded") return String(revision.id);
      assert.ok(["queued", "building"].includes(String(now.status)), JSON.stringify(now));
      assert.ok(Date.now() < deadline, "still building after 60 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  /** The environment of the deployment served at `host`. */
  const envAt = (host: string) => rawGetJson(port, host);
  const organizationId = api.host.organizationId;

  const production = await deploy(true);
  assert.deepEqual(await envAt(`env-probe.local.localhost:${port}`), {
    DENO_DEPLOY: "true",
    DENO_DEPLOY_ORG_ID: organizationId,
    DENO_DEPLOY_ORG_SLUG: "local",
    DENO_DEPLOY_APP_ID: String(app.id),
    DENO_DEPLOY_APP_SLUG: "env-probe",
    DENO_DEPLOY_BUILD_ID: production,
    DENO_DEPLOYMENT_ID: production,
    DENO_REGION: "local",
    DENO_TIMELINE: "production",
    // The process's home, as every process has one (the sandbox's /tmp).
    HOME: "/tmp",
    APP_VAR: "app",
    OWN: "mine",
  });

  const preview = await deploy(false);
  const env = await envAt(`env-probe-${preview}.local.localhost:${port}`);
  assert.equal(env.DENO_TIMELINE, `preview/${preview}`);
  assert.equal(env.DENO_DEPLOY_BUILD_ID, preview);
  assert.equal(env.DENO_DEPLOY, "true");
});

Deno.test("a v2 revision's config.runtime.args are its program's arguments (Deno.args), from the app's config too", async () => {
  await using api = await startApiHost();
  const port = api.host.port;
  const ARGS_APP = "Deno.serve(() => Response.json(Deno.args));\n";
  const args = ["--greeting", "hello world", "-v"];
  await ok(api, "POST", "/v2/apps", {
    json: {
      slug: "args-probe",
      config: { runtime: { type: "dynamic", entrypoint: "main.ts", args } },
    },
  });
  const revision = await ok(api, "POST", "/v2/apps/args-probe/deploy", {
    json: { assets: { "main.ts": { content: ARGS_APP } }, production: true },
  });
  for (const deadline = Date.now() + 60_000;;) {
    const now = await ok(api, "GET", `/v2/revisions/${revision.id}`);
    if (now.status === "succeeded") break;
    assert.ok(["queued", "building"].includes(String(now.status)), JSON.stringify(now));
    assert.ok(Date.now() < deadline, "still building after 60 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(await rawGetJson(port, `args-probe.local.localhost:${port}`), args);
});
