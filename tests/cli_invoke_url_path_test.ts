/**
 * `invoke <url>` requests the URL as given, its path and query included, as the README's
 * `deploy-tenant invoke http://acme-crm-….localhost:8000/lead -d @lead.json` does (curl
 * habits); a `[path]` argument replaces them, and a deployment id with no path requests `/`.
 */
import assert from "node:assert/strict";
import { describe, jsonOf, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import type { Deployment } from "../lib/types.ts";

Deno.test("invoke of a URL requests its own path and query unless a path is given", async () => {
  await using host = await startTestHost();
  const app = await writeApp(
    host,
    "app",
    `export default {
  fetch: (request: Request) => {
    const url = new URL(request.url);
    return new Response(request.method + " " + url.pathname + url.search);
  },
};`,
  );
  const deployed = jsonOf<Deployment & { url: string }>(
    await runCli(["deploy", app, "-p", "echo-path", "--create", "--json"], { env: host.env }),
  );

  const byUrl = await runCli(["invoke", `${deployed.url}lead?dry=1`, "-d", "{}"], {
    env: host.env,
  });
  assert.equal(byUrl.code, 0, describe(byUrl));
  assert.equal(byUrl.stdout, "POST /lead?dry=1");

  const replaced = await runCli(["invoke", `${deployed.url}lead`, "/other"], { env: host.env });
  assert.equal(replaced.code, 0, describe(replaced));
  assert.equal(replaced.stdout, "GET /other");

  const byId = await runCli(["invoke", deployed.id], { env: host.env });
  assert.equal(byId.code, 0, describe(byId));
  assert.equal(byId.stdout, "GET /");
});
