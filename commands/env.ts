/**
 * `env list|set|unset|load <deployment>`: a deployment's environment variables. Deployments
 * are immutable, so every change redeploys: the new deployment has the merged variables and
 * the old one keeps its own. Values are never printed unless `--show-values`.
 *
 * @module
 */
import { Command } from "commander";
import { parseEnvAssignment, parseEnvFile } from "../lib/env_file.ts";
import { DeployTenantError, ExitCode } from "../lib/errors.ts";
import { connect, usageError } from "./context.ts";
import { addWaitOptions, redeployAndReport, type WaitFlags } from "./redeploy.ts";

/** The `env` command group. */
export function envCommand(): Command {
  const env = new Command("env")
    .description("List and change a deployment's environment variables (changes redeploy)")
    .addHelpText(
      "after",
      `
set, unset and load create a new deployment with the merged variables, wait for its
build and print its id and URL; the old deployment keeps its variables. With --prod the
production name {project.name}.<base-domain> moves to the new deployment. Values are never
printed unless you ask for them with \`env list --show-values\`.

Examples:
  $ deploy-tenant env list abcde12vwxyz
  $ deploy-tenant env set abcde12vwxyz MIN_SCORE=80 SALES_EMAIL=sales@acme.example
  $ deploy-tenant env set abcde12vwxyz MIN_SCORE=80 --prod
  $ deploy-tenant env unset abcde12vwxyz DEBUG
  $ deploy-tenant env load abcde12vwxyz .env.production
  $ deploy-tenant env list abcde12vwxyz --show-values > backup.env`,
    );

  env.command("list")
    .alias("ls")
    .description("List a deployment's environment variables (names only by default)")
    .argument("<deployment>", "deployment id")
    .option("--show-values", "print the values too, as KEY=VALUE lines a .env file can hold")
    .addHelpText(
      "after",
      `
Reading variables back is an extension of the local host: Deno Deploy's API never returns
them. Under --json: {"deploymentId", "keys"}, plus "envVars" with --show-values.`,
    )
    .action(async function (this: Command, id: string, options: { showValues?: boolean }) {
      const { api, out } = await connect(this);
      const envVars = await api.env.list(id);
      const keys = Object.keys(envVars).sort();
      const document = options.showValues
        ? { deploymentId: id, keys, envVars }
        : { deploymentId: id, keys };
      out.result(document, () => {
        if (keys.length === 0) return `Deployment ${id} has no environment variables.`;
        if (!options.showValues) return keys.join("\n");
        return keys.map((key) => `${key}=${formatEnvValue(envVars[key])}`).join("\n");
      });
    });

  addWaitOptions(
    env.command("set")
      .description("Redeploy with variables added or changed")
      .argument("<deployment>", "deployment id")
      .argument("<assignments...>", "KEY=VALUE pairs"),
  ).action(async function (this: Command, id: string, assignments: string[], flags: WaitFlags) {
    const envVars: Record<string, string> = {};
    for (const assignment of assignments) {
      const [key, value] = parseEnvAssignment(assignment);
      envVars[key] = value;
    }
    const change = `set ${Object.keys(envVars).join(", ")}`;
    await redeployAndReport(this, id, { envVars }, change, flags);
  });

  addWaitOptions(
    env.command("unset")
      .description("Redeploy without these variables")
      .argument("<deployment>", "deployment id")
      .argument("<keys...>", "variable names"),
  ).action(async function (this: Command, id: string, keys: string[], flags: WaitFlags) {
    const invalid = keys.find((key) => key.includes("="));
    if (invalid !== undefined) {
      throw usageError(this, `"${invalid}" is not a variable name`, "Pass names only: KEY1 KEY2.");
    }
    const envVars = Object.fromEntries(keys.map((key) => [key, null]));
    await redeployAndReport(this, id, { envVars }, `unset ${keys.join(", ")}`, flags);
  });

  addWaitOptions(
    env.command("load")
      .description("Redeploy with the variables of a .env file added or changed")
      .argument("<deployment>", "deployment id")
      .argument("<file>", "a .env file: KEY=VALUE lines, quotes, export, # comments"),
  ).action(async function (this: Command, id: string, file: string, flags: WaitFlags) {
    const envVars = parseEnvFile(await readEnvFile(file), file);
    const keys = Object.keys(envVars);
    if (keys.length === 0) {
      throw usageError(this, `${file} defines no variables`, "Add KEY=VALUE lines to it.");
    }
    await redeployAndReport(this, id, { envVars }, `set ${keys.join(", ")} from ${file}`, flags);
  });

  return env;
}

/**
 * A value as `env load` reads it back: bare when that is unambiguous, otherwise in double
 * quotes with `\\`, `"`, `$` and line breaks escaped.
 */
export function formatEnvValue(value: string): string {
  if (/^[^\s"'#\\$]*$/.test(value)) return value;
  const escaped = value.replace(
    /[\\"$\n\r\t]/g,
    (char) =>
      ({ "\n": "\\n", "\r": "\\r", "\t": "\\t" } as Record<string, string>)[char] ?? `\\${char}`,
  );
  return `"${escaped}"`;
}

async function readEnvFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new DeployTenantError("envFileNotFound", `Env file ${path} does not exist`, {
      hint: "Pass the path of a .env file, relative to the current directory.",
      exitCode: ExitCode.usage,
    });
  }
}
