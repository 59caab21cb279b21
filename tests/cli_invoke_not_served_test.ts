/**
 * `invoke` of a URL no deployment answers at (a deleted deployment, a typo in the name): the
 * local host's router answers 404 itself, and the CLI says so and exits 4, instead of printing
 * the router's body as the deployment's answer with exit 0. A deployment's own 404 stays its
 * answer.
 */
import assert from "node:assert/strict";
import { describe, jsonOf, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import type { Deployment } from "../lib/types.ts";

Deno.test("invoke of a URL no deployment serves exits 4; a deployment's own 404 exits 0", async () => {
  await using host = await startTestHost();
  const app = await writeApp(
    host,
    "app",
    `export default { fetch: () => new Response("no such lead", { status: 404 }) };`,
  );
  const deploy = () =>
    runCli(["deploy", app, "-p", "served", "--create", "--json"], { env: host.env });
  const kept = jsonOf<Deployment & { url: string }>(await deploy());
  const deleted = jsonOf<Deployment & { url: string }>(await deploy());
  const removed = await runCli(["deployments", "delete", deleted.id, "--yes"], {
    env: host.env,
  });
  assert.equal(removed.code, 0, describe(removed));

  const own = await runCli(["invoke", kept.id, "/lead/42"], { env: host.env });
  assert.equal(own.code, 0, describe(own));
  assert.equal(own.stdout, "no such lead");

  const gone = await runCli(["invoke", `${deleted.url}lead/42`], { env: host.env });
  assert.equal(gone.code, 4, describe(gone));
  assert.equal(gone.stdout, "", "the router's body is not the deployment's answer");
  assert.match(
    gone.stderr,
    new RegExp(`^error: No deployment answers at served-${deleted.id}`, "m"),
  );

  const typo = await runCli(["invoke", kept.url.replace("served", "serevd"), "--json"], {
    env: host.env,
  });
  assert.equal(typo.code, 4, describe(typo));
  assert.equal(JSON.parse(typo.stderr).error.code, "deploymentNotServed");
});
