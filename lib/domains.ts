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
import { ApiError, DeployTenantError, ExitCode } from "./errors.ts";
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
 * Whether `deployment` serves its project's production name, `{project.name}.<base-domain>`
 * (never known for a v2 revision as listed: a listing has no timelines).
 */
export function isProduction(project: Project, deployment: Deployment): boolean {
  const base = baseDomainOf(project, deployment);
  return base !== undefined && (deployment.domains ?? []).includes(`${project.name}.${base}`);
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

/** A name {@link attachDomains} left where it was: a newer deployment holds it. */
export interface RefusedDomain {
  /** The host name, placeholders filled in. */
  domain: string;
  /** The deployment that keeps it (created after this one), when known. */
  heldBy?: string;
}

/** What {@link attachDomains} did. */
export interface AttachResult {
  /** The deployment, with its domains after attaching. */
  deployment: Deployment;
  /** The names attached, placeholders filled in, in the order given. */
  domains: string[];
  /** With `unlessNewer`: the names a newer deployment keeps (not attached). */
  refused: RefusedDomain[];
}

/**
 * Attaches host names to a deployment whose build succeeded: `production` adds
 * `{project.name}.<base-domain>`, `patterns` may use `{project.name}` and `{deployment.id}`
 * (e.g. `staging-{project.name}.example.com`). Each name moves from the deployment that had it,
 * except, with `unlessNewer` (what `deploy --prod` does), from a deployment created after
 * this one: such a name stays where it is and is listed in `refused`, so of two deploys
 * racing to production the newer one ends there whichever build ends last.
 *
 * @throws {DeployTenantError} `deploymentNotReady` unless the build succeeded; API errors
 *   (e.g. `domainNotVerified` for a custom domain the organization has not verified).
 */
export async function attachDomains(
  api: Pick<DeployApi, "deployments" | "domains">,
  project: Project,
  deployment: Deployment,
  request: { production?: boolean; patterns?: string[]; unlessNewer?: boolean },
): Promise<AttachResult> {
  assertServing(deployment);
  const wanted = [...request.patterns ?? []];
  if (request.production) wanted.push(productionDomain(project, deployment));
  const domains: string[] = [];
  const refused: RefusedDomain[] = [];
  const options = request.unlessNewer ? { unlessNewer: true } : undefined;
  for (const pattern of wanted) {
    try {
      domains.push(await api.domains.attach(deployment.id, pattern, options));
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "newerDeploymentHoldsDomain")) throw error;
      const domain = pattern.replaceAll("{project.name}", project.name)
        .replaceAll("{deployment.id}", deployment.id).toLowerCase();
      const heldBy = /stays with deployment ([a-z0-9]+)/i.exec(error.message)?.[1] ??
        (await domainHolder(api, project.id, domain))?.id;
      refused.push({ domain, heldBy });
    }
  }
  return { deployment: await api.deployments.get(deployment.id), domains, refused };
}

/**
 * The deployment of a project that serves `domain` now (e.g. its production name), or
 * `undefined` when none of the project's deployments does.
 */
export async function domainHolder(
  api: Pick<DeployApi, "deployments">,
  projectId: string,
  domain: string,
): Promise<Deployment | undefined> {
  const name = domain.toLowerCase();
  for await (const deployment of api.deployments.list(projectId)) {
    if (deployment.domains?.some((each) => each.toLowerCase() === name)) return deployment;
  }
  return undefined;
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
