/**
 * A deployment whose modules fail to load says why the same way whether a pooled runtime or a
 * fresh process booted it (a build's check takes a pooled runtime when there is one): Deno's own
 * `error: …` naming the file and line, not a TypeError coded ERR_MODULE_NOT_FOUND for a syntax
 * error, and no frame of the bootstrap.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { deploymentDirs, TenantStartError } from "../host/tenant/runtime.ts";
import { requires } from "./helpers/programs.ts";
import { isolation, poolableDeployment, pooledRuntime } from "./helpers/pooled_runtime.ts";
import { waitFor } from "./helpers/wait_for.ts";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";

const BROKEN: Record<string, { files: Record<string, string>; says: RegExp }> = {
  syntax: {
    files: {
      "main.ts": `import "./util.ts";\nDeno.serve(() => new Response("ok"));\n`,
      "util.ts": `export const a = 1;\nexport function broken( {\n  return 2;\n}\n`,
    },
    says: /^error: SyntaxError: .*\n(?:.*\n)*\s+at file:\/\/\/app\/util\.ts:3:10$/m,
  },
  missing: {
    files: {
      "main.ts": `import { x } from "./lib/missing.ts";\nDeno.serve(() => new Response(x));\n`,
    },
    says:
      /^error: Module not found "file:\/\/\/app\/lib\/missing\.ts"\.\n\s+at file:\/\/\/app\/main\.ts:1:19$/m,
  },
};

Deno.test(requires(["bwrap"], {
  name: "a module that fails to load is reported as Deno reports it, pooled or not",
  ignore: isolation.kind !== "bwrap",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-load-error-" });
    const deploymentsDir = join(root, "deployments");
    const runtime = pooledRuntime(root);
    try {
      for (const [name, { files, says }] of Object.entries(BROKEN)) {
        for (const pooled of [true, false]) {
          const id = `${name}-${pooled ? "pooled" : "fresh"}`;
          const { app } = deploymentDirs(deploymentsDir, id);
          await Deno.mkdir(app, { recursive: true });
          for (const [path, text] of Object.entries(files)) {
            await Deno.writeTextFile(join(app, path), text);
          }
          let failure: unknown;
          if (pooled) {
            runtime.warmUp();
            await waitFor(() => Promise.resolve(runtime.pooled === 1));
            const handed = await runtime.forRequest(poolableDeployment(id));
            await handed.serving.catch((error) => failure = error);
          } else {
            // Not poolable (a config among its files): a fresh process.
            await Deno.writeTextFile(join(app, "deno.json"), "{}");
            await runtime.ensure(poolableDeployment(id), "check").catch((error) => failure = error);
          }
          assert.ok(failure instanceof TenantStartError, `${id}: ${failure}`);
          const output = failure.output;
          assert.match(output, says, `${id}:\n${output}`);
          assert.doesNotMatch(
            output,
            /bootstrap\.js|TypeError|ERR_MODULE_NOT_FOUND/,
            `${id}:\n${output}`,
          );
        }
      }
    } finally {
      await runtime.stopAll();
      await Deno.remove(root, { recursive: true });
    }
  },
}));

/** Writes 10 MB of errors (logged lines and raw stderr) before it fails to load. */
const LOUD_FAILURE = `
const line = "E".repeat(200 * 1024);
for (let i = 0; i < 25; i++) console.error(i + " " + line);
const encoder = new TextEncoder();
for (let i = 0; i < 25; i++) Deno.stderr.writeSync(encoder.encode("raw " + i + " " + line + "\\n"));
throw new Error("the last words");
`;

Deno.test({
  name: "a build log keeps the tail of what a failing module wrote, not all of it",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using api = await startApiHost({ frontProxy: false });
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "loudfailure" },
  });
  const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.js",
      envVars: {},
      assets: { "main.js": { kind: "file", content: LOUD_FAILURE, encoding: "utf-8" } },
    },
  });
  assert.equal(await waitForBuild(api, String(deployment.id)), "failed");
  const response = await api.request("GET", `/v1/deployments/${deployment.id}/build_logs`);
  const log = await response.text();
  // Each failed deploy wrote all of it into host.db: 10 MB, kept as long as the deployment.
  assert.ok(log.length < 256 * 1024, `the build log holds ${log.length} characters`);
  assert.match(log, /the last words/);
});
