/**
 * `deploy` over a slow link: DEPLOY_TENANT_REQUEST_TIMEOUT_MS is how long the API may stay
 * silent, not how long an upload may take. A CI runner sending a few hundred MiB had every
 * attempt cut at 60 s and sent again, four times, then read "Could not reach … check that the
 * server is running".
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import { slowLink } from "./helpers/slow_link.ts";

Deno.test("deploy over a slow link: an upload that keeps moving outlasts the time limit", async () => {
  await using host = await startTestHost();
  await using link = slowLink(host.port, 2 * 1024 * 1024);
  const app = await writeApp(host, "app", `Deno.serve(() => new Response("ok"));\n`);
  // Random bytes are sent as base64: 16 MiB on the wire, 8 s at 2 MiB/s. The sockets hold
  // a few MiB ahead of the link, so the limit must outlast what they hold (2-3 s here).
  const data = new Uint8Array(12 * 1024 * 1024);
  for (let at = 0; at < data.length; at += 65536) {
    crypto.getRandomValues(data.subarray(at, at + 65536));
  }
  await Deno.writeFile(join(app, "data.bin"), data);

  const timeLimitMs = 4000;
  const started = Date.now();
  const result = await runCli(["deploy", app, "-p", "slow-link", "--create"], {
    env: {
      ...host.env,
      DEPLOY_API_URL: `http://127.0.0.1:${link.port}/v1`,
      DEPLOY_TENANT_REQUEST_TIMEOUT_MS: String(timeLimitMs),
    },
  });
  const elapsedMs = Date.now() - started;
  assert.equal(result.code, 0, describe(result));
  assert.doesNotMatch(result.stderr, /timed out|retrying/, describe(result));
  assert.match(result.stdout, /^http:\/\/slow-link-\w+\.localhost:\d+\/$/m);
  // What makes this test able to fail: the upload took longer than the time limit.
  assert.ok(elapsedMs > 1.5 * timeLimitMs, `the deploy took only ${elapsedMs} ms`);
});
