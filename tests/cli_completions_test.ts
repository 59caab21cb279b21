import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, runCli } from "./helpers/cli.ts";
import { requires } from "./helpers/programs.ts";

/** Writes the script for `shell` to a temp file and returns its path. */
async function script(shell: string, dir: string): Promise<string> {
  const result = await runCli(["completions", shell]);
  assert.equal(result.code, 0, describe(result));
  const path = join(dir, `completion.${shell}`);
  await Deno.writeTextFile(path, result.stdout);
  return path;
}

async function run(shell: string, code: string): Promise<string> {
  const out = await new Deno.Command(shell, {
    args: ["-c", code],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test(requires(["bash"], {
  name: "completions bash completes commands, subcommands and options from the typed words",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const file = await script("bash", dir);
      const complete = (words: string[]) =>
        run(
          "bash",
          `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); ` +
            `COMP_CWORD=${words.length - 1}; _deploy_tenant; echo "\${COMPREPLY[*]}"`,
        );
      assert.equal(await complete(["deploy-tenant", "pro"]), "project");
      assert.equal(await complete(["deploy-tenant", "--json", "project", "cr"]), "create");
      assert.equal(await complete(["deploy-tenant", "domain", "certs", "pro"]), "provision");
      // The plural and singular names people type are walked, not offered beside the name.
      assert.equal(await complete(["deploy-tenant", "projects", "cr"]), "create");
      assert.equal(await complete(["deploy-tenant", "dbs", "cl"]), "clear");
      assert.equal(await complete(["deploy-tenant", "deployment", "pro"]), "promote");
      // A flag's value is not mistaken for a subcommand.
      assert.equal(
        await complete(["deploy-tenant", "deploy", "./hooks", "--project", "acme", "--env-"]),
        "--env-file",
      );
      assert.equal(await complete(["deploy-tenant", "nothing", "x"]), "");
      // An argument's choices: the shells after `completions`, before any option.
      assert.match(await complete(["deploy-tenant", "completions", ""]), /^bash zsh fish --/);
      assert.equal(await complete(["deploy-tenant", "completions", "z"]), "zsh");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
}));

Deno.test(requires(["fish"], {
  name: "completions fish completes by the command typed so far",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const file = await script("fish", dir);
      const described = (line: string) =>
        run("fish", `source ${file}; complete -C "${line}"`).then((out) => out.split("\n"));
      // Each candidate is "word<Tab>description"; the words alone:
      const complete = async (line: string) =>
        (await described(line)).map((candidate) => candidate.split("\t")[0]);
      assert.deepEqual(await complete("deploy-tenant pro"), ["project"]);
      // fish shows what each command and option is for, apostrophes and all.
      assert.deepEqual(await described("deploy-tenant pro"), [
        "project\tCreate, list, show, rename and delete projects (one per customer)",
      ]);
      assert.ok(
        (await described("deploy-tenant project ")).includes(
          "rename\tRename a project (its deployments' URLs change with it)",
        ),
      );
      assert.ok(
        (await described("deploy-tenant deploy ./x --js")).includes(
          "--json\tprint one JSON document on stdout; errors as JSON on stderr",
        ),
        "a global option too",
      );
      assert.ok((await complete("deploy-tenant project ")).includes("rename"));
      assert.deepEqual(await complete("deploy-tenant completions "), ["bash", "fish", "zsh"]);
      assert.deepEqual(await complete("deploy-tenant deploy ./x --project a --pro"), [
        "--prod",
        "--project",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
}));

Deno.test(requires(["zsh"], {
  name: "completions zsh loads and registers the completion",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const file = await script("zsh", dir);
      assert.equal(
        await run("zsh", `source ${file}; print -r -- $_comps[deploy-tenant]`),
        "_bash_complete -o default -F _deploy_tenant",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
}));

Deno.test("completions refuses an unknown shell with a usage error", async () => {
  const result = await runCli(["completions", "powershell"]);
  assert.equal(result.code, 2, describe(result));
  assert.match(result.stderr, /Unknown shell "powershell"/);
});
