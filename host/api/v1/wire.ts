/**
 * v1's JSON of the store's records: exactly the OpenAPI fields, camelCase.
 *
 * @module
 */
import type { Deployment, Organization, Project } from "../../../lib/types.ts";
import type { DeploymentRecord, ProjectRecord } from "../../store/store.ts";

/** An organization as v1 shows it. */
export function organizationJson(organization: Organization): Organization {
  const { id, name, createdAt, updatedAt } = organization;
  return { id, name, createdAt, updatedAt };
}

/** A project as v1 shows it. */
export function projectJson(project: ProjectRecord): Project {
  const { id, name, description, createdAt, updatedAt } = project;
  return { id, name, description, createdAt, updatedAt };
}

/** A deployment as the API shows it: exactly the OpenAPI fields. */
export function deploymentJson(deployment: DeploymentRecord): Deployment {
  return {
    id: deployment.id,
    projectId: deployment.projectId,
    description: deployment.description,
    status: deployment.status,
    domains: deployment.domains && v1Domains(deployment),
    databases: deployment.databases,
    requestTimeout: deployment.requestTimeout,
    permissions: deployment.permissions,
    createdAt: deployment.createdAt,
    updatedAt: deployment.updatedAt,
  };
}

/** The deployment's names without v2's twins (`{p}.{org}.{base}`, `{p}-{id}.{org}.{base}`). */
function v1Domains(deployment: DeploymentRecord): string[] {
  const { projectName: p, id, organizationSlug: org } = deployment;
  const twins = [`${p}.${org}.`, `${p}-${id}.${org}.`];
  return deployment.domains!.filter((d) => !twins.some((prefix) => d.startsWith(prefix)));
}
