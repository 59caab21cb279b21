/**
 * What a request names, looked up as its caller's organization sees it. Another organization's
 * project, deployment, KV database or domain is "not found", exactly like one that does not
 * exist: which ids exist never leaks across organizations.
 *
 * @module
 */
import type { Context } from "hono";
import type { KvDatabase, Organization } from "../../../lib/types.ts";
import type { ApiEnv } from "../http.ts";
import { isDeploymentId, isUuid } from "../../store/ids.ts";
import type { DeploymentRecord, ProjectRecord, Store } from "../../store/store.ts";
import { RequestError } from "../validate.ts";
import { type CustomDomainRecord, getCustomDomain } from "../../store/custom_domains.ts";
import { getKvDatabase } from "../../store/kv_databases.ts";

/** The caller's own organization `id`; any other is not found. */
export function ownOrganization(c: Context<ApiEnv>, store: Store, id: string): Organization {
  const organization = id === c.get("organizationId") ? store.getOrganization(id) : undefined;
  if (!organization) {
    throw new RequestError(404, "organizationNotFound", `Organization ${id} was not found`);
  }
  return organization;
}

/** Project `id` of the caller's organization. */
export function ownProject(c: Context<ApiEnv>, store: Store, id: string): ProjectRecord {
  const project = isUuid(id) ? store.getProject(id.toLowerCase()) : undefined;
  if (!project || project.organizationId !== c.get("organizationId")) throw projectNotFound(id);
  return project;
}

/** Deployment `id` of the caller's organization. */
export function ownDeployment(c: Context<ApiEnv>, store: Store, id: string): DeploymentRecord {
  const deployment = isDeploymentId(id) ? store.getDeploymentRecord(id) : undefined;
  if (!deployment || deployment.organizationId !== c.get("organizationId")) {
    throw deploymentNotFound(id);
  }
  return deployment;
}

/** KV database `id` of the caller's organization. */
export function ownDatabase(c: Context<ApiEnv>, store: Store, id: string): KvDatabase {
  const database = isUuid(id) ? getKvDatabase(store, id.toLowerCase()) : undefined;
  if (!database || database.organizationId !== c.get("organizationId")) {
    throw databaseNotFound(id);
  }
  return database;
}

/** Custom domain `id` of the caller's organization. */
export function ownDomain(c: Context<ApiEnv>, store: Store, id: string): CustomDomainRecord {
  const record = isUuid(id) ? getCustomDomain(store, id.toLowerCase()) : undefined;
  if (!record || record.organizationId !== c.get("organizationId")) {
    throw new RequestError(404, "domainNotFound", `Domain ${id} was not found`);
  }
  return record;
}

/** The 404 of a project that is not there (or went away mid-request). */
export function projectNotFound(id: string): RequestError {
  return new RequestError(404, "projectNotFound", `Project ${id} was not found`);
}

/** The 404 of a deployment that is not there (or went away mid-request). */
export function deploymentNotFound(id: string): RequestError {
  return new RequestError(404, "deploymentNotFound", `Deployment ${id} was not found`);
}

/** The 404 of a KV database that is not there (or went away mid-request). */
export function databaseNotFound(id: string): RequestError {
  return new RequestError(404, "databaseNotFound", `KV database ${id} was not found`);
}
