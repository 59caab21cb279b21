/**
 * `env list|set|unset|load` and `deployments redeploy` through the CLI against a real host:
 * each change makes a new deployment with the merged variables, the old one keeps its own,
 * and values are never printed unless asked for.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost } from "./helpers/host.ts";
import type { Deployment } from "../lib/types.ts";

type Deployed = Deployment & { url: string; redeployedFrom?: string };

/** Answers with the variables named in the path, e.g. `/A,B` → `{"A": "1", "B": null}`. */
const ENV_APP = `
Deno.serve((request) => {
  const names = decodeURIComponent(new URL(request.url).pathname.slice(1)).split(",");
  return Response.json(Object.fromEntries(names.map((name) => [name, Deno.env.get(name) ?? null])));
});
`;

Deno.test("env set, unset and load redeploy; the old deployment keeps its variables", async (t) => {
  await using host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const envOf = async (deployment: Deployed, names: string) => {
    const result = await cli("invoke", deployment.url, `/${names}`);
    assert.equal(result.code, 0, describe(result));
    return JSON.parse(result.stdout);
  };
  const deploymentCount = async (project: string) =>
    jsonOf<Deployment[]>(await cli("deployments", "list", project, "--json")).length;

  const app = join(host.tempDir, "env-app");
  await Deno.mkdir(app);
  await Deno.writeTextFile(join(app, "main.ts"), ENV_APP);
  assert.equal((await cli("project", "create", "env-hook")).code, 0);
  const first = jsonOf<Deployed>(
    await cli("deploy", app, "-p", "env-hook", "--env", "A=alpha", "--env", "B=bravo", "--json"),
  );
  assert.equal(first.status, "success");

  await t.step("env list shows names only, values with --show-values", async () => {
    const names = await cli("env", "list", first.id);
    assert.equal(names.code, 0, describe(names));
    assert.equal(names.stdout, "A\nB\n");
    assert.doesNotMatch(names.stdout + names.stderr, /alpha|bravo/);

    const values = await cli("env", "list", first.id, "--show-values");
    assert.equal(values.stdout, "A=alpha\nB=bravo\n");

    assert.deepEqual(jsonOf(await cli("env", "list", first.id, "--json")), {
      deploymentId: first.id,
      keys: ["A", "B"],
    });
    const missing = await cli("env", "list", "abcde12vwxyz");
    assert.equal(missing.code, 4, describe(missing));
    assert.match(missing.stderr, /abcde12vwxyz was not found/);
  });

  let second: Deployed;
  await t.step("env set redeploys with the values merged, printing no value", async () => {
    const human = await cli("env", "set", first.id, "A=changed", "C=charlie");
    assert.equal(human.code, 0, describe(human));
    assert.match(
      human.stdout,
      new RegExp(`^Redeployed ${first.id} as \\w+ \\(set A, C\\)$`, "m"),
    );
    assert.match(human.stdout, /^http:\/\/env-hook-\w+\.localhost:\d+\/$/m);
    assert.doesNotMatch(human.stdout + human.stderr, /changed|charlie|alpha|bravo/);

    second = jsonOf<Deployed>(
      await cli("env", "set", first.id, "A=changed", "C=charlie", "--json"),
    );
    assert.equal(second.status, "success");
    assert.equal(second.redeployedFrom, first.id);
    assert.notEqual(second.id, first.id);
    assert.deepEqual(await envOf(second, "A,B,C"), { A: "changed", B: "bravo", C: "charlie" });
    assert.deepEqual(await envOf(first, "A,B,C"), { A: "alpha", B: "bravo", C: null });
  });

  let third: Deployed;
  await t.step("env unset removes variables", async () => {
    third = jsonOf<Deployed>(await cli("env", "unset", second.id, "B", "--json"));
    assert.equal(third.status, "success");
    assert.deepEqual(await envOf(third, "A,B,C"), { A: "changed", B: null, C: "charlie" });
    assert.deepEqual(await envOf(second, "B"), { B: "bravo" });

    // Unsetting what is not set makes no deployment: the same one still has what was asked.
    const before =
      jsonOf<Deployed[]>(await cli("deployments", "list", "env-hook", "--json")).length;
    const human = await cli("env", "unset", third.id, "B", "NOPE");
    assert.equal(human.code, 0, describe(human));
    assert.match(human.stdout, /B, NOPE are not set on deployment \w+: nothing to redeploy/);
    const json = jsonOf<{ id: string; unchanged: boolean }>(
      await cli("env", "unset", third.id, "B", "--json"),
    );
    assert.deepEqual(json, { id: third.id, unchanged: true });
    assert.equal(
      jsonOf<Deployed[]>(await cli("deployments", "list", "env-hook", "--json")).length,
      before,
    );
  });

  await t.step("env load reads quotes, export, comments and multi-line values", async () => {
    const file = join(host.tempDir, "prod.env");
    await Deno.writeTextFile(
      file,
      [
        "# production settings",
        "export D='single # not a comment'",
        'E="line 1\\nline 2"',
        "F=plain # a comment",
        'PEM="-----BEGIN-----',
        "abc",
        '-----END-----"',
        "",
      ].join("\n"),
    );
    const loaded = jsonOf<Deployed>(await cli("env", "load", third.id, file, "--json"));
    assert.equal(loaded.status, "success");
    assert.deepEqual(await envOf(loaded, "A,D,E,F,PEM"), {
      A: "changed",
      D: "single # not a comment",
      E: "line 1\nline 2",
      F: "plain",
      PEM: "-----BEGIN-----\nabc\n-----END-----",
    });
  });

  await t.step("a malformed .env names its line and deploys nothing", async () => {
    const before = await deploymentCount("env-hook");
    const file = join(host.tempDir, "bad.env");
    await Deno.writeTextFile(file, "# fine\nA=1\nthis line has no equals sign\n");
    const result = await cli("env", "load", first.id, file);
    assert.equal(result.code, 2, describe(result));
    assert.ok(result.stderr.includes(`${file}:3:`), result.stderr);

    const unterminated = join(host.tempDir, "open.env");
    await Deno.writeTextFile(unterminated, 'A=1\nB="never closed\nC=3\n');
    const open = await cli("env", "load", first.id, unterminated);
    assert.equal(open.code, 2, describe(open));
    assert.ok(open.stderr.includes(`${unterminated}:2:`), open.stderr);

    const badArg = await cli("env", "set", first.id, "NOEQUALS");
    assert.equal(badArg.code, 2, describe(badArg));
    assert.equal(await deploymentCount("env-hook"), before);
  });

  await t.step(
    "--prod moves production to the new deployment; without it, it stays",
    async () => {
      const promoted = jsonOf<Deployed & { productionUrl: string }>(
        await cli("env", "set", first.id, "P=prod-1", "--prod", "--json"),
      );
      assert.equal(promoted.status, "success");
      assert.equal(promoted.productionUrl, `http://env-hook.localhost:${host.port}/`);
      assert.ok(promoted.domains?.includes("env-hook.localhost"), String(promoted.domains));
      const production = { url: promoted.productionUrl } as Deployed;
      assert.deepEqual(await envOf(production, "P"), { P: "prod-1" });

      const staged = jsonOf<Deployed>(await cli("env", "set", promoted.id, "P=staged", "--json"));
      assert.equal((staged as { productionUrl?: string }).productionUrl, undefined);
      assert.deepEqual(await envOf(staged, "P"), { P: "staged" });
      assert.deepEqual(await envOf(production, "P"), { P: "prod-1" }, "production did not move");
      assert.deepEqual(await envOf(promoted, "P"), { P: "prod-1" }, "it keeps its own URL");

      const human = await cli("env", "unset", staged.id, "P", "--prod");
      assert.equal(human.code, 0, describe(human));
      assert.match(human.stdout, /^production: http:\/\/env-hook\.localhost:\d+\/$/m);
      assert.deepEqual(await envOf(production, "P"), { P: null });

      const noWait = await cli("env", "set", first.id, "P=x", "--prod", "--no-wait");
      assert.equal(noWait.code, 2, describe(noWait));
    },
  );

  await t.step("reserved names are refused by the host", async () => {
    const result = await cli("env", "set", first.id, "DENO_REGION=mars");
    assert.equal(result.code, 1, describe(result));
    assert.match(result.stderr, /reserved/);
  });

  await t.step("deployments redeploy --env/--unset/--description", async () => {
    const redeployed = jsonOf<Deployed>(
      await cli(
        "deployments",
        "redeploy",
        first.id,
        "--env",
        "X=x-ray",
        "--unset",
        "A",
        "--description",
        "tweaked",
        "--json",
      ),
    );
    assert.equal(redeployed.status, "success");
    assert.equal(redeployed.description, "tweaked");
    assert.deepEqual(await envOf(redeployed, "A,B,X"), { A: null, B: "bravo", X: "x-ray" });
    assert.equal(
      (await cli("env", "list", redeployed.id)).stdout,
      "B\nX\n",
    );
  });
});

Deno.test("env list explains that Deno Deploy cannot show env vars", async () => {
  // A stand-in for a remote v1 API: it knows the deployment but not the host's extension.
  const deployment = {
    id: "abcde12vwxyz",
    projectId: "00000000-0000-4000-8000-000000000000",
    status: "success",
    databases: {},
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
  };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    if (new URL(request.url).pathname === `/v1/deployments/${deployment.id}`) {
      return Response.json(deployment);
    }
    return Response.json({ code: "notFound", message: "Not found" }, { status: 404 });
  });
  try {
    const result = await runCli(["env", "list", deployment.id], {
      env: {
        DEPLOY_API_URL: `http://127.0.0.1:${server.addr.port}/v1`,
        DEPLOY_ACCESS_TOKEN: "ddo_test",
        DEPLOY_ORG_ID: "00000000-0000-4000-8000-000000000001",
      },
    });
    assert.equal(result.code, 1, describe(result));
    assert.match(result.stderr, /cannot show a deployment's environment variables/);
    assert.match(result.stderr, /extension of the deploy-tenant local host/);
  } finally {
    await server.shutdown();
  }
});
