/**
 * What crosses a deployment's WebSockets is billed to its project like any other traffic, on
 * both data paths: through the host's router (the data path where HAProxy is not installed, and
 * a cold start behind it) neither direction was counted, and behind HAProxy what the client sent
 * was not, so a deployment could serve any amount over WebSockets and pay for none of it.
 */
import assert from "node:assert/strict";
import { closeInvokeClients } from "../lib/invoke.ts";
import {
  billedUsage,
  deployModule,
  ok,
  startApiHost,
  testEachDataPath,
} from "./helpers/api_host.ts";

/** Answers a text message "<n>" with n binary messages of 1 MiB. */
const SENDER = `Deno.serve((request) => {
  if (request.headers.get("upgrade") !== "websocket") return new Response("hi");
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") return;
    const message = new Uint8Array(1048576);
    for (let i = 0; i < Number(event.data); i++) socket.send(message);
  };
  return response;
});
`;

const MIB = 1048576;

/** A frame of a client (masked, with a mask of zeros). */
function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(14 + payload.byteLength);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | 127;
  new DataView(frame.buffer).setBigUint64(2, BigInt(payload.byteLength));
  frame.set(payload, 14);
  return frame;
}

/** Sends `inMiB` to the deployment over a WebSocket, asks for `outMiB`, reads them, closes. */
async function exchange(port: number, host: string, inMiB: number, outMiB: number) {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = crypto.getRandomValues(new Uint8Array(16)).toBase64();
  await connection.write(new TextEncoder().encode(
    `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  const buffer = new Uint8Array(1 << 20);
  let received = (await connection.read(buffer)) ?? 0;
  assert.match(new TextDecoder().decode(buffer.subarray(0, 12)), /^HTTP\/1\.1 101/);
  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < inMiB * 16; i++) {
    await connection.write(clientFrame(0x2, chunk));
    // The relay closes a client that sends faster than the deployment reads.
    if (i % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await connection.write(clientFrame(0x1, new TextEncoder().encode(String(outMiB))));
  while (received < outMiB * MIB) {
    const n = await connection.read(buffer);
    if (n === null) break;
    received += n;
  }
  connection.close();
  assert.ok(received >= outMiB * MIB, `only ${received} bytes came`);
}

testEachDataPath("WebSocket traffic is billed both ways", async (frontProxy) => {
  await using api = await startApiHost({ frontProxy });
  const { id, host } = await deployModule(api, "wsbilled", SENDER);
  const { projectId } = await ok(api, "GET", `/v1/deployments/${id}`);
  const name = host.replace(/:\d+$/, "");
  // A first request warms it (behind HAProxy the next ones go through the process's slot).
  const warm = await Deno.connect({ hostname: "127.0.0.1", port: api.host.port });
  await warm.write(
    new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`),
  );
  await new Response(warm.readable).text();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const { networkIngressBytes: inBefore, networkEgressBytes: outBefore } = await billedUsage(
    api,
    String(projectId),
  );

  await exchange(api.host.port, name, 4, 8);
  await new Promise((resolve) => setTimeout(resolve, 2_500)); // HAProxy's counts are read
  const { networkIngressBytes: inAfter, networkEgressBytes: outAfter } = await billedUsage(
    api,
    String(projectId),
  );
  // Each way at least what the messages held (frames add a few bytes each).
  assert.ok(inAfter - inBefore >= 4 * MIB, `ingress billed: ${inAfter - inBefore} bytes`);
  assert.ok(outAfter - outBefore >= 8 * MIB, `egress billed: ${outAfter - outBefore} bytes`);
  assert.ok(inAfter - inBefore < 5 * MIB && outAfter - outBefore < 9 * MIB, "not more");
  closeInvokeClients();
}, { sanitizeOps: false, sanitizeResources: false });
