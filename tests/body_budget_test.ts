/**
 * The API reads a request body whole into the host's memory before it parses it (a deployment's
 * may be 1.5 GiB), and nothing bounded how many it held at once: any token holder sending a few
 * at the same time took the host's memory (three 300 MB deploys grew it by 2.5 GB), and every
 * tenant with it. An organization now holds at most one body limit's worth at once, the host
 * twice that; past either the request is `429 tooManyUploads`, and an answered request gives its
 * bytes back.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BodyBudget, EVICTED } from "../host/api/body_budget.ts";
import { ok, startApiHost } from "./helpers/api_host.ts";

const MIB = 1048576;

/** A create-deployment body of exactly `bytes` bytes (an asset of `a`s fills it). */
function deploymentBody(bytes: number): Uint8Array {
  const start = '{"entryPointUrl":"main.ts","envVars":{},"assets":{"main.ts":{"kind":"file",' +
    '"content":"export default { fetch: () => new Response(1) };"},' +
    '"big.txt":{"kind":"file","encoding":"utf-8","content":"';
  const end = '"}}}';
  return new TextEncoder().encode(start + "a".repeat(bytes - start.length - end.length) + end);
}

/**
 * Sends `body` (a file) as a create-deployment request with curl, at most `rate` bytes a second
 * when given; resolves with the status and the answer's body.
 */
async function upload(
  port: number,
  token: string,
  projectId: string,
  body: string,
  rate?: number,
): Promise<string> {
  const output = await new Deno.Command("curl", {
    args: [
      "-sS",
      ...(rate ? ["--limit-rate", String(rate)] : []),
      "-H",
      `Authorization: Bearer ${token}`,
      "-H",
      "Content-Type: application/json",
      "--data-binary",
      `@${body}`,
      "-w",
      " %{http_code}",
      `http://127.0.0.1:${port}/v1/projects/${projectId}/deployments`,
    ],
  }).output();
  return new TextDecoder().decode(output.stdout);
}

Deno.test("the API holds at most one body limit of request bodies per organization at once, twice that in all", async () => {
  await using api = await startApiHost({ maxBodyBytes: 8 * MIB });
  const port = api.host.port;
  const other = api.createOrganization("other");
  const project = async (token: string, organizationId: string, name: string) =>
    String(
      (await ok(api, "POST", `/v1/organizations/${organizationId}/projects`, {
        token,
        json: { name },
      })).id,
    );
  const own = await project(api.host.token, api.host.organizationId, "uploads");
  const theirs = await project(other.token, other.id, "their-uploads");
  const body = join(await Deno.makeTempDir({ prefix: "body-budget-" }), "body.json");
  await Deno.writeFile(body, deploymentBody(6 * MIB));

  // A first upload is on its way, slowly: 6 MiB at 1 MiB a second.
  const first = upload(port, api.host.token, own, body, MIB);
  await new Promise((resolve) => setTimeout(resolve, 3_500));

  // A second of the same organization would hold more than 8 MiB with it: refused.
  assert.match(await upload(port, api.host.token, own, body), /tooManyUploads.* 429$/);

  // Another organization's fits beside it (the host holds twice the limit).
  assert.match(await upload(port, other.token, theirs, body), / 20\d$/);

  // The first goes through; once answered, its bytes are given back.
  assert.match(await first, / 20\d$/);
  assert.match(await upload(port, api.host.token, own, body), / 20\d$/);
  await Deno.remove(join(body, ".."), { recursive: true });
});

Deno.test("BodyBudget holds each organization to its share and everyone to the total, until released", () => {
  const budget = new BodyBudget(8, 12);
  const [a1, a2, b1, b2] = [0, 1, 2, 3].map(() => new Request("http://x/"));
  assert.ok(budget.take(a1, "a", 6));
  assert.ok(!budget.take(a2, "a", 3), "a's share is 8");
  assert.ok(budget.take(b1, "b", 6));
  assert.ok(!budget.take(b2, "b", 1), "the total is 12, and b holds as much as anyone");
  budget.release(a1);
  assert.ok(budget.take(b2, "b", 1));
  assert.ok(budget.take(a2, "a", 5), "a's bytes came back");
  budget.release(a2);
  budget.release(b1);
  budget.release(b2);
  assert.equal(budget.held, 0);
});

Deno.test("BodyBudget refuses the later of two uploads of one organization, whichever sends the chunk that passes the limit", async () => {
  const budget = new BodyBudget(8, 16);
  const [first, second, third] = [0, 1, 2].map(() => new Request("http://x/"));
  assert.ok(budget.take(first, "a", 3));
  assert.ok(budget.take(second, "a", 4));
  const secondGivenUp = budget.evicted(second);
  // The first's next chunk would pass the limit: the second is given up, not the first.
  assert.ok(budget.take(first, "a", 2));
  assert.equal(await secondGivenUp, EVICTED);
  assert.ok(!budget.take(second, "a", 1), "an upload given up takes nothing more");
  // A third, later still, cannot push the first out.
  assert.ok(!budget.take(third, "a", 4));
  assert.equal(budget.held, 5);
  for (const request of [first, second, third]) budget.release(request);
  assert.equal(budget.held, 0);
});

Deno.test("two organizations stalling near-full uploads do not deny a third its writes: the biggest holder's upload is given up", async () => {
  await using api = await startApiHost({ maxBodyBytes: 8 * MIB });
  const port = api.host.port;
  const [a, b, c] = ["stall-a", "stall-b", "writer"].map((name) => api.createOrganization(name));
  const project = async (org: { id: string; token: string }, name: string) =>
    String(
      (await ok(api, "POST", `/v1/organizations/${org.id}/projects`, {
        token: org.token,
        json: { name },
      })).id,
    );
  /** Sends all but the last byte of an upload of one body limit, and keeps the connection. */
  const stall = async (org: { id: string; token: string }, name: string) => {
    const projectId = await project(org, name);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(
      `POST /v1/projects/${projectId}/deployments HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Authorization: Bearer ${org.token}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${8 * MIB - 1}\r\n\r\n`,
    ));
    const body = new Uint8Array(8 * MIB - 2).fill(0x20);
    for (let sent = 0; sent < body.length;) sent += await conn.write(body.subarray(sent));
    return conn;
  };
  const stalled = [await stall(a, "stalled-a"), await stall(b, "stalled-b")];
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // both bodies held by the host
    // Before: 429 tooManyUploads, for as long as the two kept their connections.
    await project(c, "still-writes");
    // One of the stalled uploads was given up, and told so.
    const answer = await Promise.any(stalled.map(async (conn) => {
      const buffer = new Uint8Array(4096);
      const read = await conn.read(buffer);
      return new TextDecoder().decode(buffer.subarray(0, read ?? 0));
    }));
    assert.match(answer, /^HTTP\/1\.1 429[^]*tooManyUploads/);
  } finally {
    for (const conn of stalled) conn.close();
  }
});

Deno.test("BodyBudget gives up the largest upload of the organization holding most to make room for one holding less", async () => {
  const budget = new BodyBudget(8, 12);
  const [a1, b1, c1, b2] = [0, 1, 2, 3].map(() => new Request("http://x/"));
  assert.ok(budget.take(a1, "a", 6));
  assert.ok(budget.take(b1, "b", 5));
  // b holds 5 and would hold 7, more than a's 6: it cannot push a out.
  assert.ok(!budget.take(b2, "b", 2));
  // c holds nothing: a's upload is given up.
  const evicted = budget.evicted(a1);
  assert.ok(budget.take(c1, "c", 2));
  assert.equal(await evicted, EVICTED);
  assert.ok(!budget.take(a1, "a", 1), "an upload given up takes nothing more");
  assert.equal(budget.held, 7);
  for (const request of [a1, b1, c1, b2]) budget.release(request);
  assert.equal(budget.held, 0);
});
