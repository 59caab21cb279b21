/**
 * What the CLI says when the API does not know the organization, deployment or database it
 * was given: the error, exit 4, and a hint on where the right id is (or which setting named
 * the wrong organization).
 */
import assert from "node:assert/strict";
import { describe, runCli } from "./helpers/cli.ts";
import { startTestHost } from "./helpers/host.ts";

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
      [
        ["logs", "acme-crm"],
        "v1",
        // Not "no such deployment or project": the project was looked for in another organization.
        /Organization nope was not found/,
        /--org or DEPLOY_ORG_ID/,
      ],
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

Deno.test("an --api without its version path gets a hint naming the URL to use", async () => {
  // A remote host's address as its operator gives it (http://host:port), without /v1: every
  // command read "No such endpoint: GET /organizations/…/projects" and nothing else.
  await using host = await startTestHost();
  const origin = new URL(host.apiUrl).origin;
  for (const args of [["project", "list"], ["deployments", "list", "acme-crm"]]) {
    const result = await runCli(args, { env: { ...host.env, DEPLOY_API_URL: origin } });
    assert.equal(result.code, 4, describe(result));
    assert.match(
      result.stderr,
      new RegExp(`^hint: .*--api.*${escape(origin)}/v1 `, "m"),
      describe(result),
    );
  }
  // deploy names the same mistake, not "Project acme-crm does not exist, pass --create".
  const app = new URL("../examples/hooks", import.meta.url).pathname;
  const deploy = await runCli(["deploy", app, "-p", "acme-crm"], {
    env: { ...host.env, DEPLOY_API_URL: origin },
  });
  assert.equal(deploy.code, 4, describe(deploy));
  assert.doesNotMatch(deploy.stderr, /does not exist|--create/, describe(deploy));
  assert.match(deploy.stderr, new RegExp(`^hint: .*${escape(origin)}/v1 `, "m"));
  // So does a wrong organization: its own error, not the project's.
  const org = await runCli(["deploy", app, "-p", "acme-crm"], {
    env: { ...host.env, DEPLOY_ORG_ID: "00000000-0000-4000-8000-000000000000" },
  });
  assert.equal(org.code, 4, describe(org));
  assert.match(org.stderr, /^error: Organization 0{8}-.* was not found/m, describe(org));
  // The same URL with its version works, which is what the hint promises.
  const right = await runCli(["project", "list"], {
    env: { ...host.env, DEPLOY_API_URL: `${origin}/v1` },
  });
  assert.equal(right.code, 0, describe(right));
});

function escape(text: string): string {
  return text.replaceAll(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
