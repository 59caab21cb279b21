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

const sandbox = await new Deno.Command("bwrap", { args: ["--version"], stdout: "null" })
  .output().then((out) => out.success, () => false);
if (!sandbox) {
  console.log(
    "bubblewrap is not installed, so this demo runs tenants WITHOUT the OS sandbox.\n" +
      "Install it (Debian/Ubuntu: sudo apt-get install bubblewrap) for real isolation.",
  );
  await cli(["host", "start", "--unsandboxed"], { allowExit: [0, 5] });
}

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
