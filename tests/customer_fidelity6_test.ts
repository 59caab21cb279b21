/**
 * Customer code that runs on Deno Deploy runs here too: responses are compressed for clients
 * that accept it, as Deploy does, a deployment can fetch the platform's other deployments (its
 * own URL is Deploy's 508 LOOP_DETECTED), and its locale is the one its variables set. From a sixth fidelity pass.
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { hasProgram } from "../lib/programs.ts";
import { deployModule, startApiHost } from "./helpers/api_host.ts";
import { rawGetJson, rawRequestBytes } from "./helpers/raw_http.ts";
import { EDGE_SOCKET_IN_SANDBOX } from "../host/tenant/sandbox.ts";

/** Both data paths: through HAProxy (when installed) and through the host's own router. */
const DATA_PATHS = [
  { name: "HAProxy", frontProxy: true, ignore: !hasProgram("haproxy") },
  { name: "the router", frontProxy: false, ignore: false },
];

/** Connections a deployment opens to the host's socket for its own fetches, to flood it. */
const FLOOD = 3_000;

/** A JSON body of about 5 KB, as a CRM's list endpoint answers. */
const LIST = `Array.from({ length: 120 }, (_, i) => ({ id: i, name: "lead " + i, stage: "new" }))`;

for (const path of DATA_PATHS) {
  Deno.test({
    name: `a response is compressed for a client that accepts gzip, as on Deploy (${path.name})`,
    ignore: path.ignore,
    async fn() {
      await using api = await startApiHost({ frontProxy: path.frontProxy });
      const { host } = await deployModule(
        api,
        "compressed",
        `const leads = ${LIST};
Deno.serve((request) => {
  const { pathname } = new URL(request.url);
  if (pathname === "/tag") {
    return new Response(JSON.stringify(leads), {
      headers: { "content-type": "application/json", etag: '"v1"' },
    });
  }
  if (pathname === "/small") return new Response("ok", { headers: { "content-type": "text/plain" } });
  return Response.json(leads);
});
`,
      );
      const expected = JSON.stringify(
        Array.from({ length: 120 }, (_, i) => ({ id: i, name: "lead " + i, stage: "new" })),
      );
      const gzip = { "accept-encoding": "gzip" };
      const compressed = await rawRequestBytes(api.host.port, host, "/", gzip);
      assert.equal(compressed.status, 200);
      assert.equal(
        compressed.headers["content-encoding"],
        "gzip",
        JSON.stringify(compressed.headers),
      );
      assert.match(compressed.headers["vary"] ?? "", /accept-encoding/i);
      assert.ok(compressed.body.length < expected.length / 4, `${compressed.body.length} bytes`);
      assert.equal(new TextDecoder().decode(gunzipSync(compressed.body)), expected);
      // A strong ETag of the uncompressed body is made weak, as Deploy does.
      const tagged = await rawRequestBytes(api.host.port, host, "/tag", gzip);
      assert.equal(tagged.headers["content-encoding"], "gzip");
      assert.equal(tagged.headers["etag"], 'W/"v1"');
      // Nothing asked for, or too small to gain: sent as is.
      const plain = await rawRequestBytes(api.host.port, host, "/");
      assert.equal(plain.headers["content-encoding"], undefined);
      assert.equal(plain.headers["content-length"], String(expected.length));
      assert.equal(new TextDecoder().decode(plain.body), expected);
      const small = await rawRequestBytes(api.host.port, host, "/small", gzip);
      assert.equal(small.headers["content-encoding"], undefined);
      assert.equal(new TextDecoder().decode(small.body), "ok");
    },
  });
}

Deno.test("a deployment's automaticCompression option is Deno.serve's: false sends bodies as they are", async () => {
  await using api = await startApiHost();
  // Both start processes of their own (a pooled runtime's server was made before): one that
  // opts out, and one that reads import.meta.main, with Deploy's default.
  const optedOut = await deployModule(
    api,
    "uncompressed",
    `Deno.serve({ automaticCompression: false }, () => Response.json(${LIST}));\n`,
  );
  const accept = { "accept-encoding": "gzip, br" };
  const answer = await rawRequestBytes(api.host.port, optedOut.host, "/", accept);
  assert.equal(answer.status, 200);
  assert.equal(answer.headers["content-encoding"], undefined, JSON.stringify(answer.headers));
  assert.equal(JSON.parse(new TextDecoder().decode(answer.body)).length, 120);
  const main = await deployModule(
    api,
    "main-guard",
    `if (import.meta.main) Deno.serve(() => Response.json(${LIST}));\n`,
  );
  const compressed = await rawRequestBytes(api.host.port, main.host, "/", accept);
  assert.equal(compressed.headers["content-encoding"], "br", JSON.stringify(compressed.headers));
});

Deno.test("a deployment fetches another deployment's URL, as on Deploy; never the API, and its own is 508 LOOP_DETECTED", async () => {
  await using api = await startApiHost();
  const leads = await deployModule(
    api,
    "leads-api",
    `Deno.serve(async (request) => Response.json({
  url: request.url,
  method: request.method,
  body: await request.text(),
  forwardedFor: request.headers.get("x-forwarded-for"),
  proto: request.headers.get("x-forwarded-proto"),
}));
`,
  );
  const { host } = await deployModule(
    api,
    "crm-pages",
    `const outcome = (promise) =>
  promise.then(async (r) => ({ status: r.status, json: await r.json() }), (e) => ({ error: e.name }));
Deno.serve(async (request) => {
  const url = new URL(request.url);
  if (url.pathname === "/api/leads") return Response.json({ leads: 3, url: request.url });
  const port = url.port;
  return Response.json({
    // A server-rendered page calling its own API, from the URL it was asked for: Deploy refuses
    // a deployment's request to itself (it is a loop as soon as the path is the page's own).
    own: await outcome(fetch(new URL("/api/leads", request.url))),
    // A hook calling another deployment of the platform, with a body, over https.
    other: await outcome(fetch("https://${leads.host.replace(/:\d+$/, "")}:" + port + "/hook", {
      method: "POST",
      body: JSON.stringify({ lead: "acme" }),
    })),
    missing: await outcome(fetch("http://nobody-here.localhost:" + port + "/")),
    // The host's API on the same port: refused, as any loopback address is.
    api: await outcome(fetch("http://localhost:" + port + "/v1/organizations")),
  });
});
`,
  );
  const seen = await rawGetJson<Record<string, Record<string, unknown>>>(api.host.port, host);
  assert.deepEqual(seen.own, {
    status: 508,
    json: {
      code: "LOOP_DETECTED",
      message: "Recursive requests to the same deployment cannot be processed.",
    },
  });
  assert.equal(seen.other.status, 200, JSON.stringify(seen.other));
  assert.deepEqual(seen.other.json, {
    url: `https://${leads.host}/hook`,
    method: "POST",
    body: '{"lead":"acme"}',
    forwardedFor: "127.0.0.1",
    proto: "https",
  });
  assert.equal(seen.missing.status, 404);
  assert.deepEqual(seen.api, { error: "NotCapable" });
});

Deno.test({
  name:
    "a deployment holding connections to the host's socket for its own fetches holds a bounded number of the host's files",
  // Only a sandbox finds its door to the socket at a path its module can name.
  ignore: !hasProgram("bwrap"),
}, async () => {
  await using api = await startApiHost();
  assert.ok(api.host.isolation.startsWith("bubblewrap"), api.host.isolation);
  const socket = EDGE_SOCKET_IN_SANDBOX;
  const { host } = await deployModule(
    api,
    "edge-flood",
    `const held = [];
Deno.serve(async (request) => {
  if (new URL(request.url).pathname === "/release") {
    held.splice(0).forEach((conn) => conn.close());
    return new Response("released");
  }
  for (let i = 0; i < ${FLOOD}; i++) {
    try {
      held.push(await Deno.connect({ transport: "unix", path: ${JSON.stringify(socket)} }));
    } catch { /* refused */ }
  }
  return new Response(String(held.length));
});
`,
  );
  const openFiles = () => [...Deno.readDirSync("/proc/self/fd")].length;
  const before = openFiles();
  const flood = await rawGetJson<number>(api.host.port, host, "/flood");
  await new Promise((resolve) => setTimeout(resolve, 500));
  const during = openFiles() - before;
  assert.ok(during < FLOOD / 2, `the host holds ${during} more files for ${flood} connections`);
  await rawGetJson(api.host.port, host, "/release").catch(() => {});
});

Deno.test("a deployment's LANG is its locale whether or not a pooled runtime starts it, as Deno reads it at start", async () => {
  await using api = await startApiHost();
  const { host } = await deployModule(
    api,
    "invoices-de",
    `Deno.serve(() => Response.json({
  language: navigator.language,
  amount: (1234.5).toLocaleString(),
  date: new Date(0).toLocaleDateString(),
}));
`,
    { envVars: { LANG: "de_DE.UTF-8" } },
  );
  assert.deepEqual(await rawGetJson(api.host.port, host), {
    language: "de-DE",
    amount: "1.234,5",
    date: "1.1.1970",
  });
});

Deno.test("a deployment has a home directory, as every process on Deploy has (the AWS SDK's config loader reads it)", async () => {
  await using api = await startApiHost();
  const { host } = await deployModule(
    api,
    "home-dir",
    `import os from "node:os";
import process from "node:process";
// What @smithy/shared-ini-file-loader's getHomeDir does before every AWS SDK v3 request, to find
// ~/.aws/config: HOME, else os.homedir() (which asks for the user id first).
const home = () => process.env.HOME ?? os.homedir();
Deno.serve(() => {
  try {
    return Response.json({ home: home(), homedir: os.homedir() });
  } catch (error) {
    return Response.json({ error: String(error) });
  }
});
`,
  );
  const seen = await rawGetJson(api.host.port, host);
  assert.equal(seen.error, undefined, seen.error);
  assert.match(seen.home, /^\/\S*$/);
  assert.equal(seen.homedir, seen.home);
});
