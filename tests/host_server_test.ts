/**
 * The host's own server through a flood of connections: when clients hold more connections than
 * the host may open files, accepting fails; the host logs it and listens again, and serves once
 * they let go (it exited, taking every tenant with it).
 */
import assert from "node:assert/strict";
import { startTestHost } from "./helpers/host.ts";
import { waitFor } from "./helpers/wait_for.ts";

Deno.test("the host's server outlives a flood of connections past its open-file limit", async () => {
  const host = await startTestHost({
    wrapper: ["sh", "-c", 'ulimit -n 300 && exec "$@"', "sh"],
    // The router serves the public port itself (no HAProxy, whose own limit comes first).
    args: ["--no-front-proxy", "--warm-pool", "0"],
  });
  const held: Deno.TcpConn[] = [];
  try {
    const health = async () => {
      try {
        return (await fetch(`http://127.0.0.1:${host.port}/health`)).status;
      } catch {
        return 0;
      }
    };
    assert.equal(await health(), 200);
    // Refused while the server listens again: a flood goes on regardless.
    for (let i = 0; i < 400; i++) {
      try {
        held.push(await Deno.connect({ hostname: "127.0.0.1", port: host.port }));
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    await waitFor(() => host.output().includes("listening again"));
    for (const connection of held.splice(0)) connection.close();
    // Still the same process, serving again once the clients let go.
    await waitFor(async () => await health() === 200);
    assert.ok(Deno.statSync(`/proc/${host.pid}`).isDirectory, host.output());
  } finally {
    for (const connection of held) connection.close();
    await host.stop();
  }
});
