/**
 * `deno task demo`: the whole flow on the embedded local host, as a platform engineer would
 * type it — create the customer's project, deploy the CRM lead hook, call it with two leads.
 *
 * Every step runs the real CLI and prints the command first, so the output doubles as a
 * tutorial. The host keeps running afterwards (`deno task cli host stop` stops it).
 *
 * @module
 */
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { hasProgram, installHint } from "../lib/programs.ts";

const main = fileURLToPath(new URL("../main.ts", import.meta.url));
const hooks = relative(Deno.cwd(), fileURLToPath(new URL("./hooks", import.meta.url))) || ".";
const project = "crm-lead-hook";

/** Runs `deploy-tenant <args>`, echoing the command; returns stdout. */
async function cli(args: string[], { allowExit = [0] } = {}): Promise<string> {
  console.log(`\n$ deploy-tenant ${args.map((a) => /[\s{}"]/.test(a) ? `'${a}'` : a).join(" ")}`);
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (!args.includes("--json")) await Deno.stdout.write(stdout);
  if (!allowExit.includes(code)) {
    console.error(`\ndemo: the command above failed (exit ${code})`);
    Deno.exit(code);
  }
  return text;
}

// The host (started here, or the one already running) says which isolation and data path
// are in force; a newcomer's machine may lack the programs for the full ones.
const sandboxed = hasProgram("bwrap");
await cli(["host", "start", ...(sandboxed ? [] : ["--unsandboxed"])]);
const status = JSON.parse(await cli(["host", "status", "--json"]));
const missing = ["bwrap", "haproxy"].filter((program) => !hasProgram(program));
console.log(
  `\nIsolation: ${status.isolation}\n` +
    `Data path: ${
      status.frontProxy === "haproxy"
        ? "HAProxy in front of the tenants (the fast path)"
        : "the host's own router (HAProxy is not in use)"
    }` +
    (missing.length === 0
      ? ""
      : `\nFor the full isolation and data path, install:\n${
        missing.map((program) => `  ${installHint(program)}\n`).join("")
      }then stop the host (\`deno task cli host stop\`) and run this demo again.`),
);

await cli(["project", "create", project, "--description", "Lead-captured hook of Acme"], {
  allowExit: [0, 5], // 5: it exists already, from an earlier run
});
const deployed = JSON.parse(await cli(["deploy", hooks, "--project", project, "--json"]));
console.log(`deployment ${deployed.id} is ${deployed.status} at ${deployed.url}`);

const leads = [
  { name: "Ada Lovelace", email: "ada@analytical.example", company: "Analytical", employees: 250 },
  { name: "Bob", email: "bob@gmail.com" },
];
for (const lead of leads) {
  await cli(["invoke", deployed.id, "/lead", "-X", "POST", "-d", JSON.stringify(lead)]);
  console.log();
}
console.log(`\nThe host keeps running: try  deno task cli invoke ${deployed.id} /`);
