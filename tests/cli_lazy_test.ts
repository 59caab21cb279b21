/**
 * The CLI loads a command's code only when that command runs: the root help comes from the
 * table in `commands/table.ts`, and these tests hold that table to the commands it stands for.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Help } from "commander";
import { buildProgram } from "../main.ts";
import { COMMANDS } from "../commands/table.ts";
import { describe, runCli } from "./helpers/cli.ts";

Deno.test("the command table says what each loaded command says", async () => {
  const help = new Help();
  for (const entry of COMMANDS) {
    const command = await entry.load();
    assert.deepEqual(
      {
        name: command.name(),
        aliases: command.aliases(),
        term: help.subcommandTerm(command),
        description: command.description(),
      },
      {
        name: entry.name,
        aliases: entry.aliases,
        term: entry.term,
        description: entry.description,
      },
      `commands/table.ts is out of date for "${entry.name}"`,
    );
  }
});

Deno.test("the root help with no command loaded is the help with every command loaded", async () => {
  const lazy = await buildProgram(new Set());
  const full = await buildProgram();
  assert.equal(lazy.helpInformation(), full.helpInformation());
  assert.deepEqual(
    lazy.commands.map((command) => command.name()),
    full.commands.map((command) => command.name()),
  );
});

Deno.test("every command is reachable by name, alias and `help <command>`", async () => {
  for (const entry of COMMANDS) {
    const invocations = [
      [entry.name, "--help"],
      ["help", entry.name],
      ...entry.aliases.map((alias) => [alias, "--help"]),
    ];
    await Promise.all(invocations.map(async (args) => {
      const result = await runCli(args);
      assert.equal(result.code, 0, describe(result));
      assert.match(
        result.stdout,
        new RegExp(`^Usage: deploy-tenant ${entry.name}\\b`),
        args.join(" "),
      );
    }));
  }
});

Deno.test("main.ts loads no command's code up front: only the table, commander and the output", async () => {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../main.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(info.success, new TextDecoder().decode(info.stderr));
  const graph: {
    roots: string[];
    modules: { specifier: string; dependencies?: Dependency[] }[];
  } = JSON.parse(new TextDecoder().decode(info.stdout));
  const modules = new Map(graph.modules.map((module) => [module.specifier, module]));
  // The modules `deno run main.ts` evaluates before it runs: static imports only.
  const loaded = new Set<string>();
  const pending = [...graph.roots];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (loaded.has(specifier)) continue;
    loaded.add(specifier);
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      if (!dependency.isDynamic && dependency.code) pending.push(dependency.code.specifier);
    }
  }
  const root = new URL("../", import.meta.url).href;
  const upFront = [
    /^main\.ts$/,
    /^deno\.json$/,
    /^commands\/(table|context|prompts)\.ts$/,
    /^lib\/(errors|output)\.ts$/,
    /^npm:commander@/,
  ];
  const extra = [...loaded].map((specifier) => specifier.replace(root, ""))
    .filter((name) => !upFront.some((pattern) => pattern.test(name)));
  assert.deepEqual(extra, [], "main.ts loads these before any command runs");
  assert.ok(loaded.has(new URL("../commands/table.ts", import.meta.url).href));
});

/** One import in `deno info --json`. */
interface Dependency {
  code?: { specifier: string };
  isDynamic?: boolean;
}
