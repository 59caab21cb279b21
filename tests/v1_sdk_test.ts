/**
 * A client we did not write: a platform's backend on the official Subhosting v1 SDK
 * (`subhosting` on npm) drives a real local host unchanged — see tests/v1_sdk_platform.ts.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startApiHost } from "./helpers/api_host.ts";

const PLATFORM = fileURLToPath(new URL("./v1_sdk_platform.ts", import.meta.url));

/** The steps tests/v1_sdk_platform.ts walks, in order. */
const STEPS = [
  "create a project and a KV database, deploy, follow the build",
  "read the app logs the hook wrote",
  "redeploy with a new env var: a new deployment, the old one kept",
  "attach a custom domain, verify it, route it to the deployment",
  "analytics of the project and of the organization",
  "its typed errors: unknown ids, bad input, a wrong token",
  "delete the deployment, then the project",
];

Deno.test("the official v1 SDK drives the local host unchanged", async () => {
  await using api = await startApiHost({ trustDomains: ["test"] });
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-lock", "-A", PLATFORM],
    env: {
      SUBHOSTING_BASE_URL: api.host.apiUrl,
      DEPLOY_ACCESS_TOKEN: api.host.token,
      DEPLOY_ORG_ID: api.host.organizationId,
      HOST_PORT: String(api.host.port),
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(run.stdout);
  const err = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, `${out}\n${err}`);
  assert.deepEqual(out.trim().split("\n"), STEPS.map((step) => `ok ${step}`), err);
});
