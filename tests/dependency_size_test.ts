/**
 * A build downloads at most `--quota dependencies` into the deployment's cache: a deployment
 * importing a module from a server its owner runs could otherwise fill the host's disk for as
 * long as the dependency fetch may run (5 minutes), outside the storage quota (64 MiB in a
 * second here, from loopback; the host's egress proxy is told to allow it for the test only).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cacheBytes } from "../host/build/dependencies.ts";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";

const MIB = 1048576;

/** Serves `/<name>-<mib>.js`: a JavaScript module of that many MiB (one long comment). */
function moduleServer() {
  const chunk = new TextEncoder().encode("//" + "x".repeat(MIB - 3) + "\n");
  return Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    const mib = Number(/-(\d+)\.js$/.exec(new URL(request.url).pathname)?.[1] ?? 0);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < mib) controller.enqueue(chunk);
        else controller.close();
      },
    });
    return new Response(body, { headers: { "content-type": "application/javascript" } });
  });
}

Deno.test({
  name: "a build downloads at most --quota dependencies into the deployment's cache",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const server = moduleServer();
  try {
    await using api = await startApiHost({
      egressDenied: () => false,
      quotas: { dependencyBytes: 16 * MIB },
    });
    const base = `http://127.0.0.1:${server.addr.port}`;
    const deploy = async (name: string, imports: string[]) => {
      const project = await ok(
        api,
        "POST",
        `/v1/organizations/${api.host.organizationId}/projects`,
        {
          json: { name },
        },
      );
      const code = imports.map((path) => `import "${base}/${path}";\n`).join("") +
        `Deno.serve(() => new Response("up"));\n`;
      const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
        json: {
          entryPointUrl: "main.ts",
          envVars: {},
          assets: { "main.ts": { kind: "file", content: code } },
        },
      });
      const id = String(deployment.id);
      const status = await waitForBuild(api, id);
      const logs = await ok<{ message: string }[]>(api, "GET", `/v1/deployments/${id}/build_logs`);
      const cache = join(api.host.dataDir, "deployments", id, "cache");
      return { status, log: logs.map((line) => line.message).join("\n"), cache };
    };

    // Within the limit: built and kept.
    const small = await deploy("small-deps", ["a-1.js", "b-2.js"]);
    assert.equal(small.status, "success", small.log);

    // One module past it, and many below it that together pass it.
    for (
      const [name, imports] of [["one-big", ["big-64.js"]], ["many", [
        "m1-6.js",
        "m2-6.js",
        "m3-6.js",
        "m4-6.js",
      ]]] as const
    ) {
      const big = await deploy(name, [...imports]);
      assert.equal(big.status, "failed", big.log);
      assert.match(big.log, /limit of 16 MiB/);
      const left = await cacheBytes(big.cache);
      assert.ok(left < 16 * MIB, `${name}: its cache holds ${left} bytes`);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("cacheBytes counts every file and directory as at least a block", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "d"));
    for (let i = 0; i < 10; i++) await Deno.writeTextFile(join(dir, "d", `empty${i}`), "");
    await Deno.writeFile(join(dir, "big"), new Uint8Array(100_000));
    assert.equal(await cacheBytes(dir), 4096 + 10 * 4096 + 100_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
