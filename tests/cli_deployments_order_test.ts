/**
 * `deployments list` is oldest first, as its help says, on v1 and v2 alike: a script's
 * `| tail -1` is the newest deployment whichever API the CLI points at (v2 lists revisions
 * newest first).
 */
import assert from "node:assert/strict";
import { describe, jsonOf, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import type { Deployment } from "../lib/types.ts";

Deno.test("deployments list is oldest first on v1 and on v2", async () => {
  await using host = await startTestHost();
  const app = await writeApp(host, "app", "export default { fetch: () => new Response() };");
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const deployed = await runCli(["deploy", app, "-p", "ordered", "--create", "--json"], {
      env: host.env,
    });
    assert.equal(deployed.code, 0, describe(deployed));
    ids.push(jsonOf<Deployment>(deployed).id);
  }
  for (const version of ["v1", "v2"]) {
    const env = { ...host.env, DEPLOY_API_URL: version === "v1" ? host.apiUrl : host.apiV2Url! };
    const json = await runCli(["deployments", "list", "ordered", "--json"], { env });
    assert.deepEqual(jsonOf<{ id: string }[]>(json).map((d) => d.id), ids, version);
    const text = await runCli(["deployments", "list", "ordered"], { env });
    const rows = text.stdout.trim().split("\n").slice(1).map((line) => line.split(" ")[0]);
    assert.deepEqual(rows, ids, `${version}\n${describe(text)}`);
  }
});
