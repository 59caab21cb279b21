/**
 * `db create|list|rename|clear|delete`: the organization's KV databases. A deployment bound
 * to one (`deploy --db <id>`) gets it from `Deno.openKv()`.
 *
 * @module
 */
import { Command } from "commander";
import { confirmOrRefuse, connect } from "./context.ts";

/** The `db` command group. */
export function dbCommand(): Command {
  const db = new Command("db")
    .aliases(["databases", "dbs"])
    .description("Create, list, rename, empty and delete KV databases")
    .addHelpText(
      "after",
      `
A deployment bound to a database opens it with \`Deno.openKv()\` (no argument). Several
deployments may share one; its data outlives redeploys.

Examples:
  $ deploy-tenant db create --description "Acme's CRM state"
  $ deploy-tenant deploy ./hooks -p acme-crm --db 5b484959-cba2-482d-95ab-ba592784af80
  $ deploy-tenant db list --json
  $ deploy-tenant db rename 5b484959-cba2-482d-95ab-ba592784af80 "Acme CRM (prod)"
  $ deploy-tenant db clear 5b484959-cba2-482d-95ab-ba592784af80 --yes   # empty it (it filled the disk)
  $ deploy-tenant db delete 5b484959-cba2-482d-95ab-ba592784af80 --yes

clear and delete are extensions of the local host (Deno Deploy's v1 API has neither).`,
    );

  db.command("create")
    .description("Create a KV database and print its id")
    .option("--description <text>", "what the database is for")
    .action(async function (this: Command, options: { description?: string }) {
      const { api, out } = await connect(this);
      const created = await api.databases.create({ description: options.description });
      out.result(created, () =>
        [
          `Created KV database ${out.bold(created.id)}`,
          `Bind it with \`deploy-tenant deploy <dir> --db ${created.id}\`.`,
        ].join("\n"));
    });

  db.command("list")
    .alias("ls")
    .description("List the organization's KV databases, oldest first")
    .action(async function (this: Command) {
      const { api, out } = await connect(this);
      const databases = await Array.fromAsync(api.databases.list());
      out.result(databases, () =>
        out.table(databases, [
          { header: "ID", value: (d) => d.id },
          { header: "CREATED", value: (d) => out.time(d.createdAt) },
          { header: "DESCRIPTION", value: (d) => d.description, fit: "cut" },
        ], "No KV databases yet: create one with `deploy-tenant db create`."));
    });

  db.command("rename")
    .description("Change a KV database's description")
    .argument("<id>", "database id")
    .argument("<description>", "the new description")
    .action(async function (this: Command, id: string, description: string) {
      const { api, out } = await connect(this);
      const updated = await api.databases.update(id, { description });
      out.result(updated, () => `KV database ${out.bold(updated.id)} is now "${description}"`);
    });

  db.command("clear")
    .description("Delete every key of a KV database; deployments bound to it restart with it empty")
    .argument("<id>", "database id")
    .option("--yes", "do not ask for confirmation")
    .action(async function (this: Command, id: string, options: { yes?: boolean }) {
      await confirmOrRefuse(
        this,
        options.yes,
        `Delete every key of KV database ${id}?`,
        `Refusing to empty KV database ${id} without confirmation`,
      );
      const { api, out } = await connect(this);
      await api.databases.clear(id);
      out.result({ id, cleared: true }, () => `Emptied KV database ${out.bold(id)}`);
    });

  db.command("delete")
    .aliases(["rm", "remove"])
    .description("Delete a KV database no deployment is bound to")
    .argument("<id>", "database id")
    .option("--yes", "do not ask for confirmation")
    .action(async function (this: Command, id: string, options: { yes?: boolean }) {
      await confirmOrRefuse(
        this,
        options.yes,
        `Delete KV database ${id} and its data?`,
        `Refusing to delete KV database ${id} without confirmation`,
      );
      const { api, out } = await connect(this);
      await api.databases.delete(id);
      out.result({ id, deleted: true }, () => `Deleted KV database ${out.bold(id)}`);
    });

  return db;
}
