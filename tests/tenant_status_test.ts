/**
 * A deployment's own error statuses reach the client as it wrote them, through both data paths:
 * a 503 with its `Retry-After` (maintenance, overload) is not HAProxy's "dead connection" 503,
 * which the front proxy turns into the router's 502.
 */
import assert from "node:assert/strict";
import { hasProgram } from "../lib/programs.ts";
import { deployModule, startApiHost } from "./helpers/api_host.ts";

const STATUSES = `Deno.serve((request) => {
  const status = Number(new URL(request.url).pathname.slice(1));
  return new Response("tenant " + status, {
    status,
    headers: { "retry-after": "7", "content-type": "text/plain" },
  });
});
`;

/** A GET on a connection of its own; the status line, headers and body as they came. */
async function get(port: number, host: string, path: string): Promise<string> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  await connection.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
  );
  return await new Response(connection.readable).text();
}

for (const frontProxy of [true, false]) {
  Deno.test({
    name: `a deployment's own 502, 503 and 504 reach the client unchanged ${
      frontProxy ? "behind HAProxy" : "through the host's router"
    }`,
    ignore: frontProxy && !hasProgram("haproxy"),
    async fn() {
      await using api = await startApiHost({ frontProxy });
      const { host } = await deployModule(
        api,
        frontProxy ? "status-proxy" : "status-router",
        STATUSES,
      );
      for (const when of ["first", "warm"]) {
        for (const status of [503, 502, 504]) {
          const answer = await get(api.host.port, host, `/${status}`);
          assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${when}: ${answer}`);
          assert.match(answer, /\r\nretry-after: 7\r\n/i, `${when}: ${answer}`);
          assert.ok(answer.endsWith(`\r\n\r\ntenant ${status}`), `${when}: ${answer}`);
        }
      }
    },
  });
}
