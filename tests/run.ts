/**
 * The test command (`deno task test`): runs every test, then prints the closing line CI reads,
 * `N passed, N failed`. Exits non-zero when any test failed or the run itself broke.
 *
 * Extra arguments go to `deno test` (e.g. a file or `--filter`).
 *
 * @module
 */
import { join } from "node:path";
import { tmpdir } from "node:os";
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

// Echo the output while keeping the tail, where Deno prints its summary, and a copy of the
// whole of it outside the checkout: a run in a throwaway clone (CI, bare-machine-check) leaves
// the details of a failure behind.
const logPath = join(tmpdir(), "deploy-tenant-last-test.log");
const log = await Deno.open(logPath, { write: true, create: true, truncate: true }).catch(() =>
  null
);
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  await log?.write(chunk).catch(() => {});
  tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
}
log?.close();
const status = await child.status;

const summary = tail.match(/(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
const passed = summary ? Number(summary[1]) : 0;
// A run that broke before its summary (type error, crash) counts as a failure.
const failed = summary ? Number(summary[2]) : Math.max(1, Number(!status.success));
const ignored = Number(tail.match(/\| (\d+) ignored/)?.[1] ?? 0);
if (ignored > 0) {
  console.log(`\n${ignored} ignored (each says why above: a missing tool or opt-in)`);
}
if (failed > 0 && log) console.log(`\nThe whole output: ${logPath}`);
console.log(`\n${passed} passed, ${failed} failed`);
Deno.exit(status.success && failed === 0 ? 0 : 1);
