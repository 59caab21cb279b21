/**
 * A project's name where a deployment id goes (`logs acme-crm`, as `wrangler tail <worker>` and
 * `fly logs -a <app>` take one): the 404 says it is a project and how to find its deployments.
 */
import assert from "node:assert/strict";
import { describe, runCli, startTestHost, writeApp } from "./helpers/host.ts";

Deno.test("a project name given as a deployment gets a hint naming the project", async () => {
  await using host = await startTestHost();
  const app = await writeApp(host, "app", "export default { fetch: () => new Response() };");
  const deployed = await runCli(["deploy", app, "-p", "hooked", "--create"], { env: host.env });
  assert.equal(deployed.code, 0, describe(deployed));

  for (const version of ["v1", "v2"]) {
    const env = { ...host.env, DEPLOY_API_URL: version === "v1" ? host.apiUrl : host.apiV2Url! };
    for (const args of [["logs", "hooked"], ["deployments", "show", "hooked"]]) {
      const result = await runCli([...args, "--json"], { env });
      assert.equal(result.code, 4, describe(result));
      const { error } = JSON.parse(result.stderr);
      assert.match(
        error.hint,
        /^"hooked" is a project, not a deployment: `deploy-tenant deployments list hooked`/,
        `${version} ${args.join(" ")}`,
      );
    }
  }
  // An id that is neither keeps the general hint.
  const neither = await runCli(["logs", "abcdefghijkl"], { env: host.env });
  assert.equal(neither.code, 4, describe(neither));
  assert.match(neither.stderr, /^hint: `deploy-tenant deployments list <project>`/m);
});
