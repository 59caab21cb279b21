/**
 * The host's own server through a flood of connections: when clients hold more connections than
 * the host may open files, accepting fails; the host logs it and listens again, and serves once
 * they let go (it exited, taking every tenant with it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cleanEnv, MAIN_TS } from "./helpers/cli.ts";
import { waitFor } from "./helpers/wait_for.ts";

Deno.test("the host's server outlives a flood of connections past its open-file limit", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dt-flood-" });
  const host = ["run", "-A", MAIN_TS, "host", "--port", "0", "--data-dir", dataDir];
  const child = new Deno.Command("sh", {
    // The router serves the public port itself (no HAProxy, whose own limit comes first).
    args: [
      "-c",
      `ulimit -n 300 && exec "$0" "$@" --no-front-proxy --warm-pool 0`,
      Deno.execPath(),
      ...host,
    ],
    env: cleanEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const reading = Promise.all([child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output.push(chunk);
  }));
  let exited = false;
  child.status.then(() => exited = true);
  const held: Deno.TcpConn[] = [];
  try {
    let port = 0;
    await waitFor(async () => {
      try {
        port = JSON.parse(await Deno.readTextFile(join(dataDir, "host.json"))).port;
        return true;
      } catch {
        return false;
      }
    });
    const health = async () => (await fetch(`http://127.0.0.1:${port}/health`)).status;
    assert.equal(await health(), 200);
    // Refused while the server listens again: a flood goes on regardless.
    for (let i = 0; i < 400; i++) {
      try {
        held.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    await waitFor(() => Promise.resolve(output.join("").includes("listening again")));
    assert.equal(exited, false, output.join(""));
    for (const connection of held.splice(0)) connection.close();
    await waitFor(async () => {
      try {
        return await health() === 200;
      } catch {
        return false;
      }
    });
    assert.equal(exited, false);
  } finally {
    for (const connection of held) connection.close();
    child.kill("SIGTERM");
    await child.status;
    await reading;
    await Deno.remove(dataDir, { recursive: true });
  }
});
