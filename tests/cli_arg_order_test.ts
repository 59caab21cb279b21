/**
 * Arguments in the wrong order, as habits from other CLIs type them: the usage error (exit 2,
 * nothing sent) names the command to type instead of failing on a lookup of the wrong word.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, runCli } from "./helpers/cli.ts";
import { sentinelApi } from "./helpers/sentinel_api.ts";

const HOOKS = new URL("../examples/hooks", import.meta.url).pathname;

Deno.test("swapped or extra arguments get the command to type, exit 2, nothing sent", async () => {
  const api = sentinelApi();
  const dir = await Deno.makeTempDir();
  try {
    const envFile = join(dir, ".env.production");
    await Deno.writeTextFile(envFile, "MIN_SCORE=80\n");
    const cases: [string[], RegExp, RegExp][] = [
      [
        ["deploy", "acme-crm", HOOKS],
        /^error: deploy takes one directory, but got 2 arguments/m,
        new RegExp(`^hint: .*\`deploy-tenant deploy ${HOOKS} -p acme-crm\``, "m"),
      ],
      [
        ["deploy", HOOKS, "acme-crm"],
        /^error: deploy takes one directory/m,
        new RegExp(`^hint: .*\`deploy-tenant deploy ${HOOKS} -p acme-crm\``, "m"),
      ],
      [
        ["deploy", HOOKS, "-p", "acme-crm", "--env", "A=1", "TOKEN=s3cr3t"],
        /^error: deploy takes one directory.*"TOKEN=…"$/m,
        /^hint: Each variable needs its own --env: --env TOKEN=…\.$/m,
      ],
      [
        ["env", "set", "MIN_SCORE=80", "abcde12vwxyz"],
        /^error: The first argument is a KEY=VALUE pair, not a deployment/m,
        /^hint: `deploy-tenant env set <deployment> KEY=VALUE…`/m,
      ],
      [
        ["env", "load", envFile, "abcde12vwxyz"],
        /is a file and "abcde12vwxyz" is not: the deployment comes first/m,
        new RegExp(`^hint: \`deploy-tenant env load abcde12vwxyz ${envFile}\``, "m"),
      ],
      [
        ["domain", "attach", "shop.example.com", "abcde12vwxyz"],
        /^error: "shop.example.com" is a host name, not a deployment/m,
        /^hint: `deploy-tenant domain attach abcde12vwxyz shop.example.com`/m,
      ],
      [
        ["domain", "detach", "shop.example.com", "abcde12vwxyz"],
        /^error: "shop.example.com" is a host name/m,
        /^hint: `deploy-tenant domain detach abcde12vwxyz shop.example.com`/m,
      ],
      [
        ["layer", "attach", "crm-defaults", "acme-crm"],
        /^error: layer attach takes one layer, but got 2 arguments/m,
        /^hint: The project goes in --project: `deploy-tenant layer attach crm-defaults --project acme-crm`/m,
      ],
      [
        ["invoke", "/lead", "abcde12vwxyz"],
        /^error: "\/lead" is a path, not a deployment: the deployment comes first/m,
        /^hint: `deploy-tenant invoke abcde12vwxyz \/lead`/m,
      ],
    ];
    for (const [args, error, hint] of cases) {
      const result = await runCli(args, { env: api.env });
      assert.equal(result.code, 2, `${args.join(" ")}\n${describe(result)}`);
      assert.match(result.stderr, error, args.join(" "));
      assert.match(result.stderr, hint, args.join(" "));
      assert.doesNotMatch(result.stderr, /s3cr3t/, "a value is never printed");
    }
    // A variable's value is not echoed by the KEY=VALUE hint either.
    const missing = await runCli(["env", "set", "abcde12vwxyz", "MIN_SCORE"], { env: api.env });
    assert.equal(missing.code, 2, describe(missing));
    assert.match(missing.stderr, /^hint: Write it as NAME=value/m, "not the --env of deploy");
    assert.equal(api.requests(), 0, "nothing was sent");
  } finally {
    await api.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
