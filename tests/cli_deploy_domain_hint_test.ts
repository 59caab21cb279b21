/**
 * `deploy --domain <name>` with a name the organization has not registered: the deployment
 * is created and built before the name is attached, so the failure says that it exists and
 * which commands register the name and attach it, not only the API route to call.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, runCli, startTestHost } from "./helpers/host.ts";

Deno.test("deploy --domain with an unregistered name says which commands fix it", async () => {
  const host = await startTestHost();
  try {
    const app = join(host.tempDir, "app");
    await Deno.mkdir(app);
    await Deno.writeTextFile(join(app, "main.ts"), `Deno.serve(() => new Response("hi"));`);
    const result = await runCli(
      ["deploy", app, "-p", "dom", "--create", "--domain", "staging-{project.name}.example.test"],
      { env: host.env },
    );
    assert.equal(result.code, 1, describe(result));
    const id = /Created deployment (\w+)/.exec(result.stderr)?.[1];
    assert.ok(id, describe(result));
    assert.match(result.stderr, /^hint: .*`deploy-tenant domain add staging-dom\.example\.test`/m);
    assert.match(
      result.stderr,
      new RegExp(`\`deploy-tenant domain attach ${id} staging-dom\\.example\\.test\``),
    );

    const json = await runCli(
      ["deploy", app, "-p", "dom", "--domain", "staging-{project.name}.example.test", "--json"],
      { env: host.env },
    );
    assert.equal(json.code, 1, describe(json));
    const error = JSON.parse(json.stderr).error;
    assert.equal(error.code, "domainNotRegistered");
    assert.match(error.hint, /deploy-tenant domain add staging-dom\.example\.test/);
  } finally {
    await host.stop();
  }
});
