/**
 * A deployment's own error statuses reach the client as it wrote them, through both data paths:
 * a 503 with its `Retry-After` (maintenance, overload) is not HAProxy's "dead connection" 503,
 * which the front proxy turns into the router's 502.
 */
import assert from "node:assert/strict";
import { deployModule, startApiHost, testEachDataPath } from "./helpers/api_host.ts";
import { rawGet } from "./helpers/raw_http.ts";

const STATUSES = `Deno.serve((request) => {
  const status = Number(new URL(request.url).pathname.slice(1));
  return new Response("tenant " + status, {
    status,
    headers: { "retry-after": "7", "content-type": "text/plain" },
  });
});
`;

testEachDataPath(
  `a deployment's own 502, 503 and 504 reach the client unchanged`,
  async (frontProxy) => {
    await using api = await startApiHost({ frontProxy });
    const { host } = await deployModule(
      api,
      frontProxy ? "status-proxy" : "status-router",
      STATUSES,
    );
    for (const when of ["first", "warm"]) {
      for (const status of [503, 502, 504]) {
        const answer = await rawGet(api.host.port, host, `/${status}`);
        const seen = `${when}: ${answer.head}${answer.body}`;
        assert.match(answer.head, new RegExp(`^HTTP/1\\.1 ${status} `), seen);
        assert.match(answer.head, /\r\nretry-after: 7\r\n/i, seen);
        assert.equal(answer.body, `tenant ${status}`, seen);
      }
    }
  },
);
