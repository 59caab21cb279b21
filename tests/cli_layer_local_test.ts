/**
 * Layers exist only on Deploy v2, and the local host serves v2 beside v1 from one store: with
 * no API configured, `layer …` uses the local host's v2 API without `--api-version v2`, so the
 * README's tour (`layer set`, `layer attach` after `layer create … --api-version v2`) works as
 * typed. An explicit v1 (`--api-version v1`, a `/v1` URL) is still refused with exit 2.
 */
import assert from "node:assert/strict";
import { describe, runCli, startTestHost } from "./helpers/host.ts";

Deno.test("layer commands use the local host's v2 API unless v1 is asked for", async () => {
  await using host = await startTestHost();
  // No API URL: the CLI finds the host through its data dir, as a user's shell does.
  const env = { DEPLOY_TENANT_DATA_DIR: host.dataDir, XDG_CACHE_HOME: host.env.XDG_CACHE_HOME };
  const project = await runCli(["project", "create", "acme-crm"], { env });
  assert.equal(project.code, 0, describe(project));

  const created = await runCli(["layer", "create", "crm-shared", "SALES_EMAIL=s@acme.example"], {
    env,
  });
  assert.equal(created.code, 0, describe(created));
  const set = await runCli(
    ["layer", "set", "crm-shared", "API_KEY=s3cr3t", "--secret", "--context", "production"],
    { env },
  );
  assert.equal(set.code, 0, describe(set));
  const attached = await runCli(["layer", "attach", "crm-shared", "--project", "acme-crm"], {
    env,
  });
  assert.equal(attached.code, 0, describe(attached));
  const listed = await runCli(["layer", "list"], { env });
  assert.equal(listed.code, 0, describe(listed));
  assert.match(listed.stdout, /crm-shared/);

  const v1 = await runCli(["layer", "list", "--api-version", "v1"], { env });
  assert.equal(v1.code, 2, describe(v1));
  const v1Url = await runCli(["layer", "list"], { env: host.env });
  assert.equal(v1Url.code, 2, describe(v1Url));
});
