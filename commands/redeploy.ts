/**
 * `deployments redeploy <id>`, and the redeploy-and-wait step that the `env` commands share:
 * a new deployment from an existing one with changed settings, its build followed like
 * `deploy` does, production moved to it with `--prod`, then its id and URL printed.
 *
 * @module
 */
import { Command } from "commander";
import { DEFAULT_BUILD_TIMEOUT_MS, waitForBuild } from "../lib/deploy.ts";
import { parseEnvAssignment } from "../lib/env_file.ts";
import { promote } from "../lib/domains.ts";
import { type RedeployEvent, redeployToProduction } from "../lib/redeploy.ts";
import type { Deployment, RedeployRequest } from "../lib/types.ts";
import { deploymentUrl } from "../lib/urls.ts";
import { buildFailed, collect, connect, usageError } from "./context.ts";
import { printBuildWait, withUrl } from "./deployments.ts";
import { interruptedError, onStopSignals } from "./interrupt.ts";

/** The flags every redeploying command takes. */
export interface WaitFlags {
  prod?: boolean;
  wait: boolean;
  timeout?: string;
}

/** Adds `--prod`, `--no-wait` and `--timeout` to a redeploying command. */
export function addWaitOptions(command: Command): Command {
  return command
    .option("--prod", "once built, move production ({project.name}.<base-domain>) to it")
    .option("--no-wait", "return once the new deployment is created, without waiting for the build")
    .option(
      "--timeout <seconds>",
      "longest wait for the build",
      String(DEFAULT_BUILD_TIMEOUT_MS / 1000),
    );
}

/**
 * Redeploys `sourceId` with `request`, follows the build (unless `--no-wait`) and prints the
 * new deployment with its URL; `change` says what changed, for people (never values).
 * With `ontoProduction` and `--prod` the change is merged onto what production serves now and
 * production moves only from it, retried when it moved meanwhile (see `lib/redeploy.ts`).
 *
 * @throws {DeployTenantError} `buildFailed` (exit code 1) when the new build fails.
 */
export async function redeployAndReport(
  command: Command,
  sourceId: string,
  request: RedeployRequest,
  change: string,
  flags: WaitFlags,
  options: { ontoProduction?: boolean } = {},
): Promise<void> {
  const timeoutMs = parseTimeout(command, flags.timeout);
  if (flags.prod && !flags.wait) {
    throw usageError(command, "--prod needs the build to finish: drop --no-wait");
  }
  const { api, config, out, retryNotes } = await connect(command);
  // Ctrl-C or SIGTERM: say whether the new deployment exists (its build goes on without us).
  let created: string | undefined;
  const removeStopSignals = onStopSignals(
    out,
    (signal) => interruptedError(created, signal, "nothing was changed"),
  );
  try {
    let source = sourceId;
    // Whether the build log's error lines were printed as they came: a failure then sums them up.
    let errorLinesPrinted = false;
    const onProgress = (event: RedeployEvent) => {
      if (event.type === "buildLog" && event.entry.level === "error") {
        errorLinesPrinted ||= !out.quiet && !out.json;
      }
      switch (event.type) {
        case "created":
          created = event.deployment.id;
          out.info(
            `Created deployment ${event.deployment.id} from ${source} (${change}); building…`,
          );
          break;
        case "productionElsewhere":
          source = event.production;
          out.info(
            `Production is served by deployment ${event.production}, not ${event.named}: ` +
              `merging onto ${event.production}`,
          );
          break;
        case "productionChanged":
          source = event.production;
          out.info(`Production changed meanwhile; merging onto ${event.production}`);
          break;
        default:
          printBuildWait(out, event, retryNotes);
      }
    };

    let deployment: Deployment;
    let buildError: string | undefined;
    // The previous production deployment keeps its own URL.
    let productionUrl: string | undefined;
    if (flags.prod && options.ontoProduction) {
      const result = await redeployToProduction(api, sourceId, request, { timeoutMs, onProgress });
      ({ deployment, buildError } = result);
      source = result.source.id;
      if (deployment.status === "success") {
        productionUrl = deploymentUrl(result.domain, config.apiUrl);
      }
    } else {
      deployment = await api.deployments.redeploy(sourceId, request);
      onProgress({ type: "created", deployment });
      if (flags.wait) {
        ({ deployment, buildError } = await waitForBuild(api, deployment.id, {
          timeoutMs,
          onProgress,
        }));
      }
      if (flags.prod && deployment.status === "success") {
        const promoted = await promote(api, deployment.id);
        deployment = promoted.deployment;
        productionUrl = deploymentUrl(promoted.domain, config.apiUrl);
      }
    }

    if (deployment.status === "failed") {
      if (out.json) {
        out.result({ ...withUrl(deployment, config.apiUrl), redeployedFrom: source }, () => "");
      }
      throw buildFailed(
        "The build failed",
        buildError,
        deployment.id,
        errorLinesPrinted,
        `; deployment ${source} is unchanged`,
      );
    }

    const document = {
      ...withUrl(deployment, config.apiUrl),
      redeployedFrom: source,
      ...(productionUrl ? { productionUrl } : {}),
    };
    out.result(document, () => {
      if (deployment.status === "pending") {
        return `Deployment ${out.bold(deployment.id)} is building ` +
          `(\`deploy-tenant deployments show ${deployment.id}\`).`;
      }
      const url = document.url ? `\n${out.bold(document.url)}` : "";
      const production = productionUrl ? `\nproduction: ${productionUrl}` : "";
      return `Redeployed ${source} as ${out.bold(deployment.id)} (${change})${url}${production}`;
    });
  } finally {
    removeStopSignals();
  }
}

interface RedeployFlags extends WaitFlags {
  env?: string[];
  unset?: string[];
  db?: string | false;
  description?: string;
}

/** `deployments redeploy <id>`: added to the `deployments` group. */
export function redeployCommand(): Command {
  return addWaitOptions(
    new Command("redeploy")
      .description("Create a new deployment from an existing one with changed settings")
      .argument("<id>", "the deployment to start from (it is left unchanged)")
      .option("--env <KEY=VALUE>", "set an environment variable; repeatable", collect)
      .option("--unset <KEY>", "remove an environment variable; repeatable", collect)
      .option("--db <id>", "bind this KV database as the default one")
      .option("--no-db", "unbind the KV database")
      .option("--description <text>", "a note shown with the new deployment"),
  )
    .addHelpText(
      "after",
      `
The new deployment has the same files, entry point and options; environment variables
and the database binding are merged into the original's. Values are never printed.
--prod moves production ({project.name}.<base-domain>) to it once it is built.

Examples:
  $ deploy-tenant deployments redeploy abcde12vwxyz --env MIN_SCORE=80 --unset DEBUG
  $ deploy-tenant deployments redeploy abcde12vwxyz --description "same code, new settings" --prod
  $ deploy-tenant deployments redeploy abcde12vwxyz --db 5b484959-cba2-482d-95ab-ba592784af80`,
    )
    .action(async function (this: Command, id: string, flags: RedeployFlags) {
      const request: RedeployRequest = {};
      const envVars: Record<string, string | null> = {};
      for (const assignment of flags.env ?? []) {
        const [key, value] = parseEnvAssignment(assignment);
        envVars[key] = value;
      }
      for (const key of flags.unset ?? []) {
        if (key in envVars) {
          throw usageError(this, `--env and --unset both name ${key}`);
        }
        envVars[key] = null;
      }
      if (Object.keys(envVars).length > 0) request.envVars = envVars;
      if (flags.db !== undefined) request.databases = { default: flags.db || null };
      if (flags.description !== undefined) request.description = flags.description;

      const changes = [
        ...Object.entries(envVars).map(([key, value]) => value === null ? `-${key}` : key),
        ...(flags.db === undefined ? [] : [flags.db ? `database ${flags.db}` : "no database"]),
        ...(flags.description === undefined ? [] : ["description"]),
      ];
      const change = changes.length > 0 ? `changed: ${changes.join(", ")}` : "same settings";
      await redeployAndReport(this, id, request, change, flags);
    });
}

/** `--timeout` in milliseconds. */
function parseTimeout(command: Command, value: string | undefined): number {
  const seconds = Number(value ?? DEFAULT_BUILD_TIMEOUT_MS / 1000);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw usageError(command, `Invalid --timeout "${value}": expected a number of seconds`);
  }
  return seconds * 1000;
}
