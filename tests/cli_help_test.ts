/**
 * Help as a first-time user reads it: `help <typo>`, what a subcommand's help lists, and
 * examples that work against today's Deno Deploy.
 */
import assert from "node:assert/strict";
import { describe, runCli } from "./helpers/cli.ts";

Deno.test("help <unknown> says unknown command with a suggestion and exits 2", async () => {
  const result = await runCli(["help", "projet"]);
  assert.equal(result.code, 2, describe(result));
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^error: unknown command 'projet'\s*\(Did you mean project\?\)$/m);
  assert.match(result.stderr, /^hint: See `deploy-tenant --help`\.$/m);
  assert.doesNotMatch(result.stderr, /Usage:/, "not the whole root help");

  const json = await runCli(["help", "projet", "--json"]);
  assert.equal(json.code, 2, describe(json));
  assert.match(JSON.parse(json.stderr).error.message, /unknown command 'projet'/);

  // `help <command>` and `help` still show help.
  const known = await runCli(["help", "project"]);
  assert.equal(known.code, 0, describe(known));
  assert.match(known.stdout, /^Usage: deploy-tenant project/);
  assert.equal((await runCli(["help"])).code, 0);
});

Deno.test("<group> help <unknown> is an unknown command of that group, exit 2", async () => {
  const result = await runCli(["project", "help", "lst"]);
  assert.equal(result.code, 2, describe(result));
  assert.equal(result.stdout, "");
  assert.match(
    result.stderr,
    /^error: unknown command 'lst'\s*\(Did you mean one of list, ls\?\)$/m,
  );
  assert.match(result.stderr, /^hint: See `deploy-tenant project --help`\.$/m);
  assert.doesNotMatch(result.stderr, /Usage:/, "not the group's whole help");

  const nested = await runCli(["domain", "certs", "help", "upld", "--json"]);
  assert.equal(nested.code, 2, describe(nested));
  assert.match(JSON.parse(nested.stderr).error.message, /unknown command 'upld'/);

  // `<group> help <command>` and `<group> help` still show help.
  const known = await runCli(["project", "help", "list"]);
  assert.equal(known.code, 0, describe(known));
  assert.match(known.stdout, /^Usage: deploy-tenant project list/);
  assert.equal((await runCli(["project", "help"])).code, 0);
});

Deno.test("a subcommand's help lists the global options and an example", async () => {
  for (
    const args of [
      ["project", "list"],
      ["deployments", "show"],
      ["env", "set"],
      ["db", "list"],
      ["domain", "certs", "provision"],
      ["domain", "certs"], // a group within a group
      ["deploy"],
    ]
  ) {
    const result = await runCli([...args, "--help"]);
    assert.equal(result.code, 0, describe(result));
    const text = result.stdout;
    assert.match(text, /^Global Options:$/m, args.join(" "));
    for (const option of ["--json", "--api <url>", "--token <token>", "--org <id>", "--quiet"]) {
      assert.ok(text.includes(option), `${args.join(" ")} --help lists ${option}\n${text}`);
    }
    assert.match(text, new RegExp(`^Examples:\\n  \\$ deploy-tenant ${args.join(" ")}`, "m"));
  }
});

Deno.test("host run, the default of host, shows the examples that run it", async () => {
  const result = await runCli(["host", "run", "--help"]);
  assert.equal(result.code, 0, describe(result));
  assert.match(result.stdout, /^Examples:\n {2}\$ deploy-tenant host +# foreground/m);
  assert.match(result.stdout, /^ {2}\$ deploy-tenant host --port 0 --data-dir/m);
  assert.doesNotMatch(result.stdout, /\$ deploy-tenant host (start|stop|status)/);
});

Deno.test("help shows numeric defaults unquoted and keeps its lines short", async () => {
  const deploy = await runCli(["deploy", "--help"]);
  assert.equal(deploy.code, 0, describe(deploy));
  assert.match(deploy.stdout, /\(default: 600\)/);
  const logs = await runCli(["logs", "--help"]);
  assert.match(logs.stdout, /\(default: 100\)/);
  // Groups with long subcommand terms (env set's, layer create's) wrap too.
  const groups = await Promise.all(["env", "layer"].map((group) => runCli([group, "--help"])));
  for (const result of [deploy, logs, ...groups]) {
    assert.doesNotMatch(result.stdout, /default: "\d+"/);
    const long = result.stdout.split("\n")
      .filter((line) => line.length > 100 && !line.startsWith("  $ ")); // an example is typed whole
    assert.deepEqual(long, [], "no line of prose runs past 100 columns");
  }
});

Deno.test("help and hints name an API URL that works now, not the shut-down v1", async () => {
  const root = await runCli(["--help"]);
  assert.equal(root.code, 0, describe(root));
  assert.doesNotMatch(root.stdout, /api\.deno\.com\/v1/);
  assert.match(root.stdout, /DEPLOY_API_URL=https:\/\/api\.deno\.com\/v2/);
  // What is retried, as lib/http.ts decides and the README says.
  assert.match(root.stdout.replaceAll("\n", " "), /408, 429 and 5xx \(but 507, a full disk\)/);

  const bad = await runCli(["project", "list", "--api", "notaurl"]);
  assert.equal(bad.code, 2, describe(bad));
  assert.match(bad.stderr, /^hint: .*https:\/\/api\.deno\.com\/v2/m);
  assert.doesNotMatch(bad.stderr, /\/v1/);
});

Deno.test("delete, remove and rm name the same command in every group", async () => {
  const groups: [string, string, RegExp][] = [
    ["project", "acme-crm", /^error: Refusing to delete project "acme-crm"/m],
    ["deployments", "abcde12vwxyz", /^error: Refusing to delete deployment "abcde12vwxyz"/m],
    ["db", "5b484959", /^error: Refusing to delete KV database 5b484959/m],
    ["layer", "crm-defaults", /^error: Refusing to delete layer "crm-defaults"/m],
    ["domain", "shop.example.com", /^error: Refusing to remove domain "shop.example.com"/m],
  ];
  for (const [group, target, refusal] of groups) {
    for (const verb of ["delete", "remove", "rm"]) {
      // No --yes and no terminal: each refuses before any request, which proves which one ran.
      const result = await runCli([group, verb, target]);
      assert.equal(result.code, 2, `${group} ${verb}\n${describe(result)}`);
      assert.match(result.stderr, refusal, `${group} ${verb}`);
    }
  }
});

Deno.test("view is show in every group that shows one thing (wrangler's `deployments view`)", async () => {
  for (const group of ["project", "deployments", "layer", "domain"]) {
    const result = await runCli([group, "view", "--help"]);
    assert.equal(result.code, 0, `${group} view\n${describe(result)}`);
    assert.match(result.stdout, new RegExp(`^Usage: deploy-tenant ${group} show\\|view `, "m"));
  }
});
