/**
 * A tenant writing records on its output as fast as a pipe takes them (forged `{"kv":…}` and
 * `{"cron":…}` lines, which the bootstrap writes at most once a second or once per job) does not
 * take the host's event loop: the host summed a store lookup into each KV record and wrote its
 * database for each cron record, and read as fast as the tenant wrote.
 */
import assert from "node:assert/strict";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";
import { invoke } from "../lib/invoke.ts";

/** On a request, writes forged records for `s` seconds in the background, answering at once. */
const FLOODER = `
const encoder = new TextEncoder();
const records = [];
for (let i = 0; i < 64; i++) {
  records.push("\\x1e" + JSON.stringify({ kv: [0, 1] }) + "\\n");
  records.push("\\x1e" + JSON.stringify({ cron: { name: "job" + (i % 8), schedule: "* * * * *" } }) + "\\n");
}
const chunk = encoder.encode(records.join("").repeat(64));
export default {
  fetch(request) {
    const until = Date.now() + Number(new URL(request.url).searchParams.get("s")) * 1000;
    const flood = () => {
      for (let i = 0; i < 8; i++) {
        for (let off = 0; off < chunk.length;) off += Deno.stdout.writeSync(chunk.subarray(off));
      }
      if (Date.now() < until) setTimeout(flood, 0);
    };
    setTimeout(flood, 0);
    return new Response("flooding");
  },
};
`;

Deno.test({
  name: "records a tenant forges on its output as fast as it can do not take the host's event loop",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using api = await startApiHost({ frontProxy: false });
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "recordflood" },
  });
  const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
    json: {
      entryPointUrl: "main.js",
      envVars: {},
      assets: { "main.js": { kind: "file", content: FLOODER, encoding: "utf-8" } },
    },
  });
  assert.equal(await waitForBuild(api, String(deployment.id)), "success");
  const url = `http://recordflood-${deployment.id}.localhost:${api.host.port}`;
  const response = await invoke(`${url}/?s=4`, {}, { timeoutMs: 30_000 });
  assert.equal(await response.text(), "flooding");
  // The host's event loop over 3 s of the flood: a 10 ms timer's turns.
  let turns = 0;
  const timer = setInterval(() => turns++, 10);
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  clearInterval(timer);
  assert.ok(turns > 150, `the host's event loop took ${turns} turns of 300 in 3 s of the flood`);
});
