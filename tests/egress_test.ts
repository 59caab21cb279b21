/**
 * Module loading never reaches this machine: a deployment's `npm:`, `jsr:` and `https:` modules
 * are fetched at build time through the host's egress proxy, which connects to public
 * addresses only, and the tenant runs `--cached-only`. Every registry setting, import map,
 * import and redirect a tenant controls is tried against a loopback listener that must see no
 * request. (Only loopback is ever contacted here: each attempt names a loopback address.)
 */
import assert from "node:assert/strict";
import { EgressProxy } from "../host/build/egress_proxy.ts";
import { isDeniedAddress } from "../host/build/addresses.ts";
import { needsDependencies } from "../host/build/dependencies.ts";
import { dependencyFetchCommand } from "../host/tenant/sandbox.ts";
import { ok, startApiHost, waitForBuild } from "./helpers/api_host.ts";

/** A loopback HTTP server that counts requests and answers like a registry would. */
function listener() {
  const paths: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    paths.push(new URL(request.url).pathname);
    if (new URL(request.url).pathname.endsWith(".ts")) {
      return new Response("export default 'loopback module';", {
        headers: { "content-type": "application/typescript" },
      });
    }
    return Response.json({ name: "x", versions: {} });
  });
  return { port: server.addr.port, paths, close: () => server.shutdown() };
}

Deno.test("addresses: loopback, private, link-local, reserved and own ones are denied", () => {
  for (
    const denied of [
      "127.0.0.1",
      "127.255.0.9",
      "0.0.0.0",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "224.0.0.1",
      "255.255.255.255",
      "::",
      "::1",
      "[::1]",
      "fc00::1",
      "fd12:3456::1",
      "fe80::1%eth0",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "64:ff9b::10.0.0.1",
      "not an address",
    ]
  ) assert.equal(isDeniedAddress(denied), true, denied);
  for (const allowed of ["8.8.8.8", "104.16.0.1", "172.32.0.1", "203.0.113.80", "2606:4700::1"]) {
    assert.equal(isDeniedAddress(allowed), false, allowed);
  }
});

Deno.test("the egress proxy refuses loopback by address and by name, and tunnels what it allows", async () => {
  const target = listener();
  const refused: string[] = [];
  const proxy = EgressProxy.start({ onRefused: (where) => refused.push(where) });
  try {
    for (
      const target_ of [
        `127.0.0.1:${target.port}`,
        `localhost:${target.port}`,
        `[::ffff:127.0.0.1]:${target.port}`,
      ]
    ) {
      const client = Deno.createHttpClient({ proxy: { url: proxy.url } });
      const response = await fetch(`http://${target_}/secret`, { client });
      assert.equal(response.status, 403, target_);
      assert.match(await response.text(), /never fetched/);
      client.close();
    }
    assert.deepEqual(target.paths, [], "nothing reached the loopback listener");
    assert.equal(refused.length, 3);

    // With a policy that allows loopback (a test double of "public"), requests go through.
    const open = EgressProxy.start({ denied: () => false });
    try {
      const client = Deno.createHttpClient({ proxy: { url: open.url } });
      const response = await fetch(`http://127.0.0.1:${target.port}/mod.ts`, { client });
      assert.equal(await response.text(), "export default 'loopback module';");
      client.close();
      const tunnel = await Deno.connect({
        hostname: "127.0.0.1",
        port: Number(new URL(open.url).port),
      });
      await tunnel.write(
        new TextEncoder().encode(`CONNECT 127.0.0.1:${target.port} HTTP/1.1\r\n\r\n`),
      );
      const buffer = new Uint8Array(256);
      const n = await tunnel.read(buffer);
      assert.match(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
      tunnel.close();
    } finally {
      await open.close();
    }
  } finally {
    await proxy.close();
    await target.close();
  }
});

Deno.test("the dependency step runs with the host's environment only, and only when needed", async () => {
  const command = dependencyFetchCommand({
    appDir: "/srv/app",
    cacheDir: "/srv/cache",
    entrypoint: "main.ts",
    denoFlags: ["--no-lock"],
    deno: "/usr/bin/deno",
    proxyUrl: "http://127.0.0.1:1",
  }, { kind: "none", reason: "test", accepted: true });
  assert.deepEqual(Object.keys(command.env).sort(), [
    "DENO_DIR",
    "DENO_NO_UPDATE_CHECK",
    "DENO_REGION",
    "DENO_TLS_CA_STORE",
    "HOME",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_COLOR",
    "PATH",
  ]);
  assert.ok(command.args.includes("--node-modules-dir=none"));
  assert.ok(command.args.includes("--vendor=false"));

  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, `import { x } from "./x.ts"; import "node:fs";\n`);
    await Deno.writeTextFile(`${dir}/x.ts`, "export const x = 1;\n");
    assert.equal(await needsDependencies(dir), false, "own files and node: built-ins only");
    await Deno.writeTextFile(`${dir}/y.ts`, `export * from "jsr:@std/path";\n`);
    assert.equal(await needsDependencies(dir), true);
    await Deno.remove(`${dir}/y.ts`);
    await Deno.writeTextFile(`${dir}/deno.json`, `{"deploy": {"project": "x"}}`);
    assert.equal(await needsDependencies(dir), false, "a deno.json mapping nothing remote");
    await Deno.writeTextFile(`${dir}/deno.json`, `{"imports": {"x": "jsr:@std/path"}}`);
    assert.equal(await needsDependencies(dir), true);
    await Deno.remove(`${dir}/deno.json`);
    await Deno.writeTextFile(`${dir}/package.json`, `{"dependencies": {"left-pad": "1"}}`);
    assert.equal(await needsDependencies(dir), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a tenant's registry settings, import maps, imports and dynamic imports never reach loopback", async (t) => {
  const target = listener();
  // The host's proxy refuses every address here: a test never fetches past loopback, and
  // the listener still shows whether Deno went around the proxy.
  await using api = await startApiHost({ egressDenied: () => true });
  const base = `http://127.0.0.1:${target.port}`;
  const serve = `Deno.serve(() => new Response("up"));\n`;
  const attempts: Record<string, Record<string, string>> = {
    // A deno.json makes Deno read the .npmrc beside it (without one it would not, and the
    // public registry would be asked instead: never in a test).
    "npmrc-registry": {
      "deno.json": "{}",
      ".npmrc": `registry=${base}/\n//127.0.0.1:${target.port}/:_authToken=stolen\n`,
      "main.ts": `import pad from "npm:left-pad";\n${serve}`,
    },
    "npmrc-scoped": {
      "deno.json": "{}",
      ".npmrc": `@acme:registry=http://localhost:${target.port}/\n`,
      "main.ts": `import x from "npm:@acme/tool";\n${serve}`,
    },
    "http-import-ipv6-mapped": {
      "main.ts": `import x from "http://[::ffff:127.0.0.1]:${target.port}/mod.ts";\n${serve}`,
    },
    "import-map-url": {
      "deno.json": JSON.stringify({ imports: { "lib": `${base}/lib.ts` } }),
      "main.ts": `import lib from "lib";\n${serve}`,
    },
    "http-import": { "main.ts": `import x from "${base}/mod.ts";\n${serve}` },
    "package-json-registry": {
      "package.json": JSON.stringify({ dependencies: { "left-pad": "1.3.0" } }),
      ".npmrc": `registry=${base}/\n`,
      "main.ts": `import pad from "left-pad";\n${serve}`,
    },
  };
  try {
    for (const [index, [name, files]] of Object.entries(attempts).entries()) {
      await t.step(`${name}: the build fails and nothing reaches loopback`, async () => {
        const project = await ok(
          api,
          "POST",
          `/v1/organizations/${api.host.organizationId}/projects`,
          {
            json: { name: `egress${index}` },
          },
        );
        const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
          json: {
            entryPointUrl: "main.ts",
            envVars: {},
            assets: Object.fromEntries(
              Object.entries(files).map(([path, content]) => [path, { kind: "file", content }]),
            ),
          },
        });
        assert.equal(await waitForBuild(api, String(deployment.id)), "failed");
        const logs = await ok<{ message: string }[]>(
          api,
          "GET",
          `/v1/deployments/${deployment.id}/build_logs`,
        );
        const text = logs.map((l) => l.message).join("\n");
        assert.match(text, /egress proxy|never fetched|Could not fetch/, text);
        assert.deepEqual(target.paths, [], `${name} reached the loopback listener`);
      });
    }

    await t.step("a dynamic import at run time fetches nothing either", async () => {
      const project = await ok(
        api,
        "POST",
        `/v1/organizations/${api.host.organizationId}/projects`,
        {
          json: { name: "egress-dynamic" },
        },
      );
      const deployment = await ok(api, "POST", `/v1/projects/${project.id}/deployments`, {
        json: {
          entryPointUrl: "main.ts",
          envVars: {},
          assets: {
            ".npmrc": { kind: "file", content: `registry=${base}/\n` },
            "main.ts": {
              kind: "file",
              content: `Deno.serve(async () => {
                const specifier = ["npm:", "left-pad"].join("");
                try { await import(specifier); return new Response("loaded"); }
                catch (error) { return new Response("refused: " + error.message); }
              });\n`,
            },
          },
        },
      });
      assert.equal(await waitForBuild(api, String(deployment.id)), "success");
      const { invoke } = await import("../lib/invoke.ts");
      const response = await invoke(
        `http://egress-dynamic-${deployment.id}.localhost:${api.host.port}/`,
      );
      assert.match(await response.text(), /^refused: /);
      assert.deepEqual(target.paths, []);
    });
  } finally {
    await target.close();
  }
});
