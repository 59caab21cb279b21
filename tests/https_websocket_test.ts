/**
 * WebSockets over the host's HTTPS port (`wss://`), as on Deploy where every app is served over
 * HTTPS: the client gets the tenant's `101` and subprotocol, messages go both ways, a close is
 * answered, and the tenant's `request.url` is the `wss://` connection's `https:` URL. A refused
 * upgrade gets the tenant's own answer. (HTTPS with the host's local CA, SNI sent by name while
 * connecting to 127.0.0.1: `*.localhost` names do not resolve here.)
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import tls from "node:tls";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";

const ECHO = `Deno.serve((request, info) => {
  if (request.headers.get("upgrade") !== "websocket") return new Response("not a websocket", { status: 426 });
  if (request.headers.has("x-refuse")) return new Response("no", { status: 403 });
  // request.url is first read after the upgrade.
  const protocol = request.headers.has("sec-websocket-protocol") ? "chat" : undefined;
  const { socket, response } = protocol
    ? Deno.upgradeWebSocket(request, { protocol })
    : Deno.upgradeWebSocket(request);
  socket.onmessage = (event) => socket.send("echo " + event.data + " at " + request.url);
  return response;
});
`;

/** Answers each message with its request.url, first read after the upgrade. */
const URL_ECHO = `Deno.serve((request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = () => socket.send(request.url);
  return response;
});
`;

/** A TLS connection to 127.0.0.1:`port` for `serverName`, read as a byte queue. */
async function connect(port: number, serverName: string, ca: string) {
  const socket = tls.connect({ host: "127.0.0.1", port, servername: serverName, ca });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  let bytes = Buffer.alloc(0);
  let wake = () => {};
  let ended = false;
  socket.on("data", (chunk: Buffer) => {
    bytes = Buffer.concat([bytes, chunk]);
    wake();
  });
  socket.on("close", () => {
    ended = true;
    wake();
  });
  /** Waits until `ready(bytes)` gives a length, then takes that many bytes. */
  const take = async (ready: (bytes: Buffer) => number | undefined, what: string) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const length = ready(bytes);
      if (length !== undefined) {
        const taken = bytes.subarray(0, length);
        bytes = bytes.subarray(length);
        return taken;
      }
      assert.ok(
        !ended,
        `the connection closed while waiting for ${what}: ${bytes.toString("latin1")}`,
      );
      assert.ok(Date.now() < deadline, `no ${what} within 10 s: ${bytes.toString("latin1")}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 200);
      });
    }
  };
  return { socket, take };
}

function maskedFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const frame = new Uint8Array(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  frame.set(mask, 2);
  payload.forEach((byte, i) => frame[6 + i] = byte ^ mask[i & 3]);
  return frame;
}

const head = (bytes: Buffer) => {
  const end = bytes.indexOf("\r\n\r\n");
  return end < 0 ? undefined : end + 4;
};
const frame = (bytes: Buffer) =>
  bytes.length >= 2 && bytes.length >= 2 + (bytes[1] & 0x7f) ? 2 + (bytes[1] & 0x7f) : undefined;

Deno.test("wss:// to a deployment on the HTTPS port is relayed both ways, with and without a subprotocol", async () => {
  await using api = await startApiHost({ httpsPort: 0 });
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "wss-echo" },
  });
  const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: { "main.ts": { kind: "file", content: ECHO } },
    },
  });
  assert.equal(await waitForBuild(api, String(deployment.id)), "success");
  const name = `wss-echo-${deployment.id}.localhost`;
  const port = api.host.httpsPort!;
  const ca = await Deno.readTextFile(join(api.host.dataDir, "ca", "root.crt"));

  // Plain requests first: the process is past its first few requests, which the bootstrap
  // looks at for the host's warm-ups.
  for (let i = 0; i < 5; i++) {
    const { socket, take } = await connect(port, name, ca);
    socket.write(`GET / HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`);
    const plain = (await take(head, "a plain answer")).toString("latin1");
    assert.match(plain, /^HTTP\/1\.1 426 /, plain);
    socket.destroy();
  }
  for (const [when, protocols] of [["with subprotocols", "chat, superchat"], ["without", ""]]) {
    const { socket, take } = await connect(port, name, ca);
    const key = crypto.getRandomValues(new Uint8Array(16)).toBase64();
    socket.write(
      `GET /ws?x=1 HTTP/1.1\r\nHost: ${name}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        (protocols ? `Sec-WebSocket-Protocol: ${protocols}\r\n` : "") + "\r\n",
    );
    const answer = (await take(head, "the handshake's answer")).toString("latin1");
    assert.match(answer, /^HTTP\/1\.1 101 /, `${when}: ${answer}`);
    if (protocols) {
      assert.match(answer, /\r\nsec-websocket-protocol: chat\r\n/i, `${when}: ${answer}`);
    } else assert.doesNotMatch(answer, /sec-websocket-protocol/i, `${when}: ${answer}`);
    const accept = /\r\nsec-websocket-accept: (\S+)\r\n/i.exec(answer)?.[1];
    const expected = Buffer.from(
      await crypto.subtle.digest(
        "SHA-1",
        new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC11B65"),
      ),
    ).toString("base64");
    assert.equal(accept, expected, `${when}: the accept answers the client's own key`);

    socket.write(maskedFrame(1, new TextEncoder().encode("hello")));
    const echo = await take(frame, "the echo");
    assert.equal(echo[0] & 0x0f, 1, `${when}: a text frame`);
    assert.equal(
      echo.subarray(2).toString("utf8"),
      `echo hello at https://${name}:${port}/ws?x=1`,
      `${when}: the tenant saw the https: URL the client used`,
    );
    socket.write(maskedFrame(8, new Uint8Array([0x03, 0xe8])));
    const closing = await take(frame, "the close");
    assert.equal(closing[0] & 0x0f, 8, `${when}: the close is answered`);
    socket.destroy();
  }

  // request.url read after the upgrade is still the https: URL the client used.
  const urlEcho = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: { "main.ts": { kind: "file", content: URL_ECHO } },
    },
  });
  assert.equal(await waitForBuild(api, String(urlEcho.id)), "success");
  const urlName = `wss-echo-${urlEcho.id}.localhost`;
  {
    const { socket, take } = await connect(port, urlName, ca);
    socket.write(
      `GET /u HTTP/1.1\r\nHost: ${urlName}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const answer = (await take(head, "the handshake's answer")).toString("latin1");
    assert.match(answer, /^HTTP\/1\.1 101 /, answer);
    socket.write(maskedFrame(1, new TextEncoder().encode("url?")));
    const url = await take(frame, "the URL");
    assert.equal(url.subarray(2).toString("utf8"), `https://${urlName}/u`);
    socket.destroy();
  }

  // A refused upgrade is the tenant's own answer.
  const { socket, take } = await connect(port, name, ca);
  socket.write(
    `GET /refuse HTTP/1.1\r\nHost: ${name}\r\nX-Refuse: 1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  const refused = (await take(head, "the refusal")).toString("latin1");
  assert.match(refused, /^HTTP\/1\.1 403 /, refused);
  socket.destroy();
});
