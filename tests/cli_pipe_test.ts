/**
 * The CLI at the left of a pipe whose reader stops early (`| head -1`): no stack trace, exit 0
 * as for any output cut short, and a stream that would go on forever (`logs --follow`) stops.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cleanEnv, MAIN_TS } from "./helpers/cli.ts";
import {
  describe,
  jsonOf,
  runCli,
  startTestHost,
  type TestHost,
  writeApp,
} from "./helpers/host.ts";
import type { Deployment } from "../lib/types.ts";

/** What `sh -c '<cli args> | head -c 1'` gave: the CLI's exit code and stderr. */
interface PipedRun {
  code: number;
  stderr: string;
  /** What `head` read. */
  stdout: string;
}

/**
 * Runs the CLI with `args` as a shell script would, `deploy-tenant … | head -c 1`, with
 * `before` run first in the background (e.g. requests that make logs); stops after
 * `timeoutSeconds` (exit code 124, as `timeout` gives).
 */
async function pipedToHead(
  host: TestHost,
  args: string[],
  { timeoutSeconds = 60, before = "" } = {},
): Promise<PipedRun> {
  const code = join(host.tempDir, `code-${crypto.randomUUID()}`);
  const errors = `${code}.err`;
  const quoted = [Deno.execPath(), "run", "-A", MAIN_TS, ...args].map(shellQuote).join(" ");
  // The background work is stopped once the pipeline ends, so nothing outlives the test.
  const script = `${before ? `( ${before} ) >/dev/null 2>&1 & background=$!` : ""}
{ timeout ${timeoutSeconds} ${quoted} 2>'${errors}'; echo $? > '${code}'; } | head -c 1
${before ? 'kill "$background" 2>/dev/null' : ""}`;
  const { stdout } = await new Deno.Command("sh", {
    args: ["-c", script],
    env: { ...cleanEnv(), ...host.env, NO_COLOR: "1", DEPLOY_TENANT_AUTOSTART: "0" },
    clearEnv: true,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return {
    code: Number(await Deno.readTextFile(code)),
    stderr: await Deno.readTextFile(errors),
    stdout: new TextDecoder().decode(stdout),
  };
}

Deno.test("a pipe closed early ends `invoke` and `logs --follow` quietly, exit 0", async () => {
  await using host = await startTestHost();
  const app = await writeApp(
    host,
    "app",
    `export default {
  fetch(request: Request) {
    if (new URL(request.url).pathname === "/log") {
      for (let i = 0; i < 50; i++) console.log("line " + i);
      return new Response("logged");
    }
    return new Response("y\\n".repeat(4_000_000));
  },
};`,
  );
  const deployed = await runCli(["deploy", app, "-p", "pipes", "--create", "--json"], {
    env: host.env,
  });
  assert.equal(deployed.code, 0, describe(deployed));
  const { id } = jsonOf<Deployment>(deployed);

  // 8 MB of body: far more than a pipe's buffer, so the CLI writes after `head` is gone.
  const invoked = await pipedToHead(host, ["invoke", id, "/big"]);
  assert.equal(invoked.stdout, "y");
  assert.equal(invoked.stderr, "", "no error, no stack trace");
  assert.equal(invoked.code, 0);

  // `tail -f | head -1` ends once a line is written after the reader left; so does this,
  // while the deployment goes on logging.
  const invokeLog = [Deno.execPath(), "run", "-A", MAIN_TS, "invoke", id, "/log"]
    .map(shellQuote).join(" ");
  const followed = await pipedToHead(host, ["logs", id, "--follow"], {
    timeoutSeconds: 30,
    before: `sleep 2; while true; do ${invokeLog}; sleep 0.5; done`,
  });
  assert.equal(followed.stdout.length, 1, "head read the start of a line");
  assert.equal(followed.stderr, "", "no error, no stack trace");
  assert.equal(followed.code, 0, "stopped by itself, not by `timeout` (124)");
});

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
