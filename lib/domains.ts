/**
 * Production and staging: which host names a deployment answers on.
 *
 * Every deployment keeps its own `{project.name}-{deployment.id}.<base-domain>`. The
 * production name `{project.name}.<base-domain>` (`<base-domain>` is `deno.dev` on Deno
 * Deploy, the host's base domain locally) belongs to one deployment at a time:
 * {@link promote} moves it. Staging is the same with any other name, e.g. a custom domain
 * or `staging-{project.name}.example.com`, attached with {@link attachDomains}.
 *
 * @example
 * ```ts
 * const { domain } = await promote(api, "abcde12vwxyz");
 * console.log(`production is now at ${domain}`);
 * ```
 *
 * @module
 */
import type { DeployApi } from "./api.ts";
import { DeployTenantError, ExitCode } from "./errors.ts";
import type { Deployment, Project } from "./types.ts";

/**
 * The base domain a deployment's own host name shows, e.g. `localhost` from
 * `shop-abcde12vwxyz.localhost`, or `undefined` when it has none of the project's names.
 */
export function baseDomainOf(project: Project, deployment: Deployment): string | undefined {
  const domains = deployment.domains ?? [];
  const own = `${project.name}-${deployment.id}.`;
  const byOwnName = domains.find((domain) => domain.startsWith(own));
  if (byOwnName) return byOwnName.slice(own.length);
  return domains.find((domain) => domain.startsWith(`${project.name}.`))
    ?.slice(project.name.length + 1);
}

/**
 * `{project.name}.<base-domain>`: where the project's production deployment answers.
 *
 * @throws {DeployTenantError} `baseDomainUnknown` when the deployment has none of the
 *   project's own names to learn the base domain from.
 */
export function productionDomain(project: Project, deployment: Deployment): string {
  const base = baseDomainOf(project, deployment);
  if (base === undefined) {
    throw new DeployTenantError(
      "baseDomainUnknown",
      `Deployment ${deployment.id} has no ${project.name}-${deployment.id}.<domain> name to ` +
        "learn the base domain from.",
      {
        hint: "Attach the production name yourself: " +
          `\`deploy-tenant domain attach ${deployment.id} "{project.name}.<base-domain>"\`.`,
        exitCode: ExitCode.failed,
      },
    );
  }
  return `${project.name}.${base}`;
}

/** What {@link promote} did. */
export interface PromoteResult {
  /** The project. */
  project: Project;
  /** The promoted deployment, with its domains after the move. */
  deployment: Deployment;
  /** The production host name now served by it. */
  domain: string;
}

/**
 * Makes a deployment the project's production deployment: `{project.name}.<base-domain>`
 * moves to it. The deployment that had it keeps its own host name.
 *
 * @throws {DeployTenantError} `deploymentNotReady` unless the build succeeded; API errors.
 */
export async function promote(
  api: Pick<DeployApi, "projects" | "deployments" | "domains">,
  deploymentId: string,
): Promise<PromoteResult> {
  const deployment = await api.deployments.get(deploymentId);
  assertServing(deployment);
  const project = await api.projects.get(deployment.projectId);
  const domain = await api.domains.attach(deployment.id, productionDomain(project, deployment));
  return { project, deployment: await api.deployments.get(deployment.id), domain };
}

/** What {@link attachDomains} did. */
export interface AttachResult {
  /** The deployment, with its domains after attaching. */
  deployment: Deployment;
  /** The names attached, placeholders filled in, in the order given. */
  domains: string[];
}

/**
 * Attaches host names to a deployment whose build succeeded: `production` adds
 * `{project.name}.<base-domain>`, `patterns` may use `{project.name}` and `{deployment.id}`
 * (e.g. `staging-{project.name}.example.com`). Each name moves from the deployment that had it.
 *
 * @throws {DeployTenantError} `deploymentNotReady` unless the build succeeded; API errors
 *   (e.g. `domainNotVerified` for a custom domain the organization has not verified).
 */
export async function attachDomains(
  api: Pick<DeployApi, "deployments" | "domains">,
  project: Project,
  deployment: Deployment,
  request: { production?: boolean; patterns?: string[] },
): Promise<AttachResult> {
  assertServing(deployment);
  const wanted = [...request.patterns ?? []];
  if (request.production) wanted.push(productionDomain(project, deployment));
  const domains: string[] = [];
  for (const pattern of wanted) domains.push(await api.domains.attach(deployment.id, pattern));
  return { deployment: await api.deployments.get(deployment.id), domains };
}

function assertServing(deployment: Deployment): void {
  if (deployment.status === "success") return;
  throw new DeployTenantError(
    "deploymentNotReady",
    `Deployment ${deployment.id} cannot serve a domain: its build is ${deployment.status}.`,
    {
      hint: deployment.status === "pending"
        ? "Wait for the build to finish, then try again."
        : "Deploy again and promote a deployment whose build succeeded.",
      exitCode: ExitCode.failed,
    },
  );
}
