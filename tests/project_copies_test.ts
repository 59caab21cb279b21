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
import { rawGetJson } from "./helpers/raw_http.ts";

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
