/**
 * Customer code that runs on Deno Deploy runs here too: responses are compressed for clients
 * that accept it, as Deploy does. From a sixth fidelity pass.
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { hasProgram } from "../lib/programs.ts";
import { deployModule, startApiHost } from "./helpers/api_host.ts";
import { rawRequestBytes } from "./helpers/raw_http.ts";

/** Both data paths: through HAProxy (when installed) and through the host's own router. */
const DATA_PATHS = [
  { name: "HAProxy", frontProxy: true, ignore: !hasProgram("haproxy") },
  { name: "the router", frontProxy: false, ignore: false },
];

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
