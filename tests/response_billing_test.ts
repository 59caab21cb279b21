/**
 * A deployment's project is billed the response bytes its clients took, not what a
 * `Content-Length` announced: behind HAProxy the length was billed as soon as the head passed,
 * so any client could bill a deployment its largest response for a hundred bytes of its own,
 * by asking for it and hanging up (ten such requests for 256 MiB: 2 560 MiB of egress).
 */
import assert from "node:assert/strict";
import { hasProgram } from "../lib/programs.ts";
import {
  billedUsage,
  deployModule,
  ok,
  startApiHost,
  testEachDataPath,
} from "./helpers/api_host.ts";

/** Answers 256 MiB with its Content-Length, made as it is read. */
const BIG = `const chunk = new Uint8Array(1 << 20);
Deno.serve(() => {
  let sent = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (sent++ < 256) controller.enqueue(chunk);
      else controller.close();
    },
  });
  return new Response(body, { headers: { "content-length": String(256 << 20) } });
});
`;

const MIB = 1048576;

/** A GET that reads the first bytes of the answer and hangs up. */
async function hangUp(port: number, host: string): Promise<void> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  await connection.write(new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
  const head = new Uint8Array(4096);
  await connection.read(head);
  assert.match(new TextDecoder().decode(head.subarray(0, 12)), /^HTTP\/1\.1 200/);
  connection.close();
}

testEachDataPath(
  "a client that hangs up after the head is not billed the whole Content-Length",
  async (frontProxy) => {
    await using api = await startApiHost({ frontProxy });
    const { id, host } = await deployModule(api, "bigfile", BIG);
    const { projectId } = await ok(api, "GET", `/v1/deployments/${id}`);
    const name = host.replace(/:\d+$/, "");
    await hangUp(api.host.port, name); // warm: behind HAProxy the next ones go to its slot
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const before = (await billedUsage(api, String(projectId))).networkEgressBytes;
    for (let i = 0; i < 10; i++) await hangUp(api.host.port, name);
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // HAProxy's counts are read
    const billed = (await billedUsage(api, String(projectId))).networkEgressBytes - before;
    // What was in flight in buffers, at most: not 10 × 256 MiB.
    assert.ok(billed < 10 * 4 * MIB, `10 hang-ups billed ${(billed / MIB).toFixed(1)} MiB`);
  },
  { sanitizeOps: false, sanitizeResources: false },
);

Deno.test({
  name: "behind HAProxy a response read whole is billed its length",
  ignore: !hasProgram("haproxy"),
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using api = await startApiHost({ frontProxy: true });
  const { id, host } = await deployModule(api, "bigread", BIG);
  const { projectId } = await ok(api, "GET", `/v1/deployments/${id}`);
  const name = host.replace(/:\d+$/, "");
  await hangUp(api.host.port, name);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const before = (await billedUsage(api, String(projectId))).networkEgressBytes;
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: api.host.port });
  await connection.write(
    new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`),
  );
  let read = 0;
  const buffer = new Uint8Array(1 << 20);
  for (;;) {
    const n = await connection.read(buffer);
    if (n === null) break;
    read += n;
  }
  connection.close();
  assert.ok(read > 256 * MIB, `read ${read} bytes`);
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  const billed = (await billedUsage(api, String(projectId))).networkEgressBytes - before;
  assert.equal(billed, 256 * MIB);
});
