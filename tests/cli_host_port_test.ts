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

Deno.test("a background host that cannot start says why once, with one hint", async () => {
  // Any program on the port: here a plain listener.
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const { port } = listener.addr as Deno.NetAddr;
  const dataDir = await Deno.makeTempDir();
  try {
    // An earlier start's failure in the appended log is not this one's.
    await Deno.writeTextFile(`${dataDir}/host.log`, "error: an old failure\nhint: old\n");
    const result = await runCli(
      ["host", "start", "--port", String(port), "--data-dir", dataDir, "--no-front-proxy"],
    );
    assert.equal(result.code, 6, describe(result));
    const lines = result.stderr.trimEnd().split("\n");
    assert.deepEqual(
      lines,
      [
        `error: The local host did not start: Port ${port} is already in use`,
        "hint: Another program may use the port: start the host on a free one with " +
        "`deploy-tenant host start --port 0`, or point the CLI at a server with --api. " +
        `Its log: ${dataDir}/host.log.`,
      ],
      "one error line and one hint, not the host's own lines again",
    );
    const json = await runCli(
      ["host", "start", "--port", String(port), "--data-dir", dataDir, "--json"],
    );
    assert.equal(json.code, 6, describe(json));
    assert.equal(
      JSON.parse(json.stderr).error.message,
      `The local host did not start: Port ${port} is already in use`,
    );
  } finally {
    listener.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("autostart with the default port taken by another program takes a free one and says so", async () => {
  // Port 8000 held here (or already by another program: taken either way).
  let holder: Deno.Listener | undefined;
  try {
    holder = Deno.listen({ hostname: "127.0.0.1", port: 8000 });
  } catch { /* in use already */ }
  const dataDir = await Deno.makeTempDir();
  const env = { DEPLOY_TENANT_DATA_DIR: dataDir, DEPLOY_TENANT_AUTOSTART: "1" };
  try {
    const listed = await runCli(["project", "list"], { env });
    assert.equal(listed.code, 0, describe(listed));
    assert.match(
      listed.stderr,
      /Started the local host at http:\/\/127\.0\.0\.1:\d+ \(port 8000 is in use by another program\)/,
      describe(listed),
    );
    const status = await runCli(["host", "status", "--json"], { env });
    assert.notEqual(JSON.parse(status.stdout).port, 8000, describe(status));
  } finally {
    await runCli(["host", "stop"], { env });
    holder?.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
