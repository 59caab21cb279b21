/**
 * The CLI's behaviour that needs no host: help, usage errors, configuration errors,
 * unreachable servers and `--dry-run`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, jsonOf, runCli } from "./helpers/cli.ts";
import { sentinelApi } from "./helpers/sentinel_api.ts";

const HOOKS = new URL("../examples/hooks", import.meta.url).pathname;

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("--help lists the commands and the exit codes", async () => {
  const result = await runCli(["--help"]);
  assert.equal(result.code, 0, describe(result));
  for (
    const text of ["project", "deploy", "deployments", "invoke", "host", "Exit codes", "6  network"]
  ) {
    assert.ok(result.stdout.includes(text), `help mentions ${text}\n${result.stdout}`);
  }
  const deployHelp = await runCli(["deploy", "--help"]);
  assert.equal(deployHelp.code, 0);
  assert.match(deployHelp.stdout, /--env-file/);
  assert.match(deployHelp.stdout, /Examples:/);
});

Deno.test("usage errors exit 2 and point at the help", async () => {
  const unknownOption = await runCli(["project", "list", "--bogus"]);
  assert.equal(unknownOption.code, 2, describe(unknownOption));
  assert.match(unknownOption.stderr, /^error: unknown option '--bogus'/m);
  assert.match(unknownOption.stderr, /^hint: See `deploy-tenant project list --help`/m);

  const missingArgument = await runCli(["deploy"]);
  assert.equal(missingArgument.code, 2, describe(missingArgument));
  assert.match(missingArgument.stderr, /missing required argument 'dir'/);

  const noSubcommand = await runCli(["project"]);
  assert.equal(noSubcommand.code, 2, describe(noSubcommand));
  assert.match(noSubcommand.stderr, /Usage: deploy-tenant project/);
});

Deno.test("a mistyped host subcommand is an unknown command of host, not arguments of host run", async () => {
  // `host` alone runs the host (its default subcommand, run): a typo of status or stop was
  // handed to run as an argument ("too many arguments for 'run'", see `host run --help`).
  for (const [typed, meant] of [["stauts", "status"], ["stopp", "stop"], ["strat", "start"]]) {
    const result = await runCli(["host", typed]);
    assert.equal(result.code, 2, describe(result));
    assert.match(result.stderr, new RegExp(`^error: unknown command '${typed}'`, "m"));
    assert.match(result.stderr, new RegExp(`Did you mean ${meant}\\?`), describe(result));
    assert.match(result.stderr, /^hint: See `deploy-tenant host --help`\./m, describe(result));
    assert.doesNotMatch(result.stderr, /run/, describe(result));
  }
  // Options alone still run the host's default: a bad value is that command's usage error.
  const options = await runCli(["host", "--port", "99999"]);
  assert.equal(options.code, 2, describe(options));
});

Deno.test("login, whoami, config and version, which other CLIs have, say what to do instead", async () => {
  const login = await runCli(["login"]);
  assert.equal(login.code, 2, describe(login));
  assert.match(login.stderr, /^error: unknown command 'login'$/m);
  // Not commander's "Did you mean logs?": logs has nothing to do with signing in.
  assert.doesNotMatch(login.stderr, /logs/);
  assert.match(login.stderr, /^hint: .*no login.*--token.*DEPLOY_ACCESS_TOKEN/m);

  for (const word of ["logout", "whoami", "config"]) {
    const result = await runCli([word, "--json"]);
    assert.equal(result.code, 2, describe(result));
    const { error } = JSON.parse(result.stderr);
    assert.equal(error.message, `unknown command '${word}'`);
    assert.match(error.hint, /DEPLOY_API_URL.*DEPLOY_ACCESS_TOKEN.*host status/, word);
  }

  const version = await runCli(["version"]);
  assert.equal(version.code, 2, describe(version));
  assert.match(version.stderr, /^hint: .*deploy-tenant --version/m);

  // Any other unknown command keeps commander's suggestion.
  const typo = await runCli(["projcet", "list"]);
  assert.match(typo.stderr, /Did you mean project\?/);
});

Deno.test("invoke -X GET (or HEAD) with a body is a usage error, not an unreachable host", async () => {
  const api = sentinelApi();
  try {
    for (const method of ["GET", "head"]) {
      const result = await runCli(["invoke", "http://127.0.0.1:9/", "-X", method, "-d", "x"], {
        env: api.env,
      });
      assert.equal(result.code, 2, describe(result));
      assert.match(result.stderr, /^error: A .* request cannot have a body/m);
      assert.match(result.stderr, /^hint: .*-X POST/m);
    }
    assert.equal(api.requests(), 0);
  } finally {
    await api.stop();
  }
});

Deno.test("under --json a usage error is a JSON document on stderr", async () => {
  const result = await runCli(["project", "list", "--bogus", "--json"]);
  assert.equal(result.code, 2);
  assert.equal(result.stdout, "");
  const document = JSON.parse(result.stderr);
  assert.equal(document.error.code, "usage");
  assert.match(document.error.message, /unknown option '--bogus'/);
});

Deno.test("deploy rejects a missing directory or a file before contacting the API", async () => {
  const api = sentinelApi();
  try {
    const missing = await runCli(["deploy", "/no/such/dir", "-p", "x"], { env: api.env });
    assert.equal(missing.code, 2, describe(missing));
    assert.match(missing.stderr, /does not exist/);

    const file = await runCli(["deploy", join(HOOKS, "main.ts"), "-p", "x"], { env: api.env });
    assert.equal(file.code, 2, describe(file));
    assert.match(file.stderr, /is not a directory/);
    assert.equal(api.requests(), 0);
  } finally {
    await api.stop();
  }
});

Deno.test("deploy names a malformed --env and the line of a malformed .env", async () => {
  const api = sentinelApi();
  const dir = await Deno.makeTempDir();
  try {
    const env = await runCli(["deploy", HOOKS, "--env", "MIN_SCORE"], { env: api.env });
    assert.equal(env.code, 2, describe(env));
    assert.match(env.stderr, /"MIN_SCORE"/);

    const envFile = join(dir, "bad.env");
    await Deno.writeTextFile(envFile, "# ok\nA=1\nnot an assignment\n");
    const file = await runCli(["deploy", HOOKS, "--env-file", envFile], { env: api.env });
    assert.equal(file.code, 2, describe(file));
    assert.ok(file.stderr.includes(`${envFile}:3:`), file.stderr);

    const missingFile = await runCli(["deploy", HOOKS, "--env-file", join(dir, "nope")], {
      env: api.env,
    });
    assert.equal(missingFile.code, 2, describe(missingFile));

    const compiler = await runCli(["deploy", HOOKS, "--compiler-options", "jsx"], { env: api.env });
    assert.equal(compiler.code, 2, describe(compiler));
    assert.match(compiler.stderr, /Invalid compiler option "jsx"/);
    assert.equal(api.requests(), 0);
  } finally {
    await api.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an --env-file or env load file that is a directory is a usage error, no stack", async () => {
  const api = sentinelApi();
  const dir = await Deno.makeTempDir();
  try {
    const deploy = await runCli(["deploy", HOOKS, "--env-file", dir], { env: api.env });
    assert.equal(deploy.code, 2, describe(deploy));
    assert.match(deploy.stderr, /^error: Env file .* is a directory$/m);
    assert.doesNotMatch(deploy.stderr, /\bat .*:\d+:\d+/, "no stack trace");

    const load = await runCli(["env", "load", "abcdefghijkl", dir], { env: api.env });
    assert.equal(load.code, 2, describe(load));
    assert.match(load.stderr, /^error: Env file .* is a directory$/m);
    assert.doesNotMatch(load.stderr, /\bat .*:\d+:\d+/, "no stack trace");

    const json = await runCli(["deploy", HOOKS, "--env-file", dir, "--json"], { env: api.env });
    assert.equal(json.code, 2, describe(json));
    assert.equal(JSON.parse(json.stderr).error.code, "envFileNotAFile");
    assert.equal(api.requests(), 0);
  } finally {
    await api.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an API without a token exits 3 with a hint, and never prints a token", async () => {
  const result = await runCli(["project", "list", "--api", "http://127.0.0.1:9/v1", "--org", "o"]);
  assert.equal(result.code, 3, describe(result));
  assert.match(result.stderr, /^hint: .*DEPLOY_ACCESS_TOKEN/m);

  const json = await runCli(["project", "list", "--json"], {
    env: { DEPLOY_API_URL: "http://127.0.0.1:9/v1", DEPLOY_ORG_ID: "o" },
  });
  assert.equal(json.code, 3);
  assert.deepEqual(Object.keys(JSON.parse(json.stderr).error).sort(), ["code", "hint", "message"]);
});

Deno.test("an unreachable API exits 6", async () => {
  const port = closedPort();
  const result = await runCli(["project", "list", "--json"], {
    env: {
      DEPLOY_API_URL: `http://127.0.0.1:${port}/v1`,
      DEPLOY_ACCESS_TOKEN: "secret-token-value",
      DEPLOY_ORG_ID: "o",
    },
  });
  assert.equal(result.code, 6, describe(result));
  const { error } = JSON.parse(result.stderr);
  assert.equal(error.code, "networkError");
  assert.ok(error.hint);
  assert.ok(!result.stderr.includes("secret-token-value"));
});

Deno.test("with no API and no local host, commands exit 6 instead of starting one", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const result = await runCli(["project", "list"], { env: { DEPLOY_TENANT_DATA_DIR: dataDir } });
    assert.equal(result.code, 6, describe(result));
    assert.match(result.stderr, /No local host is running/);

    const status = await runCli(["host", "status", "--data-dir", dataDir]);
    assert.equal(status.code, 6, describe(status));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("deploy --dry-run lists what would be sent and sends nothing", async () => {
  const api = sentinelApi();
  try {
    const human = await runCli(["deploy", HOOKS, "--dry-run", "--env", "SECRET=hunter2"], {
      env: api.env,
    });
    assert.equal(human.code, 0, describe(human));
    assert.match(human.stdout, /Dry run: nothing was sent/);
    assert.match(human.stdout, /entry point: main\.ts/);
    assert.match(human.stdout, /main\.ts\s+\S+ \S+\s+utf-8/);
    assert.ok(!human.stdout.includes("hunter2"), "env values are not shown");

    const json = jsonOf<{
      dryRun: boolean;
      entryPointUrl: string;
      files: { path: string; encoding: string; reused: boolean; size: number }[];
      totalBytes: number;
    }>(await runCli(["deploy", HOOKS, "--dry-run", "--json"], { env: api.env }));
    assert.equal(json.dryRun, true);
    assert.equal(json.entryPointUrl, "main.ts");
    const paths = json.files.map((file) => file.path);
    assert.deepEqual(paths, ["deno.json", "main.ts"]);
    assert.equal(json.totalBytes, json.files.reduce((sum, file) => sum + file.size, 0));
    assert.ok(json.files.every((file) => !file.reused), "nothing was uploaded before");
    assert.equal(api.requests(), 0);
  } finally {
    await api.stop();
  }
});

Deno.test("deploy --dry-run counts one file as one file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "main.ts"), "Deno.serve(() => new Response());");
    const api = sentinelApi();
    try {
      const result = await runCli(["deploy", dir, "--dry-run"], { env: api.env });
      assert.equal(result.code, 0, describe(result));
      assert.match(result.stdout, /^1 file, \d+ B; 0 by hash/m);
    } finally {
      await api.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logs --since after --until is a usage error, not an empty answer", async () => {
  const api = sentinelApi();
  try {
    const result = await runCli(["logs", "abcde12vwxyz", "--since", "5m", "--until", "10m"], {
      env: api.env,
    });
    assert.equal(result.code, 2, describe(result));
    assert.match(result.stderr, /^error: --since must be before --until/m);
    assert.equal(api.requests(), 0);
  } finally {
    await api.stop();
  }
});

Deno.test("project delete refuses without --yes when stdin is not a terminal", async () => {
  const api = sentinelApi();
  try {
    const result = await runCli(["project", "delete", "acme"], { env: api.env, stdin: "y\n" });
    assert.equal(result.code, 2, describe(result));
    assert.match(result.stderr, /--yes/);
    assert.equal(api.requests(), 0);
  } finally {
    await api.stop();
  }
});

Deno.test("host settings out of range are usage errors, before anything starts", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    for (
      const [flag, value, pattern] of [
        ["--warm-pool", "65", /Invalid --warm-pool "65": expected 0-64/],
        ["--warm-pool", "-1", /Invalid --warm-pool "-1"/],
        ["--max-warm", "0", /Invalid --max-warm "0": expected 1-10000/],
        ["--warm-pool-memory", "lots", /Invalid --warm-pool-memory "lots": expected a size/],
      ] as const
    ) {
      for (const command of [["host"], ["host", "start"]]) {
        const result = await runCli([...command, "--data-dir", dataDir, flag, value]);
        assert.equal(result.code, 2, describe(result));
        assert.match(result.stderr, pattern);
      }
    }
    assert.deepEqual([...Deno.readDirSync(dataDir)], [], "nothing was started or written");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("host on a port already in use names that port, not the HTTPS one", async () => {
  const dataDir = await Deno.makeTempDir();
  const taken = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const { port } = taken.addr as Deno.NetAddr;
  try {
    const result = await runCli([
      "host",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
      "--no-front-proxy",
      "--unsandboxed",
      "--warm-pool",
      "0",
    ]);
    assert.equal(result.code, 6, describe(result));
    assert.match(result.stderr, new RegExp(`^error: Port ${port} is already in use$`, "m"));
    assert.doesNotMatch(result.stderr, /HTTPS/);
  } finally {
    taken.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("deploy --dry-run prints the warnings a deploy would print", async () => {
  const api = sentinelApi();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      "export default { fetch: () => new Response() };",
    );
    await Deno.writeTextFile(join(dir, ".env"), "SECRET=1\n");
    const result = await runCli(["deploy", dir, "--dry-run"], { env: api.env });
    assert.equal(result.code, 0, describe(result));
    assert.match(result.stderr, /^warning: "\.env" will be uploaded and may hold secrets/m);
    const json = await runCli(["deploy", dir, "--dry-run", "--json"], { env: api.env });
    assert.equal(json.code, 0, describe(json));
    assert.equal(json.stderr, "", "under --json the warnings are in the document only");
    assert.equal(jsonOf<{ warnings: string[] }>(json).warnings.length, 1);
    assert.equal(api.requests(), 0);
  } finally {
    await api.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy says when .gitignore leaves out the entry point it would have found", async () => {
  const api = sentinelApi();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      "export default { fetch: () => new Response() };",
    );
    await Deno.writeTextFile(join(dir, "other.ts"), "export {};");
    await Deno.writeTextFile(join(dir, ".gitignore"), "main.ts\n");
    const result = await runCli(["deploy", dir, "--dry-run"], { env: api.env });
    assert.equal(result.code, 2, describe(result));
    assert.match(result.stderr, /main\.ts is in the directory, but \.gitignore/);
    assert.match(result.stderr, /--no-gitignore/);
    const anyway = await runCli(["deploy", dir, "--dry-run", "--no-gitignore"], { env: api.env });
    assert.equal(anyway.code, 0, describe(anyway));
    assert.equal(api.requests(), 0);
  } finally {
    await api.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
