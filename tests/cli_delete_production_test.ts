/**
 * `deployments delete` of the deployment that serves production: the project's production
 * name goes down with it, and the CLI says so and how to bring it back.
 */
import assert from "node:assert/strict";
import { jsonOf, runCliOk, startTestHost, writeApp } from "./helpers/host.ts";
import type { Deployment } from "../lib/types.ts";

Deno.test("deleting the production deployment warns that production no longer answers", async () => {
  await using host = await startTestHost({ args: ["--warm-pool", "0"] });
  const cli = (...args: string[]) => runCliOk(args, { env: host.env });
  const app = await writeApp(host, "app", "export default { fetch: () => new Response() };");
  const prod = jsonOf<Deployment>(
    await cli("deploy", app, "-p", "doomed", "--create", "--prod", "--json"),
  );
  const other = jsonOf<Deployment>(await cli("deploy", app, "-p", "doomed", "--json"));

  const plain = await cli("deployments", "delete", other.id, "--yes");
  assert.equal(plain.stderr, "", "not production: nothing to warn about");

  const deleted = await cli("deployments", "delete", prod.id, "--yes");
  assert.equal(deleted.stdout, `Deleted deployment ${prod.id}\n`);
  assert.match(
    deleted.stderr,
    new RegExp(
      `^warning: doomed\\.localhost no longer answers: deployment ${prod.id} was production ` +
        "of project doomed\\. Promote another with `deploy-tenant deployments promote <id>`",
      "m",
    ),
  );

  const again = jsonOf<Deployment>(await cli("deploy", app, "-p", "doomed", "--prod", "--json"));
  const json = await cli("deployments", "delete", again.id, "--yes", "--json");
  assert.deepEqual(JSON.parse(json.stdout), {
    id: again.id,
    deleted: true,
    production: "doomed.localhost",
  });
  assert.equal(json.stderr, "", "under --json stderr holds nothing but errors");
});
