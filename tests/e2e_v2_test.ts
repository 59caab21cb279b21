/**
 * The CLI over Deploy v2 against a real local host (`--api <apiV2Url>`): the same flows as v1
 * (projects, deploy --prod and invoke, logs) plus what only v2 has: the app's variables
 * changed without a redeploy, and layers the app inherits.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost } from "./helpers/host.ts";
import type { App, Layer, Revision } from "../lib/v2/types.ts";

type Deployed = Revision & { url: string };

/** Answers with the variables named in the path, e.g. `/A,B` → `{"A": "1", "B": null}`. */
const ENV_APP = `
Deno.serve((request) => {
  const path = decodeURIComponent(new URL(request.url).pathname.slice(1));
  console.log("request for " + path);
  const names = path.split(",");
  return Response.json(Object.fromEntries(names.map((name) => [name, Deno.env.get(name) ?? null])));
});
`;

Deno.test("the CLI over v2: projects, deploy --prod, app and layer variables, logs", async (t) => {
  await using host = await startTestHost();
  if (!host.apiV2Url) {
    await host.stop();
    throw new Error("The host wrote no apiV2Url to host.json: it does not serve v2 yet.");
  }
  const env = { ...host.env, DEPLOY_API_URL: host.apiV2Url };
  const cli = (...args: string[]) => runCli(args, { env });
  const ok = async (...args: string[]) => {
    const result = await cli(...args);
    assert.equal(result.code, 0, `${args.join(" ")}: ${describe(result)}`);
    return result;
  };
  const envOf = async (url: string, names: string) => {
    const result = await ok("invoke", url, `/${names}`);
    return JSON.parse(result.stdout);
  };

  const dir = join(host.tempDir, "env-app");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "main.ts"), ENV_APP);

  await t.step("project create, list and delete are apps", async () => {
    const created = jsonOf<App>(await ok("project", "create", "v2-hook", "--json"));
    assert.equal(created.slug, "v2-hook");
    assert.ok(Array.isArray(created.layers), "an app as v2 returns it");
    const listed = jsonOf<App[]>(await ok("project", "list", "--json"));
    assert.ok(listed.some((app) => app.slug === "v2-hook"));
    const human = await ok("project", "list");
    assert.match(human.stdout, /v2-hook/);

    assert.equal((await ok("project", "create", "v2-scratch")).code, 0);
    const duplicate = await cli("project", "create", "v2-scratch");
    assert.equal(duplicate.code, 5, describe(duplicate));
    await ok("project", "delete", "v2-scratch", "--yes");
    const gone = await cli("project", "show", "v2-scratch");
    assert.equal(gone.code, 4, describe(gone));
  });

  let deployed: Deployed;
  await t.step("deploy --prod waits for the revision and prints its URLs", async () => {
    const human = await ok("deploy", dir, "-p", "v2-hook", "--prod", "--env", "R=rev");
    assert.match(human.stdout, /^Deployed \w+ to app v2-hook$/m);
    assert.match(human.stdout, /^production: http:\/\/v2-hook\.[\w.-]+:\d+\/$/m);

    deployed = jsonOf<Deployed>(
      await ok(
        "deploy",
        dir,
        "-p",
        "v2-hook",
        "--prod",
        "--label",
        "custom.customer=acme",
        "--json",
      ),
    );
    assert.equal(deployed.status, "succeeded");
    assert.ok(deployed.url.startsWith("http://"), deployed.url);
    assert.equal(deployed.labels?.["custom.customer"], "acme");
    const hostnames = deployed.timelines?.flatMap((timeline) => timeline.hostnames) ?? [];
    assert.ok(hostnames.some((name) => name.startsWith("v2-hook.")), hostnames.join(", "));
    assert.deepEqual(await envOf(deployed.url, "R"), { R: null }, "R was the first revision's");

    const shown = jsonOf<Deployed>(await ok("deployments", "show", deployed.id, "--json"));
    assert.equal(shown.id, deployed.id);
    assert.equal(shown.status, "succeeded");
    const list = jsonOf<Revision[]>(await ok("deployments", "list", "v2-hook", "--json"));
    assert.equal(list.length, 2);
  });

  await t.step("env set and unset reach the running app without a redeploy", async () => {
    const set = await ok("env", "set", "v2-hook", "A=alpha", "B=bravo");
    assert.match(set.stdout, /no redeploy/);
    assert.doesNotMatch(set.stdout + set.stderr, /alpha|bravo/);
    assert.deepEqual(await envOf(deployed.url, "A,B"), { A: "alpha", B: "bravo" });

    await ok("env", "set", "v2-hook", "S=s3cr3t", "--secret");
    assert.deepEqual(await envOf(deployed.url, "S"), { S: "s3cr3t" });
    const listed = await ok("env", "list", "v2-hook", "--show-values");
    assert.match(listed.stdout, /^A=alpha$/m);
    assert.doesNotMatch(listed.stdout, /s3cr3t/, "secret values are never read back");

    await ok("env", "unset", "v2-hook", "B");
    assert.deepEqual(await envOf(deployed.url, "A,B"), { A: "alpha", B: null });
    const list = jsonOf<Revision[]>(await ok("deployments", "list", "v2-hook", "--json"));
    assert.equal(list.length, 2, "no revision was added");
  });

  await t.step("a layer's variables reach the apps that use it; app variables win", async () => {
    const created = jsonOf<Layer>(
      await ok("layer", "create", "crm-defaults", "L=layer", "A=from-layer", "--json"),
    );
    assert.equal(created.slug, "crm-defaults");
    await ok("layer", "attach", "crm-defaults", "--project", "v2-hook");
    assert.deepEqual(await envOf(deployed.url, "L,A"), { L: "layer", A: "alpha" });

    await ok("layer", "set", "crm-defaults", "L=changed");
    assert.deepEqual(await envOf(deployed.url, "L"), { L: "changed" });
    const shown = await ok("layer", "show", "crm-defaults");
    assert.match(shown.stdout, /v2-hook/);

    const inUse = await cli("layer", "delete", "crm-defaults", "--yes");
    assert.equal(inUse.code, 5, describe(inUse));
    await ok("layer", "detach", "crm-defaults", "--project", "v2-hook");
    assert.deepEqual(await envOf(deployed.url, "L"), { L: null });
    await ok("layer", "delete", "crm-defaults", "--yes");
    const layers = jsonOf<Layer[]>(await ok("layer", "list", "--json"));
    assert.ok(!layers.some((layer) => layer.slug === "crm-defaults"));
  });

  await t.step("logs prints what the revision logged", async () => {
    await envOf(deployed.url, "LOGGED");
    let found = false;
    for (let attempt = 0; attempt < 20 && !found; attempt++) {
      const logs = await ok("logs", deployed.id, "--since", "10m");
      found = /request for LOGGED/.test(logs.stdout);
      if (!found) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok(found, "the app's console.log line is in the logs");
  });

  await t.step("what v2 lacks is a usage error naming the v2 way", async () => {
    for (
      const args of [
        ["deploy", dir, "-p", "v2-hook", "--request-timeout", "1000"],
        ["deploy", dir, "-p", "v2-hook", "--allow-net", "example.com"],
        ["deploy", dir, "-p", "v2-hook", "--compiler-options", "jsx=react-jsx"],
        ["deploy", dir, "-p", "v2-hook", "--import-map", "import_map.json"],
        ["deployments", "redeploy", deployed.id, "--env", "X=1"],
        ["project", "create", "v2-described", "--description", "words"],
        ["db", "list"],
      ]
    ) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${describe(result)}`);
      assert.match(result.stderr, /v2/, describe(result));
    }
  });

  await t.step("a preview revision, promoted, takes production over", async () => {
    const second = join(host.tempDir, "second-app");
    await Deno.mkdir(second);
    await Deno.writeTextFile(
      join(second, "main.ts"),
      "Deno.serve(() => Response.json({ v: 2 }));",
    );
    const preview = jsonOf<Deployed>(await ok("deploy", second, "-p", "v2-hook", "--json"));
    assert.equal(preview.status, "succeeded");
    const production = deployed.timelines!.find((timeline) => /production/i.test(timeline.context))!
      .hostnames[0];
    const productionUrl = preview.url.replace(/\/\/[^:/]+/, `//${production}`);
    assert.equal((await envOf(preview.url, "X")).v, 2);
    assert.equal((await envOf(productionUrl, "X")).v, undefined, "production is unchanged");

    const promoted = jsonOf<Deployed & { productionUrl: string }>(
      await ok("deployments", "promote", preview.id, "--json"),
    );
    assert.equal(promoted.productionUrl, productionUrl);
    assert.equal((await envOf(productionUrl, "X")).v, 2);
    const build = await ok("logs", preview.id, "--build");
    assert.notEqual(build.stdout.trim(), "", "the build log is printed");
  });

  await t.step("a revision that fails to build exits 1 with its build log", async () => {
    const broken = join(host.tempDir, "broken");
    await Deno.mkdir(broken);
    await Deno.writeTextFile(join(broken, "main.ts"), 'import "./missing.ts";\n');
    const result = await cli("deploy", broken, "-p", "v2-hook");
    assert.equal(result.code, 1, describe(result));
    assert.match(result.stderr, /missing\.ts/);
  });

  await t.step("--api-version v2 picks the running local host's v2 API", async () => {
    const local = await runCli(["project", "list", "--json", "--api-version", "v2"], {
      env: { DEPLOY_TENANT_DATA_DIR: host.dataDir, XDG_CACHE_HOME: host.env.XDG_CACHE_HOME },
    });
    assert.equal(local.code, 0, describe(local));
    assert.ok(jsonOf<App[]>(local).some((app) => app.slug === "v2-hook" && "layers" in app));
    const v1 = jsonOf<{ name: string }[]>(
      await runCli(["project", "list", "--json"], {
        env: { DEPLOY_TENANT_DATA_DIR: host.dataDir, XDG_CACHE_HOME: host.env.XDG_CACHE_HOME },
      }),
    );
    assert.ok(v1.some((project) => project.name === "v2-hook"), "an app is a v1 project");
  });

  await t.step("project delete removes the app and its revisions", async () => {
    await ok("project", "delete", "v2-hook", "--yes");
    const gone = await cli("deployments", "show", deployed.id);
    assert.equal(gone.code, 4, describe(gone));
  });
});

Deno.test("layers against a v1 API are a usage error", async () => {
  const result = await runCli(["layer", "list"], {
    env: {
      DEPLOY_API_URL: "http://127.0.0.1:9/v1",
      DEPLOY_ACCESS_TOKEN: "t",
      DEPLOY_ORG_ID: "o",
    },
  });
  assert.equal(result.code, 2, describe(result));
  assert.match(result.stderr, /only in the Deploy v2 API/);
});
