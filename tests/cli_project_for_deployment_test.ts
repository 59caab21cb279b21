/**
 * A project's name where a deployment goes. `logs` and `invoke` take it for the project's
 * production deployment, as `deployctl logs --project`, `wrangler tail <worker>` and `fly logs -a
 * <app>` do; commands that change or delete a deployment do not guess, and their 404 says it is a
 * project and how to find its deployments.
 */
import assert from "node:assert/strict";
import { describe, runCli, startTestHost, writeApp } from "./helpers/host.ts";

/** An app that answers `name` and logs it at each request. */
const app = (name: string) =>
  `export default { fetch() { console.log("served by ${name}"); return new Response("${name}"); } };`;

Deno.test("logs and invoke take a project for its production deployment, else its newest", async () => {
  await using host = await startTestHost();
  const deploy = async (name: string, flags: string[]) => {
    const dir = await writeApp(host, name, app(name));
    const result = await runCli(["deploy", dir, "-p", "hooked", "--json", ...flags], {
      env: host.env,
    });
    assert.equal(result.code, 0, describe(result));
    return JSON.parse(result.stdout).id as string;
  };
  const first = await deploy("first", ["--create"]);
  // No production yet: the newest that serves.
  const invokeNewest = await runCli(["invoke", "hooked"], { env: host.env });
  assert.equal(invokeNewest.stdout, "first", describe(invokeNewest));

  const production = await deploy("production", ["--prod"]);
  await deploy("preview", []); // newer, not production
  for (const version of ["v1", "v2"]) {
    const env = { ...host.env, DEPLOY_API_URL: version === "v1" ? host.apiUrl : host.apiV2Url! };
    const invoked = await runCli(["invoke", "hooked", "/"], { env });
    assert.equal(invoked.code, 0, `${version}: ${describe(invoked)}`);
    assert.equal(invoked.stdout, "production", `${version}: ${describe(invoked)}`);
  }
  const logs = await runCli(["logs", "hooked"], { env: host.env });
  assert.equal(logs.code, 0, describe(logs));
  assert.match(logs.stdout, /served by production/);
  assert.doesNotMatch(logs.stdout, /served by (first|preview)/);
  // Which deployment it is goes to stderr: stdout stays the lines.
  assert.match(logs.stderr, new RegExp(`Deployment ${production} of project hooked`));
  // A deployment id is still that deployment.
  const byId = await runCli(["invoke", first], { env: host.env });
  assert.equal(byId.stdout, "first", describe(byId));

  const neither = await runCli(["logs", "abcdefghijkl"], { env: host.env });
  assert.equal(neither.code, 4, describe(neither));
  assert.match(neither.stderr, /^error: No deployment or project is named "abcdefghijkl"/m);
  assert.match(neither.stderr, /^hint: `deploy-tenant deployments list <project>`/m);
});

Deno.test("a project with no deployment that serves says so to logs and invoke", async () => {
  await using host = await startTestHost();
  const created = await runCli(["project", "create", "empty-one"], { env: host.env });
  assert.equal(created.code, 0, describe(created));
  for (const args of [["logs", "empty-one"], ["invoke", "empty-one"]]) {
    const result = await runCli(args, { env: host.env });
    assert.equal(result.code, 4, describe(result));
    assert.match(result.stderr, /^error: Project empty-one has no deployment that serves/m);
    assert.match(result.stderr, /^hint: Deploy one with `deploy-tenant deploy <dir> --project/m);
  }
});

Deno.test("a project name given to deployments show gets a hint naming the project", async () => {
  await using host = await startTestHost();
  const dir = await writeApp(host, "app", "export default { fetch: () => new Response() };");
  const deployed = await runCli(["deploy", dir, "-p", "hooked", "--create"], { env: host.env });
  assert.equal(deployed.code, 0, describe(deployed));

  for (const version of ["v1", "v2"]) {
    const env = { ...host.env, DEPLOY_API_URL: version === "v1" ? host.apiUrl : host.apiV2Url! };
    const result = await runCli(["deployments", "show", "hooked", "--json"], { env });
    assert.equal(result.code, 4, describe(result));
    const { error } = JSON.parse(result.stderr);
    assert.match(
      error.hint,
      /^"hooked" is a project, not a deployment: `deploy-tenant deployments list hooked`/,
      version,
    );
  }
  // An id that is neither keeps the general hint.
  const neither = await runCli(["deployments", "show", "abcdefghijkl"], { env: host.env });
  assert.equal(neither.code, 4, describe(neither));
  assert.match(neither.stderr, /^hint: `deploy-tenant deployments list <project>`/m);
});
