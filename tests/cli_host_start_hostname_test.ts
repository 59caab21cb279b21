/**
 * `host start` is `host` in the background (README: "the same in the background"): it takes
 * `--hostname` as `host run` does, and the background host listens there.
 */
import assert from "node:assert/strict";
import { describe, runCli } from "./helpers/host.ts";

Deno.test("host start --hostname starts the background host on that address", async () => {
  const dataDir = await Deno.makeTempDir();
  const env = { DEPLOY_TENANT_DATA_DIR: dataDir };
  try {
    const started = await runCli(
      ["host", "start", "--port", "0", "--hostname", "127.0.0.2", "--warm-pool", "0", "--json"],
      { env },
    );
    assert.equal(started.code, 0, describe(started));
    assert.match(JSON.parse(started.stdout).apiUrl, /^http:\/\/127\.0\.0\.2:\d+\/v1$/);
    const status = await runCli(["host", "status", "--json"], { env });
    assert.equal(status.code, 0, describe(status));
    assert.match(JSON.parse(status.stdout).apiUrl, /^http:\/\/127\.0\.0\.2:\d+\/v1$/);
  } finally {
    await runCli(["host", "stop"], { env });
    await Deno.remove(dataDir, { recursive: true });
  }
});
