/**
 * The `deploy` key of the deployed directory's deno.json: a typo is pointed out, and a file
 * that is not JSON is told to be fixed as JSON.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, runCli } from "./helpers/cli.ts";

/** A directory with main.ts and `denoJson` as its deno.json. */
async function app(denoJson: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "main.ts"), "export default { fetch: () => new Response() };");
  await Deno.writeTextFile(join(dir, "deno.json"), denoJson);
  return dir;
}

/** No API and no local host: a dry run needs neither. */
const env = (dir: string) => ({ DEPLOY_TENANT_DATA_DIR: `${dir}-no-host` });

Deno.test("an unknown key in deno.json's deploy key is a warning with a did-you-mean", async () => {
  const dir = await app(`{"deploy": {"projct": "acme-crm", "exlude": ["x"], "zzz": 1}}`);
  try {
    const result = await runCli(["deploy", dir, "--dry-run"], { env: env(dir) });
    assert.equal(result.code, 0, describe(result));
    assert.match(
      result.stderr,
      /^warning: unknown key "projct" in deno\.json "deploy" \(did you mean "project"\?\)$/m,
    );
    assert.match(result.stderr, /^warning: unknown key "exlude" .*\(did you mean "exclude"\?\)$/m);
    assert.match(result.stderr, /^warning: unknown key "zzz" .*\(known: project, entrypoint/m);

    // Without a project the typo is what the person needs to see, before the error.
    const deploy = await runCli(["deploy", dir], { env: env(dir) });
    assert.equal(deploy.code, 2, describe(deploy));
    assert.match(deploy.stderr, /warning: unknown key "projct"[\s\S]*error: No project/);

    const json = await runCli(["deploy", dir, "--dry-run", "--json"], { env: env(dir) });
    assert.equal(json.code, 0, describe(json));
    assert.equal(json.stderr, "", "under --json stderr holds nothing but errors");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno.json that is not JSON gets a hint about JSON syntax, not the deploy key", async () => {
  const dir = await app(`{"deploy": {"project": "acme-crm"}\n"tasks": {}}`);
  try {
    const result = await runCli(["deploy", dir, "--dry-run"], { env: env(dir) });
    assert.equal(result.code, 2, describe(result));
    assert.match(result.stderr, /^error: .*deno\.json: not valid JSON: /m);
    assert.match(result.stderr, /^hint: Fix the JSON syntax of deno\.json/m);
    assert.doesNotMatch(result.stderr, /"deploy" key/);

    // A malformed deploy key still gets the deploy key's hint.
    await Deno.writeTextFile(join(dir, "deno.json"), `{"deploy": {"project": 1}}`);
    const key = await runCli(["deploy", dir, "--dry-run"], { env: env(dir) });
    assert.equal(key.code, 2, describe(key));
    assert.match(key.stderr, /^hint: Fix the "deploy" key: \{"project", "entrypoint"/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an entry point or env file deno.json names is named as coming from there", async () => {
  const dir = await app(`{"deploy": {"entrypoint": "nope.ts"}}`);
  try {
    const result = await runCli(["deploy", dir, "--dry-run"], { env: env(dir) });
    assert.equal(result.code, 2, describe(result));
    assert.match(
      result.stderr,
      new RegExp(
        `^error: Entry point "nope\\.ts", named by "deploy\\.entrypoint" in ${dir}/deno\\.json, ` +
          "is not among the files to deploy\\.$",
        "m",
      ),
    );
    assert.match(result.stderr, /^hint: Fix "deploy\.entrypoint" .*--entrypoint <file>/m);

    // Deno Deploy's own key, in deno.jsonc: named as such.
    await Deno.remove(join(dir, "deno.json"));
    await Deno.writeTextFile(
      join(dir, "deno.jsonc"),
      `{"deploy": {"runtime": {"entrypoint": "./src/app.ts"}, "envFile": ".env.prod"}}`,
    );
    const envMissing = await runCli(["deploy", dir, "--dry-run"], { env: env(dir) });
    assert.equal(envMissing.code, 2, describe(envMissing));
    assert.match(envMissing.stderr, /^error: Env file .*\.env\.prod does not exist$/m);
    assert.match(
      envMissing.stderr,
      new RegExp(`^hint: Fix "deploy\\.envFile" in ${dir}/deno\\.jsonc`, "m"),
      "not 'relative to the current directory'",
    );
    await Deno.writeTextFile(join(dir, ".env.prod"), "A=1\n");
    const runtime = await runCli(["deploy", dir, "--dry-run", "--json"], { env: env(dir) });
    assert.equal(runtime.code, 2, describe(runtime));
    const error = JSON.parse(runtime.stderr).error;
    assert.match(error.message, /named by "deploy\.runtime\.entrypoint" in .*deno\.jsonc/);
    assert.match(error.hint, /^Fix "deploy\.runtime\.entrypoint"/);

    // A flag wins, and an error about it names the flag only.
    const flag = await runCli(["deploy", dir, "--dry-run", "--entrypoint", "x.ts"], {
      env: env(dir),
    });
    assert.equal(flag.code, 2, describe(flag));
    assert.match(flag.stderr, /^error: Entry point "x\.ts" is not among the files to deploy\.$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the env file deno.json or --env-file names is not uploaded with the files", async () => {
  const dir = await app(`{"deploy": {"envFile": ".env.prod"}}`);
  try {
    await Deno.writeTextFile(join(dir, ".env.prod"), "API_KEY=s3cr3t\n");
    await Deno.mkdir(join(dir, "conf"));
    await Deno.writeTextFile(join(dir, "conf", ".env[1]"), "DEBUG=1\n");
    const paths = (result: { stdout: string }) =>
      (JSON.parse(result.stdout).files as { path: string }[]).map((file) => file.path).sort();

    const json = await runCli(["deploy", dir, "--dry-run", "--json"], { env: env(dir) });
    assert.equal(json.code, 0, describe(json));
    assert.deepEqual(JSON.parse(json.stdout).envVars, ["API_KEY"], "its variables are set");
    assert.deepEqual(paths(json), ["conf/.env[1]", "deno.json", "main.ts"], "not .env.prod");

    const text = await runCli(["deploy", dir, "--dry-run"], { env: env(dir) });
    assert.equal(text.code, 0, describe(text));
    assert.match(text.stderr, /^Leaving out \.env\.prod: it is the env file/m);
    assert.doesNotMatch(text.stderr, /"\.env\.prod" will be uploaded/, "no warning against it");
    assert.match(text.stderr, /"conf\/\.env\[1\]" will be uploaded .*--env-file/);

    // --env-file inside the directory, with glob characters in its name: that file only.
    const flag = await runCli(
      ["deploy", dir, "--dry-run", "--json", "--env-file", join(dir, "conf", ".env[1]")],
      { env: env(dir) },
    );
    assert.equal(flag.code, 0, describe(flag));
    assert.deepEqual(paths(flag), [".env.prod", "deno.json", "main.ts"]);
    assert.deepEqual(JSON.parse(flag.stdout).envVars, ["DEBUG"], "the flag wins over envFile");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
