/**
 * `deployments list|show|promote|delete`: a project's deployments. (`logs` is in logs.ts.)
 * On Deploy v2 a deployment is a revision, `--json` prints revisions as v2 returns them, and
 * `promote` pins the app's production timeline to the revision.
 *
 * @module
 */
import { Command } from "commander";
import { baseDomainOf, isProduction, promote } from "../lib/domains.ts";
import type { Output } from "../lib/output.ts";
import type { RedeployEvent } from "../lib/redeploy.ts";
import type { Deployment, Project } from "../lib/types.ts";
import { oldestFirst } from "../lib/time.ts";
import { deploymentUrl } from "../lib/urls.ts";
import { productionHostnamesOf, wireObject } from "../lib/v2_api.ts";
import type { Revision } from "../lib/v2/types.ts";
import { confirmedOrAskable, confirmOrCancel, connect } from "./context.ts";

/** The `deployments` command group. */
export function deploymentsCommand(): Command {
  const deployments = new Command("deployments")
    .alias("deployment")
    .description("List, show and delete deployments")
    .addHelpText(
      "after",
      `
Examples:
  $ deploy-tenant deployments list acme-crm
  $ deploy-tenant deployments show abcde12vwxyz --json
  $ deploy-tenant deployments promote abcde12vwxyz
  $ deploy-tenant deployments delete abcde12vwxyz --yes`,
    );

  deployments.command("list")
    .alias("ls")
    .description("List a project's deployments, oldest first")
    .argument("<project>", "project name or id")
    .action(async function (this: Command, idOrName: string) {
      const { api, config, out } = await connect(this);
      const project = await api.projects.get(idOrName);
      const list = oldestFirst(await Array.fromAsync(api.deployments.list(project.id)));
      const withUrls = list.map((deployment) => withUrl(deployment, config.apiUrl));
      out.result(
        withUrls.map((deployment, i) => asApiReturns(list[i], deployment.url)),
        () =>
          out.table(withUrls, [
            { header: "ID", value: (d) => d.id },
            {
              header: "STATUS",
              value: (d) => out.status(d.status) + (isProduction(project, d) ? " production" : ""),
            },
            { header: "CREATED", value: (d) => out.time(d.createdAt) },
            { header: "URL", value: (d) => d.url ?? "", fit: "drop" },
          ], `Project ${project.name} has no deployments yet.`),
      );
    });

  deployments.command("show")
    .alias("view")
    .description("Show a deployment")
    .argument("<id>", "deployment id")
    .action(async function (this: Command, id: string) {
      const { api, config, out } = await connect(this);
      const found = await api.deployments.get(id);
      const deployment = withUrl(found, config.apiUrl);
      // People read the project's name; a script has its id in the document.
      const project = out.json
        ? undefined
        : await api.projects.get(found.projectId).catch(() => undefined);
      out.result(
        asApiReturns(found, deployment.url),
        () => describeDeployment(out, deployment, project),
      );
    });

  deployments.command("promote")
    .description("Make a deployment production: {project.name}.<base-domain> moves to it")
    .argument("<id>", "deployment id (its build must have succeeded)")
    .addHelpText(
      "after",
      "\nThe deployment that was production keeps its own URL, so promoting it again rolls back.",
    )
    .action(async function (this: Command, id: string) {
      const { api, v2, config, out } = await connect(this);
      if (v2) {
        // v2 pins the production timeline to the revision: no domain is moved by the client.
        const promoted = await v2.promote(id);
        const revision = wireObject(promoted) as Revision;
        const hostname = productionHostnamesOf(revision)[0];
        const productionUrl = hostname ? deploymentUrl(hostname, config.apiUrl) : undefined;
        const url = withUrl(promoted, config.apiUrl).url;
        out.result(
          { ...revision, url, productionUrl },
          () =>
            `Promoted ${out.bold(id)} to production` +
            (productionUrl ? `\n${out.bold(productionUrl)}` : ""),
        );
        return;
      }
      const result = await promote(api, id);
      const deployment = withUrl(result.deployment, config.apiUrl);
      const productionUrl = deploymentUrl(result.domain, config.apiUrl);
      out.result(
        { ...deployment, productionUrl },
        () =>
          `Promoted ${out.bold(id)} to production of project ${result.project.name}\n` +
          out.bold(productionUrl),
      );
    });

  deployments.command("delete")
    .aliases(["rm", "remove"])
    .description("Delete a deployment (its URL stops answering)")
    .argument("<id>", "deployment id")
    .option("--yes", "do not ask for confirmation")
    .addHelpText(
      "after",
      "\nOn a terminal it asks first; elsewhere it refuses unless --yes (or -y) is given.",
    )
    .action(async function (this: Command, id: string, options: { yes?: boolean }) {
      const confirmed = confirmedOrAskable(
        this,
        options.yes,
        `Refusing to delete deployment "${id}" without confirmation`,
      );
      const { api, out } = await connect(this);
      // Deleting what serves production takes the project's production name down with it:
      // the question and the outcome say so, and how to bring it back.
      const found = await api.deployments.get(id);
      const project = await api.projects.get(found.projectId).catch(() => undefined);
      const production = project && isProduction(project, found)
        ? `${project.name}.${baseDomainOf(project, found)}`
        : undefined;
      if (!confirmed) {
        await confirmOrCancel(
          production
            ? `Delete deployment ${id}? It serves production: ${production} stops answering too.`
            : `Delete deployment ${id}? Its URL stops answering.`,
          "Cancelled: nothing was deleted",
        );
      }
      await api.deployments.delete(id);
      out.result(
        { id, deleted: true, ...(production ? { production } : {}) },
        () => `Deleted deployment ${id}`,
      );
      if (production) {
        out.warn(
          `${production} no longer answers: deployment ${id} was production of project ` +
            `${project!.name}. Promote another with \`deploy-tenant deployments promote <id>\` ` +
            `(\`deploy-tenant deployments list ${project!.name}\` lists them).`,
        );
      }
    });

  return deployments;
}

/**
 * What `--json` prints for a deployment: on v2 the revision as the API returned it, on v1 the
 * deployment; plus `url` when it has one.
 */
export function asApiReturns(deployment: Deployment, url: string | undefined): object {
  return url === undefined ? wireObject(deployment) : { ...wireObject(deployment), url };
}

/** A deployment with the URL it answers on (when it has a domain). */
export type DeploymentWithUrl = Deployment & { url?: string };

/** Adds `url` from the deployment's first domain. */
export function withUrl(deployment: Deployment, apiUrl: string): DeploymentWithUrl {
  const domain = deployment.domains?.[0];
  return domain ? { ...deployment, url: deploymentUrl(domain, apiUrl) } : deployment;
}

/** The human view of a deployment; its project named when `project` is given. */
export function describeDeployment(
  out: Output,
  deployment: DeploymentWithUrl,
  project?: Project,
): string {
  const production = project !== undefined && isProduction(project, deployment);
  return out.fields([
    ["id", out.bold(deployment.id)],
    ["status", out.status(deployment.status) + (production ? ` ${out.bold("production")}` : "")],
    ["url", deployment.url],
    ["project", project ? `${project.name} (${project.id})` : deployment.projectId],
    ["description", deployment.description],
    ["domains", deployment.domains?.join(", ")],
    [
      "databases",
      Object.entries(deployment.databases ?? {}).map(([k, v]) => `${k}=${v}`).join(", "),
    ],
    ["created", out.time(deployment.createdAt)],
    ["updated", out.time(deployment.updatedAt)],
  ]);
}

/**
 * Prints what every command following a build says of it: its log lines, polling, the API
 * going away and coming back (`retryNotes` muted meanwhile). Returns whether `event` was one of
 * those. `buildLogAsProgress`: log lines replace the progress line where there is one.
 */
export function printBuildWait(
  out: Output,
  event: RedeployEvent,
  retryNotes: { muted: boolean } | undefined,
  { buildLogAsProgress = false } = {},
): boolean {
  switch (event.type) {
    case "buildLog":
      if (buildLogAsProgress && out.showsProgress) out.progress(`Building: ${event.entry.message}`);
      else out.info(formatLogLine(out, event.entry.level, event.entry.message, "  "));
      return true;
    case "polling":
      out.info(`Waiting for the build (${event.reason})`);
      return true;
    case "unreachable":
      // One note for the whole outage, not one per retry.
      out.info(unreachableNote(event));
      if (retryNotes) retryNotes.muted = true;
      return true;
    case "reachable":
      if (retryNotes) retryNotes.muted = false;
      return true;
  }
  return false;
}

/** What a person is told once when the API stops answering during a build. */
export function unreachableNote(event: { reason: string; budgetMs: number }): string {
  return `The API does not answer (${event.reason}); still waiting for the build, for up to ` +
    `${Math.round(event.budgetMs / 1000)} s`;
}

/** One build log line for people: errors and warnings stand out. */
export function formatLogLine(out: Output, level: string, message: string, lead = ""): string {
  // Continuation lines start under the message: a line break in what a tenant wrote cannot
  // start a line that reads as an entry of its own.
  const text = message.replaceAll("\n", `\n${lead}${" ".repeat(6)}`);
  if (level === "error") return `${lead}${out.red("error")} ${text}`;
  if (level === "warning" || level === "warn") return `${lead}${out.yellow("warn")}  ${text}`;
  return `${lead}${out.dim(level.padEnd(5))} ${text}`;
}
