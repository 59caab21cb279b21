/**
 * Two local hosts on one port: the second must refuse to start (exit 6, naming the port)
 * rather than share the port with the first (HAProxy's SO_REUSEPORT), which split requests
 * between the two hosts: every other request got the other host's 401.
 */
import assert from "node:assert/strict";
import { findHaproxy } from "../host/edge/haproxy.ts";
import { cleanEnv, MAIN_TS } from "./helpers/cli.ts";
import { describe, runCli, startTestHost } from "./helpers/host.ts";
import { requires } from "./helpers/programs.ts";

Deno.test(
  requires(["haproxy"], {
    name: "host on the port of another running host (HAProxy in front) exits 6 naming the port",
    ignore: !findHaproxy(),
  }),
  async () => {
    const first = await startTestHost({ args: ["--warm-pool", "0"] });
    const dataDir = await Deno.makeTempDir();
    try {
      // Before the fix the second host started and ran until killed: give it 30 s.
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN_TS, "host", "--port", String(first.port), "--data-dir", dataDir],
        env: { ...cleanEnv(), NO_COLOR: "1" },
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      });
      const second = await child.output();
      const stderr = new TextDecoder().decode(second.stderr);
      assert.equal(second.code, 6, stderr);
      assert.match(stderr, new RegExp(`^error: Port ${first.port} is already in use$`, "m"));
      // The first host still answers every request with its own token.
      for (let i = 0; i < 6; i++) {
        const list = await runCli(["project", "list", "--json"], { env: first.env });
        assert.equal(list.code, 0, describe(list));
      }
    } finally {
      await first.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
);

Deno.test("host start that fails says why, not where: the error's line, not its stack frames", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dataDir}/host.db`); // the store cannot open a directory
    const result = await runCli(["host", "start", "--port", "0"], {
      env: { DEPLOY_TENANT_DATA_DIR: dataDir },
    });
    assert.equal(result.code, 6, describe(result));
    assert.match(result.stderr, /did not start: .*unable to open database file/, describe(result));
    assert.doesNotMatch(result.stderr, /^\s+at /m, describe(result));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
