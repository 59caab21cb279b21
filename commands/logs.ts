/**
 * `logs <deployment>`: what a deployment's code logged (app logs: `console.*`, uncaught
 * errors and the platform's events about it), past lines or followed live; `--build` prints
 * the build log instead.
 *
 * @module
 */
import { Command } from "commander";
import type { AppLogFilter, DeployApi } from "../lib/api.ts";
import { resolveDeployment } from "../lib/deployment_target.ts";
import { followAppLogs, latestLines, type PastLines } from "../lib/follow_logs.ts";
import type { Output } from "../lib/output.ts";
import { parseTimeArg } from "../lib/time.ts";
import type { AppLogEntry, LogLevel } from "../lib/types.ts";
import { connect, usageError } from "./context.ts";
import { formatLogLine } from "./deployments.ts";

const LEVELS: Record<string, LogLevel> = {
  debug: "debug",
  info: "info",
  warning: "warning",
  warn: "warning",
  error: "error",
};

interface LogsFlags {
  build?: boolean;
  follow?: boolean;
  since?: string;
  until?: string;
  level?: string;
  grep?: string;
  limit: string;
}

/** The `logs` command. */
export function logsCommand(): Command {
  return new Command("logs")
    .description("Print a deployment's app logs (console output, uncaught errors), or follow them")
    .argument("<deployment>", "deployment id, or a project: its production deployment")
    .option("-f, --follow", "keep printing lines as they are logged, until Ctrl-C")
    .option("--since <time>", "lines from this time: RFC 3339, or a duration ago (15m, 2h, 1d)")
    .option("--until <time>", "lines before this time: RFC 3339, or a duration ago")
    .option("--level <levels>", "only these levels, comma-separated: debug,info,warning,error")
    .option("--grep <text>", "only lines containing <text>")
    .option("--limit <n>", "print at most the <n> latest past lines", "100")
    .option("--build", "print the build log instead, following it while the build runs")
    .addHelpText(
      "after",
      `
Past lines are printed oldest first. With --follow, lines logged from now on follow (after
the past ones when --since or --until is given). Under --json each line is one JSON object
{time, level, message, region} (NDJSON). App logs are kept for two weeks by default.

Examples:
  $ deploy-tenant logs abcde12vwxyz
  $ deploy-tenant logs abcde12vwxyz --since 15m --level warning,error
  $ deploy-tenant logs abcde12vwxyz --follow --grep lead
  $ deploy-tenant logs abcde12vwxyz --since 2024-08-01T00:00:00Z --limit 5000 --json | jq -r .message
  $ deploy-tenant logs abcde12vwxyz --build
  $ deploy-tenant logs acme-hooks --follow       # the project's production deployment`,
    )
    .action(async function (this: Command, target: string, flags: LogsFlags) {
      const now = Date.now();
      const since = parseTime(this, "--since", flags.since, now);
      const until = parseTime(this, "--until", flags.until, now);
      // `--since 5m --until 10m` is an empty range: say so rather than print nothing.
      if (since !== undefined && until !== undefined && since >= until) {
        throw usageError(
          this,
          "--since must be before --until",
          "Durations count back from now: --since 10m --until 5m is the 5 minutes before the last 5.",
        );
      }
      const limit = parseLimit(this, flags.limit);
      const filter: AppLogFilter = { q: flags.grep, levels: parseLevels(this, flags.level) };
      const { api, out, retryNotes } = await connect(this);
      const id = await deploymentId(api, out, target);
      if (flags.build) {
        for await (const entry of api.deployments.streamBuildLogs(id)) {
          out.record(entry, () => formatLogLine(out, entry.level, entry.message));
        }
        return;
      }
      const print = (entry: AppLogEntry) => out.record(entry, () => formatAppLogLine(out, entry));
      if (!flags.follow) {
        for (const entry of await latestLines(api, id, { since, until, limit, filter })) {
          print(entry);
        }
        return;
      }
      await follow(
        api,
        out,
        retryNotes,
        id,
        filter,
        print,
        since || until ? { since, until, limit } : undefined,
      );
    });
}

/**
 * The id of the deployment `target` names (lib/deployment_target.ts). A project's is said on
 * stderr: a script reading stdout sees only the lines.
 */
async function deploymentId(api: DeployApi, out: Output, target: string): Promise<string> {
  const deployment = await resolveDeployment(api, target);
  if (deployment.id !== target) out.info(`Deployment ${deployment.id} of project ${target}`);
  return deployment.id;
}

/** One app log line for people: time, level (coloured on a terminal), message. */
export function formatAppLogLine(out: Output, entry: AppLogEntry): string {
  const time = entry.time.replace(/(\.\d{3})\d*Z$/, "$1Z");
  const level = entry.level.padEnd(7);
  const styled = entry.level === "error"
    ? out.red(level)
    : entry.level === "warning"
    ? out.yellow(level)
    : entry.level === "debug"
    ? out.dim(level)
    : out.cyan(level);
  // Continuation lines start under the message, so multi-line messages read as one.
  const indent = " ".repeat(time.length + 1 + level.length + 1);
  return `${out.dim(time)} ${styled} ${entry.message.replaceAll("\n", `\n${indent}`)}`;
}

/**
 * Prints the past lines (if asked), then live ones until Ctrl-C; a cut stream is reconnected,
 * said once on stderr.
 */
async function follow(
  api: DeployApi,
  out: Output,
  retryNotes: { muted: boolean },
  deploymentId: string,
  filter: AppLogFilter,
  print: (entry: AppLogEntry) => void,
  past?: PastLines,
): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const lines = followAppLogs(api, deploymentId, {
      filter,
      past,
      signal: stop.signal,
      onCut: (reason, budgetMs) => {
        out.info(
          `The log stream was cut (${reason}); reconnecting, for up to ` +
            `${Math.round(budgetMs / 1000)} s`,
        );
        // One note for the outage, not one per retry of each reconnection.
        retryNotes.muted = true;
      },
    });
    for await (const entry of lines) print(entry);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    stop.abort(); // a failure above must not leave the live request open
  }
}

function parseTime(
  command: Command,
  flag: string,
  text: string | undefined,
  now: number,
): number | undefined {
  if (text === undefined) return undefined;
  const time = parseTimeArg(text, now);
  if (time === undefined) {
    throw usageError(
      command,
      `${flag} "${text}" is neither an RFC 3339 time nor a duration`,
      `Use e.g. ${flag} 2024-08-01T00:00:00Z, or ${flag} 15m (also s, h, d, w).`,
    );
  }
  return time;
}

function parseLimit(command: Command, text: string): number {
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1) {
    throw usageError(command, `--limit must be a positive integer, not "${text}"`);
  }
  return limit;
}

function parseLevels(command: Command, text: string | undefined): LogLevel[] | undefined {
  if (text === undefined) return undefined;
  const levels = text.split(",").map((part) => part.trim().toLowerCase()).filter(Boolean);
  const unknown = levels.find((level) => !Object.hasOwn(LEVELS, level));
  if (unknown !== undefined || levels.length === 0) {
    throw usageError(
      command,
      `Unknown log level "${unknown ?? text}"`,
      "Use debug, info, warning (or warn) and error, comma-separated.",
    );
  }
  return [...new Set(levels.map((level) => LEVELS[level]))];
}
