/**
 * `deployments list|show|delete` and `logs`: a project's deployments and their build logs.
 *
 * @module
 */
import { Command } from "commander";
import type { Output } from "../lib/output.ts";
import type { Deployment } from "../lib/types.ts";
import { deploymentUrl } from "../lib/urls.ts";
import { connect, usageError } from "./context.ts";

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
  $ deploy-tenant deployments delete abcde12vwxyz`,
    );

  deployments.command("list")
    .alias("ls")
    .description("List a project's deployments, oldest first")
    .argument("<project>", "project name or id")
    .action(async function (this: Command, idOrName: string) {
      const { api, config, out } = await connect(this);
      const project = await api.projects.get(idOrName);
      const list = await Array.fromAsync(api.deployments.list(project.id));
      const withUrls = list.map((deployment) => withUrl(deployment, config.apiUrl));
      out.result(withUrls, () =>
        out.table(withUrls, [
          { header: "ID", value: (d) => d.id },
          { header: "STATUS", value: (d) => out.status(d.status) },
          { header: "CREATED", value: (d) => d.createdAt },
          { header: "URL", value: (d) => d.url ?? "" },
        ], `Project ${project.name} has no deployments yet.`));
    });

  deployments.command("show")
    .description("Show a deployment")
    .argument("<id>", "deployment id")
    .action(async function (this: Command, id: string) {
      const { api, config, out } = await connect(this);
      const deployment = withUrl(await api.deployments.get(id), config.apiUrl);
      out.result(deployment, () => describeDeployment(out, deployment));
    });

  deployments.command("delete")
    .alias("rm")
    .description("Delete a deployment (its URL stops answering)")
    .argument("<id>", "deployment id")
    .action(async function (this: Command, id: string) {
      const { api, out } = await connect(this);
      await api.deployments.delete(id);
      out.result({ id, deleted: true }, () => `Deleted deployment ${id}`);
    });

  return deployments;
}

/** The `logs` command. */
export function logsCommand(): Command {
  return new Command("logs")
    .description("Print a deployment's build log, following it while the build runs")
    .argument("<id>", "deployment id")
    .option("--build", "the build log (the only kind supported so far)")
    .addHelpText(
      "after",
      `
Under --json each line is printed as it comes as one JSON object (NDJSON).

Examples:
  $ deploy-tenant logs abcde12vwxyz --build
  $ deploy-tenant logs abcde12vwxyz --build --json | jq -r .message`,
    )
    .action(async function (this: Command, id: string, options: { build?: boolean }) {
      if (!options.build) {
        throw usageError(this, "Only build logs are available so far", "Pass --build.");
      }
      const { api, out } = await connect(this);
      for await (const entry of api.deployments.streamBuildLogs(id)) {
        out.record(entry, () => formatLogLine(out, entry.level, entry.message));
      }
    });
}

/** A deployment with the URL it answers on (when it has a domain). */
export type DeploymentWithUrl = Deployment & { url?: string };

/** Adds `url` from the deployment's first domain. */
export function withUrl(deployment: Deployment, apiUrl: string): DeploymentWithUrl {
  const domain = deployment.domains?.[0];
  return domain ? { ...deployment, url: deploymentUrl(domain, apiUrl) } : deployment;
}

/** The human view of a deployment. */
export function describeDeployment(out: Output, deployment: DeploymentWithUrl): string {
  return out.fields([
    ["id", out.bold(deployment.id)],
    ["status", out.status(deployment.status)],
    ["url", deployment.url],
    ["project", deployment.projectId],
    ["description", deployment.description],
    ["domains", deployment.domains?.join(", ")],
    [
      "databases",
      Object.entries(deployment.databases ?? {}).map(([k, v]) => `${k}=${v}`).join(", "),
    ],
    ["created", deployment.createdAt],
    ["updated", deployment.updatedAt],
  ]);
}

/** One build log line for people: errors and warnings stand out. */
export function formatLogLine(out: Output, level: string, message: string): string {
  if (level === "error") return `${out.red("error")} ${message}`;
  if (level === "warning" || level === "warn") return `${out.yellow("warn")}  ${message}`;
  return `${out.dim(level.padEnd(5))} ${message}`;
}
