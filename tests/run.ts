/**
 * The test command (`deno task test`): runs every test, then prints the closing line CI reads,
 * `N passed, N failed`. Exits non-zero when any test failed or the run itself broke.
 *
 * Extra arguments go to `deno test` (e.g. a file or `--filter`).
 *
 * @module
 */
import { hasProgram, installHint } from "../lib/programs.ts";

const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
const env: Record<string, string> = { NO_COLOR: "1" };
const missing = ["bwrap", "haproxy", "bash", "zsh", "fish", "git", "openssl"].filter(
  (program) => !hasProgram(program),
);
if (missing.length > 0) {
  // Tests that need one of them are skipped, each saying which program and how to install it.
  console.log(`Not installed here:\n${missing.map((p) => `  ${installHint(p)}`).join("\n")}`);
}
if (missing.includes("bwrap")) {
  // End-to-end tests still run, on hosts that accept weaker isolation; the sandbox tests skip.
  console.log("Without bubblewrap, end-to-end tests run tenants with --unsandboxed.\n");
  env.DEPLOY_TENANT_TEST_UNSANDBOXED = "1";
}
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--no-prompt", ...args],
  stdout: "piped",
  stderr: "inherit",
  env,
}).spawn();

// Echo the output while keeping the tail, where Deno prints its summary.
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
}
const status = await child.status;

const summary = tail.match(/(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
const passed = summary ? Number(summary[1]) : 0;
// A run that broke before its summary (type error, crash) counts as a failure.
const failed = summary ? Number(summary[2]) : Math.max(1, Number(!status.success));
const ignored = Number(tail.match(/\| (\d+) ignored/)?.[1] ?? 0);
if (ignored > 0) {
  console.log(`\n${ignored} ignored (each says why above: a missing tool or opt-in)`);
}
console.log(`\n${passed} passed, ${failed} failed`);
Deno.exit(status.success && failed === 0 ? 0 : 1);
