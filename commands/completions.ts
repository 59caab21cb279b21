/**
 * `deploy-tenant completions bash|zsh|fish`: prints a shell completion script generated from
 * the command tree itself, so it never lags behind the commands.
 *
 * @module
 */
import { Argument, Command } from "commander";
import { usageError } from "./context.ts";

/** What completes after one command path: its subcommands, its argument's values, its options. */
interface Level {
  path: string[];
  subcommands: string[];
  /** The values its first argument takes, when it names them (`completions <shell>`). */
  values: string[];
  options: string[];
  /** What each subcommand and option is for (fish shows it beside the word). */
  descriptions: Map<string, string>;
}

const SHELLS = ["bash", "zsh", "fish"] as const;

/** The `completions` command. */
export function completionsCommand(): Command {
  return new Command("completions")
    .description("Print a shell completion script (bash, zsh or fish)")
    .addArgument(
      // The choices are for the help and the completions; the action names a wrong one itself.
      new Argument("<shell>", "the shell").choices(SHELLS).argParser((value) => value),
    )
    .addHelpText(
      "after",
      `
Examples:
  $ deploy-tenant completions bash > ~/.local/share/bash-completion/completions/deploy-tenant
  $ deploy-tenant completions zsh > "\${fpath[1]}/_deploy-tenant"
  $ deploy-tenant completions fish > ~/.config/fish/completions/deploy-tenant.fish`,
    )
    .action((shell: string, _options: unknown, command: Command) => {
      let root = command;
      while (root.parent) root = root.parent;
      const levels = commandLevels(root);
      const script = shell === "bash"
        ? bashScript(root.name(), levels)
        : shell === "zsh"
        ? zshScript(root.name(), levels)
        : shell === "fish"
        ? fishScript(root.name(), levels)
        : undefined;
      if (script === undefined) {
        throw usageError(command, `Unknown shell "${shell}": choose one of ${SHELLS.join(", ")}`);
      }
      console.log(script);
    });
}

/**
 * Every command path with what may follow it; global options are offered everywhere, and
 * the values of a first argument that has choices (`completions bash`). An
 * alias that is only the name's plural or singular (`projects`, `deployment`, `dbs`) is
 * walked but not offered, so `pro<Tab>` completes to one word; other aliases (`ls`, `rm`,
 * `databases`) are offered too.
 */
export function commandLevels(root: Command): Level[] {
  const globals = flagsOf(root).filter((flag) => flag !== "--version" && flag !== "-V");
  const globalDescriptions = optionDescriptions(root);
  const levels: Level[] = [];
  const visit = (command: Command, path: string[]) => {
    const descriptions = new Map([...globalDescriptions, ...optionDescriptions(command)]);
    descriptions.set("--help", "display help for command");
    const subcommands = command.commands.flatMap((sub) => {
      const words = [sub.name(), ...sub.aliases().filter((alias) => !isVariant(alias, sub.name()))];
      for (const word of words) descriptions.set(word, sub.description());
      return words;
    });
    const options = [...new Set([...flagsOf(command), ...globals, "--help"])];
    const values = command.registeredArguments[0]?.argChoices ?? [];
    levels.push({ path, subcommands, values, options, descriptions });
    for (const sub of command.commands) {
      for (const name of [sub.name(), ...sub.aliases()]) visit(sub, [...path, name]);
    }
  };
  visit(root, []);
  return levels;
}

/** Each option's flags (long and short) with what it is for. */
function optionDescriptions(command: Command): [string, string][] {
  return command.options.flatMap((option) =>
    [option.long, option.short].filter((flag): flag is string => Boolean(flag))
      .map((flag): [string, string] => [flag, option.description])
  );
}

/** Whether `alias` is `name` with or without a trailing "s". */
function isVariant(alias: string, name: string): boolean {
  return alias === `${name}s` || name === `${alias}s`;
}

function flagsOf(command: Command): string[] {
  return command.options.flatMap((option) =>
    [option.long, option.short].filter((flag): flag is string => Boolean(flag))
  );
}

/** Bash: walk the words typed so far down the command tree, then offer that level's words. */
function bashScript(program: string, levels: Level[]): string {
  const fn = `_${program.replaceAll("-", "_")}`;
  const cases = levels.map((level) =>
    `    "${level.path.join(" ")}") words="${
      [...level.subcommands, ...level.values, ...level.options].join(" ")
    }";;`
  ).join("\n");
  return `# bash completion for ${program}
${fn}() {
  local cur path="" word words i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    local next="\${path:+$path }$word"
    case "$next" in
      ${levels.slice(1).map((level) => `"${level.path.join(" ")}"`).join("|")}) path="$next";;
    esac
  done
  case "$path" in
${cases}
    *) words="";;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F ${fn} ${program}`;
}

/** Zsh: the bash function through bashcompinit, which zsh ships for exactly this. */
function zshScript(program: string, levels: Level[]): string {
  return `#compdef ${program}
(( $+functions[compdef] )) || { autoload -U +X compinit && compinit }
autoload -U +X bashcompinit && bashcompinit
${bashScript(program, levels)}`;
}

/** Fish: one `complete` line per subcommand and option, conditioned on the words typed so far. */
function fishScript(program: string, levels: Level[]): string {
  const fn = `__${program.replaceAll("-", "_")}_at`;
  const known = levels.slice(1).map((level) => `"${level.path.join(" ")}"`).join(" ");
  const lines = [
    `# fish completion for ${program}`,
    `function ${fn} --description "Whether the command typed so far is $argv[1]"`,
    `    set -l words (commandline -opc)`,
    `    set -l path ""`,
    `    for word in $words[2..-1]`,
    `        string match -q -- "-*" $word; and continue`,
    `        set -l next (string trim -- "$path $word")`,
    `        contains -- $next ${known}; and set path $next`,
    `    end`,
    `    test "$path" = "$argv[1]"`,
    `end`,
    `complete -c ${program} -f`,
  ];
  for (const level of levels) {
    const condition = `'${fn} "${level.path.join(" ")}"'`;
    const described = (word: string) => {
      const description = level.descriptions.get(word);
      return description ? ` -d ${fishQuote(description)}` : "";
    };
    for (const word of [...level.subcommands, ...level.values]) {
      lines.push(`complete -c ${program} -n ${condition} -a ${word}${described(word)}`);
    }
    for (const option of level.options) {
      const flag = option.startsWith("--") ? `-l ${option.slice(2)}` : `-s ${option.slice(1)}`;
      lines.push(`complete -c ${program} -n ${condition} ${flag}${described(option)}`);
    }
  }
  return lines.join("\n");
}

/** `text` as one fish word in single quotes (only `\\` and `'` are special there). */
function fishQuote(text: string): string {
  return `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}
