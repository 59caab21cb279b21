/**
 * `permissions.net` as Deno enforces it: a real `deno run` with the flags the host gives a
 * tenant tries to reach a server on loopback (the only traffic tests send).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { detectIsolation, netFlags } from "../host/tenant/sandbox.ts";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";
import { invoke } from "../lib/invoke.ts";

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
      probe(netFlags([`127.0.0.1:${port}`], undefined, true), loopback, dir),
      probe(netFlags([`127.0.0.1:${port + 1}`], undefined, true), loopback, dir),
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

Deno.test("an allow-list reaches loopback and private addresses only where the host's operator allows them", async () => {
  // A token holder chooses permissions.net: listing 127.0.0.1 (or a name resolving to it, or
  // 169.254.169.254, a cloud's metadata service) reached the host's own services from any
  // organization's code, since an allow-list replaced the deny list.
  const dir = await Deno.makeTempDir({ prefix: "net_permissions_test_" });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("hi"),
  );
  try {
    await Deno.writeTextFile(join(dir, "probe.js"), PROBE);
    const port = server.addr.port;
    const [byAddress, byName, operatorAllowed] = await Promise.all([
      probe(netFlags([`127.0.0.1:${port}`, "example.com"]), `http://127.0.0.1:${port}/`, dir),
      probe(netFlags([`localhost:${port}`]), `http://localhost:${port}/`, dir),
      probe(netFlags([`127.0.0.1:${port}`], undefined, true), `http://127.0.0.1:${port}/`, dir),
    ]);
    // The server listens: a failed fetch is the deny list (checked after DNS, it fails the
    // connection: a TypeError) or the permission check.
    const denied = /^blocked (NotCapable|PermissionDenied|TypeError)$/;
    assert.match(byAddress, denied);
    assert.match(byName, denied);
    assert.equal(operatorAllowed, "reached hi");
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
    netFlags(undefined)[1], // the deny list stays (see the test above)
  ]);
  assert.equal(netFlags(undefined, socket)[0], "--allow-net");
  assert.equal(netFlags(["*"], socket)[0], "--allow-net");
});

Deno.test({
  name:
    "through a host: a token holder's permissions.net naming loopback reaches nothing by default",
  ignore: (await detectIsolation()).kind !== "bwrap",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("the host's own service"),
  );
  try {
    const target = `http://127.0.0.1:${server.addr.port}/`;
    const source = `export default { fetch: () => fetch(${JSON.stringify(target)})
      .then((r) => r.text(), (e) => "blocked " + e.name).then((text) => new Response(text)) };`;
    for (const allowPrivateNet of [false, true]) {
      await using api = await startApiHost({ frontProxy: false, allowPrivateNet });
      const project = await ok(
        api,
        "POST",
        `/v1/organizations/${api.host.organizationId}/projects`,
        { json: { name: "listsloopback" } },
      );
      const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
        json: {
          entryPointUrl: "main.js",
          envVars: {},
          permissions: { net: [`127.0.0.1:${server.addr.port}`, "localhost"] },
          assets: { "main.js": { kind: "file", content: source, encoding: "utf-8" } },
        },
      });
      assert.equal(await waitForBuild(api, String(deployment.id)), "success");
      const url = `http://listsloopback-${deployment.id}.localhost:${api.host.port}/`;
      const text = await (await invoke(url, {}, { timeoutMs: 30_000 })).text();
      if (allowPrivateNet) assert.equal(text, "the host's own service");
      else assert.match(text, /^blocked (NotCapable|PermissionDenied|TypeError)$/);
    }
  } finally {
    await server.shutdown();
  }
});
