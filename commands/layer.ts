/**
 * `layer create|list|show|set|unset|delete|attach|detach` (Deploy v2 only): organization-wide
 * variables that every app using a layer inherits. A change reaches the apps' running
 * revisions without a redeploy; an app's own variables override its layers'.
 *
 * @module
 */
import { Command } from "commander";
import { parseEnvAssignment } from "../lib/env_file.ts";
import type { Output } from "../lib/output.ts";
import { envDeletes, envUpdates, type V2Api } from "../lib/v2_api.ts";
import type { Layer } from "../lib/v2/types.ts";
import { confirmedOrAskable, confirmOrCancel, connect, requireV2, usageError } from "./context.ts";
import { addVarOptions, formatAppVars } from "./env.ts";

interface VarFlags {
  secret?: boolean;
  context?: string[];
}

/** The `layer` command group. */
export function layerCommand(): Command {
  const layer = new Command("layer")
    .alias("layers")
    .description("Shared variables for many projects (Deploy v2 layers)")
    .addHelpText(
      "after",
      `
A layer holds variables every project (app) that uses it inherits; changing a layer reaches
the running revisions of those apps without a redeploy. Layers exist only on Deploy v2
(--api …/v2); with no API configured they use the local host's v2 API, --api-version v2 or
not. Resolution, lowest first: the app's layers in order, the app's own variables
(\`env set\`), the revision's (deploy --env).

Examples:
  $ deploy-tenant layer create crm-defaults MIN_SCORE=70 SALES_EMAIL=sales@acme.example
  $ deploy-tenant layer attach crm-defaults --project acme-crm
  $ deploy-tenant layer set crm-defaults MIN_SCORE=80
  $ deploy-tenant layer set crm-defaults API_KEY=s3cr3t --secret --context production
  $ deploy-tenant layer show crm-defaults
  $ deploy-tenant layer unset crm-defaults MIN_SCORE
  $ deploy-tenant layer list --json
  $ deploy-tenant layer detach crm-defaults --project acme-crm
  $ deploy-tenant layer delete crm-defaults --yes`,
    );

  addVarOptions(
    layer.command("create")
      .description("Create a layer, optionally with variables")
      .argument("<slug>", "its name: a-z, 0-9 and -")
      .argument("[assignments...]", "KEY=VALUE pairs")
      .option("--description <text>", "what the layer is for"),
  ).action(
    async function (
      this: Command,
      slug: string,
      assignments: string[],
      flags: VarFlags & { description?: string },
    ) {
      const { v2, out } = await v2Session(this);
      const vars = parseAssignments(assignments);
      const created = await v2.layers.create({
        slug,
        ...(flags.description ? { description: flags.description } : {}),
        ...(assignments.length > 0 ? { env_vars: inputs(vars, flags) } : {}),
      });
      out.result(created, () => `Created layer ${out.bold(created.slug)} (${created.id})`);
    },
  );

  layer.command("list")
    .alias("ls")
    .description("List the organization's layers")
    .action(async function (this: Command) {
      const { v2, out } = await v2Session(this);
      const layers = await Array.fromAsync(v2.layers.list({ limit: 100 }));
      out.result(layers, () =>
        out.table(layers, [
          { header: "SLUG", value: (l) => l.slug },
          { header: "ID", value: (l) => l.id, fit: "drop" },
          { header: "APPS", value: (l) => String(l.app_count ?? "") },
          {
            header: "VARIABLES",
            value: (l) => (l.env_vars ?? []).map((v) => v.key).join(", "),
            fit: "cut",
          },
          { header: "DESCRIPTION", value: (l) => l.description ?? "", fit: "cut" },
        ], "No layers yet: create one with `deploy-tenant layer create <slug>`."));
    });

  layer.command("show")
    .alias("view")
    .description("Show a layer, its variables and the apps using it")
    .argument("<layer>", "slug or id")
    .option("--show-values", "print the values of variables that are not secret")
    .action(async function (this: Command, idOrSlug: string, flags: { showValues?: boolean }) {
      const { v2, out } = await v2Session(this);
      const found = await v2.layers.get(idOrSlug);
      const apps = await Array.fromAsync(v2.layers.apps(found.id, { limit: 100 }));
      const document = flags.showValues ? found : hideValues(found);
      out.result({ ...document, apps }, () => describeLayer(out, found, apps, flags.showValues));
    });

  addVarOptions(
    layer.command("set")
      .description("Add or change a layer's variables (apps using it pick them up)")
      .argument("<layer>", "slug or id")
      .argument("<assignments...>", "KEY=VALUE pairs"),
  ).action(
    async function (this: Command, idOrSlug: string, assignments: string[], flags: VarFlags) {
      const { v2, out } = await v2Session(this);
      const vars = parseAssignments(assignments);
      const updated = await v2.layers.update(idOrSlug, {
        env_vars: envUpdates(vars, { secret: flags.secret, contexts: flags.context }),
      });
      out.result(
        hideValues(updated),
        () => changed(out, updated, `Set ${Object.keys(vars).join(", ")}`),
      );
    },
  );

  addVarOptions(
    layer.command("unset")
      .description("Remove variables from a layer")
      .argument("<layer>", "slug or id")
      .argument("<keys...>", "variable names"),
    false,
  ).action(async function (this: Command, idOrSlug: string, keys: string[], flags: VarFlags) {
    const invalid = keys.find((key) => key.includes("="));
    if (invalid !== undefined) {
      throw usageError(this, `"${invalid}" is not a variable name`, "Pass names only: KEY1 KEY2.");
    }
    const { v2, out } = await v2Session(this);
    const updated = await v2.layers.update(idOrSlug, {
      env_vars: envDeletes(keys, { contexts: flags.context }),
    });
    out.result(hideValues(updated), () => changed(out, updated, `Unset ${keys.join(", ")}`));
  });

  layer.command("delete")
    .aliases(["rm", "remove"])
    .description("Delete a layer (refused while apps use it)")
    .argument("<layer>", "slug or id")
    .option("--yes", "do not ask for confirmation")
    .action(async function (this: Command, idOrSlug: string, options: { yes?: boolean }) {
      const confirmed = confirmedOrAskable(
        this,
        options.yes,
        `Refusing to delete layer "${idOrSlug}" without confirmation`,
      );
      const { v2, out } = await v2Session(this);
      const found = await v2.layers.get(idOrSlug);
      if (!confirmed) {
        await confirmOrCancel(`Delete layer ${found.slug}?`, "Cancelled: nothing was deleted");
      }
      await v2.layers.delete(found.id);
      out.result({ ...hideValues(found), deleted: true }, () => `Deleted layer ${found.slug}`);
    });

  for (const [name, verb] of [["attach", "Add"], ["detach", "Remove"]] as const) {
    layer.command(name)
      .description(
        `${verb} a layer ${name === "attach" ? "to" : "from"} a project (no redeploy needed)`,
      )
      .argument("<layer>", "slug or id")
      // `layer attach <layer> <project>`: the action names the command to type instead.
      .allowExcessArguments()
      .option("-p, --project <name|id>", "the project (app)")
      .option("--app <name|id>", "the same as --project")
      .action(
        async function (
          this: Command,
          idOrSlug: string,
          flags: { project?: string; app?: string },
        ) {
          if (this.args.length > 1) {
            throw usageError(
              this,
              `layer ${name} takes one layer, but got ${this.args.length} arguments`,
              `The project goes in --project: \`deploy-tenant layer ${name} ${this.args[0]} ` +
                `--project ${this.args[1]}\`.`,
            );
          }
          const project = flags.project ?? flags.app;
          if (!project) throw usageError(this, `Which project? Pass --project <name>.`);
          const { v2, out } = await v2Session(this);
          const app = name === "attach"
            ? await v2.attachLayer(project, idOrSlug)
            : await v2.detachLayer(project, idOrSlug);
          const { env_vars: _hidden, ...document } = app;
          out.result(document, () => {
            const layers = app.layers.map((ref) => ref.slug).join(", ") || "none";
            return `${name === "attach" ? "Attached" : "Detached"} layer ${idOrSlug} ` +
              `${name === "attach" ? "to" : "from"} ${out.bold(app.slug)} (its layers: ${layers})`;
          });
        },
      );
  }
  return layer;
}

async function v2Session(command: Command): Promise<{ v2: V2Api; out: Output }> {
  // Layers exist only on v2: the local host's v2 API unless v1 is asked for.
  const session = await connect(command, undefined, { localHostVersion: "v2" });
  return { v2: requireV2(command, session, "Layers"), out: session.out };
}

function parseAssignments(assignments: string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const assignment of assignments) {
    const [key, value] = parseEnvAssignment(assignment);
    vars[key] = value;
  }
  return vars;
}

function inputs(vars: Record<string, string>, flags: VarFlags) {
  return Object.entries(vars).map(([key, value]) => ({
    key,
    value,
    ...(flags.secret ? { secret: true } : {}),
    ...(flags.context?.length ? { contexts: flags.context } : {}),
  }));
}

/** The layer without variable values: they are printed only when asked for. */
function hideValues(layer: Layer): Layer {
  return {
    ...layer,
    env_vars: (layer.env_vars ?? []).map(({ value: _value, ...rest }) => rest),
  };
}

function changed(out: Output, layer: Layer, what: string): string {
  const apps = layer.app_count === 1 ? "1 app picks" : `${layer.app_count ?? 0} apps pick`;
  return `${what} on layer ${out.bold(layer.slug)}: ${apps} it up, ` +
    "no redeploy needed";
}

function describeLayer(
  out: Output,
  layer: Layer,
  apps: { slug: string }[],
  showValues = false,
): string {
  const fields = out.fields([
    ["layer", out.bold(layer.slug)],
    ["id", layer.id],
    ["description", layer.description],
    ["layers", (layer.layers ?? []).map((ref) => ref.slug).join(", ") || undefined],
    ["apps", apps.map((app) => app.slug).join(", ") || "none"],
    ["created", layer.created_at],
    ["updated", layer.updated_at],
  ]);
  const vars = layer.env_vars ?? [];
  return vars.length === 0
    ? `${fields}\n\nNo variables.`
    : `${fields}\n\nVariables:\n${formatAppVars(out, vars, showValues)}`;
}
