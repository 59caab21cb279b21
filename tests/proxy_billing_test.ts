/**
 * Request bytes behind HAProxy are billed as the client sent them: a `Content-Length` is a claim,
 * not bytes, and a client must not be able to bill a deployment's project for bytes it never
 * sent (HAProxy's counters added the header's value as soon as the head arrived).
 */
import assert from "node:assert/strict";
import {
  billedUsage,
  helloDeployment,
  ok,
  startApiHost,
  waitForBuild,
} from "./helpers/api_host.ts";
import { hasProgram } from "../lib/programs.ts";

/** Sends `parts` on one connection (a pause between them) and returns the status line. */
async function send(port: number, parts: string[]): Promise<string> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  let head = "";
  try {
    for (const [i, part] of parts.entries()) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      await connection.write(new TextEncoder().encode(part));
    }
    const buffer = new Uint8Array(65536);
    const deadline = setTimeout(() => connection.close(), 5_000);
    try {
      while (!head.includes("\r\n")) {
        const n = await connection.read(buffer);
        if (n === null) break;
        head += new TextDecoder().decode(buffer.subarray(0, n));
      }
    } catch { /* closed at the deadline */ }
    clearTimeout(deadline);
  } finally {
    try {
      connection.close();
    } catch { /* closed */ }
  }
  return head.split("\r\n")[0];
}

Deno.test({
  name:
    "behind HAProxy a client is billed the request bytes it sent, not what its Content-Length claims",
  ignore: !hasProgram("haproxy"),
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using api = await startApiHost();
  assert.equal(api.host.frontProxy, "haproxy");
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "billed" },
  });
  const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: helloDeployment("hi"),
  });
  assert.equal(await waitForBuild(api, String(deployment.id)), "success");
  const host = `billed-${deployment.id}.localhost`;
  const port = api.host.port;
  // Warm: the next requests go through HAProxy to the process's slot.
  assert.match(await send(port, [`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`]), / 200 /);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const ingress = async () => (await billedUsage(api, String(project.id))).networkIngressBytes;
  const before = await ingress();
  const post = (length: number | string, extra = "") =>
    `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${length}\r\n${extra}\r\n`;
  // Honest bodies, whole with the head, in two pieces, and after a 100-continue: 4 400 bytes.
  assert.match(await send(port, [post(100) + "a".repeat(100)]), / 200 /);
  assert.match(await send(port, [post(4000) + "b".repeat(1000), "c".repeat(3000)]), / 200 /);
  assert.match(
    await send(port, [post(300, "Expect: 100-continue\r\n"), "d".repeat(300)]),
    / (100|200) /,
  );
  // Claims: a terabyte and the largest length HAProxy takes, with 3 bytes each.
  assert.match(await send(port, [post(1e12) + "abc"]), / 200 /);
  assert.match(await send(port, [post("9223372036854775807") + "abc"]), / 200 /);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const billed = (await ingress()) - before;
  assert.equal(billed, 4_406, "requests that sent 4 406 body bytes: billed that, no more");
});
