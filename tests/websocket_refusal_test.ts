/**
 * A deployment may refuse a WebSocket upgrade with an ordinary answer, and the router relays that
 * answer to the client (the data path where HAProxy is not installed, and a cold start behind
 * it), and so does the HTTPS port (wss://). That answer is the tenant's like any other: it streams as the client reads it, and its
 * bytes are billed. The router read it whole into the host's memory first (one refusal of 1 GiB
 * grew the host by 4 GiB: any tenant, as its own client, could end the host and every tenant
 * with it), and billed none of it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ApiHost, deployModule, ok, startApiHost } from "./helpers/api_host.ts";

const MIB = 1048576;

/** How many MiB the deployment's refusal carries. */
const REFUSAL_MIB = 128;

/** Refuses every upgrade with a 426 whose body is REFUSAL_MIB MiB, made as it is read. */
const REFUSER = `const chunk = new Uint8Array(${MIB});
Deno.serve((request) => {
  if (request.headers.get("upgrade") !== "websocket") return new Response("hi");
  let sent = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (sent++ === ${REFUSAL_MIB}) controller.close();
      else controller.enqueue(chunk);
    },
  });
  return new Response(body, { status: 426, headers: { "x-refused": "yes" } });
});
`;

/** A WebSocket upgrade request for `host`, as a browser sends it. */
function upgradeRequest(host: string): Uint8Array {
  const key = crypto.getRandomValues(new Uint8Array(16)).toBase64();
  return new TextEncoder().encode(
    `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
}

/**
 * Waits 3 s while the client reads nothing: what waits for it must not pile up in the host (this
 * process), which the tenant's memory limit does not cover.
 */
async function assertHostHoldsLittle(): Promise<void> {
  const rssBefore = Deno.memoryUsage().rss;
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const grown = Deno.memoryUsage().rss - rssBefore;
  assert.ok(
    grown < 48 * MIB,
    `the host grew by ${Math.round(grown / MIB)} MiB holding a refusal nobody read`,
  );
}

/** The project's egress bytes so far. */
async function egress(api: ApiHost, projectId: string): Promise<number> {
  const analytics = await ok<{ fields: { name: string }[]; values: unknown[][] }>(
    api,
    "GET",
    `/v1/projects/${projectId}/analytics`,
  );
  const column = analytics.fields.findIndex((field) => field.name === "networkEgressBytes");
  return analytics.values.reduce((total, row) => total + Number(row[column]), 0);
}

Deno.test({
  name:
    "a refused WebSocket upgrade's answer streams to its client through the router, and is billed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using api = await startApiHost({ frontProxy: false });
    const { id, host } = await deployModule(api, "ws-refuser", REFUSER);
    const projectId = String(
      (await ok(api, "GET", `/v1/deployments/${id}`)).projectId,
    );
    const before = await egress(api, projectId);

    const connection = await Deno.connect({ hostname: "127.0.0.1", port: api.host.port });
    try {
      await connection.write(upgradeRequest(host));
      await assertHostHoldsLittle();

      // Then it reads the answer to its end (its last chunk: the connection stays open): the
      // tenant's status, headers and every byte, with the chunked framing, which only adds.
      const buffer = new Uint8Array(1 << 20);
      let text = "";
      let bodyBytes = -1;
      let tail = "";
      while (!tail.endsWith("\r\n0\r\n\r\n")) {
        const n = await connection.read(buffer);
        if (n === null) break;
        const piece = new TextDecoder("latin1").decode(buffer.subarray(0, n));
        if (bodyBytes >= 0) {
          bodyBytes += n;
          tail = (tail + piece).slice(-16);
          continue;
        }
        text += piece;
        const end = text.indexOf("\r\n\r\n");
        if (end === -1) continue;
        const head = text.slice(0, end);
        assert.match(head, /^HTTP\/1\.1 426/);
        assert.match(head, /x-refused: yes/i);
        assert.match(head, /transfer-encoding: chunked/i);
        bodyBytes = text.length - end - 4;
        tail = text.slice(-16);
      }
      assert.ok(
        bodyBytes >= REFUSAL_MIB * MIB,
        `the client got ${bodyBytes} bytes of ${REFUSAL_MIB} MiB`,
      );
    } finally {
      try {
        connection.close();
      } catch { /* closed by the host */ }
    }

    const billed = (await egress(api, projectId)) - before;
    assert.ok(billed >= REFUSAL_MIB * MIB, `egress billed for the refusal: ${billed} bytes`);
  },
});

Deno.test({
  name: "a refused wss:// upgrade's answer streams to its client on the HTTPS port",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using api = await startApiHost({ httpsPort: 0 });
    const { host } = await deployModule(api, "wss-refuser", REFUSER);
    const name = host.replace(/:\d+$/, "");
    const ca = await Deno.readTextFile(join(api.host.dataDir, "ca", "root.crt"));
    // Deno's own TLS client, which reads only when asked (node:tls's reads on, into this
    // process, whatever it is told).
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: api.host.httpsPort! });
    const connection = await Deno.startTls(tcp, { hostname: name, caCerts: [ca] });
    try {
      await connection.write(upgradeRequest(name));
      await assertHostHoldsLittle();

      // Read to the end (the host closes the connection after a refusal).
      const buffer = new Uint8Array(1 << 20);
      let received = 0;
      let head = "";
      for (;;) {
        const n = await connection.read(buffer);
        if (n === null) break;
        if (head.length < 1024) head += new TextDecoder("latin1").decode(buffer.subarray(0, n));
        received += n;
      }
      assert.match(head, /^HTTP\/1\.1 426/);
      assert.match(head, /x-refused: yes/i);
      assert.ok(received >= REFUSAL_MIB * MIB, `the client got ${received} bytes`);
    } finally {
      try {
        connection.close();
      } catch { /* closed by the host */ }
    }
  },
});
