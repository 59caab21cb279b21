/**
 * `deno task demo`, the README's first command, on a machine where port 8000 is held by another
 * program (a dev server): it stopped at its first step ("Port 8000 is already in use"). `host
 * start` without `--port` now takes a free port then, as the CLI's own start of the host did, and
 * the rest of the demo finds it by its data dir; with `--port 8000` it still refuses.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { cleanEnv, describe, runCli } from "./helpers/cli.ts";

const DEMO = fileURLToPath(new URL("../examples/demo.ts", import.meta.url));

Deno.test("the demo runs to its end when port 8000 is taken by another program", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "demo-" });
  const env = { ...cleanEnv(), DEPLOY_TENANT_DATA_DIR: dataDir, NO_COLOR: "1" };
  let squatter: Deno.Listener | undefined;
  try {
    squatter = Deno.listen({ hostname: "127.0.0.1", port: 8000 });
  } catch { /* held already by another program: the case this test is about */ }
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", DEMO],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    const result = {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stdoutBytes: output.stdout,
      stderr: decoder.decode(output.stderr),
    };
    assert.equal(result.code, 0, describe(result));
    assert.match(result.stdout, /port 8000 is in use by another program/, describe(result));
    assert.match(result.stdout, /"action":"route-to-sales"/, describe(result));

    // A port asked for is not changed.
    await runCli(["host", "stop"], { env: { DEPLOY_TENANT_DATA_DIR: dataDir } });
    const asked = await runCli(["host", "start", "--port", "8000", "--unsandboxed"], {
      env: { DEPLOY_TENANT_DATA_DIR: dataDir },
    });
    assert.equal(asked.code, 6, describe(asked));
    assert.match(asked.stderr, /Port 8000 is already in use/);
  } finally {
    await runCli(["host", "stop"], { env: { DEPLOY_TENANT_DATA_DIR: dataDir } });
    squatter?.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
