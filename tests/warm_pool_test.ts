/**
 * The warm pool: which deployments a pooled runtime may run, how their files reach it, and a
 * pooled runtime serving a deployment as a fresh process would (env vars, id, time limit,
 * sandbox), in its own directories.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { deploymentDirs, type RunnableDeployment } from "../host/tenant/runtime.ts";
import { handoffLine, poolable } from "../host/tenant/warm_pool.ts";
import { linkTree } from "../host/tenant/link_tree.ts";
import { requires } from "./helpers/programs.ts";
import { CPU_WEIGHTS, detectCgroups, type HostCgroups } from "../host/tenant/cgroups.ts";
import { tenantGet } from "./helpers/tenant_fetch.ts";
import { POOLED_RUNTIME_MB } from "../host/tenant/pool_sizer.ts";
import { isolation, poolableDeployment, pooledRuntime } from "./helpers/pooled_runtime.ts";
import { waitFor } from "./helpers/wait_for.ts";

/** Writes `source` as the `main.ts` of deployment `id`'s files. */
async function writeMain(deploymentsDir: string, id: string, source: string): Promise<void> {
  const { app } = deploymentDirs(deploymentsDir, id);
  await Deno.mkdir(app, { recursive: true });
  await Deno.writeTextFile(join(app, "main.ts"), source);
}

async function appWith(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dt-pool-app-" });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  }
  return dir;
}

Deno.test("poolable: default settings and own modules only", async (t) => {
  const hello = `import { join } from "node:path";
    import { greet } from "./lib/greet.ts";
    export default { fetch: () => new Response(greet(join("a", "b"))) };`;
  const cases: [string, Record<string, string>, Partial<RunnableDeployment>, boolean][] = [
    [
      "own modules and node: built-ins",
      { "main.ts": hello, "lib/greet.ts": "export const greet = (s: string) => s;" },
      {},
      true,
    ],
    ["a KV database", { "main.ts": hello, "lib/greet.ts": "" }, { kvDatabaseId: "db" }, false],
    [
      "a restricted network",
      { "main.ts": hello, "lib/greet.ts": "" },
      { net: ["example.com"] },
      false,
    ],
    ["all hosts spelled out", { "main.ts": hello, "lib/greet.ts": "" }, { net: ["*"] }, true],
    ["an import map", { "main.ts": hello, "lib/greet.ts": "" }, {
      denoFlags: ["--import-map={app}/map.json", "--no-lock"],
    }, false],
    ["a deno.json", { "main.ts": hello, "lib/greet.ts": "", "deno.json": "{}" }, {}, false],
    [
      "import.meta.main",
      { "main.ts": "if (import.meta.main) Deno.serve(() => new Response());" },
      {},
      false,
    ],
    ["an npm package", { "main.ts": 'import express from "npm:express";' }, {}, false],
    ["a remote module", { "main.ts": 'export * from "https://example.com/mod.ts";' }, {}, false],
    ["a bare specifier", { "main.ts": 'import { Hono } from "hono";' }, {}, false],
    ["a dynamic npm import", { "main.ts": 'const m = await import("npm:chalk");' }, {}, false],
    ["fetching a URL", { "main.ts": 'Deno.serve(() => fetch("https://example.com/"));' }, {}, true],
  ];
  for (const [name, files, extra, expected] of cases) {
    await t.step(`${name}: ${expected ? "pooled" : "starts on its own"}`, async () => {
      const app = await appWith(files);
      try {
        assert.equal(poolable(poolableDeployment("d", extra), app), expected);
      } finally {
        await Deno.remove(app, { recursive: true });
      }
    });
  }
});

Deno.test("linkTree mirrors a tree with hard links and copies symlinks", async () => {
  const from = await appWith({ "main.ts": "export {};", "lib/deep/x.ts": "export const x = 1;" });
  const to = await Deno.makeTempDir({ prefix: "dt-pool-to-" });
  try {
    await Deno.symlink("lib/deep/x.ts", join(from, "alias.ts"));
    linkTree(from, to);
    assert.equal(await Deno.readTextFile(join(to, "lib/deep/x.ts")), "export const x = 1;");
    assert.equal(
      (await Deno.stat(join(to, "main.ts"))).ino,
      (await Deno.stat(join(from, "main.ts"))).ino,
    );
    assert.equal(await Deno.readLink(join(to, "alias.ts")), "lib/deep/x.ts");
  } finally {
    await Deno.remove(from, { recursive: true });
    await Deno.remove(to, { recursive: true });
  }
});

Deno.test("the handoff carries entry, env vars and id; host variables cannot be overridden", () => {
  const line = handoffLine(
    poolableDeployment("abc", {
      envVars: { GREETING: "hi", DENO_DIR: "/etc", HOME: "/", DENO_DEPLOYMENT_ID: "x" },
      requestTimeoutMs: 900,
    }),
  );
  assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"), "one line");
  assert.deepEqual(JSON.parse(line), {
    entry: "file:///app/main.ts",
    env: { GREETING: "hi", DENO_DEPLOYMENT_ID: "abc" },
    requestTimeoutMs: 900,
  });
});

Deno.test(requires(["bwrap"], {
  name: "a pooled runtime serves a deployment as a fresh process would, from its own directories",
  ignore: isolation.kind !== "bwrap",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-pool-runtime-" });
    const deploymentsDir = join(root, "deployments");
    const poolDir = join(root, "pool");
    const runtime = pooledRuntime(root);
    const app = `
      const boot = Date.now();
      export default {
        async fetch(request: Request) {
          const path = new URL(request.url).pathname;
          if (path === "/slow") await new Promise((resolve) => setTimeout(resolve, 5_000));
          let other = "unreadable";
          try {
            await Deno.readTextFile(${JSON.stringify(join(deploymentsDir, "other/app/main.ts"))});
            other = "READ";
          } catch { /* the sandbox hides it */ }
          return Response.json({
            greeting: Deno.env.get("GREETING"),
            id: Deno.env.get("DENO_DEPLOYMENT_ID"),
            url: import.meta.url,
            other,
            boot,
          });
        },
      };`;
    try {
      for (const id of ["pooled", "other"]) {
        await writeMain(deploymentsDir, id, app);
      }
      runtime.warmUp();
      await waitFor(() => Promise.resolve(runtime.pooled === 1));
      const instance = await runtime.ensure(
        poolableDeployment("pooled", { envVars: { GREETING: "hello" }, requestTimeoutMs: 500 }),
      );
      assert.ok(instance.socketPath.startsWith(poolDir), "served by the pooled runtime");
      const answer = await (await tenantGet(instance.client))
        .json();
      assert.equal(answer.greeting, "hello");
      assert.equal(answer.id, "pooled");
      assert.equal(answer.url, "file:///app/main.ts");
      assert.equal(answer.other, "unreadable");
      const late = await tenantGet(instance.client, "/slow");
      assert.equal(late.status, 504, "the deployment's time limit holds");
      assert.equal((await late.json()).code, "TIME_LIMIT");

      // The pool refills; a deployment that needs its own start does not take from it.
      await waitFor(() => Promise.resolve(runtime.pooled === 1));
      assert.equal((await entries(poolDir)).length, 2, "the handed-out one and its replacement");
      const own = await runtime.ensure(poolableDeployment("other", { net: [] }));
      assert.ok(own.socketPath.startsWith(deploymentsDir), "started on its own");
      assert.equal((await entries(poolDir)).length, 2);

      // A pooled runtime's directory goes with its process.
      await runtime.stop("pooled");
      await waitFor(async () => (await entries(poolDir)).length === 1);
    } finally {
      await runtime.stopAll();
      assert.deepEqual(await entries(poolDir), [], "no pooled runtime outlives the runtime");
      await Deno.remove(root, { recursive: true });
    }
  },
}));

Deno.test(requires(["bwrap"], {
  name: "a request's cold start gets its pooled runtime as soon as it is handed the deployment: " +
    "the request waits in it until the deployment serves; a deployment that fails to load says why",
  ignore: isolation.kind !== "bwrap",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-pool-handed-" });
    const deploymentsDir = join(root, "deployments");
    const runtime = pooledRuntime(root);
    try {
      await writeMain(
        deploymentsDir,
        "late",
        `await new Promise((resolve) => setTimeout(resolve, 400));
        export default {
          fetch: async (request: Request) => new Response(request.method + " " + await request.text()),
        };`,
      );
      await writeMain(deploymentsDir, "broken", "throw new Error('CRM_API_KEY is not set');");
      for (const id of ["late", "broken"]) {
        runtime.warmUp();
        await waitFor(() => Promise.resolve(runtime.pooled === 1));
        const handed = await runtime.forRequest(poolableDeployment(id));
        let settled = false;
        handed.serving.then(() => settled = true, () => settled = true);
        await Promise.resolve();
        assert.equal(settled, false, `${id}: given before it serves`);
        const response = handed.instance.client.fetch({
          method: "POST",
          path: "/",
          headers: new Headers({ host: "tenant.localhost" }),
          body: new Blob(["a lead"]).stream(),
        });
        if (id === "late") {
          const answer = await response;
          assert.equal(await answer.text(), "POST a lead", "held until the deployment served");
          await handed.serving;
          assert.equal(await runtime.running("late"), handed.instance, "the same instance serves");
        } else {
          await assert.rejects(response, "the request dies with the process");
          await assert.rejects(handed.serving, /CRM_API_KEY is not set/);
          // Forgotten: the next request starts it again.
          await waitFor(() => Promise.resolve(!runtime.isRunning("broken")));
        }
      }
    } finally {
      await runtime.stopAll();
      await Deno.remove(root, { recursive: true });
    }
  },
}));

Deno.test(requires(["bwrap"], {
  name: "a request moves its deployment to the front of the saved warm set within a sweep, " +
    "for a host killed later",
  ignore: isolation.kind !== "bwrap",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-warm-order-" });
    const deploymentsDir = join(root, "deployments");
    const app = "export default { fetch: () => new Response('ok') };";
    const runtime = pooledRuntime(root, { poolBudgetMb: 2 * POOLED_RUNTIME_MB });
    const warmFile = join(root, "warm.json");
    const saved = async () => JSON.parse(await Deno.readTextFile(warmFile)).warm;
    try {
      const instances = [];
      for (const id of ["older", "newer"]) {
        await writeMain(deploymentsDir, id, app);
        instances.push(await runtime.ensure(poolableDeployment(id)));
      }
      await waitFor(async () => (await saved().catch(() => [])).length === 2, 5_000);
      assert.deepEqual(await saved(), ["newer", "older"], "saved as they came up");
      instances[0].used(); // a request to the older one; the file is not touched at once
      // The next sweep (every 5 s) saves the new order: no stop in between, as when killed.
      await waitFor(async () => (await saved())[0] === "older", 8_000);
      assert.deepEqual(await saved(), ["older", "newer"]);
    } finally {
      await runtime.stopAll();
      await Deno.remove(root, { recursive: true });
    }
  },
}));

Deno.test(requires(["bwrap"], {
  name: "a restarted runtime starts again the deployments that were warm, most recently used " +
    "first, as many as its budget pays for, skipping those that no longer serve",
  ignore: isolation.kind !== "bwrap",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-restore-" });
    const deploymentsDir = join(root, "deployments");
    const ids = ["one", "two", "three", "four", "five"];
    const app = "export default { fetch: () => new Response(Deno.env.get('DENO_DEPLOYMENT_ID')) };";
    // Three pooled runtimes' worth: the three most recently used of the four that still serve.
    const support = detectCgroups(); // where the host can make cgroups, weights are checked too
    const cgroups = support.kind === "none" ? undefined : support.cgroups;
    const start = () => pooledRuntime(root, { poolBudgetMb: 3 * POOLED_RUNTIME_MB, cgroups });
    let runtime = start();
    try {
      for (const [i, id] of ids.entries()) {
        await writeMain(deploymentsDir, id, app);
        (await runtime.ensure(poolableDeployment(id))).lastUsed = 1_000 + i;
      }
      await runtime.stopAll();
      const saved = JSON.parse(await Deno.readTextFile(join(root, "warm.json")));
      assert.deepEqual(saved.warm, [...ids].reverse(), "saved most recently used first");

      runtime = start();
      const asked: string[] = [];
      const restored = await runtime.restore((id) => {
        asked.push(id);
        return id === "five" ? undefined : poolableDeployment(id); // "five" was deleted meanwhile
      }, 10_000);
      assert.deepEqual(asked, ["five", "four", "three"], "within the budget, newest first");
      assert.equal(restored, 2);
      assert.deepEqual(ids.filter((id) => runtime.isRunning(id)), ["three", "four"]);
      for (const id of ["three", "four"]) {
        if (cgroups) assert.equal(runtime.cpuWeight(id), "normal", `${id} serves at once`);
        assert.equal(await (await tenantGet((await runtime.running(id)!).client)).text(), id);
      }
    } finally {
      await runtime.stopAll();
      await cgroups?.close();
      await Deno.remove(root, { recursive: true });
    }
  },
}));

Deno.test(requires(["bwrap"], {
  name: "a deployment that fails to start again is left cold; the others are restored",
  ignore: isolation.kind !== "bwrap",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-restore-fail-" });
    const deploymentsDir = join(root, "deployments");
    const good = "export default { fetch: () => new Response('ok') };";
    await Deno.writeTextFile(join(root, "warm.json"), JSON.stringify({ warm: ["broken", "fine"] }));
    await writeMain(deploymentsDir, "broken", "throw new Error('no');");
    await writeMain(deploymentsDir, "fine", good);
    const runtime = pooledRuntime(root, { poolBudgetMb: 64 });
    try {
      assert.equal(await runtime.restore((id) => poolableDeployment(id), 10_000), 1);
      assert.ok(!runtime.isRunning("broken"));
      assert.ok(runtime.isRunning("fine"));
    } finally {
      await runtime.stopAll();
      await Deno.remove(root, { recursive: true });
    }
  },
}));

/** Why the host cannot make tenant cgroups here, or `undefined` when it can. */
const noCgroups = await (async () => {
  const support = detectCgroups();
  if (support.kind === "none") return support.reason;
  await support.cgroups.close();
})();

/** The CPU weights (v2 units) of the tenant cgroups `cgroups` has now. */
/**
 * The CPU weight of each tenant cgroup, as the kernel holds it; an idle one (a boot's first
 * second, below any weight) counts as `low`.
 */
function weights(cgroups: HostCgroups): number[] {
  const dir = cgroups.dirs.unified ?? cgroups.dirs.cpu!;
  const file = cgroups.version === "v2" ? "cpu.weight" : "cpu.shares";
  const scale = cgroups.version === "v2" ? 1 : 100 / 1024;
  const read = (name: string, file: string) => {
    try {
      return Deno.readTextFileSync(join(dir, name, file)).trim();
    } catch {
      return undefined;
    }
  };
  return [...Deno.readDirSync(dir)]
    .filter((entry) => entry.name.startsWith(cgroups.prefix) && read(entry.name, file))
    .map((entry) =>
      read(entry.name, "cpu.idle") === "1"
        ? CPU_WEIGHTS.low
        : Math.round(Number(read(entry.name, file)) * scale)
    )
    .sort((a, b) => a - b);
}

Deno.test(requires(["bwrap"], {
  name: `pooled runtimes wait at a low CPU weight; the one handed to a build's check stays low ` +
    `until it goes live, the one handed to a request is raised${
      noCgroups ? ` [skipped: no cgroups the host can make here: ${noCgroups}]` : ""
    }`,
  ignore: isolation.kind !== "bwrap" || !!noCgroups,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-pool-weight-" });
    const deploymentsDir = join(root, "deployments");
    const support = detectCgroups();
    if (support.kind === "none") return;
    const cgroups = support.cgroups;
    const runtime = pooledRuntime(root, { cgroups });
    const { low, normal } = CPU_WEIGHTS;
    try {
      for (const id of ["built", "requested"]) {
        await writeMain(deploymentsDir, id, "export default { fetch: () => new Response('hi') };");
      }
      runtime.warmUp();
      await waitFor(() => Promise.resolve(runtime.pooled === 1));
      assert.deepEqual(weights(cgroups), [low], "a pooled runtime waits low");

      const built = await runtime.ensure(poolableDeployment("built"), "check");
      assert.ok(built.socketPath.startsWith(join(root, "pool")), "from the pool");
      assert.equal(runtime.cpuWeight("built"), "low");
      runtime.promote("built");
      assert.equal(runtime.cpuWeight("built"), "normal");

      await waitFor(() => Promise.resolve(runtime.pooled === 1));
      assert.deepEqual(weights(cgroups), [low, normal], "its replacement waits low");
      const requested = await runtime.ensure(poolableDeployment("requested"));
      assert.ok(requested.socketPath.startsWith(join(root, "pool")), "from the pool");
      assert.equal(runtime.cpuWeight("requested"), "normal");
    } finally {
      await runtime.stopAll();
      await cgroups.close();
      assert.deepEqual(weights(cgroups), [], "no cgroup outlives its process");
      await Deno.remove(root, { recursive: true });
    }
  },
}));

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch { /* not created yet */ }
  return names;
}

Deno.test(requires(["bwrap"], {
  name: "a pool demand file that is unreadable or not the host's is ignored, not fatal",
  ignore: isolation.kind !== "bwrap",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dt-pool-demand-" });
    const demandFile = join(root, "pool-demand.json");
    const expected = async (text: string) => {
      await Deno.writeTextFile(demandFile, text);
      const runtime = pooledRuntime(root, { poolBudgetMb: 64 });
      try {
        return await runtime.poolReady(0); // not filled: it only says what it expects
      } finally {
        await runtime.stopAll();
      }
    };
    try {
      assert.equal(await expected(JSON.stringify({ peak: 3, peakAt: Date.now() })), 3);
      for (
        const text of ["{", "null", '{"peak":"9","peakAt":0}', '{"peak":-1,"peakAt":0}', "\u0000"]
      ) {
        assert.equal(await expected(text), 0, text);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
}));
