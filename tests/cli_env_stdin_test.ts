/**
 * `-` as an env file reads stdin, as `fly secrets import` and `kubectl apply -f -` do: a CI job
 * pipes its secrets in without writing them to a file first.
 */
import assert from "node:assert/strict";
import { describe, jsonOf, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import type { Deployment } from "../lib/types.ts";

Deno.test("env load <deployment> - and deploy --env-file - read the variables from stdin", async () => {
  await using host = await startTestHost();
  const app = await writeApp(host, "app", "export default { fetch: () => new Response() };");
  const deployed = await runCli(
    ["deploy", app, "-p", "stdin-env", "--create", "--env-file", "-", "--json"],
    { env: host.env, stdin: "FROM_DEPLOY=1\nexport QUOTED='a b'\n" },
  );
  assert.equal(deployed.code, 0, describe(deployed));
  const first = jsonOf<Deployment>(deployed);
  const listed = await runCli(["env", "list", first.id, "--show-values"], { env: host.env });
  assert.equal(listed.stdout, 'FROM_DEPLOY=1\nQUOTED="a b"\n', describe(listed));

  const loaded = await runCli(["env", "load", first.id, "-"], {
    env: host.env,
    stdin: "SECRET=s3cr3t\n",
  });
  assert.equal(loaded.code, 0, describe(loaded));
  assert.match(loaded.stderr, /set SECRET from stdin/, describe(loaded));
  const id = loaded.stdout.match(/as (\w+)/)?.[1];
  assert.ok(id, describe(loaded));
  const after = await runCli(["env", "list", id, "--show-values"], { env: host.env });
  assert.match(after.stdout, /^SECRET=s3cr3t$/m, describe(after));

  // A malformed line is named by where it came from.
  const bad = await runCli(["env", "load", id, "-"], { env: host.env, stdin: "oops\n" });
  assert.equal(bad.code, 2, describe(bad));
  assert.match(bad.stderr, /^error: stdin:1: expected KEY=VALUE/m);
});
