/**
 * `env list|set|unset|load <deployment>`: a deployment's environment variables. Deployments
 * are immutable, so every change redeploys: the new deployment has the merged variables and
 * the old one keeps its own. Values are never printed unless `--show-values`.
 *
 * On Deploy v2 the target is a project (an app): its variables change in place and the
 * running revisions pick them up without a redeploy; `--secret` and `--context` apply.
 *
 * @module
 */
import { Command } from "commander";
import { envFileName, parseEnvAssignment, parseEnvFile, readEnvFileText } from "../lib/env_file.ts";
import type { Output } from "../lib/output.ts";
import type { EnvVarOptions, V2Api } from "../lib/v2_api.ts";
import type { App, EnvVar } from "../lib/v2/types.ts";
import { DeployTenantError } from "../lib/errors.ts";
import { collect, commandPath, connect, type Session, usageError, v2OnlyFlag } from "./context.ts";
import { addWaitOptions, redeployAndReport, type WaitFlags } from "./redeploy.ts";

/** Flags of the changing `env` commands: v1's waiting ones and v2's variable options. */
interface EnvFlags extends WaitFlags {
  secret?: boolean;
  context?: string[];
}

/** Adds `--secret` and `--context` (v2 only) to a command that sets variables. */
export function addVarOptions(command: Command, withSecret = true): Command {
  if (withSecret) command.option("--secret", "v2: store the values as secrets (never read back)");
  return command.option(
    "--context <name>",
    "v2: only in this context (production, development, build); repeatable",
    collect,
  );
}

/**
 * Runs a v2 env change when the session is v2 and returns `true`; on v1 refuses the v2-only
 * flags and returns `false`.
 */
async function changeAppVars(
  command: Command,
  target: string,
  flags: EnvFlags,
  change: (v2: V2Api, app: string, options: EnvVarOptions) => Promise<App>,
  what: string,
): Promise<boolean> {
  const session = await connect(command);
  if (!session.v2) {
    if (flags.secret) throw v2OnlyFlag(command, "--secret");
    if (flags.context?.length) throw v2OnlyFlag(command, "--context");
    return false;
  }
  if (flags.prod) {
    throw usageError(
      command,
      "--prod does not apply on Deploy v2",
      "An app's variables reach its production and preview revisions at once (use --context " +
        "production to limit a variable to production).",
    );
  }
  const app = await change(session.v2, target, { secret: flags.secret, contexts: flags.context });
  printAppVars(session, app, what);
  return true;
}

function printAppVars(session: Session, app: App, what: string): void {
  const { out } = session;
  // The app as v2 returns it, but no value is printed unless asked for.
  const document = { ...app, env_vars: (app.env_vars ?? []).map(withoutValue) };
  out.result(
    document,
    () => `${what} on app ${out.bold(app.slug)}: running revisions pick it up, no redeploy needed`,
  );
}

function withoutValue(envVar: EnvVar): EnvVar {
  const { value: _value, ...rest } = envVar;
  return rest;
}

/** v2 variables for people: `KEY` (or `KEY=value`), with `secret` and contexts noted. */
export function formatAppVars(out: Output, vars: EnvVar[], showValues: boolean): string {
  return vars.toSorted((a, b) => a.key.localeCompare(b.key)).map((envVar) => {
    const notes = [
      ...(envVar.secret ? ["secret"] : []),
      ...(envVar.contexts === "all" || envVar.contexts === undefined
        ? []
        : [`contexts: ${[envVar.contexts].flat().join(", ")}`]),
    ];
    const value = showValues && envVar.value !== undefined
      ? `=${formatEnvValue(envVar.value)}`
      : "";
    return `${envVar.key}${value}${notes.length ? out.dim(`  # ${notes.join("; ")}`) : ""}`;
  }).join("\n");
}

/** The `env` command group. */
export function envCommand(): Command {
  const env = new Command("env")
    .description(
      "List and change a deployment's environment variables (changes redeploy; v2: the app's)",
    )
    .addHelpText(
      "after",
      `
set, unset and load create a new deployment with the merged variables, wait for its
build and print its id and URL; the old deployment keeps its variables. With --prod the
change is merged onto what production serves now (said when that is not <deployment>) and
the production name {project.name}.<base-domain> moves to the new deployment, only from the
deployment it was merged onto: if production moved meanwhile (another change landed), the
change is merged again onto the new production, so changes made at once all land. Values
are never printed unless you ask for them with \`env list --show-values\`.

Examples:
  $ deploy-tenant env list abcde12vwxyz
  $ deploy-tenant env set abcde12vwxyz MIN_SCORE=80 SALES_EMAIL=sales@acme.example
  $ deploy-tenant env set abcde12vwxyz MIN_SCORE=80 --prod
  $ deploy-tenant env unset abcde12vwxyz DEBUG
  $ deploy-tenant env load abcde12vwxyz .env.production
  $ deploy-tenant env list abcde12vwxyz --show-values > backup.env

On Deploy v2 (--api …/v2) the argument is a project (app): set, unset and load change the
app's variables in place, and its running revisions see them on their next request; nothing
is redeployed. --secret stores values that are never read back; --context limits a variable
to contexts (production, development, build). An app's variables override its layers' (see
\`deploy-tenant layer --help\`) and are overridden by a revision's own (deploy --env).

  $ deploy-tenant env set acme-crm MIN_SCORE=80 --api-version v2
  $ deploy-tenant env set acme-crm API_KEY=s3cr3t --secret --context production --api-version v2`,
    );

  env.command("list")
    .alias("ls")
    .description("List a deployment's environment variables (names only by default)")
    .argument("<deployment>", "deployment id (v2: project name or id)")
    .option("--show-values", "print the values too, as KEY=VALUE lines a .env file can hold")
    .addHelpText(
      "after",
      `
Reading variables back is an extension of the local host: Deno Deploy's API never returns
them. Under --json: {"deploymentId", "keys"}, plus "envVars" with --show-values.
On v2: the app's variables (secret ones without values); under --json {"app", "keys",
"env_vars"}, the values only with --show-values.`,
    )
    .action(async function (this: Command, id: string, options: { showValues?: boolean }) {
      const { api, v2, out } = await connect(this);
      if (v2) {
        const app = await v2.client.apps.get(id);
        const vars = app.env_vars ?? [];
        const keys = vars.map((envVar) => envVar.key).sort();
        const env_vars = options.showValues ? vars : vars.map(withoutValue);
        out.result(
          { app: app.slug, keys, env_vars },
          () =>
            vars.length === 0
              ? `App ${app.slug} has no environment variables.`
              : formatAppVars(out, vars, options.showValues ?? false),
        );
        return;
      }
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

  addVarOptions(addWaitOptions(
    env.command("set")
      .description("Redeploy with variables added or changed (v2: change the app's)")
      .argument("<deployment>", "deployment id (v2: project name or id)")
      .argument("<assignments...>", "KEY=VALUE pairs"),
  )).action(async function (this: Command, id: string, assignments: string[], flags: EnvFlags) {
    if (isAssignment(id)) throw targetAfterAssignments(this, "set <deployment> KEY=VALUE…");
    const envVars: Record<string, string> = {};
    for (const assignment of assignments) {
      const [key, value] = parseEnvAssignment(assignment);
      envVars[key] = value;
    }
    const change = `set ${Object.keys(envVars).join(", ")}`;
    const onV2 = (v2: V2Api, app: string, options: EnvVarOptions) =>
      v2.appEnv.set(app, envVars, options);
    if (await changeAppVars(this, id, flags, onV2, `Set ${Object.keys(envVars).join(", ")}`)) {
      return;
    }
    await redeployAndReport(this, id, { envVars }, change, flags, { ontoProduction: true });
  });

  addVarOptions(
    addWaitOptions(
      env.command("unset")
        .description("Redeploy without these variables (v2: remove the app's)")
        .argument("<deployment>", "deployment id (v2: project name or id)")
        .argument("<keys...>", "variable names"),
    ),
    false,
  ).action(async function (this: Command, id: string, keys: string[], flags: EnvFlags) {
    const invalid = keys.find((key) => key.includes("="));
    if (invalid !== undefined) {
      throw usageError(this, `"${invalid}" is not a variable name`, "Pass names only: KEY1 KEY2.");
    }
    const onV2 = (v2: V2Api, app: string, options: EnvVarOptions) =>
      v2.appEnv.unset(app, keys, options);
    if (await changeAppVars(this, id, flags, onV2, `Unset ${keys.join(", ")}`)) return;
    if (!flags.prod && await noneSet(this, id, keys)) return;
    const envVars = Object.fromEntries(keys.map((key) => [key, null]));
    await redeployAndReport(this, id, { envVars }, `unset ${keys.join(", ")}`, flags, {
      ontoProduction: true,
    });
  });

  addVarOptions(addWaitOptions(
    env.command("load")
      .description("Redeploy with the variables of a .env file added or changed (v2: the app's)")
      .argument("<deployment>", "deployment id (v2: project name or id)")
      .argument("<file>", "a .env file: KEY=VALUE lines, quotes, export, # comments; - is stdin"),
  )).action(async function (this: Command, id: string, file: string, flags: EnvFlags) {
    if (!await isFile(file) && await isFile(id)) {
      throw usageError(
        this,
        `"${id}" is a file and "${file}" is not: the deployment comes first`,
        `\`${commandPath(this)} ${file} ${id}\`.`,
      );
    }
    const name = envFileName(file);
    const envVars = parseEnvFile(await readEnvFile(file), name);
    const keys = Object.keys(envVars);
    if (keys.length === 0) {
      throw usageError(this, `${name} defines no variables`, "Add KEY=VALUE lines to it.");
    }
    const onV2 = (v2: V2Api, app: string, options: EnvVarOptions) =>
      v2.appEnv.set(app, envVars, options);
    if (await changeAppVars(this, id, flags, onV2, `Set ${keys.join(", ")} from ${name}`)) {
      return;
    }
    const change = `set ${keys.join(", ")} from ${name}`;
    await redeployAndReport(this, id, { envVars }, change, flags, { ontoProduction: true });
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

/** Whether `word` is a `KEY=VALUE` pair (not a deployment id or project name). */
function isAssignment(word: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*=/.test(word);
}

/**
 * `env set KEY=VALUE <deployment>`: the usage error naming the order, without the value (it
 * may be a secret).
 */
function targetAfterAssignments(command: Command, usage: string): DeployTenantError {
  return usageError(
    command,
    "The first argument is a KEY=VALUE pair, not a deployment: the deployment comes first",
    `\`deploy-tenant env ${usage}\` (on v2 the project comes first).`,
  );
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

function readEnvFile(path: string): Promise<string> {
  return readEnvFileText(path, "Pass the path of a .env file, relative to the current directory.");
}

/**
 * Whether none of `keys` is set on deployment `id`, said then (no deployment is made for
 * nothing). Where the API cannot show a deployment's variables (Deploy's), it cannot tell: no.
 */
async function noneSet(command: Command, id: string, keys: string[]): Promise<boolean> {
  const { api, out } = await connect(command);
  let envVars: Record<string, string>;
  try {
    envVars = await api.env.list(id);
  } catch (error) {
    if (error instanceof DeployTenantError && error.code === "envVarsUnreadable") return false;
    throw error;
  }
  if (keys.some((key) => Object.hasOwn(envVars, key))) return false;
  out.result(
    // `.id` is still the deployment that has the variables asked for, as after a redeploy.
    { id, unchanged: true },
    () =>
      `${keys.join(", ")} ${keys.length === 1 ? "is" : "are"} not set on deployment ${id}: ` +
      "nothing to redeploy",
  );
  return true;
}
