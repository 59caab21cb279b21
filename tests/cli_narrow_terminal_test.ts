/**
 * Tables on a narrow terminal (a split pane, a phone's SSH app: COLUMNS=60). Every line wrapped
 * in two: `project list` ran to 90 columns (the project's UUID), `deployments list` to 100
 * (each deployment's URL). On a terminal a table now fits: free text is cut with "…" and what
 * another command shows is left out, saying so; ids people copy are never cut. A pipe and
 * `--json` get every column, whatever the width.
 */
import assert from "node:assert/strict";
import { describe, jsonOf, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import { requires } from "./helpers/programs.ts";
import { runInTerminal } from "./helpers/terminal.ts";
import type { Deployment } from "../lib/types.ts";

Deno.test(requires(["script"], {
  name: "project list and deployments list fit a terminal of 60 columns",
  async fn() {
    await using host = await startTestHost();
    const env = { ...host.env, COLUMNS: "60" };
    const onTerminal = async (...args: string[]) => {
      const { code, screen } = await runInTerminal(args, { env }).finish();
      assert.equal(code, 0, screen);
      return screen.trimEnd().split("\n");
    };
    const app = await writeApp(host, "app", "Deno.serve(() => new Response());\n");
    const description = "Lead-captured hook of Acme Corporation, the EMEA division";
    const created = await runCli(
      ["project", "create", "narrow-pane", "--description", description],
      { env },
    );
    assert.equal(created.code, 0, describe(created));
    const deployed = await runCli(["deploy", app, "-p", "narrow-pane", "--json"], { env });
    assert.equal(deployed.code, 0, describe(deployed));
    const { id } = jsonOf<Deployment>(deployed);

    const projects = await onTerminal("project", "list");
    for (const line of projects) assert.ok(line.length <= 60, `${line.length}: ${line}`);
    assert.match(projects[0], /^NAME +UPDATED +DESCRIPTION$/, projects.join("\n"));
    assert.match(projects[1], /^narrow-pane +\d{4}-\d\d-\d\d \d\d:\d\d UTC +Lead-captured .*…$/);
    assert.match(projects.at(-1)!, /ID left out to fit 60 columns/, projects.join("\n"));

    const deployments = await onTerminal("deployments", "list", "narrow-pane");
    for (const line of deployments) assert.ok(line.length <= 60, `${line.length}: ${line}`);
    assert.match(deployments[1], new RegExp(`^${id} +success +\\d{4}`), deployments.join("\n"));
    assert.match(deployments.at(-1)!, /URL left out to fit 60 columns/);

    // A wide terminal shows everything, and says nothing.
    const wide = await runInTerminal(["deployments", "list", "narrow-pane"], {
      env: { ...env, COLUMNS: "200" },
    }).finish();
    assert.match(wide.screen, /http:\/\/narrow-pane-/);
    assert.doesNotMatch(wide.screen, /left out/);

    // A pipe gets every column and every character, whatever the width.
    const piped = await runCli(["project", "list"], { env });
    assert.match(piped.stdout, /^NAME +ID +UPDATED +DESCRIPTION$/m, describe(piped));
    assert.ok(piped.stdout.includes(description), describe(piped));
    assert.doesNotMatch(piped.stdout, /left out/);
  },
}));
