/**
 * A deployment listening on its KV queue gets a delayed message though no request comes: on
 * Deploy a delivery starts the deployment; here its process is kept from the idle sweep.
 */
import assert from "node:assert/strict";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { type ApiHost, deployModule, ok, startApiHost } from "./helpers/api_host.ts";

const LISTENER = `Deno.addSignalListener("SIGINT", () => {
  console.log("stopping");
  Deno.exit(0);
});
const kv = await Deno.openKv();
kv.listenQueue((message) => console.log("delivered " + message));
Deno.serve(async () => {
  await kv.enqueue("later", { delay: 7_000 });
  return new Response("queued");
});
`;

const IDLER = `Deno.addSignalListener("SIGINT", () => {
  console.log("stopping");
  Deno.exit(0);
});
Deno.serve(() => new Response("idle"));
`;

async function messages(api: ApiHost, id: string): Promise<string[]> {
  const lines = await ok<{ message: string }[]>(
    api,
    "GET",
    `/v1/deployments/${id}/app_logs?since=2000-01-01T00:00:00Z&limit=100`,
  );
  return lines.map((line) => line.message);
}

Deno.test("a deployment listening on its KV queue is not stopped for being idle: a delayed message arrives with no request", async () => {
  await using api = await startApiHost({ idleTimeoutMs: 500 });
  const database = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/databases`, {
    json: { description: "queue" },
  });
  const kv = { databases: { default: String(database.id) } };
  const listener = await deployModule(api, "queue-hearer", LISTENER, kv);
  const idler = await deployModule(api, "queue-idle", IDLER, kv);
  assert.equal(await (await invoke(`http://${idler.host}/`)).text(), "idle");
  assert.equal(await (await invoke(`http://${listener.host}/`)).text(), "queued");
  closeInvokeClients();

  // The idle sweep runs every 5 s: by the message's 7 s the idler has been stopped.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !(await messages(api, listener.id)).includes("delivered later")) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.ok((await messages(api, idler.id)).includes("stopping"), "the idler was stopped");
  const said = await messages(api, listener.id);
  assert.ok(said.includes("delivered later"), said.join("\n"));
  assert.ok(!said.includes("stopping"), said.join("\n"));
});
