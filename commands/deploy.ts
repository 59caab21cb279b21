/**
 * `deploy <dir>`: deploy a directory to a project and wait for the build.
 *
 * @module
 */
import { Command, Option } from "commander";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import {
  type DeployConfigSource,
  readDeployConfigWithSource,
  resolveApiConfig,
} from "../lib/config.ts";
import {
  checkRoot,
  DEFAULT_BUILD_TIMEOUT_MS,
  deploy,
  type DeployEvent,
  type DeploymentSettings,
  type DeployPlan,
  planDeploy,
} from "../lib/deploy.ts";
import { envFileName, parseEnvAssignment, parseEnvFile, readEnvFileText } from "../lib/env_file.ts";
import { PROJECT_NAME_RULE, projectNameFrom, projectNameProblem } from "../lib/project_name.ts";
import type { DeployApi } from "../lib/api.ts";
import { DeployTenantError, ExitCode, isProjectNotFound } from "../lib/errors.ts";
import { unattachableDomain } from "./domain_hint.ts";
import { baseDomainOf, productionDomain, type RefusedDomain } from "../lib/domains.ts";
import { formatBytes, formatCount, formatTransfer, type Output, printable } from "../lib/output.ts";
import { deploymentUrl } from "../lib/urls.ts";
import { defaultCacheDir } from "../lib/paths.ts";
import type { CompilerOptions, Project } from "../lib/types.ts";
import { UploadCache } from "../lib/upload_cache.ts";
import { productionHostnamesOf, wireObject } from "../lib/v2_api.ts";
import type { Revision } from "../lib/v2/types.ts";
import type { DeployResult } from "../lib/deploy.ts";
import {
  buildFailed,
  collect,
  commandPath,
  connect,
  globalOptions,
  outputFor,
  usageError,
  v2OnlyFlag,
} from "./context.ts";
import { canPrompt, confirm, input, select } from "./prompts.ts";
import { printBuildWait, withUrl } from "./deployments.ts";
import { interruptedError, onStopSignals } from "./interrupt.ts";

interface DeployFlags {
  project?: string;
  app?: string;
  create?: boolean;
  entrypoint?: string;
  env?: string[];
  envFile?: string;
  importMap?: string;
  lock?: string;
  compilerOptions?: string;
  db?: string;
  description?: string;
  include?: string[];
  exclude?: string[];
  gitignore: boolean;
  wait: boolean;
  timeout?: string;
  dryRun?: boolean;
  prod?: boolean;
  domain?: string[];
  requestTimeout?: string;
  cron?: boolean;
  allowNet?: string;
  label?: string[];
  preview?: boolean;
}

const COMPILER_OPTIONS = ["jsx", "jsxFactory", "jsxFragmentFactory", "jsxImportSource"] as const;

/** The `deploy` command. */
export function deployCommand(): Command {
  return new Command("deploy")
    .description("Deploy a directory to a project, wait for the build and print the URL")
    .argument("<dir>", "the directory holding the code")
    // A second word is most often the project, typed as in `wrangler deploy`/`vercel` habits:
    // the action says how to pass it instead of commander's bare "too many arguments".
    .allowExcessArguments()
    .option("-p, --project <name|id>", "the project to deploy to (or deploy.project in deno.json)")
    // Deno's own `deno deploy --app <name>`: what users arriving from it type.
    .addOption(new Option("--app <name|id>", "the same as --project").conflicts("project"))
    .option("--create", "create the project when it does not exist, without asking")
    .option("--entrypoint <file>", "entry module, relative to <dir> (default: main.ts, main.js, …)")
    .option("--env <KEY=VALUE>", "an environment variable; repeatable", collect)
    .option("--env-file <path>", "read environment variables from a .env file (- reads stdin)")
    .option("--import-map <path>", "the import map, a path among the deployed files")
    .option("--lock <path>", "the lock file, a path among the deployed files")
    .option("--compiler-options <list>", "e.g. jsx=react-jsx,jsxImportSource=preact")
    .option("--db <id>", "bind this KV database as the default one")
    .option("--description <text>", "a note shown with the deployment")
    .option("--include <glob>", "deploy only files matching; repeatable", collect)
    .option("--exclude <glob>", "leave out files matching; repeatable", collect)
    .option("--no-gitignore", "do not honour .gitignore files")
    .option("--no-wait", "return once the deployment is created, without waiting for the build")
    .option(
      "--timeout <seconds>",
      "longest wait for the build",
      String(DEFAULT_BUILD_TIMEOUT_MS / 1000),
    )
    .option("--dry-run", "print what would be sent and send nothing")
    .option("--request-timeout <ms>", "answer 504 TIME_LIMIT when a request takes longer")
    .option("--cron", "run its Deno.cron jobs while it serves production (v1 enableCron)")
    .option(
      "--allow-net <hosts>",
      'outbound network allow-list, e.g. api.example.com,1.2.3.4:443; "" denies all',
    )
    .option("--prod", "once built, serve it at {project.name}.<base-domain> (production)")
    .option("--preview", "v2: give it its own preview URL too (the default without --prod)")
    .option("--label <key=value>", "v2: a label of the revision; repeatable", collect)
    .option(
      "--domain <pattern>",
      "once built, also serve it at this host name, e.g. staging-{project.name}.example.com; " +
        "repeatable",
      collect,
    )
    .addHelpText(
      "after",
      `
A "deploy" key in <dir>/deno.json(c) may set project, entrypoint, include, exclude,
envFile and db; flags win. A deploy whose modules call Deno.openKv() with no database bound
(--db or deploy.db) says so: each v1 deployment names its database, and without one
Deno.openKv() throws. With no project named, a terminal is asked to pick one or create one;
a project that does not exist is offered for creation there, and created without asking
with --create. Elsewhere (a script, CI, or -y) nothing is asked: no project is exit 2, an
unknown one exit 4. On a terminal one line on stderr shows packing, the upload (bytes of
total, rate) and the build. Ctrl-C once the deployment exists leaves its build running on
the server and says how to follow it (exit 130). Files already uploaded to this API and
organization are sent by hash. --env overrides --env-file. Under --json stdout gets the
deployment plus "url" and "upload": {files, reusedFiles, bytesSent}. A failed build exits
with code 1.

--prod moves {project.name}.<base-domain> (deno.dev on Deno Deploy) to the new deployment
once its build succeeds; the previous production deployment keeps its own URL. Production
only moves forward: if a deployment created after this one holds it by then (two deploys at
once), it stays there, and deploy says so and exits 5 (under --json "productionHeldBy"
names the holder); \`deployments promote\` still moves it back on purpose. --domain
attaches other names the same way ({project.name} and {deployment.id} are filled in): a
custom domain must first be registered and verified (see \`deploy-tenant domain --help\`).

On Deploy v2 (--api …/v2) the project is an app and the deployment a revision: every file is
sent with its content (v2 has no upload by hash), --env sets the revision's own variables,
--prod joins production in the deploy request, --label labels the revision. --import-map,
--lock, --compiler-options, --db, --description, --request-timeout and --allow-net have no
v2 equivalent and are refused (exit 2). Under --json stdout gets the revision as v2 returns
it, plus "url" and "upload".

Examples:
  $ deploy-tenant deploy ./hooks --project acme-crm
  $ deploy-tenant deploy ./hooks -p acme-crm --env MIN_SCORE=70 --env-file .env.production
  $ deploy-tenant deploy ./site -p shop --compiler-options jsx=react-jsx,jsxImportSource=preact
  $ deploy-tenant deploy ./hooks -p acme-crm --create
  $ deploy-tenant deploy ./hooks -p acme-crm --dry-run
  $ deploy-tenant deploy ./hooks -p acme-crm --prod
  $ deploy-tenant deploy ./hooks -p acme-crm --domain "staging-{project.name}.example.com"
  $ deploy-tenant deploy ./hooks -p acme-crm --json | jq -r .url
  $ deploy-tenant deploy ./hooks -p acme-crm --prod --label custom.customer=acme --api-version v2`,
    )
    .action(async function (this: Command, dir: string, flags: DeployFlags) {
      if (this.args.length > 1) throw await tooManyArguments(this, this.args);
      const out = outputFor(this);
      const root = resolve(dir);
      const settings = deploymentSettings(this, flags);
      await checkRoot(root);
      const source = await readDeployConfigWithSource(root, {
        onWarning: (message) => out.warn(message),
      });
      const { config } = source;
      const envFile = flags.envFile ?? (config.envFile && join(root, config.envFile));
      settings.envVars = {
        ...(envFile
          ? await readEnvFile(envFile, flags.envFile === undefined ? source : undefined)
          : {}),
        ...settings.envVars,
      };
      // An entry point named in deno.json: an error about it says where to fix it.
      const fromConfig = flags.entrypoint === undefined
        ? (error: unknown) => entrypointFromConfig(error, source)
        : (error: unknown) => error;
      const exclude = flags.exclude ?? config.exclude;
      // The env file's variables are set on the deployment: the file itself, when it is among
      // the deployed files (deploy.envFile is, by design), is not uploaded as well.
      const envFileInRoot = envFile ? pathInside(root, resolve(envFile)) : undefined;
      if (envFileInRoot !== undefined) {
        out.info(`Leaving out ${envFileInRoot}: it is the env file, its variables are set instead`);
      }
      const selection = {
        root,
        entrypoint: flags.entrypoint ?? config.entrypoint,
        include: flags.include ?? config.include,
        exclude: envFileInRoot === undefined
          ? exclude
          : [...exclude ?? [], `/${escapeGlob(envFileInRoot)}`],
        gitignore: flags.gitignore,
      };
      const timeoutMs = parseTimeout(this, flags.timeout);
      const labels = parseLabels(this, flags.label);

      if (flags.dryRun) {
        const plan = await planDeploy({
          ...selection,
          cache: await existingCache(this),
          onProgress: progressReporter(out),
        }).catch((error) => {
          throw fromConfig(error);
        });
        printPlan(out, plan, settings);
        return;
      }

      const named = flags.project ?? flags.app ?? config.project;
      const interactive = canPrompt(globalOptions(this).nonInteractive);
      if (!named && !interactive) {
        throw usageError(
          this,
          "No project to deploy to",
          'Pass --project <name>, or set "deploy": {"project": "<name>"} in deno.json ' +
            "(on a terminal you would be asked to pick one).",
        );
      }
      // Ctrl-C: say what exists (a build goes on on the server without us), then exit 130.
      const interrupt: { deploymentId?: string } = {};
      // Whether the build log's error lines were printed as they came (not only drawn on the
      // progress line): a failure then sums them up instead of printing them again.
      const printsBuildLog = !out.quiet && !out.json && !out.showsProgress;
      let errorLinesPrinted = false;
      // SIGTERM (a cancelled CI job, `timeout`, a stopped container) says the same, exit 143.
      const removeStopSignals = onStopSignals(
        out,
        (signal) => interruptedError(interrupt.deploymentId, signal),
      );
      try {
        const { api, v2, config: apiConfig, retryNotes } = await connect(this, out);
        if (flags.db === undefined && config.db !== undefined) {
          if (v2) out.warn(`Ignoring "deploy.db" of ${source.path}: Deploy v2 has no --db.`);
          else settings.databases = { default: config.db };
        }
        const reportProgress = progressReporter(out, retryNotes);
        if (!v2 && (flags.prod || flags.domain) && !flags.wait) {
          throw usageError(
            this,
            "--prod and --domain need the build to finish",
            "Leave out --no-wait: domains are attached once the build succeeds.",
          );
        }
        if (!v2 && labels) throw v2OnlyFlag(this, "--label");
        // v2 has no upload by hash: every file goes up, so the cache is neither read nor written.
        const cache = v2 ? undefined : await UploadCache.open(
          defaultCacheDir(),
          apiConfig.apiUrl,
          apiConfig.organizationId,
        );
        const project = await projectToDeployTo(this, api, out, {
          named,
          create: flags.create ?? false,
          interactive,
          root,
        });
        const result = await deploy({
          ...selection,
          ...settings,
          api,
          project,
          cache,
          wait: flags.wait,
          timeoutMs,
          onProgress: (event) => {
            if (event.type === "created") interrupt.deploymentId = event.deployment.id;
            if (event.type === "buildLog" && event.entry.level === "error") {
              errorLinesPrinted ||= printsBuildLog;
            }
            reportProgress(event);
          },
          production: flags.prod,
          preview: flags.preview,
          domains: flags.domain,
          labels,
        }).catch((error) => {
          throw unattachableDomain(fromConfig(error), interrupt.deploymentId, true);
        });

        if (v2) {
          printRevision(out, result, apiConfig.apiUrl, errorLinesPrinted);
          return;
        }
        const deployment = withUrl(result.deployment, apiConfig.apiUrl);
        const refused = result.refusedDomains ?? [];
        const productionName = flags.prod && deployment.status === "success"
          ? productionDomain(result.project, deployment)
          : undefined;
        const heldBy = refused.find((each) => each.domain === productionName)?.heldBy;
        const document = {
          ...deployment,
          upload: result.upload,
          ...(refused.length > 0 ? { refusedDomains: refused } : {}),
          ...(heldBy ? { productionHeldBy: heldBy } : {}),
        };
        if (deployment.status === "failed") {
          if (out.json) out.result(document, () => "");
          throw buildFailed(
            "The build failed",
            result.buildError,
            deployment.id,
            errorLinesPrinted,
          );
        }
        out.result(document, () => {
          if (deployment.status === "pending") {
            return `Deployment ${out.bold(deployment.id)} is building ` +
              `(\`deploy-tenant deployments show ${deployment.id}\`).`;
          }
          const url = deployment.url ? `\n${out.bold(deployment.url)}` : "";
          // The names attached besides its own, e.g. production.
          const production = `${result.project.name}.${baseDomainOf(result.project, deployment)}`;
          const others = (deployment.domains ?? []).slice(1).map((domain) =>
            `\n${domain === production ? "production" : "also at"}: ` +
            deploymentUrl(domain, apiConfig.apiUrl)
          );
          return `Deployed ${out.bold(deployment.id)} to project ${result.project.name}${url}` +
            others.join("");
        });
        if (refused.length > 0) {
          throw newerHolds(deployment.id, deployment.url, refused, productionName);
        }
      } finally {
        removeStopSignals();
      }
    });
}

/**
 * The build succeeded but names asked for stay with a deployment created after this one (two
 * deploys racing to production): a conflict (exit 5) saying who holds them and that this
 * deployment keeps its own URL.
 */
function newerHolds(
  id: string,
  url: string | undefined,
  refused: RefusedDomain[],
  production: string | undefined,
): DeployTenantError {
  const names = refused.map(({ domain, heldBy }) =>
    `${domain === production ? `production (${domain})` : domain} stays with deployment ` +
    `${heldBy ?? "(unknown)"}`
  ).join("; ");
  return new DeployTenantError(
    "newerDeploymentHoldsDomain",
    `A newer deployment holds what this one asked for: ${names}, created after ${id}. ` +
      `Deployment ${id} built fine and keeps its own URL${url ? `: ${url}` : "."}`,
    {
      hint: "Another deploy to this project ran at the same time and was created later. To " +
        `serve this one anyway (a rollback), run \`deploy-tenant deployments promote ${id}\`.`,
      exitCode: ExitCode.conflict,
    },
  );
}

/** Prints a v2 deploy's outcome: the revision as v2 returns it under --json, its URLs. */
function printRevision(
  out: Output,
  result: DeployResult,
  apiUrl: string,
  logShown: boolean,
): void {
  const deployment = withUrl(result.deployment, apiUrl);
  const revision = wireObject(result.deployment) as Revision;
  const document = { ...revision, url: deployment.url, upload: result.upload };
  if (deployment.status === "failed") {
    if (out.json) out.result(document, () => "");
    throw buildFailed(
      "The revision failed",
      result.buildError ?? "The build failed.",
      deployment.id,
      logShown,
    );
  }
  out.result(document, () => {
    if (deployment.status === "pending") {
      return `Revision ${out.bold(deployment.id)} is building ` +
        `(\`deploy-tenant deployments show ${deployment.id}\`).`;
    }
    const production = new Set(productionHostnamesOf(revision));
    const lines = [`Deployed ${out.bold(deployment.id)} to app ${result.project.name}`];
    for (const hostname of deployment.domains ?? []) {
      const url = deploymentUrl(hostname, apiUrl);
      lines.push(production.has(hostname) ? `production: ${out.bold(url)}` : out.bold(url));
    }
    return lines.join("\n");
  });
}

/**
 * `deploy <dir> <project>` or `deploy <project> <dir>`: deploy takes one directory, and the
 * project goes in --project. The usage error names the command to type when one of two
 * words is a directory.
 */
async function tooManyArguments(command: Command, args: string[]): Promise<DeployTenantError> {
  // A KEY=VALUE word is a variable that lost its --env; its value may be a secret: not shown.
  const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=/;
  const shown = args.map((arg) => arg.replace(/^([A-Za-z_][A-Za-z0-9_]*)=.*$/s, "$1=…"));
  const message = `deploy takes one directory, but got ${args.length} arguments: ` +
    shown.map((arg) => `"${arg}"`).join(" ");
  const variables = args.slice(1).flatMap((arg) => assignment.exec(arg)?.[1] ?? []);
  if (variables.length > 0) {
    return usageError(
      command,
      message,
      "Each variable needs its own --env: " +
        variables.map((key) => `--env ${key}=…`).join(" ") + ".",
    );
  }
  if (args.length === 2) {
    const isDir = await Promise.all(
      args.map((arg) => Deno.stat(arg).then((info) => info.isDirectory, () => false)),
    );
    if (isDir[0] !== isDir[1]) {
      const [dir, project] = isDir[0] ? args : [args[1], args[0]];
      return usageError(
        command,
        message,
        `Name the project with --project: \`${commandPath(command)} ${dir} -p ${project}\`.`,
      );
    }
  }
  return usageError(
    command,
    message,
    `Name the project with --project: \`${commandPath(command)} <dir> -p <project>\`.`,
  );
}

/** `--label key=value` flags as labels; `undefined` when none was given. */
function parseLabels(
  command: Command,
  list: string[] | undefined,
): Record<string, string> | undefined {
  if (!list?.length) return undefined;
  const labels: Record<string, string> = {};
  for (const item of list) {
    const equals = item.indexOf("=");
    if (equals < 1) {
      throw usageError(command, `Invalid --label "${item}"`, "Use --label key=value.");
    }
    labels[item.slice(0, equals)] = item.slice(equals + 1);
  }
  return labels;
}

/** The deployment settings given by flags (the env file is read later). */
function deploymentSettings(command: Command, flags: DeployFlags): DeploymentSettings {
  const envVars: Record<string, string> = {};
  for (const assignment of flags.env ?? []) {
    const [key, value] = parseEnvAssignment(assignment);
    envVars[key] = value;
  }
  const settings: DeploymentSettings = { envVars };
  if (flags.importMap !== undefined) settings.importMapUrl = flags.importMap;
  if (flags.lock !== undefined) settings.lockFileUrl = flags.lock;
  if (flags.compilerOptions !== undefined) {
    settings.compilerOptions = parseCompilerOptions(command, flags.compilerOptions);
  }
  if (flags.db !== undefined) settings.databases = { default: flags.db };
  if (flags.description !== undefined) settings.description = flags.description;
  if (flags.requestTimeout !== undefined) {
    const ms = Number(flags.requestTimeout);
    if (!/^\d+$/.test(flags.requestTimeout) || ms < 1 || ms > 2 ** 31 - 1) {
      throw usageError(
        command,
        `Invalid --request-timeout "${flags.requestTimeout}": expected milliseconds, e.g. 10000`,
      );
    }
    settings.requestTimeout = ms;
  }
  if (flags.allowNet !== undefined) {
    const net = flags.allowNet.split(",").map((host) => host.trim()).filter(Boolean);
    settings.permissions = { net };
  }
  if (flags.cron) settings.enableCron = true;
  return settings;
}

/** `jsx=react-jsx,jsxImportSource=preact` → `{jsx: "react-jsx", jsxImportSource: "preact"}`. */
function parseCompilerOptions(command: Command, list: string): CompilerOptions {
  const options: CompilerOptions = {};
  for (const item of list.split(",").map((part) => part.trim()).filter(Boolean)) {
    const equals = item.indexOf("=");
    const key = item.slice(0, equals) as typeof COMPILER_OPTIONS[number];
    if (equals < 0 || !COMPILER_OPTIONS.includes(key)) {
      throw usageError(
        command,
        `Invalid compiler option "${item}"`,
        `Use key=value pairs separated by commas; keys: ${COMPILER_OPTIONS.join(", ")}.`,
      );
    }
    options[key] = item.slice(equals + 1);
  }
  return options;
}

function parseTimeout(command: Command, value: string | undefined): number {
  const seconds = Number(value ?? DEFAULT_BUILD_TIMEOUT_MS / 1000);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw usageError(command, `Invalid --timeout "${value}": expected a number of seconds`);
  }
  return seconds * 1000;
}

/** `path` relative to `root` when it is inside it (POSIX separators), else `undefined`. */
function pathInside(root: string, path: string): string | undefined {
  const inside = relative(root, path);
  if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) return undefined;
  return inside.split(sep).join("/");
}

/** `path` as a gitignore pattern that matches only itself (`*`, `?`, `[`, `\\` escaped). */
function escapeGlob(path: string): string {
  return path.replaceAll(/[*?[\]\\]/g, "\\$&");
}

/**
 * The variables of the env file at `path`: --env-file's, or (`source` given) the one
 * deno.json's `deploy.envFile` names, which an error names as where to fix it.
 */
async function readEnvFile(
  path: string,
  source?: DeployConfigSource,
): Promise<Record<string, string>> {
  const text = await readEnvFileText(
    path,
    source?.path
      ? `Fix "${source.keys.envFile}" in ${source.path} (a path relative to its directory), ` +
        "or pass --env-file <path>."
      : "Pass --env-file with the path of a .env file, relative to the current directory.",
  );
  return parseEnvFile(text, envFileName(path));
}

/**
 * A missing entry point that deno.json named (`deploy.entrypoint`, or Deno Deploy's
 * `deploy.runtime.entrypoint`): the error says so and where to fix it, not only --entrypoint.
 */
function entrypointFromConfig(error: unknown, source: DeployConfigSource): unknown {
  const key = source.keys.entrypoint;
  if (
    !(error instanceof DeployTenantError) || error.code !== "entrypointNotFound" ||
    key === undefined || source.path === undefined
  ) {
    return error;
  }
  return new DeployTenantError(
    "entrypointNotFound",
    `Entry point "${source.config.entrypoint}", named by "${key}" in ${source.path}, is not ` +
      "among the files to deploy.",
    {
      hint: `Fix "${key}" (a path relative to ${basename(source.path)}'s directory), or pass ` +
        "--entrypoint <file> to override it; check it is not left out by .gitignore or " +
        "--exclude.",
      exitCode: ExitCode.usage,
      cause: error,
    },
  );
}

/**
 * The upload cache for a dry run, without starting a host or failing: with no API known,
 * nothing counts as uploaded.
 */
async function existingCache(command: Command): Promise<UploadCache | undefined> {
  const { api, token, org, apiVersion } = globalOptions(command);
  try {
    const config = await resolveApiConfig({ api, token, org, apiVersion }, { startHost: false });
    if (config.apiVersion === "v2") return undefined; // v2 has no upload by hash
    return await UploadCache.open(defaultCacheDir(), config.apiUrl, config.organizationId);
  } catch {
    return undefined;
  }
}

/**
 * Shows the pipeline's progress. On a terminal one line on stderr, redrawn in place: packing
 * ("Packing: 1 234 files"), the upload as bytes of total, percentage and rate, then the build's
 * log lines as they stream. Elsewhere (a pipe, CI) only the lines that matter, one each.
 */
function progressReporter(
  out: Output,
  retryNotes?: { muted: boolean },
): (event: DeployEvent) => void {
  let uploadStartedAt: number | undefined;
  return (event) => {
    switch (event.type) {
      case "packing":
        out.progress(`Packing: ${files(event.files)} (${formatBytes(event.bytes)})`);
        break;
      case "packed": {
        const count = event.pack.entries.filter((entry) => entry.kind === "file").length;
        const reused = event.reusable > 0
          ? `, ${formatCount(event.reusable)} already uploaded`
          : "";
        out.info(
          `Packed ${files(count)} (${formatBytes(event.pack.totalBytes)}${reused}); ` +
            `entry point ${event.pack.entrypoint}`,
        );
        for (const warning of event.pack.warnings) out.warn(warning);
        break;
      }
      case "uploading": {
        uploadStartedAt ??= Date.now();
        const elapsed = Date.now() - uploadStartedAt;
        out.progress(
          event.contentBytes === 0
            ? `Uploading: ${formatBytes(event.bytesSent)} (every file by hash)`
            : `Uploading: ${formatTransfer(event.contentBytesSent, event.contentBytes, elapsed)}`,
        );
        break;
      }
      case "retryingWithContent":
        uploadStartedAt = undefined;
        out.info(`The server lacks some files sent by hash; sending them again with content`);
        break;
      case "created":
        out.info(`Created deployment ${event.deployment.id}; building…`);
        break;
      case "progress":
        if (out.showsProgress) out.progress(`Building: ${event.stage} ${event.status}`);
        else out.info(`  ${event.stage}: ${event.status}`);
        break;
      default:
        printBuildWait(out, event, retryNotes, { buildLogAsProgress: true });
    }
  };
}

/** `1 file`, `1 234 files`. */
function files(count: number): string {
  return `${formatCount(count)} ${count === 1 ? "file" : "files"}`;
}

/**
 * The project to deploy to, by id. Named and existing: that one. Named and missing: created
 * with `--create`, offered on a terminal, else not found (exit 4) naming `--create`. Not
 * named (only on a terminal): picked from the organization's projects, or a new one.
 */
async function projectToDeployTo(
  command: Command,
  api: DeployApi,
  out: Output,
  options: { named?: string; create: boolean; interactive: boolean; root: string },
): Promise<string> {
  const { named, create, interactive } = options;
  const createProject = async (name: string) => {
    const project = await api.projects.create({ name });
    out.info(`Created project ${project.name}`);
    return project.id;
  };
  if (named === undefined) return await pickProject(api, createProject, options.root);
  try {
    return (await api.projects.get(named)).id;
  } catch (error) {
    if (!isProjectNotFound(error)) throw error;
    if (create) return await createProject(named);
    if (!interactive) {
      throw new DeployTenantError("projectNotFound", `Project "${named}" does not exist`, {
        hint: `Pass --create to create it, or see the projects with ` +
          `\`${commandPath(command.parent ?? command)} project list\`.`,
        exitCode: ExitCode.notFound,
      });
    }
    if (!await confirm(`Project ${named} does not exist. Create it?`, true)) {
      throw new DeployTenantError("cancelled", "Cancelled: nothing was deployed", {
        exitCode: ExitCode.failed,
      });
    }
    return await createProject(named);
  }
}

/** At most this many projects are listed to pick from (the newest first). */
const PICK_LIMIT = 100;

async function pickProject(
  api: DeployApi,
  createProject: (name: string) => Promise<string>,
  root: string,
): Promise<string> {
  const projects: Project[] = [];
  for await (const project of api.projects.list({ limit: PICK_LIMIT })) {
    projects.push(project);
    if (projects.length >= PICK_LIMIT) break;
  }
  const NEW = "";
  const choice = await select<string>("Deploy to which project?", [
    ...projects.map((project) => ({ name: project.name, value: project.id })),
    { name: "Create a new project", value: NEW },
  ]);
  if (choice !== NEW) return choice;
  const name = await input("Name of the new project", {
    defaultAnswer: projectNameFrom(basename(root)),
    validate: (value) => {
      const problem = projectNameProblem(value);
      return problem === undefined || `Not a project name: ${problem}. ${PROJECT_NAME_RULE}.`;
    },
  });
  return await createProject(name);
}

function printPlan(out: Output, plan: DeployPlan, settings: DeploymentSettings): void {
  // The warnings a deploy would print (e.g. a .env file among the files): a dry run is where
  // they matter most. Under --json they are in the document instead.
  for (const warning of plan.pack.warnings) out.warn(warning);
  const reusedFiles = plan.files.filter((file) => file.reused).length;
  const document = {
    dryRun: true,
    entryPointUrl: plan.entrypoint,
    envVars: Object.keys(settings.envVars ?? {}),
    files: plan.files,
    symlinks: plan.symlinks,
    totalBytes: plan.totalBytes,
    contentBytes: plan.contentBytes,
    reusedFiles,
    warnings: plan.pack.warnings,
  };
  out.result(document, () => {
    const rows = [
      ...plan.files.map((file) => ({
        path: printable(file.path),
        size: formatBytes(file.size),
        how: file.reused ? "hash only (uploaded before)" : file.encoding,
      })),
      ...plan.symlinks.map((link) => ({
        path: printable(link.path),
        size: "",
        how: `→ ${printable(link.target)}`,
      })),
    ];
    const table = out.table(rows, [
      { header: "PATH", value: (row) => row.path },
      { header: "SIZE", value: (row) => row.size },
      { header: "SENT AS", value: (row) => row.how },
    ]);
    const names = Object.keys(settings.envVars ?? {});
    const lines = ["Dry run: nothing was sent.", `entry point: ${plan.entrypoint}`];
    if (names.length > 0) lines.push(`env vars: ${names.join(", ")} (values not shown)`);
    lines.push(
      "",
      table,
      "",
      `${plan.files.length} file${plan.files.length === 1 ? "" : "s"}, ` +
        `${formatBytes(plan.totalBytes)}; ` +
        `${reusedFiles} by hash, ${formatBytes(plan.contentBytes)} of content to send`,
    );
    return lines.join("\n");
  });
}
