/**
 * Customer code that runs on Deno Deploy runs here too: a server that lists its network
 * interfaces once it listens (as Fastify does on `0.0.0.0`). From a fifth fidelity pass.
 */
import assert from "node:assert/strict";
import { deployModule, ok, startApiHost } from "./helpers/api_host.ts";
import { rawGet } from "./helpers/raw_http.ts";

Deno.test("os.networkInterfaces() after listening on 0.0.0.0 (as Fastify logs its addresses) answers the loopback only", async () => {
  await using api = await startApiHost();
  const { id, host } = await deployModule(
    api,
    "interfaces",
    `import http from "node:http";
import os from "node:os";
let addresses;
const server = http.createServer((_request, response) => {
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify({ addresses, deno: Deno.networkInterfaces().map((i) => i.address) }));
});
server.listen(3000, "0.0.0.0", () => {
  // Fastify's listen: every IPv4 address the server can be reached at.
  addresses = Object.values(os.networkInterfaces()).flat()
    .filter((i) => i.family === "IPv4").map((i) => i.address);
  console.log("Server listening at " + addresses.map((a) => "http://" + a + ":3000").join(", "));
});
`,
  );
  const answer = await rawGet(api.host.port, host);
  const logs = await ok<{ message: string }[]>(
    api,
    "GET",
    `/v1/deployments/${id}/app_logs?since=2000-01-01T00:00:00Z&limit=100`,
  );
  assert.equal(answer.status, 200, logs.map((line) => line.message).join("\n"));
  assert.deepEqual(JSON.parse(answer.body), { addresses: ["127.0.0.1"], deno: ["127.0.0.1"] });
});
