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

        await t.step("onListen hears a TCP listener; the env is Deploy's and its own", async () => {
          const url = await deploy(api, frontProxy ? "listen-proxy" : "listen-router", {
            "main.ts": ON_LISTEN,
          });
          const { heard, env } = await (await invoke(url)).json();
          assert.deepEqual(heard, { transport: "tcp", hostname: "0.0.0.0", port: 8000 });
          assert.deepEqual(Object.keys(env).sort(), ["DENO_DEPLOYMENT_ID", "DENO_REGION", "OWN"]);
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
