/**
 * `deploy --domain <name>` with a name the organization has not registered: the deployment
 * is created and built before the name is attached, so the failure says that it exists and
 * which commands register the name and attach it, not only the API route to call.
 */
import assert from "node:assert/strict";
import { deployApp, describe, runCli, startTestHost, writeApp } from "./helpers/host.ts";

Deno.test("deploy --domain with an unregistered name says which commands fix it", async () => {
  await using host = await startTestHost();
  const app = await writeApp(host, "app", `Deno.serve(() => new Response("hi"));`);
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
});

Deno.test("domain attach of a name not registered or not verified says which commands fix it", async () => {
  // The API's message names its routes ("POST /domains/<uuid>/verify"): no command to type.
  await using host = await startTestHost();
  const { id } = await deployApp(host, "dom", `Deno.serve(() => new Response("hi"));`);

  const unregistered = await runCli(["domain", "attach", id, "shop.example.org"], {
    env: host.env,
  });
  assert.equal(unregistered.code, 1, describe(unregistered));
  assert.match(
    unregistered.stderr,
    /^hint: .*`deploy-tenant domain add shop\.example\.org`.*`deploy-tenant domain verify shop\.example\.org`/m,
    describe(unregistered),
  );

  // Registered, not verified (names outside the host's --trust-domain need real DNS).
  const added = await runCli(["domain", "add", "shop.example.org"], { env: host.env });
  assert.equal(added.code, 0, describe(added));
  const unverified = await runCli(["domain", "attach", id, "shop.example.org"], {
    env: host.env,
  });
  assert.equal(unverified.code, 1, describe(unverified));
  assert.doesNotMatch(unverified.stderr, /^hint: .*domain add/m, describe(unverified));
  assert.match(
    unverified.stderr,
    /^hint: .*`deploy-tenant domain show shop\.example\.org`.*`deploy-tenant domain verify shop\.example\.org`/m,
    describe(unverified),
  );
});
