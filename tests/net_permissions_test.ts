/**
 * `permissions.net` as Deno enforces it: a real `deno run` with the flags the host gives a
 * tenant tries to reach a server on loopback (the only traffic tests send).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { netFlags } from "../host/tenant/sandbox.ts";

const PROBE = `
try {
  const response = await fetch(Deno.args[0]);
  console.log("reached", await response.text());
} catch (error) {
  console.log("blocked", error.name);
}
`;

/** Runs the probe with `flags`; returns what it printed. */
async function probe(flags: string[], url: string, dir: string): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--quiet", ...flags, join(dir, "probe.js"), url],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

Deno.test("net permissions: an allow-list opens what it lists, [] denies all, the default blocks loopback", async () => {
  const dir = await Deno.makeTempDir({ prefix: "net_permissions_test_" });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("hi"),
  );
  try {
    await Deno.writeTextFile(join(dir, "probe.js"), PROBE);
    const port = server.addr.port;
    const loopback = `http://127.0.0.1:${port}/`;
    const [allowed, otherPort, none, defaults, byName] = await Promise.all([
      probe(netFlags([`127.0.0.1:${port}`]), loopback, dir),
      probe(netFlags([`127.0.0.1:${port + 1}`]), loopback, dir),
      probe(netFlags([]), loopback, dir),
      probe(netFlags(undefined), loopback, dir),
      probe(netFlags(undefined), `http://localhost:${port}/`, dir),
    ]);
    assert.equal(allowed, "reached hi");
    // Refused by the permission check, not by a failed connection.
    const denied = /^blocked (NotCapable|PermissionDenied)$/;
    assert.match(otherPort, denied);
    assert.match(none, denied);
    // Without permissions.net, public hosts are allowed but never the host's own loopback.
    assert.match(defaults, denied);
    assert.match(byName, denied);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("net permissions keep the tenant's own socket and never list other unix sockets", () => {
  const socket = "/run/deployment/http.sock";
  assert.deepEqual(netFlags([], socket), [`--allow-net=unix:${socket}`]);
  assert.deepEqual(netFlags(["example.com", "unix:/var/run/docker.sock"], socket), [
    `--allow-net=example.com,unix:${socket}`,
  ]);
  assert.equal(netFlags(undefined, socket)[0], "--allow-net");
  assert.equal(netFlags(["*"], socket)[0], "--allow-net");
});
