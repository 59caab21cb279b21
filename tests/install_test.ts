/**
 * `deno task install` puts a working `deploy-tenant` command on the PATH: installed into a
 * temporary root (`deno task install --root <dir>`, the way the README says to pick another
 * place), it prints the CLI's usage and version. No network is needed: the npm dependencies
 * come from Deno's cache.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const decoder = new TextDecoder();

Deno.test("deno task install --root <dir> installs a deploy-tenant that prints its usage", async () => {
  const installRoot = await Deno.makeTempDir({ prefix: "deploy-tenant-install-" });
  // The installed command is a script that runs `deno`: the one running this test.
  const env = {
    PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`,
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
  };
  try {
    const installed = await new Deno.Command(Deno.execPath(), {
      args: ["task", "install", "--root", installRoot],
      cwd: root,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = decoder.decode(installed.stdout) + decoder.decode(installed.stderr);
    assert.ok(installed.success, `deno task install failed:\n${output}`);

    const command = join(installRoot, "bin", "deploy-tenant");
    const script = await Deno.readTextFile(command);
    assert.match(script, /main\.ts/, "the installed command runs main.ts");
    // `--root` went to `deno install`, not into the command's own arguments.
    assert.doesNotMatch(script, /--root/, script);

    const run = async (args: string[]) => {
      const result = await new Deno.Command(command, {
        args,
        cwd: installRoot, // anywhere but the checkout
        env: { ...env, DEPLOY_TENANT_AUTOSTART: "0" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: result.code,
        stdout: decoder.decode(result.stdout),
        stderr: decoder.decode(result.stderr),
      };
    };

    const help = await run(["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: deploy-tenant \[options\] \[command\]/m);
    for (const command of ["project", "deploy", "invoke", "host"]) {
      assert.match(help.stdout, new RegExp(`^  ${command}\\b`, "m"), `--help lists ${command}`);
    }

    const version = await run(["--version"]);
    assert.equal(version.code, 0, version.stderr);
    const { version: expected } = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
    assert.equal(version.stdout.trim(), expected);
  } finally {
    await Deno.remove(installRoot, { recursive: true });
  }
});
