/**
 * A tenant cannot learn from its own files whether another project holds the same bytes: a
 * file's link count (`Deno.stat().nlink`) counted every deployment of any project holding them
 * (one inode in the blob store for all), so deploying guesses of another tenant's config file
 * and reading their link counts told which guess was right. Each project now links its
 * deployments to copies of its own; they go with the deployments and the project.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { deployModule, ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";
import { rawGet, rawGetJson } from "./helpers/raw_http.ts";
import { gitSha1 } from "../lib/git_sha1.ts";

/** A deployment answering the link counts of its files `right.txt` and `wrong.txt`. */
const PROBE = `Deno.serve(async () => Response.json({
  right: (await Deno.stat(new URL("./right.txt", import.meta.url))).nlink,
  wrong: (await Deno.stat(new URL("./wrong.txt", import.meta.url))).nlink,
}));
`;

Deno.test("a file's link count says nothing of other projects' files of the same bytes", async () => {
  await using api = await startApiHost();
  const secret = "STRIPE_KEY=sk_live_4242\n";
  await deployModule(api, "victim", "Deno.serve(() => new Response('hi'));\n", {
    assets: {
      "main.ts": { kind: "file", content: "Deno.serve(() => new Response('hi'));\n" },
      "config.env": { kind: "file", content: secret },
    },
  });
  const probeAssets = {
    "main.ts": { kind: "file", content: PROBE },
    "right.txt": { kind: "file", content: secret },
    "wrong.txt": { kind: "file", content: "STRIPE_KEY=sk_live_4243\n" },
  };
  const attacker = await deployModule(api, "attacker", PROBE, { assets: probeAssets });
  const counts = await rawGetJson<{ right: number; wrong: number }>(api.host.port, attacker.host);
  assert.equal(counts.right, counts.wrong, "the right guess reads as the wrong one");

  // The project's own deployments share its copy: a second one links it once more.
  const { projectId } = await ok<{ projectId: string }>(
    api,
    "GET",
    `/v1/deployments/${attacker.id}`,
  );
  const second = await ok(api, "POST", `/v1/projects/${projectId}/deployments`, {
    json: { entryPointUrl: "main.ts", envVars: {}, assets: probeAssets },
  });
  assert.equal(await waitForBuild(api, String(second.id)), "success");
  const secondCounts = await rawGetJson<{ right: number; wrong: number }>(
    api.host.port,
    `attacker-${second.id}.localhost:${api.host.port}`,
  );
  assert.equal(secondCounts.right, secondCounts.wrong);
  assert.ok(secondCounts.right > counts.right, JSON.stringify({ counts, secondCounts }));

  // The copies go with the project.
  const copies = join(api.host.dataDir, "blobs", "projects", projectId);
  assert.ok((await Deno.stat(copies)).isDirectory);
  await ok(api, "DELETE", `/v1/projects/${projectId}`);
  await assert.rejects(Deno.stat(copies), Deno.errors.NotFound);
});

Deno.test("a deleted deployment takes its project's copies only it used; the rest serve on", async () => {
  await using api = await startApiHost();
  const main =
    "Deno.serve(async () => new Response(await Deno.readTextFile(new URL('./shared.txt', import.meta.url))));\n";
  const first = await deployModule(api, "copies", main, {
    assets: {
      "main.ts": { kind: "file", content: main },
      "shared.txt": { kind: "file", content: "shared by both" },
    },
  });
  const { projectId } = await ok<{ projectId: string }>(api, "GET", `/v1/deployments/${first.id}`);
  const second = await ok(api, "POST", `/v1/projects/${projectId}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: {
        "main.ts": { kind: "file", content: main },
        "shared.txt": { kind: "file", content: "shared by both" },
        "own.txt": { kind: "file", content: "the second's own" },
      },
    },
  });
  const secondId = String(second.id);
  assert.equal(await waitForBuild(api, secondId), "success");
  const copy = (content: string) => {
    const hash = gitSha1(new TextEncoder().encode(content));
    return join(api.host.dataDir, "blobs", "projects", projectId, hash.slice(0, 2), hash.slice(2));
  };
  assert.ok((await Deno.stat(copy("the second's own"))).isFile);

  await ok(api, "DELETE", `/v1/deployments/${secondId}`);
  await assert.rejects(Deno.stat(copy("the second's own")), Deno.errors.NotFound);
  assert.ok((await Deno.stat(copy("shared by both"))).isFile, "the first still uses it");
  assert.ok((await Deno.stat(copy(main))).isFile);
  const answer = await rawGet(api.host.port, first.host);
  assert.equal(answer.status, 200);
  assert.match(answer.body, /shared by both/);
});
