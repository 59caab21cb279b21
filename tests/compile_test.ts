/**
 * `deno task compile` builds the single binary. `deno compile` fetches `denort` from
 * dl.deno.land, which tests may not reach (they send traffic to loopback only), so this runs
 * only where a local `denort` is given in DENORT_BIN, or where DEPLOY_TENANT_TEST_COMPILE=1
 * allows the download; otherwise it is skipped, and says so.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, runCli } from "./helpers/cli.ts";
import { startTestHost } from "./helpers/host.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const runnable = Boolean(Deno.env.get("DENORT_BIN")) ||
  Deno.env.get("DEPLOY_TENANT_TEST_COMPILE") === "1";
if (!runnable) {
  console.log(
    "compile_test: SKIPPED — set DENORT_BIN to a local denort binary (or " +
      "DEPLOY_TENANT_TEST_COMPILE=1 to let deno compile download it) to build and run the binary.",
  );
}

Deno.test({
  name: "deno task compile builds one binary that runs the CLI and the host",
  ignore: !runnable,
  async fn() {
    const out = join(await Deno.makeTempDir(), "deploy-tenant");
    const host = await startTestHost();
    try {
      const compiled = await new Deno.Command(Deno.execPath(), {
        args: [
          "compile",
          "-A",
          "--include",
          "host/tenant/bootstrap.js",
          "--output",
          out,
          "main.ts",
        ],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(compiled.success, new TextDecoder().decode(compiled.stderr));
      const run = async (args: string[]) => {
        const result = await new Deno.Command(out, { args, env: host.env, stdout: "piped" })
          .output();
        return { code: result.code, stdout: new TextDecoder().decode(result.stdout) };
      };
      assert.match((await run(["--help"])).stdout, /Usage: deploy-tenant/);
      assert.equal((await run(["project", "create", "compiled-app"])).code, 0);
      const listed = await runCli(["project", "list", "--json"], { env: host.env });
      assert.match(listed.stdout, /compiled-app/, describe(listed));
    } finally {
      await host.stop();
      await Deno.remove(join(out, ".."), { recursive: true });
    }
  },
});
