/**
 * The top-level commands as the root help lists them, and where each one's code is. `main.ts`
 * builds the root from this table and loads a command's module only when that command runs
 * (or its help is asked for): `--help`, `--version` and every command start without the
 * others' code (the packer, the API clients, the host).
 *
 * What is written here twice (name, aliases, help term, description) is checked against the
 * loaded commands by `tests/cli_lazy_test.ts`.
 *
 * @module
 */
import type { Command } from "commander";

/** One top-level command: what the root help and the parser need, and how to load it. */
export interface CommandEntry {
  /** The command's name, as typed. */
  name: string;
  /** Other names it answers to (the first is shown in the root help). */
  aliases: string[];
  /** How the root help lists it, e.g. `deploy [options] <dir>` (commander's subcommand term). */
  term: string;
  /** Its description, as in the root help. */
  description: string;
  /** Whether it needs every command loaded (completions walk the whole tree). */
  needsAll?: boolean;
  /**
   * Loads the command's module and builds it. Each import is a string literal, so
   * `deno compile` includes the module.
   */
  load(): Promise<Command>;
  /** Runs after the command, when it was loaded: releases what it holds open. */
  close?(): Promise<void>;
}

/** Every top-level command, in the order of the root help. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "project",
    aliases: ["projects"],
    term: "project|projects",
    description: "Create, list, show, rename and delete projects (one per customer)",
    load: async () => (await import("./project.ts")).projectCommand(),
  },
  {
    name: "deploy",
    aliases: [],
    term: "deploy [options] <dir>",
    description: "Deploy a directory to a project, wait for the build and print the URL",
    load: async () => (await import("./deploy.ts")).deployCommand(),
  },
  {
    name: "deployments",
    aliases: ["deployment"],
    term: "deployments|deployment",
    description: "List, show and delete deployments",
    load: async () => {
      const [{ deploymentsCommand }, { redeployCommand }] = await Promise.all([
        import("./deployments.ts"),
        import("./redeploy.ts"),
      ]);
      return deploymentsCommand().addCommand(redeployCommand());
    },
  },
  {
    name: "logs",
    aliases: [],
    term: "logs [options] <deployment>",
    description: "Print a deployment's app logs (console output, uncaught errors), or follow them",
    load: async () => (await import("./logs.ts")).logsCommand(),
  },
  {
    name: "analytics",
    aliases: [],
    term: "analytics [options] <project>",
    description: "Show a project's usage in 15-minute buckets",
    load: async () => (await import("./analytics.ts")).analyticsCommand(),
  },
  {
    name: "usage",
    aliases: [],
    term: "usage [options]",
    description: "Show each project's usage totals over a range: the input of a bill",
    load: async () => (await import("./analytics.ts")).usageCommand(),
  },
  {
    name: "env",
    aliases: [],
    term: "env",
    description:
      "List and change a deployment's environment variables (changes redeploy; v2: the app's)",
    load: async () => (await import("./env.ts")).envCommand(),
  },
  {
    name: "layer",
    aliases: ["layers"],
    term: "layer|layers",
    description: "Shared variables for many projects (Deploy v2 layers)",
    load: async () => (await import("./layer.ts")).layerCommand(),
  },
  {
    name: "db",
    aliases: ["databases", "dbs"],
    term: "db|databases",
    description: "Create, list, rename, empty and delete KV databases",
    load: async () => (await import("./db.ts")).dbCommand(),
  },
  {
    name: "domain",
    aliases: ["domains"],
    term: "domain|domains",
    description: "Custom domains: register, verify, get TLS certificates, attach to deployments",
    load: async () => (await import("./domain.ts")).domainCommand(),
  },
  {
    name: "invoke",
    aliases: [],
    term: "invoke [options] <target> [path]",
    description: "Call a deployment over HTTP and print the response body",
    load: async () => (await import("./invoke.ts")).invokeCommand(),
    // Its proxy clients would otherwise hold connections open after the command.
    close: async () => (await import("../lib/invoke.ts")).closeInvokeClients(),
  },
  {
    name: "host",
    aliases: [],
    term: "host",
    description: "Run the local host: the Subhosting API and its deployments on this machine",
    load: async () => (await import("./host.ts")).hostCommand(),
  },
  {
    name: "completions",
    aliases: [],
    term: "completions <shell>",
    description: "Print a shell completion script (bash, zsh or fish)",
    needsAll: true,
    load: async () => (await import("./completions.ts")).completionsCommand(),
  },
];

/** Where the configuration comes from, for the hints below. */
const CONFIGURATION = "Configuration is flags or environment: --api (DEPLOY_API_URL), --token " +
  "(DEPLOY_ACCESS_TOKEN or DENO_DEPLOY_TOKEN), --org (DEPLOY_ORG_ID); with no API set, the " +
  "local host, which `deploy-tenant host status` shows.";

const APP = "A Deploy v2 app is a project here: `deploy-tenant project list`, " +
  "`deploy-tenant project create <name>`.";
const REVISION = "A Deploy v2 revision is a deployment here: " +
  "`deploy-tenant deployments list <project>`, `deploy-tenant deployments show <id>`.";

/**
 * Commands other deployment CLIs (wrangler, vercel, flyctl, deployctl, `deno deploy`) have and
 * this one has not, with what to do instead: typing `login` is told about tokens, not "Did you
 * mean logs?".
 */
export const NOT_COMMANDS: Readonly<Record<string, string>> = {
  login: "deploy-tenant has no login: it sends an access token, from --token, " +
    "DEPLOY_ACCESS_TOKEN or DENO_DEPLOY_TOKEN (a Deploy organization token, ddo_…); with no " +
    "API set it uses the local host and its token.",
  logout: `deploy-tenant keeps no login to end. ${CONFIGURATION}`,
  whoami: CONFIGURATION,
  config: CONFIGURATION,
  version: "Use `deploy-tenant --version`.",
  // Deploy v2's words: the commands keep theirs on v1 and v2 alike (README: "Point it at
  // Deno Deploy").
  app: APP,
  apps: APP,
  revision: REVISION,
  revisions: REVISION,
};
