/**
 * A failed build says what went wrong once: where its log was printed as it streamed, the
 * error sums it up; where it was not (--quiet, --json), the error carries the log's errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, runCli, startTestHost } from "./helpers/host.ts";

/** How many times `text` holds `part`. */
const count = (text: string, part: string) => text.split(part).length - 1;

Deno.test("a failed build's log is not printed twice (deploy, env set)", async () => {
  await using host = await startTestHost();
  const app = join(host.tempDir, "broken");
  await Deno.mkdir(app);
  await Deno.writeTextFile(
    join(app, "main.ts"),
    `import "./nope.ts";\nexport default { fetch: () => new Response() };\n`,
  );
  const cli = (...args: string[]) => runCli(args, { env: host.env });

  const piped = await cli("deploy", app, "-p", "broken", "--create");
  assert.equal(piped.code, 1, describe(piped));
  // Each line of the log once (its last line was repeated in the error).
  assert.equal(count(piped.stderr, "exited with code 1 before it served"), 1, piped.stderr);
  assert.match(
    piped.stderr,
    // file:///app/nope.ts in the sandbox; the host's own path where there is none.
    /^error: The build failed: .*Module not found "file:\/\/\/(?:[^"]*\/)?app\/nope\.ts"\.?$/m,
  );
  assert.match(
    piped.stderr,
    /^hint: Its log is above; see it again with `deploy-tenant logs \w+ --build`/m,
  );

  // Without the streamed log the error still has every error line.
  const quiet = await cli("deploy", app, "-p", "broken", "--quiet");
  assert.equal(quiet.code, 1, describe(quiet));
  assert.equal(count(quiet.stderr, "exited with code 1 before it served"), 1, quiet.stderr);
  assert.match(quiet.stderr, /^error: The build failed:\n {2}/m);
  assert.match(quiet.stderr, /^hint: See the whole build log/m);

  const json = await cli("deploy", app, "-p", "broken", "--json");
  assert.equal(json.code, 1, describe(json));
  assert.match(JSON.parse(json.stderr).error.message, /\n.*exited with code 1 before it served/);

  // A change of variables redeploys, and follows its build the same way.
  const { id } = JSON.parse(json.stdout);
  const env = await cli("env", "set", id, "A=1");
  assert.equal(env.code, 1, describe(env));
  assert.equal(count(env.stderr, "exited with code 1 before it served"), 1, env.stderr);
  assert.match(env.stderr, /^error: The build failed: .*Module not found/m);
  assert.match(
    env.stderr,
    new RegExp(`^hint: Its log is above; .*; deployment ${id} is unchanged\\.$`, "m"),
  );
});
