/**
 * The v2 JSON of the store's records: an app is a project, a revision is a deployment.
 * v1 statuses map to v2's (`pending` → `queued`, then `building` once the build began;
 * `success` → `succeeded`; `failed` → `failed` with a `failure_reason`).
 *
 * @module
 */
import { previewNames, productionNames } from "../../build/builder.ts";
import type { DeploymentRecord, ProjectRecord, Store } from "../../store/store.ts";
import { appSettings } from "../../store/app_settings.ts";
import { getLayer } from "../../store/layers.ts";
import { envVarJson } from "./env_vars.ts";

/** A revision's v2 status. */
export type RevisionStatus = "queued" | "building" | "succeeded" | "failed";

/** The v2 status of a deployment. */
export function revisionStatus(record: DeploymentRecord): RevisionStatus {
  if (record.status === "success") return "succeeded";
  if (record.status === "failed") return "failed";
  return record.buildStartedAt ? "building" : "queued";
}

/** Whether the revision will not change any more. */
export function isTerminal(record: DeploymentRecord): boolean {
  return record.status !== "pending";
}

/** `{id, slug}` of each layer id that still exists. */
export function layerRefs(store: Store, ids: readonly string[]): { id: string; slug: string }[] {
  return ids.flatMap((id) => {
    const layer = getLayer(store, id);
    return layer ? [{ id: layer.id, slug: layer.slug }] : [];
  });
}

/** The list form of an app: no variables, no config. */
export function appListItemJson(store: Store, project: ProjectRecord): Record<string, unknown> {
  const settings = appSettings(store, project.id);
  return {
    id: project.id,
    slug: project.name,
    labels: settings?.labels ?? {},
    layers: layerRefs(store, settings?.layerIds ?? []),
    created_at: project.createdAt,
    updated_at: project.updatedAt,
  };
}

/** An app as `GET /apps/{app}` answers it. */
export function appJson(store: Store, project: ProjectRecord): Record<string, unknown> {
  const settings = appSettings(store, project.id);
  return {
    ...appListItemJson(store, project),
    env_vars: (settings?.envVars ?? []).map(envVarJson),
    config: settings?.config ?? {},
    created_at: project.createdAt,
    updated_at: project.updatedAt,
  };
}

/** A revision's config: the one it was deployed with, else v1's entry point as a runtime. */
export function revisionConfig(record: DeploymentRecord): Record<string, unknown> {
  return record.revision.config ??
    { runtime: { type: "dynamic", entrypoint: record.entryPointUrl } };
}

/** The list form of a revision. */
export function revisionListItemJson(record: DeploymentRecord): Record<string, unknown> {
  const status = revisionStatus(record);
  return {
    id: record.id,
    status,
    failure_reason: status === "failed" ? record.failureReason ?? "error" : null,
    labels: record.revision.labels,
    created_at: record.createdAt,
    cancellation_requested_at: record.cancellationRequestedAt,
    build_finished_at: record.buildFinishedAt,
    deleted_at: null,
  };
}

/** A revision as `GET /revisions/{id}` answers it. */
export function revisionJson(
  store: Store,
  record: DeploymentRecord,
  baseDomain: string,
): Record<string, unknown> {
  const status = revisionStatus(record);
  return {
    ...revisionListItemJson(record),
    // Not in Deploy's schema (clients tolerate more fields): which app the revision is of.
    app: { id: record.projectId, slug: record.projectName },
    failure_detail: status === "failed" ? record.failureDetail : null,
    layers: layerRefs(
      store,
      record.revision.layerIds ?? appSettings(store, record.projectId)?.layerIds ?? [],
    ),
    env_vars: Object.entries(record.envVars).map(([key, value]) => ({ key, value })),
    config: revisionConfig(record),
    timelines: revisionTimelines(record, baseDomain),
  };
}

/**
 * Where the revision answers now (`revision.timelines`): production with its production
 * names and custom domains, and its own preview name. v2 names only; v1's twins also work.
 */
export function revisionTimelines(
  record: DeploymentRecord,
  baseDomain: string,
): { name: string; context: string; hostnames: string[] }[] {
  if (record.status !== "success") return [];
  const domains = record.domains ?? [];
  const [v1Production, production] = productionNames(
    record.projectName,
    record.organizationSlug,
    baseDomain,
  );
  const [v1Preview, preview] = previewNames(record, baseDomain);
  const own = new Set([v1Production, production, v1Preview, preview]);
  const timelines = [];
  if (domains.includes(production)) {
    const custom = domains.filter((d) => !own.has(d));
    timelines.push({
      name: "Production",
      context: "production",
      hostnames: [production, ...custom],
    });
  }
  if (domains.includes(preview)) {
    timelines.push({ name: `Preview ${record.id}`, context: "development", hostnames: [preview] });
  }
  return timelines;
}

/** v2 `Timeline` objects of a revision's timelines. */
export function timelineObjects(
  record: DeploymentRecord,
  baseDomain: string,
): Record<string, unknown>[] {
  return revisionTimelines(record, baseDomain).map((timeline) => ({
    slug: timeline.context === "production" ? "production" : `preview/${record.id}`,
    partition: {},
    domains: timeline.hostnames.map((domain) => ({ domain })),
    app: { id: record.projectId, slug: record.projectName },
    context: { slug: timeline.context },
  }));
}
