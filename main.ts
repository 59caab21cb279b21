#!/usr/bin/env -S deno run -A
/**
 * `deploy-tenant`: deploy customers' code to Deno Deploy Subhosting or to the local host.
 *
 * Builds the root command from `commands/` and maps failures to exit codes. The host is
 * loaded lazily by `host run`, so the other commands start fast.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import denoJson from "./deno.json" with { type: "json" };
import { addGlobalOptions, commandPath } from "./commands/context.ts";
import { dbCommand } from "./commands/db.ts";
import { deployCommand } from "./commands/deploy.ts";
import { deploymentsCommand } from "./commands/deployments.ts";
import { logsCommand } from "./commands/logs.ts";
import { analyticsCommand, usageCommand } from "./commands/analytics.ts";
import { completionsCommand } from "./commands/completions.ts";
import { domainCommand } from "./commands/domain.ts";
import { envCommand } from "./commands/env.ts";
import { hostCommand } from "./commands/host.ts";
import { invokeCommand } from "./commands/invoke.ts";
import { layerCommand } from "./commands/layer.ts";
import { projectCommand } from "./commands/project.ts";
import { redeployCommand } from "./commands/redeploy.ts";
import { DeployTenantError, ExitCode } from "./lib/errors.ts";
import { closeInvokeClients } from "./lib/invoke.ts";
import { exitCodeOf, Output } from "./lib/output.ts";

const ROOT_HELP = `
Configuration: flag, then environment, then the local host. With no API configured the
CLI uses the local host on DEPLOY_TENANT_DATA_DIR (~/.local/share/deploy-tenant),
starting it in the background when needed. An API request times out after
DEPLOY_TENANT_REQUEST_TIMEOUT_MS (default 60000) and is retried up to 3 times on timeouts,
network errors, 429 and 5xx.

Exit codes:
  0  ok
  1  failed (e.g. the build failed)
  2  usage error
  3  authentication failed
  4  not found
  5  conflict
  6  network error or server unavailable
  130  interrupted (Ctrl-C)

Examples:
  $ deploy-tenant project create acme-crm
  $ deploy-tenant deploy examples/hooks --project acme-crm --env MIN_SCORE=70
  $ deploy-tenant invoke <deployment-id> /lead -d '{"name":"Ada","email":"ada@example.com"}'
  $ DEPLOY_API_URL=https://api.deno.com/v1 DEPLOY_ACCESS_TOKEN=ddo_… DEPLOY_ORG_ID=… \\
      deploy-tenant project list --json`;

/** Builds the root command with every subcommand. */
export function buildProgram(): Command {
  const program = addGlobalOptions(
    new Command("deploy-tenant")
      .description("Deploy and run your customers' code: Deno Deploy Subhosting, or locally")
      .version(denoJson.version, "-V, --version")
      .showSuggestionAfterError(),
  ).addHelpText("after", ROOT_HELP);
  for (
    const command of [
      projectCommand(),
      deployCommand(),
      deploymentsCommand().addCommand(redeployCommand()),
      logsCommand(),
      analyticsCommand(),
      usageCommand(),
      envCommand(),
      layerCommand(),
      dbCommand(),
      domainCommand(),
      invokeCommand(),
      hostCommand(),
      completionsCommand(),
    ]
  ) {
    program.addCommand(command);
  }
  for (const command of allCommands(program)) {
    // Usage errors are printed by `main`, in the shape the user chose (text or JSON).
    command.configureOutput({ outputError: () => {} });
  }
  return program;
}

/** Runs the CLI with `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram();
  let failed: Command = program;
  for (const command of allCommands(program)) {
    command.hook("preAction", (_self, action) => {
      failed = action;
    });
    command.exitOverride((error) => {
      failed = command;
      throw error;
    });
  }
  try {
    await program.parseAsync(args, { from: "user" });
    return ExitCode.ok;
  } catch (error) {
    const out = new Output({
      json: program.opts().json ?? args.includes("--json"),
      quiet: program.opts().quiet,
      color: program.opts().color,
    });
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return ExitCode.ok; // --help, --version
      if (error.code === "commander.help") return ExitCode.usage; // a group without subcommand
      out.error(
        new DeployTenantError("usage", error.message.replace(/^error:\s*/i, ""), {
          hint: `See \`${commandPath(failed)} --help\`.`,
          exitCode: ExitCode.usage,
        }),
      );
      return ExitCode.usage;
    }
    out.error(error);
    return exitCodeOf(error);
  } finally {
    closeInvokeClients();
  }
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
