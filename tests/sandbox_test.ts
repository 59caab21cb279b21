import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deploymentDirs, Runtime } from "../host/tenant/runtime.ts";
import {
  DENIED_NET,
  detectIsolation,
  localAddresses,
  netFlags,
  tenantDenoBinary,
} from "../host/tenant/sandbox.ts";
import { requires } from "./helpers/programs.ts";
import { tenantGet } from "./helpers/tenant_fetch.ts";

const bootstrap = fileURLToPath(new URL("../host/tenant/bootstrap.js", import.meta.url));
const isolation = await detectIsolation();
const sandboxed = isolation.kind === "bwrap";

/** Writes `files` as deployment `id`'s app dir under `root`. */
async function writeApp(root: string, id: string, files: Record<string, string>) {
  const { app } = deploymentDirs(root, id);
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(join(app, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(app, path), content);
  }
}

/** Runs `fn` with a runtime over a fresh deployments dir, cleaning up after. */
async function withRuntime(fn: (runtime: Runtime, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "dt-sandbox-" });
  const runtime = new Runtime({
    isolation,
    deploymentsDir: root,
    bootstrap,
    deno: tenantDenoBinary(),
  });
  try {
    await fn(runtime, root);
  } finally {
    await runtime.stopAll();
    await Deno.remove(root, { recursive: true });
  }
}

async function get(runtime: Runtime, id: string, path = "/"): Promise<Response> {
  const instance = await runtime.ensure({ id, entrypoint: "main.ts", envVars: {}, denoFlags: [] });
  return await tenantGet(instance.client, path);
}

/**
 * A tenant that tries each escape and reports what happened. A literal import specifier
 * matters: Deno checks --allow-read for computed specifiers but not for analysable ones.
 */
const probe = (otherFile: string) => `
const attempts = {
  importOtherLiteral: () => import(${JSON.stringify("file://" + otherFile)}),
  importOtherLiteralText: () => import(${
  JSON.stringify("file://" + otherFile)
}, { with: { type: "text" } }),
  readPasswd: () => Deno.readTextFile("/etc/passwd"),
  readOther: () => Deno.readTextFile(Deno.env.get("OTHER_FILE")),
  importOther: () => import("file://" + Deno.env.get("OTHER_FILE")),
  importOtherText: () => import("file://" + Deno.env.get("OTHER_FILE"), { with: { type: "text" } }),
  readEnviron: () => Deno.readTextFile("/proc/self/environ"),
  write: () => Deno.writeTextFile("/app/x.txt", "x"),
  spawn: () => new Deno.Command("/bin/sh", { args: ["-c", "true"] }).output(),
  dlopen: () => Deno.dlopen("/usr/lib/x86_64-linux-gnu/libc.so.6", {}),
};
export default {
  async fetch() {
    const results = {};
    for (const [name, attempt] of Object.entries(attempts)) {
      try {
        const value = await attempt();
        results[name] = "ALLOWED " + String(value && (value.default ?? value)).slice(0, 40);
      } catch (error) {
        results[name] = "blocked: " + error.name;
      }
    }
    results.env = Object.keys(Deno.env.toObject()).sort();
    return Response.json(results);
  },
};
`;

Deno.test(requires(["bwrap"], {
  name: "a tenant sees only its own files, env and no processes or native code",
  ignore: !sandboxed,
  async fn() {
    await withRuntime(async (runtime, root) => {
      // The other tenant's module, which an unsandboxed Deno would import despite --allow-read.
      await writeApp(root, "other", { "secret.ts": "export default 'other tenant secret';" });
      const otherFile = join(deploymentDirs(root, "other").app, "secret.ts");
      await writeApp(root, "probe", { "main.ts": probe(otherFile) });
      const instance = await runtime.ensure({
        id: "probe",
        entrypoint: "main.ts",
        envVars: { OTHER_FILE: otherFile, MY_VAR: "mine" },
        denoFlags: [],
      });
      const response = await tenantGet(instance.client);
      const results = await response.json();
      for (const name of Object.keys(results).filter((key) => key !== "env")) {
        assert.match(results[name], /^blocked/, `${name} must be blocked, got ${results[name]}`);
      }
      assert.ok(results.env.includes("MY_VAR"));
      for (const hostVar of Object.keys(Deno.env.toObject())) {
        if (["PATH", "HOME", "PWD"].includes(hostVar) || hostVar.startsWith("DENO_")) continue;
        assert.ok(!results.env.includes(hostVar), `host variable ${hostVar} leaked`);
      }
    });
  },
}));

Deno.test({
  name: "both module styles serve, and a crashed tenant restarts on the next request",
  ignore: isolation.kind === "none" && !isolation.accepted && !sandboxed,
  async fn() {
    await withRuntime(async (runtime, root) => {
      await writeApp(root, "a", {
        "main.ts":
          `export default { fetch: (r) => new Response("default " + new URL(r.url).pathname) };`,
      });
      await writeApp(root, "b", {
        "main.ts": `Deno.serve((r) => {
          if (new URL(r.url).pathname === "/exit") Deno.exit(3);
          return new Response("serve " + Deno.env.get("DENO_DEPLOYMENT_ID"));
        });`,
      });
      assert.equal(await (await get(runtime, "a", "/x")).text(), "default /x");
      assert.equal(await (await get(runtime, "b")).text(), "serve b");
      await get(runtime, "b", "/exit").then((r) => r.body?.cancel(), () => {});
      // The exit is noticed, and the next request starts a fresh process.
      for (let i = 0; i < 50 && runtime.isRunning("b"); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(await (await get(runtime, "b")).text(), "serve b");
    });
  },
});

Deno.test(requires(["bwrap"], {
  name: "a module that throws at import fails to start with its error",
  ignore: !sandboxed,
  async fn() {
    await withRuntime(async (runtime, root) => {
      await writeApp(root, "bad", { "main.ts": `throw new Error("boom at import");` });
      await assert.rejects(get(runtime, "bad"), /boom at import/);
      assert.equal(runtime.isRunning("bad"), false);
    });
  },
}));

Deno.test("netFlags: public hosts only by default, an allow-list, or nothing", () => {
  const open = netFlags(undefined);
  assert.deepEqual(open[0], "--allow-net");
  const denied = open[1].replace("--deny-net=", "").split(",");
  for (const range of ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]) {
    assert.ok(denied.includes(range), `${range} must be denied`);
  }
  for (const range of ["169.254.0.0/16", "[::1]", "localhost", "0.0.0.0/8"]) {
    assert.ok(denied.includes(range), `${range} must be denied`);
  }
  for (const entry of DENIED_NET) assert.ok(denied.includes(entry), `${entry} must be denied`);
  // The machine's own addresses too: a host listening on 0.0.0.0 answers on them.
  for (const entry of localAddresses()) {
    assert.ok(denied.includes(entry), `${entry} must be denied`);
  }
  // An allow-list narrows: the deny list stays, unless the host's operator allows private nets.
  assert.deepEqual(netFlags(["example.com", "1.2.3.4:443"]), [
    "--allow-net=example.com,1.2.3.4:443",
    open[1],
  ]);
  assert.deepEqual(netFlags(["example.com", "1.2.3.4:443"], undefined, true), [
    "--allow-net=example.com,1.2.3.4:443",
  ]);
  assert.deepEqual(netFlags([]), []);
});
