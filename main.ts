#!/usr/bin/env -S deno run -A
/**
 * `deploy-tenant`: deploy customers' code to Deno Deploy Subhosting or to the local host.
 *
 * Builds the root command from the table in `commands/table.ts` and maps failures to exit
 * codes. A command's code is loaded only when that command runs (or its help is shown), so
 * `--help`, `--version` and each command start without the others' code.
 *
 * @module
 */
import { Command, CommanderError, Help, type HelpContext } from "commander";
import denoJson from "./deno.json" with { type: "json" };
import { addGlobalOptions, commandPath, explainFailure } from "./commands/context.ts";
import { type CommandEntry, COMMANDS, NOT_COMMANDS } from "./commands/table.ts";
import { DeployTenantError, ExitCode } from "./lib/errors.ts";
import { exitCodeOf, Output, OutputClosed } from "./lib/output.ts";

const ROOT_HELP = `
Configuration: flag, then environment, then the local host. With no API configured the
CLI uses the local host on DEPLOY_TENANT_DATA_DIR (~/.local/share/deploy-tenant),
starting it in the background when needed. An API request times out when the server is
silent for DEPLOY_TENANT_REQUEST_TIMEOUT_MS (default 60000; an upload that keeps moving is
not cut) and is retried up to 3 times on timeouts, network errors, 408, 429 and 5xx (but
507, a full disk).

Exit codes:
  0  ok
  1  failed (e.g. the build failed)
  2  usage error
  3  authentication failed
  4  not found
  5  conflict
  6  network error or server unavailable
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM, e.g. a cancelled CI job)

Examples:
  $ deploy-tenant project create acme-crm
  $ deploy-tenant deploy examples/hooks --project acme-crm --env MIN_SCORE=70
  $ deploy-tenant invoke <deployment-id> /lead -d '{"name":"Ada","email":"ada@example.com"}'
  $ DEPLOY_API_URL=https://api.deno.com/v2 DENO_DEPLOY_TOKEN=ddo_… \\
      deploy-tenant project list --json`;

/**
 * Builds the root command. The commands in `loaded` (every one by default) are built from
 * their modules; each other one is a stand-in that the root help lists as the real one and
 * that, when run, asks `main` to load it (see {@link NotLoaded}).
 */
export async function buildProgram(
  loaded: ReadonlySet<CommandEntry> = new Set(COMMANDS),
): Promise<Command> {
  const help = new Help();
  const program = addGlobalOptions(
    new Command("deploy-tenant")
      .description("Deploy and run your customers' code: Deno Deploy Subhosting, or locally")
      .version(denoJson.version, "-V, --version")
      .showSuggestionAfterError()
      .configureHelp({
        // A stand-in has no options or arguments of its own: list it as the real command.
        subcommandTerm: (command) =>
          command instanceof StandIn ? command.entry.term : help.subcommandTerm(command),
      }),
  ).addHelpText("after", ROOT_HELP);
  const commands = await Promise.all(
    COMMANDS.map((entry) => loaded.has(entry) ? entry.load() : new StandIn(entry)),
  );
  for (const command of commands) program.addCommand(command);
  for (const command of allCommands(program)) {
    // Usage errors are printed by `main`, in the shape the user chose (text or JSON).
    command.configureOutput({ outputError: () => {} });
    // A command's help lists the global options too (--json, --api, …): they work after it.
    // Descriptions wrap beside long terms too (`env set [options] <deployment> <assignments...>`):
    // commander's default leaves them unwrapped when fewer than 40 columns remain.
    command.configureHelp({
      ...command.configureHelp(),
      showGlobalOptions: true,
      minWidthToWrap: 30,
    });
    for (const option of command.options) {
      // `(default: 600)`, not `(default: "600")`: a number is shown as one.
      if (typeof option.defaultValue === "string" && /^\d+$/.test(option.defaultValue)) {
        option.defaultValueDescription ??= option.defaultValue;
      }
    }
    borrowExamples(command);
    if (command.commands.length > 0) unknownHelpTopicIsUnknownCommand(command);
    strayWordIsUnknownCommand(command);
  }
  return program;
}

/**
 * `help <name>` (`deploy-tenant help <name>`, `project help <name>`) where the group has no
 * command of that name is an unknown command (exit 2, with commander's "Did you mean …?"), as
 * `<name>` alone is, not the group's whole help on stderr.
 */
function unknownHelpTopicIsUnknownCommand(command: Command): void {
  const help = command.help.bind(command);
  command.help = (context?: HelpContext | ((text: string) => string)): never => {
    const [word, name] = command.args;
    if (typeof context === "object" && context.error && word === "help" && name !== undefined) {
      command.args = [name]; // what commander's unknown-command error names and matches
      (command as unknown as { unknownCommand(): never }).unknownCommand();
    }
    return help(context as HelpContext);
  };
}

/**
 * A word after a group that runs a default subcommand (`host` runs `host run`) is a mistyped
 * subcommand when that default takes no arguments: `host stauts` is an unknown command of
 * `host` (exit 2, "Did you mean status?"), as `project stauts` is of `project`, not "too many
 * arguments for 'run'" pointing at `host run --help`.
 */
function strayWordIsUnknownCommand(command: Command): void {
  const parent = command.parent as (Command & { _defaultCommandName?: string }) | null;
  if (parent?._defaultCommandName !== command.name()) return;
  const internals = command as unknown as { _excessArguments(received: string[]): void };
  const excess = internals._excessArguments.bind(command);
  internals._excessArguments = (received) => {
    if (command.registeredArguments.length === 0 && received.length > 0) {
      parent.args = [received[0]]; // what commander's unknown-command error names and matches
      (parent as unknown as { unknownCommand(): never }).unknownCommand();
    }
    excess(received);
  };
}

/** Thrown by a stand-in when it runs: `main` loads `entry` (or everything) and parses again. */
class NotLoaded extends Error {
  constructor(readonly entry: CommandEntry) {
    super(`${entry.name} is not loaded`);
  }
}

/**
 * A command that takes whatever follows it (its `--help` included) and throws
 * {@link NotLoaded} when it runs or its help is asked for (`help <command>` asks directly):
 * commander's own parsing of the global options decides which command runs, so only that
 * one's module is loaded.
 */
class StandIn extends Command {
  constructor(readonly entry: CommandEntry) {
    super(entry.name);
    this.aliases(entry.aliases)
      .description(entry.description)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new NotLoaded(entry);
      });
  }

  /** Not this one's help: the real command's. */
  override help(): never {
    throw new NotLoaded(this.entry);
  }

  /** Not this one's help: the real command's. */
  override outputHelp(): void {
    throw new NotLoaded(this.entry);
  }
}

/** Runs the CLI with `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let loaded = new Set<CommandEntry>();
  try {
    for (;;) {
      try {
        return await run(await buildProgram(loaded), args);
      } catch (error) {
        if (!(error instanceof NotLoaded) || loaded.has(error.entry)) throw error;
        loaded = new Set(error.entry.needsAll ? COMMANDS : [error.entry]);
      }
    }
  } finally {
    for (const entry of loaded) await entry.close?.();
  }
}

/** Parses `args` with `program` and runs the command; {@link NotLoaded} is passed on. */
async function run(program: Command, args: string[]): Promise<number> {
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
    if (error instanceof NotLoaded) throw error;
    // `| head` has read what it wanted: nothing failed, and no one is left to tell.
    if (error instanceof OutputClosed) return ExitCode.ok;
    const out = new Output({
      json: program.opts().json ?? args.includes("--json"),
      quiet: program.opts().quiet,
      color: program.opts().color,
    });
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return ExitCode.ok; // --help, --version
      if (error.code === "commander.help") return ExitCode.usage; // a group without subcommand
      const message = error.message.replace(/^error:\s*/i, "");
      // A command of another CLI (`login`): what to do instead, not a look-alike's name.
      const word = error.code === "commander.unknownCommand" && failed === program
        ? /^unknown command '([^']*)'/.exec(message)?.[1]
        : undefined;
      const instead = word !== undefined && Object.hasOwn(NOT_COMMANDS, word)
        ? NOT_COMMANDS[word]
        : undefined;
      out.error(
        new DeployTenantError("usage", instead ? `unknown command '${word}'` : message, {
          hint: instead ?? `See \`${commandPath(failed)} --help\`.`,
          exitCode: ExitCode.usage,
        }),
      );
      return ExitCode.usage;
    }
    const explained = await explainFailure(error, failed);
    out.error(explained);
    return exitCodeOf(explained);
  }
}

/**
 * A subcommand whose help has no examples of its own shows those of its groups that run it:
 * `project list --help` ends with the group's `$ deploy-tenant project list --json`, `domain
 * certs --help` with `domain`'s certs lines, and `host run --help` (the group's default) with
 * `$ deploy-tenant host --port 0 …`.
 */
function borrowExamples(command: Command): void {
  if (!command.parent?.parent) return;
  if (/^Examples:/m.test(helpTextAfter(command))) return;
  const names = [command.name(), ...command.aliases()].map(escapeRegExp).join("|");
  const groupPath = escapeRegExp(commandPath(command.parent));
  // The default subcommand also runs when the group is typed alone, or with options only.
  const isDefault =
    (command.parent as unknown as { _defaultCommandName?: string })._defaultCommandName ===
      command.name();
  const runs = new RegExp(
    `^\\s+\\$ ${groupPath}(?: (${names})\\b${isDefault ? "| +(?=[-#])| *$" : ""})`,
  );
  const examples: string[] = [];
  for (let group: Command | null = command.parent; group; group = group.parent) {
    examples.push(...helpTextAfter(group).split("\n").filter((line) => runs.test(line)));
  }
  if (examples.length === 0) return;
  command.addHelpText("after", `\nExamples:\n${[...new Set(examples)].join("\n")}`);
}

/** What `addHelpText("after", …)` gave `command`'s help, as it prints it. */
function helpTextAfter(command: Command): string {
  let text = "";
  // Commander keeps that text as listeners of the command's "afterHelp" event (a Command is an
  // EventEmitter; its typings leave `emit` out).
  (command as unknown as { emit(event: string, context: object): boolean })
    .emit("afterHelp", { error: false, command, write: (part: string) => text += part });
  return text;
}

function escapeRegExp(text: string): string {
  return text.replaceAll(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
