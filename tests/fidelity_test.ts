/**
 * A deployment behaves as on Deno Deploy, through both data paths (HAProxy in front when it is
 * installed, and the host's own router): streamed chunks arrive when written, `onListen` is
 * called, the environment holds only what Deploy sets and the deployment's own variables, and
 * `npm:` modules are fetched at build time so a cold start after a host restart downloads
 * nothing. (The npm test uses this machine's npm registry, as the issue asks.)
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { gunzipSync } from "node:zlib";
import { Buffer } from "node:buffer";
import { hasProgram } from "../lib/programs.ts";
import { closeInvokeClients, invoke } from "../lib/invoke.ts";
import { type ApiHost, ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";
import { rawGetJson } from "./helpers/raw_http.ts";

/** Deploys `files` as project `name`; returns its URL once built. */
async function deploy(api: ApiHost, name: string, files: Record<string, string>): Promise<string> {
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name },
  });
  const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: { OWN: "mine" },
      assets: Object.fromEntries(
        Object.entries(files).map(([path, content]) => [path, { kind: "file", content }]),
      ),
    },
  });
  const status = await waitForBuild(api, String(deployment.id));
  if (status !== "success") {
    const logs = await ok<{ message: string }[]>(
      api,
      "GET",
      `/v1/deployments/${deployment.id}/build_logs`,
    );
    assert.fail(`${name} did not build:\n${logs.map((l) => l.message).join("\n")}`);
  }
  return `http://${name}-${deployment.id}.localhost:${api.host.port}`;
}

const STREAM = `Deno.serve((request) => {
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    async start(controller) {
      for (let i = 0; i < 6; i++) {
        controller.enqueue(encoder.encode("data: " + i + " " + Date.now() + "\\n\\n"));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
});
`;

/** Reads an event stream; each event with the time it was written and the time it arrived. */
async function readEvents(url: string): Promise<{ written: number; arrived: number }[]> {
  const response = await invoke(url);
  const events: { written: number; arrived: number }[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body!) {
    const arrived = Date.now();
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const [, , written] = buffer.slice(0, end).split(" ");
      events.push({ written: Number(written), arrived });
      buffer = buffer.slice(end + 2);
    }
  }
  return events;
}

/** A GET as a browser sends it, whose body is returned as the bytes that came (no decoding). */
function rawGet(
  port: number,
  host: string,
): Promise<{ status: number; encoding?: string; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: "127.0.0.1", port, path: "/", headers: { host, "accept-encoding": "gzip" } },
      (response) => {
        const chunks: Uint8Array[] = [];
        response.on("data", (chunk: Uint8Array) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            encoding: response.headers["content-encoding"] as string | undefined,
            body: new Uint8Array(Buffer.concat(chunks)),
          }));
      },
    );
    request.on("error", reject);
  });
}

const GZIP = `const text = "compressed ".repeat(100);
Deno.serve(() => new Response(
  new Blob([text]).stream().pipeThrough(new CompressionStream("gzip")),
  { headers: { "content-encoding": "gzip", "content-type": "text/plain" } },
));
`;

const ECHO = `Deno.serve((request) => {
  if (request.headers.get("upgrade") !== "websocket") return new Response("not a websocket", { status: 426 });
  const { socket, response } = Deno.upgradeWebSocket(request, { protocol: "chat" });
  socket.onmessage = (event) => socket.send(typeof event.data === "string" ? "echo " + event.data : event.data);
  return response;
});
`;

/**
 * Opens a WebSocket to the deployment at `host` through the host's port as a browser would
 * (protocols "chat, superchat"), sends a text and a binary message, and returns the
 * subprotocol and the two echoes. A raw client: names under `.localhost` do not resolve here.
 */
async function echoOverWebSocket(port: number, host: string): Promise<[string, string, number[]]> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = crypto.getRandomValues(new Uint8Array(16)).toBase64();
  await connection.write(new TextEncoder().encode(
    `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n",
  ));
  let bytes = new Uint8Array(0);
  const read = async () => {
    const chunk = new Uint8Array(65536);
    const n = await connection.read(chunk);
    if (n === null) throw new Error("connection closed");
    const next = new Uint8Array(bytes.length + n);
    next.set(bytes);
    next.set(chunk.subarray(0, n), bytes.length);
    bytes = next;
  };
  while (!new TextDecoder().decode(bytes).includes("\r\n\r\n")) await read();
  const headEnd = new TextDecoder().decode(bytes).indexOf("\r\n\r\n");
  const head = new TextDecoder().decode(bytes.subarray(0, headEnd));
  assert.match(head, /^HTTP\/1\.1 101/, head);
  const protocol = /sec-websocket-protocol: *(\S+)/i.exec(head)?.[1] ?? "";
  bytes = bytes.subarray(headEnd + 4);
  const send = async (opcode: number, payload: Uint8Array) => {
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const frame = new Uint8Array(6 + payload.length);
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | payload.length;
    frame.set(mask, 2);
    payload.forEach((byte, i) => frame[6 + i] = byte ^ mask[i & 3]);
    await connection.write(frame);
  };
  const receive = async (): Promise<{ opcode: number; payload: Uint8Array }> => {
    while (bytes.length < 2 || bytes.length < 2 + (bytes[1] & 0x7f)) await read();
    const length = bytes[1] & 0x7f;
    const frame = { opcode: bytes[0] & 0x0f, payload: bytes.slice(2, 2 + length) };
    bytes = bytes.subarray(2 + length);
    return frame;
  };
  await send(1, new TextEncoder().encode("hello"));
  const text = await receive();
  await send(2, new Uint8Array([1, 2, 3]));
  const binary = await receive();
  await send(8, new Uint8Array([0x03, 0xe8]));
  const closing = await receive();
  assert.equal(closing.opcode, 8, "the close is answered");
  connection.close();
  assert.equal(text.opcode, 1);
  assert.equal(binary.opcode, 2);
  return [protocol, new TextDecoder().decode(text.payload), [...binary.payload]];
}

/** Answers, once the body ends, when each chunk of the request body arrived. */
const UPLOAD = `Deno.serve(async (request) => {
  const arrivals = [];
  for await (const chunk of request.body) arrivals.push([new TextDecoder().decode(chunk), Date.now()]);
  return Response.json(arrivals);
});
`;

/** Says what a handler sees of its request: URL, origin, a redirect built from it, the client. */
const SEEN = `Deno.serve((request, info) => {
  const url = new URL(request.url);
  return Response.json({
    url: request.url,
    origin: url.origin,
    redirect: Response.redirect(new URL("/next", request.url)).headers.get("location"),
    remote: info.remoteAddr,
  });
});
`;

const ON_LISTEN = `let heard = null;
Deno.serve({ onListen(addr) { heard = addr; } }, () => Response.json({ heard, env: Deno.env.toObject() }));
`;

for (const frontProxy of [true, false]) {
  const path = frontProxy ? "behind HAProxy" : "through the host's router";
  Deno.test({
    name: `fidelity ${path}: chunks arrive as written, onListen is called, the env is Deploy's`,
    ignore: frontProxy && !hasProgram("haproxy"),
    async fn(t) {
      await using api = await startApiHost({ frontProxy });
      try {
        await t.step("each streamed chunk arrives before the next one is written", async () => {
          const url = await deploy(api, frontProxy ? "stream-proxy" : "stream-router", {
            "main.ts": STREAM,
          });
          await readEvents(url); // the first request starts it (through the router)
          const events = await readEvents(url);
          assert.equal(events.length, 6);
          for (let i = 0; i + 1 < events.length; i++) {
            assert.ok(
              events[i].arrived < events[i + 1].written,
              `chunk ${i} arrived ${events[i].arrived - events[i].written} ms after it was ` +
                `written, after chunk ${i + 1} was written`,
            );
          }
        });

        await t.step("a gzip response arrives as the tenant wrote it, cold and warm", async () => {
          const url = await deploy(api, frontProxy ? "gzip-proxy" : "gzip-router", {
            "main.ts": GZIP,
          });
          const host = new URL(url).hostname;
          for (const when of ["cold", "warm"]) {
            const response = await rawGet(api.host.port, host);
            assert.equal(response.status, 200, when);
            assert.equal(response.encoding, "gzip", when);
            assert.equal(
              new TextDecoder().decode(gunzipSync(response.body)),
              "compressed ".repeat(100),
              `${when}: the bytes are the tenant's gzip`,
            );
          }
        });

        await t.step("a WebSocket works on the cold start and warm", async () => {
          const url = await deploy(api, frontProxy ? "ws-proxy" : "ws-router", { "main.ts": ECHO });
          const host = new URL(url).host;
          for (const when of ["cold", "warm"]) {
            const [protocol, text, bytes] = await echoOverWebSocket(api.host.port, host);
            assert.equal(protocol, "chat", when);
            assert.equal(text, "echo hello", when);
            assert.deepEqual(bytes, [1, 2, 3], when);
          }
          // A plain request still gets the tenant's own answer.
          const plain = await invoke(url);
          assert.equal(plain.status, 426);
          await plain.body?.cancel();
        });

        await t.step(
          "a request body streams: each chunk reaches the tenant as it is sent",
          async () => {
            const url = await deploy(api, frontProxy ? "upload-proxy" : "upload-router", {
              "main.ts": UPLOAD,
            });
            await (await invoke(url)).body?.cancel(); // started: the next request is warm
            const sent: number[] = [];
            const body = new ReadableStream<Uint8Array>({
              async start(controller) {
                for (let i = 0; i < 4; i++) {
                  sent.push(Date.now());
                  controller.enqueue(new TextEncoder().encode(`part${i};`));
                  await new Promise((resolve) => setTimeout(resolve, 200));
                }
                controller.close();
              },
            });
            const response = await invoke(
              url,
              { method: "POST", body, duplex: "half" } as RequestInit,
            );
            const arrivals: [string, number][] = await response.json();
            assert.equal(arrivals.map(([text]) => text).join(""), "part0;part1;part2;part3;");
            // Chunk i arrived before chunk i+1 was sent: nothing waited for the whole body.
            const firstPart = arrivals.find(([text]) => text.includes("part0"))!;
            assert.ok(
              firstPart[1] < sent[1],
              `the first chunk arrived ${firstPart[1] - sent[0]} ms late`,
            );
          },
        );

        await t.step(
          "request.url is the URL the client asked for, info.remoteAddr the client's address",
          async () => {
            const url = await deploy(api, frontProxy ? "seen-proxy" : "seen-router", {
              "main.ts": SEEN,
            });
            const host = new URL(url).host;
            for (const when of ["first", "next"]) {
              const seen = await rawGetJson<Record<string, unknown>>(
                api.host.port,
                host,
                "/a/b?c=1",
              );
              assert.deepEqual(seen, {
                url: `http://${host}/a/b?c=1`,
                origin: `http://${host}`,
                redirect: `http://${host}/next`,
                remote: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
              }, when);
            }
          },
        );

        await t.step("onListen hears a TCP listener; the env is Deploy's and its own", async () => {
          const url = await deploy(api, frontProxy ? "listen-proxy" : "listen-router", {
            "main.ts": ON_LISTEN,
          });
          const { heard, env } = await (await invoke(url)).json();
          assert.deepEqual(heard, { transport: "tcp", hostname: "0.0.0.0", port: 8000 });
          assert.deepEqual(Object.keys(env).sort(), [
            "DENO_DEPLOY",
            "DENO_DEPLOYMENT_ID",
            "DENO_DEPLOY_APP_ID",
            "DENO_DEPLOY_APP_SLUG",
            "DENO_DEPLOY_BUILD_ID",
            "DENO_DEPLOY_ORG_ID",
            "DENO_DEPLOY_ORG_SLUG",
            "DENO_REGION",
            "DENO_TIMELINE",
            "HOME",
            "OWN",
          ]);
        });
      } finally {
        closeInvokeClients();
      }
    },
  });
}

Deno.test("npm: modules are fetched at build time; a cold start after a restart downloads nothing", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    let url: string;
    {
      await using api = await startApiHost({ dataDir });
      url = await deploy(api, "npm-hook", {
        "main.ts": `import leftPad from "npm:left-pad@1.3.0";
Deno.serve(() => new Response(leftPad("7", 3, "0")));
`,
      });
      assert.equal(await (await invoke(url)).text(), "007");
      closeInvokeClients();
    }
    // The restarted host's egress proxy refuses everything: the cold start must not need it.
    await using api = await startApiHost({ dataDir, egressDenied: () => true });
    url = url.replace(/:\d+$/, `:${api.host.port}`);
    assert.equal(await (await invoke(url)).text(), "007");
    closeInvokeClients();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a WebSocket can be the first request of a cold start from the warm pool", async () => {
  // One process at a time: deploying the second stops the first's, so its next request is a
  // cold start, handed to a pooled runtime while the request waits.
  await using api = await startApiHost({ maxWarm: 1 });
  try {
    const url = await deploy(api, "ws-cold", { "main.ts": ECHO });
    await deploy(api, "ws-other", { "main.ts": "Deno.serve(() => new Response('other'));\n" });
    const [protocol, text, bytes] = await echoOverWebSocket(api.host.port, new URL(url).host);
    assert.equal(protocol, "chat");
    assert.equal(text, "echo hello");
    assert.deepEqual(bytes, [1, 2, 3]);
  } finally {
    closeInvokeClients();
  }
});

Deno.test("a process stopped for being idle runs its SIGINT listeners first, as on Deploy", async () => {
  await using api = await startApiHost({ idleTimeoutMs: 500 });
  try {
    const url = await deploy(api, "graceful", {
      "main.ts": `Deno.addSignalListener("SIGINT", () => {
  console.log("flushed and closing");
  Deno.exit(0);
});
Deno.serve(() => new Response("up"));
`,
    });
    assert.equal(await (await invoke(url)).text(), "up");
    const id = new URL(url).hostname.split(".")[0].replace("graceful-", "");
    const logs = async () =>
      (await ok<{ message: string; level: string }[]>(
        api,
        "GET",
        `/v1/deployments/${id}/app_logs?since=2000-01-01T00:00:00Z&limit=100`,
      )).map((line) => `${line.level}: ${line.message}`);
    let seen: string[] = [];
    const deadline = Date.now() + 15_000; // the idle sweep runs every 5 s
    while (Date.now() < deadline && !seen.includes("info: flushed and closing")) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      seen = await logs();
    }
    assert.ok(seen.includes("info: flushed and closing"), seen.join("\n"));
    // Its own exit is no crash.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.ok(!(await logs()).some((line) => line.startsWith("error:")), seen.join("\n"));
  } finally {
    closeInvokeClients();
  }
});
