/**
 * No change lost, none stuck, through a real host: of two builds racing to production the
 * newer keeps it whichever finishes last; a name moves only from the holder a caller expects
 * (`ifHolder`) or never to an older deployment (`unlessNewer`) when asked; a rename during a
 * build gives the deployment its new names; a second host on a data dir refuses to start and
 * leaves the first one serving.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DataDirInUseError, startHost } from "../host/mod.ts";
import { runCli } from "./helpers/cli.ts";
import { type ApiHost, ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";

const SLOW = (text: string, ms: number) =>
  `await new Promise((resolve) => setTimeout(resolve, ${ms}));
Deno.serve(() => new Response(${JSON.stringify(text)}));
`;

async function create(
  api: ApiHost,
  projectId: string,
  main: string,
  domains?: string[],
): Promise<string> {
  const deployment = await ok(api, "POST", `/v1/projects/${projectId}/deployments`, {
    json: {
      entryPointUrl: "main.ts",
      envVars: {},
      assets: { "main.ts": { kind: "file", content: main } },
      ...(domains ? { domains } : {}),
    },
  });
  return String(deployment.id);
}

Deno.test("racing to production, the newer deployment keeps it whichever build ends last", async (t) => {
  await using api = await startApiHost();
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "race-prod" },
  });
  const projectId = String(project.id);
  const production = ["{project.name}.localhost", "{project.name}-{deployment.id}.localhost"];

  const older = await create(api, projectId, SLOW("older", 2_500), production);
  const newer = await create(api, projectId, SLOW("newer", 0), production);
  await t.step("the older build ends last and does not take production", async () => {
    assert.equal(await waitForBuild(api, newer), "success");
    assert.equal(await waitForBuild(api, older), "success");
    const holder = await ok(api, "GET", `/v1/deployments/${newer}`);
    assert.ok((holder.domains as string[]).includes("race-prod.localhost"), String(holder.domains));
    const late = await ok(api, "GET", `/v1/deployments/${older}`);
    assert.ok(!(late.domains as string[]).includes("race-prod.localhost"));
    const log = await ok<{ message: string }[]>(api, "GET", `/v1/deployments/${older}/build_logs`);
    assert.ok(log.some((l) => l.message.includes(`stays with deployment ${newer}`)));
  });

  await t.step(
    "unlessNewer and ifHolder refuse a stale move; a plain promote still rolls back",
    async () => {
      const path = `/v1/deployments/${older}/domains/race-prod.localhost`;
      const stale = await api.request("PUT", `${path}?unlessNewer=true`);
      assert.equal(stale.status, 409);
      assert.equal((await stale.json()).code, "newerDeploymentHoldsDomain");
      const changed = await api.request("PUT", `${path}?ifHolder=${older}`);
      assert.equal(changed.status, 409);
      assert.equal((await changed.json()).code, "domainHolderChanged");
      await ok(api, "PUT", `${path}?ifHolder=${newer}`);
      const now = await ok(api, "GET", `/v1/deployments/${older}`);
      assert.ok(
        (now.domains as string[]).includes("race-prod.localhost"),
        "rolled back on purpose",
      );
    },
  );
});

Deno.test("a rename during a build gives the deployment its new names", async () => {
  await using api = await startApiHost();
  const project = await ok(api, "POST", `/v1/organizations/${api.host.organizationId}/projects`, {
    json: { name: "before-name" },
  });
  const id = await create(api, String(project.id), SLOW("renamed", 1_500), [
    "{project.name}-{deployment.id}.localhost",
    "{project.name}.localhost",
  ]);
  await ok(api, "PATCH", `/v1/projects/${project.id}`, { json: { name: "after-name" } });
  assert.equal(await waitForBuild(api, id), "success");
  const deployment = await ok(api, "GET", `/v1/deployments/${id}`);
  assert.deepEqual(
    (deployment.domains as string[]).sort(),
    [`after-name-${id}.localhost`, "after-name.localhost"].sort(),
  );
  const { invoke } = await import("../lib/invoke.ts");
  const response = await invoke(`http://after-name-${id}.localhost:${api.host.port}/`);
  assert.equal(await response.text(), "renamed");
});

Deno.test("a second host on a data dir refuses to start and leaves the first one serving", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    await using first = await startApiHost({ dataDir });
    const info = await Deno.readTextFile(join(dataDir, "host.json"));
    await assert.rejects(
      () => startHost({ dataDir, port: 0, unsandboxed: true }),
      (error: unknown) => error instanceof DataDirInUseError && error.pid === Deno.pid,
    );
    const cli = await runCli(["host", "--port", "0", "--data-dir", dataDir]);
    assert.equal(cli.code, 5, cli.stderr);
    assert.match(cli.stderr, /Another local host \(pid \d+\) is running on/);
    assert.equal(await Deno.readTextFile(join(dataDir, "host.json")), info, "host.json kept");
    const health = await fetch(`${first.origin}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
