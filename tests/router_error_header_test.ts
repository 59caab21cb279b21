/**
 * The router marks its own errors with `x-deploy-tenant-router-error`, which `invoke` reads to
 * tell "no deployment answers here" (exit 4) from a deployment's own answer. Only the host may
 * set it: a deployment's response carrying it reached the client as it was, on both data paths,
 * so any deployment could make `invoke` (and anything else reading the mark) take its answer for
 * the platform's.
 */
import assert from "node:assert/strict";
import { hasProgram } from "../lib/programs.ts";
import { ROUTER_ERROR_HEADER } from "../lib/urls.ts";
import { deployModule, startApiHost } from "./helpers/api_host.ts";
import { rawGet } from "./helpers/raw_http.ts";

/** Answers every request, a refused WebSocket upgrade too, with the router's mark forged. */
const FORGER = `Deno.serve(() =>
  new Response("the deployment's own answer", {
    headers: { "${ROUTER_ERROR_HEADER}": "deploymentNotFound", "x-own": "kept" },
  })
);
`;

/** A refused WebSocket upgrade of `host` on `port`: the answer's head. */
async function refusedUpgrade(port: number, host: string): Promise<string> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await connection.write(new TextEncoder().encode(
      `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ));
    let text = "";
    const buffer = new Uint8Array(4096);
    while (!text.includes("\r\n\r\n")) {
      const n = await connection.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text.slice(0, text.indexOf("\r\n\r\n") + 2);
  } finally {
    connection.close();
  }
}

for (const frontProxy of [true, false]) {
  Deno.test({
    name: `a deployment's response cannot carry the router's error mark, ${
      frontProxy ? "behind HAProxy" : "through the host's router"
    }`,
    ignore: frontProxy && !hasProgram("haproxy"),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await using api = await startApiHost({ frontProxy });
      const { host } = await deployModule(api, "forger", FORGER);
      const name = host.replace(/:\d+$/, "");
      const mark = new RegExp(`^${ROUTER_ERROR_HEADER}:`, "im");
      // The first request after the build may come through the router; behind HAProxy the later
      // ones go to the process's slot.
      for (let i = 0; i < 4; i++) {
        const answer = await rawGet(api.host.port, name);
        assert.equal(answer.status, 200, answer.head);
        assert.match(answer.head, /^x-own: kept/im, "the deployment's other headers reach it");
        assert.doesNotMatch(answer.head, mark, `request ${i}: ${answer.head}`);
        assert.match(answer.body, /the deployment's own answer/);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const refused = await refusedUpgrade(api.host.port, name);
      assert.match(refused, /^HTTP\/1\.1 200/, refused);
      assert.doesNotMatch(refused, mark, refused);

      // The router's own answer keeps its mark.
      const missing = await rawGet(api.host.port, name.replace("forger-", "forgerx-"));
      assert.equal(missing.status, 404, missing.head);
      assert.match(missing.head, mark);
    },
  });
}
