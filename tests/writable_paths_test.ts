/**
 * The two paths a tenant may write, its socket and its KV database's file, stay what they are.
 * Deno's `--allow-write=<path>` also grants every path beneath it, so a tenant that removed
 * either and made a directory of that name could write as many files as it liked into it: on
 * the host's disk (the deployment's run dir, the database's directory), outside every quota
 * and limit (each file is held to the file size limit, their number to nothing).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { detectIsolation } from "../host/tenant/sandbox.ts";
import { deploymentDirs, kvDatabaseDir } from "../host/tenant/runtime.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { deployModule, ok, startApiHost } from "./helpers/api_host.ts";

const sandboxed = (await detectIsolation()).kind === "bwrap";

/** Tries each write on a request, after it serves, and answers what each one did. */
const ATTACKER = `
const tries = {
  "remove the socket": () => Deno.removeSync("/run/deployment/http.sock"),
  "a directory at the socket": () => Deno.mkdirSync("/run/deployment/http.sock"),
  "a file under the socket": () => Deno.writeTextFileSync("/run/deployment/http.sock/f", "x"),
  "remove the KV file": () => Deno.removeSync("/kv/kv.sqlite3"),
  "a directory at the KV file": () => Deno.mkdirSync("/kv/kv.sqlite3"),
  "a file under the KV file": () => Deno.writeTextFileSync("/kv/kv.sqlite3/f", "x"),
};
// The seal must not rest on anything the deployment can replace before it listens.
Deno.permissions.revokeSync = () => ({ state: "granted" });
Object.getPrototypeOf(Deno.permissions).revokeSync = () => ({ state: "granted" });
const kv = await Deno.openKv();
await kv.set(["before"], 1);
Deno.serve(async () => {
  const done = [];
  for (const [name, attempt] of Object.entries(tries)) {
    try {
      attempt();
      done.push(name);
    } catch { /* refused */ }
  }
  const still = (await kv.get(["before"])).value;
  return Response.json({ done, still });
});
`;

Deno.test({
  name: "a tenant cannot turn its socket or KV file into a directory to write files on the " +
    "host's disk",
  ignore: !sandboxed,
  async fn() {
    await using api = await startApiHost();
    const database = await ok(
      api,
      "POST",
      `/v1/organizations/${api.host.organizationId}/databases`,
      {
        json: { description: "writes" },
      },
    );
    const { id, host } = await deployModule(api, "writer", ATTACKER, {
      databases: { default: database.id },
    });
    const response = await invoke(`http://${host}/`);
    assert.equal(response.status, 200);
    const { done, still } = await response.json();
    assert.deepEqual(done, [], `the tenant managed: ${done.join(", ")}`);
    assert.equal(still, 1, "its database is whole");
    // Nothing but what the host and SQLite put there.
    const runDir = deploymentDirs(join(api.host.dataDir, "deployments"), id).run;
    assert.deepEqual(names(runDir), ["http.sock"]);
    assert.ok(Deno.lstatSync(join(runDir, "http.sock")).isSocket);
    const kvDir = kvDatabaseDir(join(api.host.dataDir, "kv"), String(database.id));
    assert.ok(Deno.lstatSync(join(kvDir, "kv.sqlite3")).isFile);
    closeInvokeClients();
  },
});

/**
 * Serves on its build's check; every later start writes a file of its own under its socket's
 * name, before it listens (when that path is still the tenant's to write), and exits.
 */
const JUNKER = `
const kv = await Deno.openKv();
const starts = (await kv.get(["starts"])).value ?? 0;
await kv.set(["starts"], starts + 1);
if (starts > 0) {
  Deno.mkdirSync("/run/deployment/http.sock", { recursive: true });
  Deno.writeTextFileSync("/run/deployment/http.sock/junk" + starts, "x".repeat(4096));
  Deno.exit(1);
}
Deno.serve((request) => {
  if (new URL(request.url).pathname === "/exit") setTimeout(() => Deno.exit(0), 10);
  return new Response("served");
});
`;

Deno.test({
  name: "what a tenant wrote under its socket's name before it listened does not outlive its " +
    "next start",
  ignore: !sandboxed,
  async fn() {
    await using api = await startApiHost({ warmPool: 0 });
    const database = await ok(
      api,
      "POST",
      `/v1/organizations/${api.host.organizationId}/databases`,
      {
        json: { description: "junk" },
      },
    );
    const { id, host } = await deployModule(api, "junker", JUNKER, {
      databases: { default: database.id },
    });
    await (await invoke(`http://${host}/exit`)).text();
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // it has exited
    // Two starts that write before they would listen, and exit.
    for (let start = 0; start < 2; start++) {
      const response = await invoke(`http://${host}/`);
      await response.body?.cancel();
      assert.equal(response.status, 502);
    }
    const socket = join(deploymentDirs(join(api.host.dataDir, "deployments"), id).run, "http.sock");
    // The second start's files only: the host clears the name before each start.
    assert.deepEqual(names(socket), ["junk2"]);
    closeInvokeClients();
  },
});

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
}
