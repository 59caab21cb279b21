/**
 * What `logs` and `invoke` take as their deployment: a deployment id, or a project (its name or
 * id), which stands for the project's production deployment, as `deployctl logs --project` and
 * `wrangler tail <worker>` take the thing people think in.
 *
 * @module
 */
import type { DeployApi } from "./api.ts";
import { isProduction } from "./domains.ts";
import { ApiError, DeployTenantError, ExitCode, isProjectNotFound } from "./errors.ts";
import type { Deployment, Project } from "./types.ts";

/** How many of a project's deployments, newest first, are looked through for its production one. */
const MAX_SCANNED = 200;
/** How many of them are read one by one when the list leaves their names out (v2). */
const MAX_FETCHED = 20;

/**
 * The deployment `target` names. A deployment id is that deployment. Otherwise a project's name
 * or id names its production deployment: the newest one that serves the production name
 * (`<project name>.<base domain>`, which `deploy --prod` moves), else its newest that serves.
 * Throws `targetNotFound` (exit 4) when `target` is neither, `noServingDeployment` (exit 4) when
 * the project has no deployment that serves.
 */
export async function resolveDeployment(api: DeployApi, target: string): Promise<Deployment> {
  try {
    return await api.deployments.get(target);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  let project: Project;
  try {
    project = await api.projects.get(target);
  } catch (error) {
    // Another 404 (an unknown organization, an API URL without its version) says so itself.
    if (!isProjectNotFound(error)) throw error;
    throw new DeployTenantError("targetNotFound", `No deployment or project is named "${target}"`, {
      hint: "`deploy-tenant deployments list <project>` lists a project's deployments with their " +
        "ids, `deploy-tenant projects list` the projects.",
      exitCode: ExitCode.notFound,
    });
  }
  let newestServing: Deployment | undefined;
  let scanned = 0;
  let fetched = 0;
  const newestFirst = { sort: "created_at", order: "desc" } as const;
  for await (let deployment of api.deployments.list(project.id, newestFirst)) {
    if (deployment.status === "success") {
      // A v2 list leaves out the names a revision serves: its own read has them.
      if (!deployment.domains?.length && fetched++ < MAX_FETCHED) {
        deployment = await api.deployments.get(deployment.id);
      }
      if (isProduction(project, deployment)) return deployment;
      newestServing ??= deployment;
    }
    if (++scanned >= MAX_SCANNED) break;
  }
  if (newestServing) return newestServing;
  throw new DeployTenantError(
    "noServingDeployment",
    `Project ${project.name} has no deployment that serves`,
    {
      hint: `Deploy one with \`deploy-tenant deploy <dir> --project ${project.name}\`.`,
      exitCode: ExitCode.notFound,
    },
  );
}

/** Whether `error` is the API's 404. */
function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}
