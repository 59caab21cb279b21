/**
 * `project create|list|show|rename|delete`: one project per customer. On Deploy v2 a
 * project is an app (its name is the app's slug) and `--json` prints apps as v2 returns them.
 *
 * @module
 */
import { Command } from "commander";
import type { Output } from "../lib/output.ts";
import type { Project } from "../lib/types.ts";
import { wireObject } from "../lib/v2_api.ts";
import { confirmedOrAskable, confirmOrCancel, connect } from "./context.ts";

/** The `project` command group. */
export function projectCommand(): Command {
  const project = new Command("project")
    .alias("projects")
    .description("Create, list, show, rename and delete projects (one per customer)")
    .addHelpText(
      "after",
      `
Examples:
  $ deploy-tenant project create acme-crm --description "Acme's CRM hooks"
  $ deploy-tenant project list --json
  $ deploy-tenant project show acme-crm
  $ deploy-tenant project rename acme-crm acme-crm-eu
  $ deploy-tenant project delete acme-crm-eu --yes`,
    );

  project.command("create")
    .description("Create a project")
    .argument("<name>", "3-26 characters: a-z, 0-9 and -")
    .option("--description <text>", "what the project is for")
    .action(async function (this: Command, name: string, options: { description?: string }) {
      const { api, out } = await connect(this);
      const created = await api.projects.create({ name, description: options.description });
      out.result(
        wireObject(created),
        () => `Created project ${out.bold(created.name)} (${created.id})`,
      );
    });

  project.command("list")
    .alias("ls")
    .description("List the organization's projects")
    .action(async function (this: Command) {
      const { api, out } = await connect(this);
      const projects = await Array.fromAsync(api.projects.list());
      out.result(projects.map(wireObject), () =>
        out.table(projects, [
          { header: "NAME", value: (p) => p.name },
          { header: "ID", value: (p) => p.id, fit: "drop" },
          { header: "UPDATED", value: (p) => out.time(p.updatedAt) },
          { header: "DESCRIPTION", value: (p) => p.description, fit: "cut" },
        ], "No projects yet: create one with `deploy-tenant project create <name>`."));
    });

  project.command("show")
    .alias("view")
    .description("Show a project")
    .argument("<project>", "name or id")
    .action(async function (this: Command, idOrName: string) {
      const { api, out } = await connect(this);
      const found = await api.projects.get(idOrName);
      out.result(wireObject(found), () => describe(out, found));
    });

  project.command("rename")
    .description("Rename a project (its deployments' URLs change with it)")
    .argument("<project>", "name or id")
    .argument("<new-name>", "the new name")
    .action(async function (this: Command, idOrName: string, newName: string) {
      const { api, out } = await connect(this);
      const found = await api.projects.get(idOrName);
      const renamed = await api.projects.update(found.id, { name: newName });
      out.result(
        wireObject(renamed),
        () => `Renamed project ${found.name} to ${out.bold(renamed.name)}`,
      );
    });

  project.command("delete")
    .aliases(["rm", "remove"])
    .description("Delete a project and all its deployments")
    .argument("<project>", "name or id")
    .option("--yes", "do not ask for confirmation")
    .addHelpText(
      "after",
      "\nOn a terminal it asks first; elsewhere it refuses unless --yes (or -y) is given.",
    )
    .action(async function (this: Command, idOrName: string, options: { yes?: boolean }) {
      const confirmed = confirmedOrAskable(
        this,
        options.yes,
        `Refusing to delete project "${idOrName}" without confirmation`,
      );
      const { api, out } = await connect(this);
      const found = await api.projects.get(idOrName);
      if (!confirmed) {
        await confirmOrCancel(
          `Delete project ${found.name} and all its deployments?`,
          "Cancelled: nothing was deleted",
        );
      }
      await api.projects.delete(found.id);
      out.result(
        { ...wireObject(found), deleted: true },
        () => `Deleted project ${found.name} (${found.id})`,
      );
    });

  return project;
}

function describe(out: Output, project: Project): string {
  return out.fields([
    ["name", out.bold(project.name)],
    ["id", project.id],
    ["description", project.description],
    ["created", out.time(project.createdAt)],
    ["updated", out.time(project.updatedAt)],
  ]);
}
