/**
 * Layers (v2): organization-wide, named sets of environment variables that apps inherit, in
 * order. A layer may build on other layers. A layer an app or another layer uses cannot be
 * deleted. {@link runtimeEnv} resolves what a deployment's process sees.
 *
 * @module
 */
import type { SQLInputValue } from "node:sqlite";
import { newUuid } from "./ids.ts";
import type { DeploymentRecord, Store } from "./store.ts";
import { timestamp } from "./store.ts";
import { appSettings, type EnvVarRecord } from "./app_settings.ts";

/** A layer as stored. */
export interface LayerRecord {
  id: string;
  organizationId: string;
  slug: string;
  description: string;
  envVars: EnvVarRecord[];
  /** Layers this one builds on, in priority order (its own variables override theirs). */
  baseIds: string[];
  createdAt: string;
  updatedAt: string;
}

/** The slug is used by another layer of the organization. */
export class LayerSlugTakenError extends Error {
  /** Creates the error for `slug`. */
  constructor(readonly slug: string) {
    super(`A layer named "${slug}" already exists`);
  }
}

/** The layer is used by apps or other layers. */
export class LayerInUseError extends Error {
  /** Creates the error; `users` counts the apps and layers using it. */
  constructor(readonly users: number) {
    super(`The layer is used by ${users} app(s) or layer(s)`);
  }
}

/** Creates a layer. Throws {@link LayerSlugTakenError}. */
export function createLayer(
  store: Store,
  organizationId: string,
  layer: Pick<LayerRecord, "slug" | "description" | "envVars" | "baseIds">,
): LayerRecord {
  const id = `lyr_${newUuid().replaceAll("-", "").slice(0, 20)}`;
  const now = timestamp();
  return store.transaction(() => {
    if (findLayer(store, organizationId, layer.slug)) throw new LayerSlugTakenError(layer.slug);
    store.database.prepare(
      `INSERT INTO layers (id, organization_id, slug, description, env_vars, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      organizationId,
      layer.slug,
      layer.description,
      JSON.stringify(layer.envVars),
      now,
      now,
    );
    setBases(store, id, layer.baseIds);
    return getLayer(store, id)!;
  });
}

/** The layer `id`. */
export function getLayer(store: Store, id: string): LayerRecord | undefined {
  const row = store.database.prepare("SELECT * FROM layers WHERE id = ?").get(id);
  return row ? toLayer(store, row) : undefined;
}

/** The organization's layer whose id or slug is `idOrSlug`. */
export function findLayer(
  store: Store,
  organizationId: string,
  idOrSlug: string,
): LayerRecord | undefined {
  const row = store.database.prepare(
    "SELECT * FROM layers WHERE organization_id = ? AND (id = ? OR slug = ?)",
  ).get(organizationId, idOrSlug, idOrSlug);
  return row ? toLayer(store, row) : undefined;
}

/**
 * The organization's layers, oldest first, whose slug contains `search` when given; `limit` of
 * them from the `offset`th on when a window is given (a limit of -1 is no limit).
 */
export function listLayers(
  store: Store,
  organizationId: string,
  search?: string,
  window: { offset: number; limit: number } = { offset: 0, limit: -1 },
): LayerRecord[] {
  const params: SQLInputValue[] = [organizationId];
  let where = "organization_id = ?";
  if (search) {
    where += " AND instr(slug, ?) > 0";
    params.push(search.toLowerCase());
  }
  // A page at a time: each layer holds up to 512 KiB of variables, an organization 1 000 layers.
  return store.database.prepare(
    `SELECT * FROM layers WHERE ${where} ORDER BY created_at, rowid LIMIT ? OFFSET ?`,
  ).all(...params, window.limit, window.offset).map((row) => toLayer(store, row));
}

/** Replaces the given fields of a layer. Throws {@link LayerSlugTakenError}. */
export function updateLayer(
  store: Store,
  id: string,
  patch: Partial<Pick<LayerRecord, "slug" | "description" | "envVars" | "baseIds">>,
): LayerRecord | undefined {
  return store.transaction(() => {
    const layer = getLayer(store, id);
    if (!layer) return undefined;
    if (patch.slug && patch.slug !== layer.slug) {
      if (findLayer(store, layer.organizationId, patch.slug)) {
        throw new LayerSlugTakenError(patch.slug);
      }
    }
    store.database.prepare(
      `UPDATE layers SET slug = ?, description = ?, env_vars = ?, updated_at = ? WHERE id = ?`,
    ).run(
      patch.slug ?? layer.slug,
      patch.description ?? layer.description,
      JSON.stringify(patch.envVars ?? layer.envVars),
      timestamp(),
      id,
    );
    if (patch.baseIds) setBases(store, id, patch.baseIds);
    return getLayer(store, id);
  });
}

/** Deletes a layer no app or layer uses. Throws {@link LayerInUseError}. */
export function deleteLayer(store: Store, id: string): void {
  store.transaction(() => {
    const users = appsUsingLayer(store, id).length + Number(
      store.database.prepare("SELECT count(*) AS n FROM layer_bases WHERE base_id = ?").get(id)
        ?.n,
    );
    if (users > 0) throw new LayerInUseError(users);
    store.database.prepare("DELETE FROM layers WHERE id = ?").run(id);
  });
}

/** The apps that list the layer directly, with its position in each app's list. */
export function appsUsingLayer(
  store: Store,
  layerId: string,
): { id: string; slug: string; layerPosition: number }[] {
  return store.database.prepare(
    `SELECT p.id, p.name, a.position FROM app_layers a JOIN projects p ON p.id = a.project_id
     WHERE a.layer_id = ? ORDER BY p.created_at, p.rowid`,
  ).all(layerId).map((row) => ({
    id: String(row.id),
    slug: String(row.name),
    layerPosition: Number(row.position),
  }));
}

/** Projects whose variables change when the layer does: directly or through other layers. */
export function projectsAffectedByLayer(store: Store, layerId: string): string[] {
  const layers = new Set([layerId]);
  for (const current of layers) {
    const rows = store.database.prepare("SELECT layer_id FROM layer_bases WHERE base_id = ?")
      .all(current);
    for (const row of rows) layers.add(String(row.layer_id));
  }
  const projects = new Set<string>();
  for (const id of layers) for (const app of appsUsingLayer(store, id)) projects.add(app.id);
  return [...projects];
}

/**
 * The variables a deployment's process sees, v2's resolution order: its layers in order (a
 * layer's bases before the layer itself) < the app's variables < the deployment's own. Only
 * app and layer variables for `context` (or `all`) apply; `build` ones never reach runtime.
 */
export function runtimeEnv(
  store: Store,
  record: DeploymentRecord,
  context: string,
): Record<string, string> {
  const settings = appSettings(store, record.projectId);
  const env: Record<string, string> = {};
  const apply = (vars: EnvVarRecord[]) => {
    for (const v of vars) if (appliesIn(v, context)) env[v.key] = v.value;
  };
  const seen = new Set<string>();
  const applyLayer = (id: string) => {
    if (seen.has(id)) return; // a cycle, or a base listed twice
    seen.add(id);
    const layer = getLayer(store, id);
    if (!layer) return;
    for (const base of layer.baseIds) applyLayer(base);
    apply(layer.envVars);
  };
  for (const id of record.revision.layerIds ?? settings?.layerIds ?? []) applyLayer(id);
  apply(settings?.envVars ?? []);
  return { ...env, ...record.envVars };
}

/** Deploy's contexts are Production, Development (previews) and Build; `preview` reads as development. */
function appliesIn(variable: EnvVarRecord, context: string): boolean {
  if (variable.contexts === "all") return true;
  return variable.contexts.some((c) => {
    const name = c.toLowerCase();
    return name === context || (name === "preview" && context === "development");
  });
}

function setBases(store: Store, layerId: string, baseIds: string[]): void {
  store.database.prepare("DELETE FROM layer_bases WHERE layer_id = ?").run(layerId);
  const insert = store.database.prepare(
    "INSERT INTO layer_bases (layer_id, position, base_id) VALUES (?, ?, ?)",
  );
  baseIds.forEach((baseId, position) => insert.run(layerId, position, baseId));
}

function toLayer(store: Store, row: Record<string, unknown>): LayerRecord {
  const id = String(row.id);
  return {
    id,
    organizationId: String(row.organization_id),
    slug: String(row.slug),
    description: String(row.description),
    envVars: JSON.parse(String(row.env_vars)),
    baseIds: store.database.prepare(
      "SELECT base_id FROM layer_bases WHERE layer_id = ? ORDER BY position",
    ).all(id).map((r) => String(r.base_id)),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}
