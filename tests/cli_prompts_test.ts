/**
 * The CLI asks a person at a terminal and never blocks a script: `deploy` picks or creates a
 * project, destructive commands confirm, progress is one line on a terminal and nothing on a
 * pipe, Ctrl-C says what exists (exit 130). Terminal runs go through a pseudo-terminal
 * (`script`, see helpers/terminal.ts) and type keys like a person.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli, startTestHost, type TestHost } from "./helpers/host.ts";
import { cleanEnv, MAIN_TS } from "./helpers/cli.ts";
import { requires } from "./helpers/programs.ts";
import { KEYS, runInTerminal } from "./helpers/terminal.ts";
import { formatCount, formatTransfer } from "../lib/output.ts";
import type { Deployment, Project } from "../lib/types.ts";

async function writeApp(host: TestHost, name: string, source?: string): Promise<string> {
  const dir = join(host.tempDir, name);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "main.ts"),
    source ?? `export default { fetch: () => new Response("${name}") };\n`,
  );
  return dir;
}

Deno.test("without a terminal nothing is asked: exit codes name the flag to pass", async (t) => {
  await using host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const app = await writeApp(host, "hooks");

  await t.step("deploy without a project is a usage error (exit 2)", async () => {
    const result = await cli("deploy", app);
    assert.equal(result.code, 2, describe(result));
    assert.match(result.stderr, /No project to deploy to/);
    assert.match(result.stderr, /--project/);
  });

  await t.step(
    "deploy to an unknown project exits 4 naming --create, creating nothing",
    async () => {
      for (const args of [["deploy", app, "-p", "ghost"], ["-y", "deploy", app, "-p", "ghost"]]) {
        const result = await cli(...args);
        assert.equal(result.code, 4, describe(result));
        assert.match(result.stderr, /Project "ghost" does not exist/);
        assert.match(result.stderr, /hint: Pass --create/);
      }
      assert.equal((await cli("project", "show", "ghost")).code, 4);
    },
  );

  let deployment: Deployment;
  await t.step("--create creates it and deploys; a pipe gets no progress line", async () => {
    const result = await cli("deploy", app, "-p", "ghost", "--create");
    assert.equal(result.code, 0, describe(result));
    assert.match(result.stderr, /^Created project ghost$/m);
    assert.match(result.stdout, /Deployed \w+ to project ghost/);
    assert.doesNotMatch(result.stderr, /Packing:|Uploading:|Building:/);
    assert.ok(!result.stderr.includes("\x1b[2K"), "no line is redrawn on a pipe");
    const again = await cli("deploy", app, "-p", "ghost", "--create", "--json");
    assert.equal(again.code, 0, describe(again));
    assert.equal(again.stderr, "", "under --json stderr holds nothing but errors");
    deployment = jsonOf<Deployment>(again);
    assert.equal(deployment.status, "success");
  });

  await t.step("destructive commands refuse without --yes (exit 2)", async () => {
    for (
      const args of [
        ["project", "delete", "ghost"],
        ["deployments", "delete", deployment.id],
        ["domain", "remove", "example.com"],
        ["db", "clear", "db-id"],
        ["db", "delete", "db-id"],
      ]
    ) {
      const result = await cli(...args);
      assert.equal(result.code, 2, describe(result));
      assert.match(result.stderr, /Refusing to .* without confirmation/);
      assert.match(result.stderr, /Pass --yes/);
    }
    assert.equal((await cli("deployments", "show", deployment.id)).code, 0);
    const deleted = await cli("deployments", "delete", deployment.id, "--yes");
    assert.equal(deleted.code, 0, describe(deleted));
  });

  await t.step(
    "the names people type: projects, deployment, domains, dbs, databases",
    async () => {
      const projects = jsonOf<Project[]>(await cli("projects", "list", "--json"));
      assert.ok(projects.some((project) => project.name === "ghost"));
      for (
        const args of [["deployment", "list", "ghost"], ["domains", "list"], ["dbs", "list"], [
          "databases",
          "list",
        ]]
      ) {
        const result = await cli(...args);
        assert.equal(result.code, 0, describe(result));
      }
    },
  );
});

Deno.test(requires(["script"], {
  name: "on a terminal deploy asks for the project and shows one progress line",
  async fn(t) {
    await using host = await startTestHost();
    const cli = (...args: string[]) => runCli(args, { env: host.env });
    const terminal = (...args: string[]) => runInTerminal(args, { env: host.env });
    const app = await writeApp(host, "my-hooks");
    assert.equal((await cli("project", "create", "existing")).code, 0);

    await t.step("no project: pick 'Create a new project', name it", async () => {
      const run = terminal("deploy", app);
      let at = await run.waitFor(/Deploy to which project\?[\s\S]*Create a new project/);
      assert.match(run.screen(), /existing/);
      await run.type(KEYS.down); // from "existing" to "Create a new project"
      await run.type(KEYS.enter);
      at = await run.waitFor(/Name of the new project \(my-hooks\)/, { since: at });
      await run.type(KEYS.enter); // the default, from the directory's name
      const { code, screen } = await run.finish();
      assert.equal(code, 0, screen);
      assert.match(screen, /Created project my-hooks/);
      assert.match(screen, /Packing: 1 file/);
      assert.match(screen, /Uploading: \d+ B of \d+ B \(\d+%\)/);
      assert.match(screen, /Building: /);
      assert.match(screen, /Deployed \w+ to project my-hooks/);
      assert.equal((await cli("project", "show", "my-hooks")).code, 0);
    });

    await t.step("no project: pick an existing one", async () => {
      const run = terminal("deploy", app);
      await run.waitFor(/Create a new project/);
      await run.type(KEYS.enter);
      const { code, screen } = await run.finish();
      assert.equal(code, 0, screen);
      assert.match(screen, /Deployed \w+ to project (existing|my-hooks)/);
    });

    await t.step("an unknown project is offered for creation: yes", async () => {
      const run = terminal("deploy", app, "-p", "offered");
      await run.waitFor(/Project offered does not exist\. Create it\?/);
      await run.type("y");
      await run.type(KEYS.enter);
      const { code, screen } = await run.finish();
      assert.equal(code, 0, screen);
      assert.match(screen, /Deployed \w+ to project offered/);
    });

    await t.step("an unknown project is offered for creation: no (exit 1)", async () => {
      const run = terminal("deploy", app, "-p", "declined");
      await run.waitFor(/Create it\?/);
      await run.type("n");
      await run.type(KEYS.enter);
      const { code, screen } = await run.finish();
      assert.equal(code, 1, screen);
      assert.match(screen, /Cancelled: nothing was deployed/);
      assert.equal((await cli("project", "show", "declined")).code, 4);
    });

    await t.step("-y on a terminal asks nothing", async () => {
      const run = terminal("-y", "deploy", app, "-p", "silent");
      const { code, screen } = await run.finish();
      assert.equal(code, 4, screen);
      assert.doesNotMatch(screen, /Create it\?/);
      assert.match(screen, /Pass --create/);
    });

    await t.step("project delete asks; the default is no", async () => {
      let run = terminal("project", "delete", "existing");
      await run.waitFor(/Delete project existing and all its deployments\? \(y\/N\)/);
      await run.type(KEYS.enter);
      let result = await run.finish();
      assert.equal(result.code, 1, result.screen);
      assert.match(result.screen, /Cancelled: nothing was deleted/);
      assert.equal((await cli("project", "show", "existing")).code, 0);

      run = terminal("project", "delete", "existing");
      await run.waitFor(/\(y\/N\)/);
      await run.type("y");
      await run.type(KEYS.enter);
      result = await run.finish();
      assert.equal(result.code, 0, result.screen);
      assert.match(result.screen, /Deleted project existing/);
    });

    await t.step("Ctrl-C at a prompt changes nothing (exit 130)", async () => {
      const run = terminal("project", "delete", "offered");
      await run.waitFor(/\(y\/N\)/);
      await run.type(KEYS.ctrlC);
      const { code, screen } = await run.finish();
      assert.equal(code, 130, screen);
      assert.match(screen, /Cancelled: nothing was changed/);
      assert.equal((await cli("project", "show", "offered")).code, 0);
    });
  },
}));

/** Spawns the CLI with piped output, to send it signals. */
function spawnCli(args: string[], env: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_TS, ...args],
    env: { ...cleanEnv(), DEPLOY_TENANT_AUTOSTART: "0", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("Ctrl-C once the deployment exists says how to follow its build (exit 130)", async () => {
  await using host = await startTestHost();
  // A module that takes seconds to load keeps the build going.
  const app = await writeApp(
    host,
    "slow",
    `await new Promise((resolve) => setTimeout(resolve, 4000));\n` +
      `export default { fetch: () => new Response("slow") };\n`,
  );
  const child = spawnCli(["deploy", app, "-p", "slow", "--create"], host.env);
  let stderr = "";
  const decoder = new TextDecoder();
  let id: string | undefined;
  const stdout = new Response(child.stdout).text();
  for await (const chunk of child.stderr) {
    stderr += decoder.decode(chunk, { stream: true });
    if (id === undefined) {
      id = /Created deployment (\w+); building/.exec(stderr)?.[1];
      if (id !== undefined) child.kill("SIGINT");
    }
  }
  const { code } = await child.status;
  await stdout;
  assert.ok(id, stderr);
  assert.equal(code, 130, stderr);
  assert.match(
    stderr,
    new RegExp(`error: Interrupted: deployment ${id} exists and its build goes on on the server`),
  );
  assert.match(stderr, new RegExp(`deploy-tenant logs ${id} --build`));
  // It does go on.
  const deadline = Date.now() + 60_000;
  let status = "pending";
  while (status === "pending" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const shown = await runCli(["deployments", "show", id, "--json"], { env: host.env });
    status = jsonOf<Deployment>(shown).status;
  }
  assert.equal(status, "success");
});

Deno.test("Ctrl-C before the deployment exists says nothing was deployed (exit 130)", async () => {
  // An API that accepts connections and never answers: the CLI waits on it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      "export default { fetch: () => new Response() };",
    );
    const child = spawnCli(["deploy", dir, "-p", "acme-crm"], {
      DEPLOY_API_URL: `http://127.0.0.1:${listener.addr.port}/v1`,
      DEPLOY_ACCESS_TOKEN: "ddo_test",
      DEPLOY_ORG_ID: "00000000-0000-0000-0000-000000000000",
    });
    held.push(await listener.accept()); // the CLI is now asking for the project
    child.kill("SIGINT");
    const { code, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 130, text);
    assert.match(text, /error: Interrupted: nothing was deployed/);
  } finally {
    for (const conn of held) conn.close();
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("progress reads like a person says it: counts grouped, bytes of total, rate", () => {
  assert.equal(formatCount(1234), "1 234");
  assert.equal(formatCount(999), "999");
  assert.equal(
    formatTransfer(3.1 * 1024 ** 2, 12 * 1024 ** 2, 1000),
    "3.1 MiB of 12.0 MiB (25%) · 3.1 MiB/s",
  );
  assert.equal(formatTransfer(10, 100, 0), "10 B of 100 B (10%)", "no rate before it means much");
});

Deno.test("SIGTERM (a cancelled CI job) says what was deployed, as Ctrl-C does (exit 143)", async () => {
  // An API that accepts connections and never answers: the CLI waits on it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      "export default { fetch: () => new Response() };",
    );
    const child = spawnCli(["deploy", dir, "-p", "acme-crm", "--json"], {
      DEPLOY_API_URL: `http://127.0.0.1:${listener.addr.port}/v1`,
      DEPLOY_ACCESS_TOKEN: "ddo_test",
      DEPLOY_ORG_ID: "00000000-0000-0000-0000-000000000000",
    });
    held.push(await listener.accept()); // the CLI is now asking for the project
    child.kill("SIGTERM");
    const { code, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 143, text);
    assert.deepEqual(JSON.parse(text).error, {
      code: "interrupted",
      message: "Terminated (SIGTERM): nothing was deployed",
    });
  } finally {
    for (const conn of held) conn.close();
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM or Ctrl-C during env set says nothing was changed yet (exit 143, 130)", async () => {
  for (
    const [signal, code, stopped] of [["SIGTERM", 143, "Terminated (SIGTERM)"], [
      "SIGINT",
      130,
      "Interrupted",
    ]] as const
  ) {
    // An API that accepts connections and never answers: the CLI waits on it.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    try {
      const child = spawnCli(["env", "set", "abcde12vwxyz", "MIN_SCORE=80", "--json"], {
        DEPLOY_API_URL: `http://127.0.0.1:${listener.addr.port}/v1`,
        DEPLOY_ACCESS_TOKEN: "ddo_test",
        DEPLOY_ORG_ID: "00000000-0000-0000-0000-000000000000",
      });
      held.push(await listener.accept()); // the CLI is now asking for the redeploy
      child.kill(signal);
      const { code: exited, stderr } = await child.output();
      const text = new TextDecoder().decode(stderr);
      assert.equal(exited, code, text);
      assert.deepEqual(JSON.parse(text).error, {
        code: "interrupted",
        message: `${stopped}: nothing was changed`,
      });
    } finally {
      for (const conn of held) conn.close();
      listener.close();
    }
  }
});
