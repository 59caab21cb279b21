/**
 * What the CLI says when the API does not know the organization, deployment or database it
 * was given: the error, exit 4, and a hint on where the right id is (or which setting named
 * the wrong organization).
 */
import assert from "node:assert/strict";
import { describe, runCli } from "./helpers/cli.ts";

/** An API that knows nothing: every request is the 404 a real one gives for its path. */
function emptyApi() {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    const [code, message] = path.startsWith("/v1/organizations/")
      ? ["organizationNotFound", "Organization nope was not found"]
      : path.startsWith("/v1/deployments/")
      ? ["deploymentNotFound", "Deployment acme-crm was not found"]
      : path.startsWith("/v1/databases/")
      ? ["databaseNotFound", "KV database 5b484959 was not found"]
      : path.startsWith("/v2/revisions/")
      ? ["REVISION_NOT_FOUND", 'Revision "abcdefghijkl" was not found']
      : ["notFound", "no such path"];
    return Response.json({ code, message }, { status: 404 });
  });
  const origin = `http://127.0.0.1:${server.addr.port}`;
  return {
    env: (version = "v1") => ({
      DEPLOY_API_URL: `${origin}/${version}`,
      DEPLOY_ACCESS_TOKEN: "token",
      DEPLOY_ORG_ID: "nope",
    }),
    stop: () => server.shutdown(),
  };
}

Deno.test("an unknown organization, deployment or database gets a hint on what to check", async () => {
  const api = emptyApi();
  try {
    const cases: [string[], string, RegExp, RegExp][] = [
      [["project", "list"], "v1", /Organization nope was not found/, /--org or DEPLOY_ORG_ID/],
      [["logs", "acme-crm"], "v1", /Deployment acme-crm/, /deployments list <project>/],
      [["deployments", "show", "acme-crm"], "v1", /Deployment acme-crm/, /deployments list/],
      [["env", "list", "acme-crm"], "v1", /Deployment acme-crm/, /deployments list/],
      [["deployments", "show", "abcdefghijkl"], "v2", /Revision "abcdefghijkl"/, /revisions/],
      [["db", "rename", "5b484959", "x"], "v1", /KV database 5b484959/, /`deploy-tenant db list`/],
    ];
    for (const [args, version, message, hint] of cases) {
      const result = await runCli(args, { env: api.env(version) });
      assert.equal(result.code, 4, describe(result));
      assert.match(result.stderr, new RegExp(`^error: .*${message.source}`, "m"), args.join(" "));
      assert.match(result.stderr, new RegExp(`^hint: .*${hint.source}`, "m"), args.join(" "));

      const json = await runCli([...args, "--json"], { env: api.env(version) });
      assert.equal(json.code, 4, describe(json));
      assert.match(JSON.parse(json.stderr).error.hint, hint);
    }
  } finally {
    await api.stop();
  }
});
