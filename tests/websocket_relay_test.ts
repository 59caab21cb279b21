/**
 * The router's WebSocket relay (host/edge/websocket.ts: a cold start behind HAProxy, every
 * WebSocket without it) against a tenant that sends much: it costs the host time linear in what
 * is relayed, and holds at most a bounded amount for a client that does not read.
 */
import assert from "node:assert/strict";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";

/** Sends, on a text message "<n> <MiB>", n binary messages of that many MiB. */
const SENDER = `Deno.serve((request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = (event) => {
    const [n, mb] = String(event.data).split(" ").map(Number);
    const message = new Uint8Array(mb * 1048576);
    for (let i = 0; i < n; i++) socket.send(message);
  };
  return response;
});
`;

/** A raw client (names under `.localhost` do not resolve here) that reads only when told to. */
async function openWebSocket(port: number, host: string) {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = crypto.getRandomValues(new Uint8Array(16)).toBase64();
  await connection.write(new TextEncoder().encode(
    `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  const buffer = new Uint8Array(1 << 20);
  const n = await connection.read(buffer);
  const head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  assert.match(head, /^HTTP\/1\.1 101/, head);
  let received = (n ?? 0) - (head.indexOf("\r\n\r\n") + 4);
  return {
    connection,
    async ask(text: string) {
      const payload = new TextEncoder().encode(text);
      const frame = new Uint8Array(6 + payload.length); // mask of zeros
      frame[0] = 0x81;
      frame[1] = 0x80 | payload.length;
      frame.set(payload, 6);
      await connection.write(frame);
    },
    /** Reads until `bytes` have come (frames included) or `ms` passed; what came. */
    async readUntil(bytes: number, ms: number): Promise<number> {
      const deadline = Date.now() + ms;
      while (received < bytes && Date.now() < deadline) {
        const read = await connection.read(buffer);
        if (read === null) break;
        received += read;
      }
      return received;
    },
  };
}

async function startSender() {
  const api = await startApiHost({ frontProxy: false });
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "wssender" },
  });
  const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.js",
      envVars: {},
      assets: { "main.js": { kind: "file", content: SENDER, encoding: "utf-8" } },
    },
  });
  assert.equal(await waitForBuild(api, String(deployment.id)), "success");
  return { api, host: `wssender-${deployment.id}.localhost` };
}

Deno.test({
  name: "a tenant's 32 MiB WebSocket message crosses the router in time linear in its size",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const { api, host } = await startSender();
  await using _ = api;
  const socket = await openWebSocket(api.host.port, host);
  const started = performance.now();
  await socket.ask("1 32");
  const got = await socket.readUntil(32 * 1048576, 60_000);
  const ms = performance.now() - started;
  socket.connection.close();
  assert.ok(got >= 32 * 1048576, `only ${got} bytes came`);
  // The relay joined what it had read on every read: ~25 s of the host's event loop here.
  assert.ok(ms < 8_000, `one 32 MiB message took the host ${ms.toFixed(0)} ms`);
});

Deno.test({
  name: "a client that does not read a tenant's WebSocket messages does not grow the host",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const { api, host } = await startSender();
  await using _ = api;
  const socket = await openWebSocket(api.host.port, host);
  const before = Deno.memoryUsage().rss;
  await socket.ask("200 1");
  await new Promise((resolve) => setTimeout(resolve, 6_000));
  const grown = Deno.memoryUsage().rss - before;
  // Held back, not lost: once the client reads, all of it comes.
  const got = await socket.readUntil(200 * 1048576, 60_000);
  socket.connection.close();
  assert.ok(
    grown < 96 * 1048576,
    `200 MiB a client did not read grew the host by ${(grown / 1048576).toFixed(0)} MiB`,
  );
  assert.ok(got >= 200 * 1048576, `only ${got} bytes came once the client read`);
});
