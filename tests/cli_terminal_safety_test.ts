/**
 * What a tenant writes reaches the operator's terminal through the CLI (app logs, build logs, the
 * error of a failed build): it must never drive that terminal. Escape sequences could set the
 * window title, write the clipboard (OSC 52), clear the screen, or overwrite a line with `\r` to
 * forge what the operator reads.
 */
import assert from "node:assert/strict";
import { deployApp, describe, runCli, startTestHost, writeApp } from "./helpers/host.ts";
import { runInTerminal } from "./helpers/terminal.ts";
import { terminalSafe } from "../lib/output.ts";

/** What a hostile tenant writes: OSC 52 (clipboard), a clear screen, a bell, `\r`, an 8-bit CSI. */
const HOSTILE = "a\\x1b]52;c;cHduZWQ=\\x07b\\x1b[2J\\x1b[Hc\\rFORGED\\u009b31md\\x7fe\\x08";

/** The characters a terminal acts on, other than a line feed and a tab. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** {@link HOSTILE} as the characters its escapes stand for in JavaScript source. */
const unescaped = (text: string) =>
  text.replaceAll("\\r", "\r").replaceAll(
    /\\(?:x([0-9a-f]{2})|u([0-9a-f]{4}))/g,
    (_, x, u) => String.fromCharCode(parseInt(x ?? u, 16)),
  );

/** `text` with its control characters shown, for a failure message. */
const shown = (text: string) => JSON.stringify(text);

Deno.test("the CLI prints what a tenant logs without letting it drive the terminal", async () => {
  await using host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const { id } = await deployApp(
    host,
    "hostile",
    `export default { fetch() { console.error("${HOSTILE}\\nsecond ${HOSTILE}"); ` +
      `return new Response("ok"); } };\n`,
  );
  assert.equal((await cli("invoke", id, "/")).stdout, "ok");

  let logs = "";
  for (let tries = 0; !logs.includes("FORGED") && tries < 50; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const result = await cli("logs", id);
    assert.equal(result.code, 0, describe(result));
    logs = result.stdout;
  }
  assert.ok(logs.includes("FORGED"), shown(logs));
  assert.doesNotMatch(logs, CONTROL, shown(logs));
  // A line the tenant breaks stays under its entry: it cannot start a line of its own.
  assert.match(logs, /^ +second a\\x1b\]52/m, shown(logs));

  // A module that fails its build's check: its error is in the build log and the CLI's error.
  const broken = await writeApp(host, "broken", `throw new Error("${HOSTILE}");\n`);
  const failed = await cli("deploy", broken, "-p", "hostile-build", "--create");
  assert.equal(failed.code, 1, describe(failed));
  assert.ok(failed.stderr.includes("FORGED"), shown(failed.stderr));
  assert.doesNotMatch(failed.stderr, CONTROL, shown(failed.stderr));
  const again = await cli("deploy", broken, "-p", "hostile-build", "--json");
  assert.equal(again.code, 1, describe(again));
  const buildLog = await cli("logs", JSON.parse(again.stdout).id, "--build");
  assert.ok(buildLog.stdout.includes("FORGED"), describe(buildLog));
  assert.doesNotMatch(buildLog.stdout, CONTROL, shown(buildLog.stdout));
});

Deno.test("invoke on a terminal shows a body's control characters escaped; piped, the bytes", async () => {
  await using host = await startTestHost();
  const cli = (...args: string[]) => runCli(args, { env: host.env });
  const { id } = await deployApp(
    host,
    "hostile-body",
    `export default { fetch: () => new Response("${HOSTILE}\\n") };\n`,
  );

  const terminal = runInTerminal(["invoke", id, "/"], { env: host.env });
  const { code } = await terminal.finish();
  const raw = terminal.raw();
  assert.equal(code, 0, shown(raw));
  assert.ok(raw.includes("FORGED"), shown(raw));
  for (const sequence of ["\x1b]52", "\x07", "\x1b[2J", "\x1b[H", "\u009b"]) {
    assert.ok(!raw.includes(sequence), `${shown(sequence)} reached the terminal: ${shown(raw)}`);
  }
  assert.ok(raw.includes("\\x1b]52;c;"), shown(raw));

  // Piped (a file, another program), the body is the deployment's bytes.
  const piped = await cli("invoke", id, "/");
  assert.equal(piped.stdout, `${unescaped(HOSTILE)}\n`, shown(piped.stdout));
});

Deno.test("terminalSafe escapes every control but line feeds, tabs and the CLI's own colours", () => {
  assert.equal(terminalSafe("a\tb\nc"), "a\tb\nc");
  assert.equal(terminalSafe("\x1b[31mred\x1b[39m"), "\x1b[31mred\x1b[39m");
  assert.equal(terminalSafe("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
  assert.equal(terminalSafe("\x1b[2J\rX\x1b[1;1H"), "\\x1b[2J\\rX\\x1b[1;1H");
  assert.equal(terminalSafe("\u009b2J\u0085"), "\\x9b2J\\x85");
  assert.equal(terminalSafe("\x1b[38;5;1m"), "\\x1b[38;5;1m");
});
