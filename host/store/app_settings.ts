/**
 * What v2 adds to a project (an app): labels, a build and runtime `config`, the app's own
 * environment variables, and the layers it inherits variables from, in order. A v1 project
 * is an app with none of these set.
 *
 * @module
 */
import type { SQLInputValue } from "node:sqlite";
import type { Store } from "./store.ts";
import { timestamp } from "./store.ts";

/** One variable of an app or a layer (v2 `EnvVar`, the value kept even when secret). */
export interface EnvVarRecord {
  id: string;
  key: string;
  value: string;
  secret: boolean;
  /** `"all"`, or the contexts (`production`, `development`, `build`, …) it applies in. */
  contexts: "all" | string[];
}

/** Labels of an app or a revision: a value is a string or a list of strings. */
export type Labels = Record<string, string | string[]>;

/** An app's v2 settings. */
export interface AppSettings {
  labels: Labels;
  config: Record<string, unknown> | null;
  envVars: EnvVarRecord[];
  /** Layer ids, in priority order: a later layer overrides an earlier one. */
  layerIds: string[];
}

/** The app's settings; a project that does not exist has none. */
export function appSettings(store: Store, projectId: string): AppSettings | undefined {
  const row = store.database.prepare("SELECT labels, config, env_vars FROM projects WHERE id = ?")
    .get(projectId);
  if (!row) return undefined;
  return {
    labels: JSON.parse(String(row.labels)),
    config: row.config === null ? null : JSON.parse(String(row.config)),
    envVars: JSON.parse(String(row.env_vars)),
    layerIds: appLayerIds(store, projectId),
  };
}

/** Replaces the given settings of the app (the others stay) and touches its `updated_at`. */
export function updateAppSettings(
  store: Store,
  projectId: string,
  patch: Partial<AppSettings>,
): void {
  store.transaction(() => {
    const db = store.database;
    const set = (column: string, value: SQLInputValue) =>
      db.prepare(`UPDATE projects SET ${column} = ? WHERE id = ?`).run(value, projectId);
    if (patch.labels) set("labels", JSON.stringify(patch.labels));
    if (patch.config !== undefined) set("config", patch.config && JSON.stringify(patch.config));
    if (patch.envVars) set("env_vars", JSON.stringify(patch.envVars));
    if (patch.layerIds) {
      db.prepare("DELETE FROM app_layers WHERE project_id = ?").run(projectId);
      const insert = db.prepare(
        "INSERT INTO app_layers (project_id, position, layer_id) VALUES (?, ?, ?)",
      );
      patch.layerIds.forEach((layerId, position) => insert.run(projectId, position, layerId));
    }
    set("updated_at", timestamp());
  });
}

/** The app's layer ids in priority order. */
export function appLayerIds(store: Store, projectId: string): string[] {
  return store.database.prepare(
    "SELECT layer_id FROM app_layers WHERE project_id = ? ORDER BY position",
  ).all(projectId).map((row) => String(row.layer_id));
}

/**
 * Ids of the organization's projects with every label in `labels` (a list-valued label
 * matches when it holds the value) and, when given, the layer `layerId`; oldest first.
 */
export function projectsMatching(
  store: Store,
  organizationId: string,
  filter: { labels?: Record<string, string>; layerId?: string },
): string[] {
  const where = ["p.organization_id = ?"];
  const params: SQLInputValue[] = [organizationId];
  for (const [key, value] of Object.entries(filter.labels ?? {})) {
    where.push(`EXISTS (SELECT 1 FROM json_each(p.labels) l WHERE l.key = ? AND (
      (l.type = 'text' AND l.value = ?) OR
      (l.type = 'array' AND EXISTS (SELECT 1 FROM json_each(l.value) v WHERE v.value = ?))))`);
    params.push(key, value, value);
  }
  if (filter.layerId) {
    where.push("EXISTS (SELECT 1 FROM app_layers a WHERE a.project_id = p.id AND a.layer_id = ?)");
    params.push(filter.layerId);
  }
  return store.database.prepare(
    `SELECT p.id FROM projects p WHERE ${where.join(" AND ")} ORDER BY p.created_at, p.rowid`,
  ).all(...params).map((row) => String(row.id));
}
