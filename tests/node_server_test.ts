/**
 * A deployment that serves with Node's HTTP server (`http.createServer(app).listen(8000)`, as
 * Express and Koa apps do) serves as on Deno Deploy, through both data paths: the listen is
 * served on the host's socket (the sandbox allows no TCP listener), `server.address()` names the
 * port asked for, the host's warm-ups never reach the app, and a request past the time limit
 * gets the tenant's own 504 TIME_LIMIT.
 */
import assert from "node:assert/strict";
import { deployModule, startApiHost, testEachDataPath } from "./helpers/api_host.ts";
import { rawGet } from "./helpers/raw_http.ts";

const NODE_SERVER = `import http from "node:http";
let seen = 0;
const server = http.createServer((request, response) => {
  seen++;
  if (request.url === "/slow") return; // never answered
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify({ url: request.url, host: request.headers.host, seen, address: server.address() }));
});
server.listen(8000, () => console.log("listening on", server.address().port));
`;

/** A GET on a connection of its own: status and body (a chunked one's one chunk: the 504). */
async function get(port: number, host: string, path: string): Promise<[number, string]> {
  const { status, body } = await rawGet(port, host, path);
  return [status, /^[0-9a-f]+\r\n/.test(body) ? body.split("\r\n")[1] : body];
}

testEachDataPath("a Node http server serves as on Deploy", async (frontProxy) => {
  await using api = await startApiHost({ frontProxy });
  const { host } = await deployModule(
    api,
    frontProxy ? "node-proxy" : "node-router",
    NODE_SERVER,
    { requestTimeout: 1_000 },
  );
  const [status, body] = await get(api.host.port, host, "/hello?x=1");
  assert.equal(status, 200, body);
  assert.deepEqual(JSON.parse(body), {
    url: "/hello?x=1",
    host,
    seen: 1, // the host's warm-ups were answered before the app
    address: { address: "0.0.0.0", family: "IPv4", port: 8000 },
  });
  const [late, lateBody] = await get(api.host.port, host, "/slow");
  assert.equal(late, 504, lateBody);
  assert.equal(JSON.parse(lateBody).code, "TIME_LIMIT");
  // Still serving, the same process.
  const [again, againBody] = await get(api.host.port, host, "/again");
  assert.equal(again, 200, againBody);
  assert.equal(JSON.parse(againBody).seen, 3);
});
