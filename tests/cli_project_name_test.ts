/**
 * A project name the API would refuse is a usage error (exit 2), found before any request.
 */
import assert from "node:assert/strict";
import { describe, runCli } from "./helpers/cli.ts";

Deno.test("project create and rename refuse a malformed name with exit 2, asking no change", async () => {
  // Answers the look-up of project "acme" (rename finds it first); counts every change asked.
  let requests = 0;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    if (request.method === "GET") {
      const now = new Date().toISOString();
      const id = "11111111-1111-4111-8111-111111111111";
      return Response.json([{ id, name: "acme", description: "", createdAt: now, updatedAt: now }]);
    }
    requests++;
    return Response.json({ code: "unexpected", message: "no change was expected" }, {
      status: 500,
    });
  });
  const env = {
    DEPLOY_API_URL: `http://127.0.0.1:${server.addr.port}/v1`,
    DEPLOY_ACCESS_TOKEN: "token",
    DEPLOY_ORG_ID: "00000000-0000-4000-8000-000000000000",
  };
  try {
    for (
      const [args, problem] of [
        [["project", "create", "Acme_CRM"], /may only contain a-z, 0-9 and -/],
        [["project", "create", "acme-handlers"], /the part "handlers" after a hyphen is 8/],
        [["project", "rename", "acme", "x"], /3 to 26 characters/],
      ] as const
    ) {
      const result = await runCli([...args], { env });
      assert.equal(result.code, 2, describe(result));
      assert.match(result.stderr, /^error: Invalid project name "[^"]+": /m);
      assert.match(result.stderr, problem);
      assert.match(result.stderr, /^hint: A project name has 3 to 26 characters/m);
    }
    const json = await runCli(["project", "create", "Acme_CRM", "--json"], { env });
    assert.equal(json.code, 2, describe(json));
    assert.equal(JSON.parse(json.stderr).error.code, "invalidProjectName");
    assert.equal(requests, 0);
  } finally {
    await server.shutdown();
  }
});
