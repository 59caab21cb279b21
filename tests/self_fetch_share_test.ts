/**
 * The host's socket for deployments' fetches of its own names (host/edge/self_fetch.ts) is
 * shared fairly: one deployment holding every connection the host allows must not leave the
 * others' fetches of the host's names failing. From a seventh red-team pass.
 */
import assert from "node:assert/strict";
import { hasProgram } from "../lib/programs.ts";
import { deployModule, startApiHost } from "./helpers/api_host.ts";
import { rawGetJson } from "./helpers/raw_http.ts";
import net from "node:net";
import { join } from "node:path";
import { EDGE_MAX_CONNECTIONS, EdgeDoors, serveSelfFetches } from "../host/edge/self_fetch.ts";
import { EDGE_SOCKET_IN_SANDBOX, EDGE_SOCKET_NAME, type EdgeDoor } from "../host/tenant/sandbox.ts";

Deno.test({
  name:
    "a deployment holding every connection to the host's socket leaves other deployments' fetches of the host's names working",
  // Only a sandbox finds the socket at a path its module can name.
  ignore: !hasProgram("bwrap"),
  async fn() {
    await using api = await startApiHost();
    assert.ok(api.host.isolation.startsWith("bubblewrap"), api.host.isolation);
    const hog = await deployModule(
      api,
      "edge-hog",
      `const held = [];
Deno.serve(async (request) => {
  if (new URL(request.url).pathname === "/release") {
    held.splice(0).forEach((conn) => conn.close());
    return new Response("released");
  }
  // Each held open: a byte of a request head now and then would keep it from going idle.
  for (let i = 0; i < ${2 * EDGE_MAX_CONNECTIONS}; i++) {
    try {
      held.push(await Deno.connect({ transport: "unix", path: ${
        JSON.stringify(EDGE_SOCKET_IN_SANDBOX)
      } }));
    } catch { /* refused */ }
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  return new Response(String(held.length));
});
`,
    );
    const leads = await deployModule(
      api,
      "crm-leads",
      `Deno.serve(() => Response.json({ leads: 3 }));`,
    );
    const pages = await deployModule(
      api,
      "crm-pages",
      `Deno.serve(async (request) => {
  // The platform's API, another deployment on the host's names.
  const port = new URL(request.url).port;
  try {
    const response = await fetch("http://${
        leads.host.replace(/:\d+$/, "")
      }:" + port + "/api/leads");
    return Response.json({ status: response.status, json: await response.json() });
  } catch (error) {
    return Response.json({ error: String(error) });
  }
});
`,
    );
    await rawGetJson(api.host.port, hog.host, "/flood");
    try {
      for (let i = 0; i < 3; i++) {
        const seen = await rawGetJson<Record<string, unknown>>(api.host.port, pages.host, "/");
        assert.deepEqual(seen, { status: 200, json: { leads: 3 } }, `fetch ${i + 1}`);
      }
    } finally {
      await rawGetJson(api.host.port, hog.host, "/release").catch(() => {});
    }
  },
});

Deno.test("the doors to the host's socket share its places per process, and a closed door is gone with its connections", async () => {
  const dataDir = await Deno.makeTempDir();
  const doors = await EdgeDoors.create(dataDir);
  // The host's server behind the doors, here one that holds what it is given.
  const behind = net.createServer(() => {});
  await new Promise<void>((resolve) => behind.listen(0, "127.0.0.1", resolve));
  doors.behind((behind.address() as net.AddressInfo).port);
  try {
    const hog = await doors.open(() => "hog");
    const other = await doors.open(() => "other");
    const connect = (door: EdgeDoor) =>
      new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(join(door.dir, EDGE_SOCKET_NAME), () => resolve(socket));
        socket.once("error", reject);
      });
    const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
    const hogs = [];
    for (let i = 0; i < EDGE_MAX_CONNECTIONS + 10; i++) hogs.push(await connect(hog));
    await settle();
    assert.equal(doors.held, EDGE_MAX_CONNECTIONS);
    const others = [await connect(other), await connect(other)];
    await settle();
    assert.equal(doors.held, EDGE_MAX_CONNECTIONS, "still bounded");
    assert.ok(others.every((socket) => !socket.destroyed), "the other process got in");
    assert.equal(hogs.filter((socket) => !socket.destroyed).length, EDGE_MAX_CONNECTIONS - 2);
    await hog.close();
    assert.equal(doors.held, 2);
    await assert.rejects(Deno.stat(hog.dir), Deno.errors.NotFound);
    // The server behind knows whose process each connection came from, by its port.
    const port = new Promise<number>((resolve) => {
      behind.once("connection", (socket) => resolve(socket.remotePort!));
    });
    others.push(await connect(other));
    assert.deepEqual(doors.originOf(await port), { deploymentId: "other" });
    assert.equal(doors.originOf(1), undefined);
    for (const socket of [...hogs, ...others]) socket.destroy();
  } finally {
    await doors.close();
    await new Promise((resolve) => behind.close(resolve));
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("the host's server behind the doors serves what came through a door, nothing else", async () => {
  const dataDir = await Deno.makeTempDir();
  const doors = await EdgeDoors.create(dataDir);
  const server = serveSelfFetches({
    doors,
    baseDomain: "localhost",
    deploymentAt: (host) => host === "crm-abc.localhost" ? "abc" : undefined,
    handler: () => Promise.resolve(new Response("served")),
    log: () => {},
  });
  try {
    const door = await doors.open(() => "other");
    const viaDoor = Deno.createHttpClient({
      proxy: { transport: "unix", path: join(door.dir, EDGE_SOCKET_NAME) },
    });
    const through = await fetch("http://crm-abc.localhost/", { client: viaDoor });
    assert.equal(await through.text(), "served");
    viaDoor.close();
    // A program of the machine connecting to the loopback port itself is no deployment.
    const direct = await fetch(`http://127.0.0.1:${server.port}/`, {
      headers: { host: "crm-abc.localhost" },
    });
    assert.equal(direct.status, 403);
    assert.equal((await direct.json()).code, "notADeployment");
  } finally {
    await server.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});
