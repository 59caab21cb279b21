/**
 * Per-organization quotas through a real host: over its quota of projects, deployments,
 * KV databases, custom domains or stored bytes, an organization's create is a 403
 * `quotaExceeded` (v2 `QUOTA_EXCEEDED`) that writes nothing, and deleting frees room.
 */
import assert from "node:assert/strict";
import { runCli } from "./helpers/cli.ts";
import {
  type ApiHost,
  helloDeployment,
  ok,
  startApiHost,
  waitForBuild,
} from "./helpers/api_host.ts";

async function refused(response: Response, code = "quotaExceeded"): Promise<string> {
  const body = await response.json();
  assert.equal(response.status, 403, JSON.stringify(body));
  assert.equal(body.code, code);
  return body.message;
}

function fileDeployment(bytes: number, seed: string): Record<string, unknown> {
  return {
    entryPointUrl: "main.ts",
    assets: {
      "main.ts": { kind: "file", content: "Deno.serve(() => new Response('x'));\n" },
      "data.txt": {
        kind: "file",
        content: seed.repeat(Math.ceil(bytes / seed.length)).slice(0, bytes),
      },
    },
    envVars: {},
  };
}

async function projectCount(api: ApiHost): Promise<number> {
  const list = await ok<unknown[]>(
    api,
    "GET",
    `/v1/organizations/${api.host.organizationId}/projects?limit=100`,
  );
  return list.length;
}

Deno.test("an organization over a quota gets 403 quotaExceeded and nothing is written", async (t) => {
  await using api = await startApiHost({
    trustDomains: ["test"],
    quotas: { projects: 2, deployments: 2, databases: 1, domains: 1, storedBytes: 4096 },
  });
  const org = api.host.organizationId;

  await t.step("projects, on v1 and v2", async () => {
    await ok(api, "POST", `/v1/organizations/${org}/projects`, { json: { name: "quota-one" } });
    await ok(api, "POST", "/v2/apps", { json: { slug: "quota-two" } });
    const message = await refused(
      await api.request("POST", `/v1/organizations/${org}/projects`, { json: { name: "quota-3" } }),
    );
    assert.match(message, /2 projects, its quota is 2/);
    await refused(
      await api.request("POST", "/v2/apps", { json: { slug: "quota-three" } }),
      "QUOTA_EXCEEDED",
    );
    assert.equal(await projectCount(api), 2, "nothing was created");
    assert.equal((await api.request("DELETE", "/v2/apps/quota-two")).status, 204);
    await ok(api, "POST", "/v2/apps", { json: { slug: "quota-two" } });
  });

  await t.step("deployments, counted across projects, freed by deleting", async () => {
    const project = await ok(api, "GET", "/v2/apps/quota-one");
    const first = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
      json: helloDeployment("a"),
    });
    await waitForBuild(api, String(first.id));
    const second = await api.request("POST", "/v2/apps/quota-two/deploy", {
      json: { assets: { "main.ts": { content: "Deno.serve(() => new Response('b'));\n" } } },
    });
    assert.equal(second.status, 202);
    await second.body?.cancel();
    await refused(
      await api.request("POST", `/v1/projects/${project.id}/deployments`, {
        json: helloDeployment("c"),
      }),
    );
    await refused(
      await api.request("POST", `/v1/deployments/${first.id}/redeploy`, { json: { envVars: {} } }),
    );
    assert.equal((await api.request("DELETE", `/v1/deployments/${first.id}`)).status, 200);
    const third = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
      json: helloDeployment("c"),
    });
    await waitForBuild(api, String(third.id));
    assert.equal((await api.request("DELETE", `/v1/deployments/${third.id}`)).status, 200);
  });

  await t.step("stored bytes: new content only, each file once, nothing stored over", async () => {
    const project = await ok(api, "GET", "/v2/apps/quota-one");
    const blobsBefore = [...Deno.readDirSync(`${api.host.dataDir}/blobs`)].length;
    const message = await refused(
      await api.request("POST", `/v1/projects/${project.id}/deployments`, {
        json: fileDeployment(8192, "too big "),
      }),
    );
    assert.match(message, /over its quota of 4096 bytes/);
    assert.equal([...Deno.readDirSync(`${api.host.dataDir}/blobs`)].length, blobsBefore);
    const fits = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
      json: fileDeployment(3000, "fits "),
    });
    await waitForBuild(api, String(fits.id));
    assert.equal((await api.request("DELETE", `/v1/deployments/${fits.id}`)).status, 200);
    // Freed with the deployment: the same bytes fit again.
    const again = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
      json: fileDeployment(3000, "fits "),
    });
    await waitForBuild(api, String(again.id));
  });

  await t.step("KV databases and custom domains", async () => {
    await ok(api, "POST", `/v1/organizations/${org}/databases`, { json: { description: "one" } });
    await refused(
      await api.request("POST", `/v1/organizations/${org}/databases`, {
        json: { description: "x" },
      }),
    );
    await ok(api, "POST", "/v2/domains", { json: { domain: "one.quota.test" } });
    await refused(
      await api.request("POST", `/v1/organizations/${org}/domains`, {
        json: { domain: "two.quota.test" },
      }),
    );
    await refused(
      await api.request("POST", "/v2/domains", { json: { domain: "two.quota.test" } }),
      "QUOTA_EXCEEDED",
    );
  });
});

Deno.test("v2 layers are held to the organization's quota of layers", async () => {
  // Each layer holds up to 512 KiB of variables in host.db; nothing bounded how many there were.
  await using api = await startApiHost({ quotas: { layers: 2 } });
  const layer = (slug: string) =>
    api.request("POST", "/v2/layers", {
      json: { slug, env_vars: [{ key: "BIG", value: "v".repeat(60_000) }] },
    });
  for (const slug of ["layer-one", "layer-two"]) assert.equal((await layer(slug)).status, 201);
  const message = await refused(await layer("layer-three"), "QUOTA_EXCEEDED");
  assert.match(message, /2 layers, its quota is 2/);
  const list = await ok<unknown[]>(api, "GET", "/v2/layers");
  assert.equal(list.length, 2, "nothing was created");
  assert.equal((await api.request("DELETE", "/v2/layers/layer-two")).status, 204);
  assert.equal((await layer("layer-three")).status, 201);
});

Deno.test("host --quota refuses what it cannot read, exit 2", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    for (const quota of ["projects", "projects=many", "storage=-1", "people=3", "projects=5k"]) {
      const result = await runCli(["host", "start", "--port", "0", "--quota", quota], {
        env: { DEPLOY_TENANT_DATA_DIR: dataDir },
      });
      assert.equal(result.code, 2, `${quota}: ${result.stderr}`);
      assert.match(result.stderr, /Invalid --quota/);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("the CLI at a quota exits 5 (conflict) with a hint about the quota", async () => {
  await using api = await startApiHost({ quotas: { projects: 1 } });
  const env = {
    DEPLOY_API_URL: api.host.apiUrl,
    DEPLOY_ACCESS_TOKEN: api.host.token,
    DEPLOY_ORG_ID: api.host.organizationId,
  };
  assert.equal((await runCli(["project", "create", "quota-cli-a"], { env })).code, 0);
  const refusedCli = await runCli(["project", "create", "quota-cli-b"], { env });
  assert.equal(refusedCli.code, 5, refusedCli.stderr);
  assert.match(refusedCli.stderr, /quota is 1/);
  assert.match(refusedCli.stderr, /raise the quota/);
});
