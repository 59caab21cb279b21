/**
 * Users arriving from Deno's own `deno deploy` type its names (README: "Deploy a directory"):
 * `--app` for `--project`, and `app`, `revision` for project and deployment.
 */
import assert from "node:assert/strict";
import { describe, jsonOf, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import type { Deployment, Project } from "../lib/types.ts";

Deno.test("deploy --app is deploy --project", async () => {
  await using host = await startTestHost();
  const app = await writeApp(host, "app", "export default { fetch: () => new Response() };");
  const deployed = await runCli(["deploy", app, "--app", "via-app", "--create", "--json"], {
    env: host.env,
  });
  assert.equal(deployed.code, 0, describe(deployed));
  const project = jsonOf<Project>(
    await runCli(["project", "show", "via-app", "--json"], { env: host.env }),
  );
  assert.equal(jsonOf<Deployment>(deployed).projectId, project.id);

  const both = await runCli(["deploy", app, "--app", "a-one", "-p", "a-two"], {
    env: host.env,
  });
  assert.equal(both.code, 2, describe(both));
  assert.match(both.stderr, /--app.*--project/);
});

Deno.test("apps and revisions, v2's words, point at project and deployments", async () => {
  for (const [word, instead] of [["apps", "project"], ["app", "project"]]) {
    const result = await runCli([word, "list"]);
    assert.equal(result.code, 2, describe(result));
    assert.match(result.stderr, new RegExp(`^error: unknown command '${word}'$`, "m"));
    assert.match(result.stderr, new RegExp(`^hint: .*\`deploy-tenant ${instead} list\``, "m"));
  }
  for (const word of ["revisions", "revision"]) {
    const result = await runCli([word, "list", "acme-crm"]);
    assert.equal(result.code, 2, describe(result));
    assert.match(result.stderr, /^hint: .*`deploy-tenant deployments list <project>`/m);
  }
});
