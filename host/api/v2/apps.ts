/**
 * v2 apps: `GET/POST /apps`, `GET/PATCH/DELETE /apps/{app}`. An app is a v1 project (its
 * slug is the project's name) with labels, a config, its own variables and its layers.
 * Changing the variables or the layers restarts the app's running processes.
 *
 * @module
 */
import type { Hono } from "hono";
import { z } from "zod";
import { randomProjectName } from "../../store/ids.ts";
import { ProjectNameTakenError, type ProjectRecord } from "../../store/store.ts";
import {
  type AppSettings,
  appSettings,
  projectsMatching,
  updateAppSettings,
} from "../../store/app_settings.ts";
import { findLayer } from "../../store/layers.ts";
import { assertProjectName, parseBody, RequestError } from "../validate.ts";
import {
  invalid,
  ownApp,
  paginate,
  SMALL_BODY_BYTES,
  type V2Context,
  type V2Deps,
  type V2Env,
} from "./common.ts";
import { envVarInput, envVarUpdate, mergeEnvVars, newEnvVars } from "./env_vars.ts";
import { appJson, appListItemJson } from "./wire.ts";

/** At most five labels per app, as on Deploy. */
export const MAX_APP_LABELS = 5;

const labelValue = z.string().max(256);
const labels = z.record(
  z.string().min(1).max(128),
  z.union([labelValue, z.array(labelValue).max(16)]),
)
  .refine((value) => Object.keys(value).length <= MAX_APP_LABELS, {
    message: `at most ${MAX_APP_LABELS} labels`,
  });

/** v2 `Config`, checked where the local host acts on it (the runtime); the rest is kept. */
export const appConfig = z.looseObject({
  framework: z.string().optional(),
  install: z.string().nullish(),
  build: z.string().nullish(),
  predeploy: z.string().nullish(),
  runtime: z.union([
    z.strictObject({
      type: z.literal("dynamic"),
      entrypoint: z.string().min(1),
      args: z.array(z.string()).optional(),
    }),
    z.strictObject({ type: z.literal("static"), cwd: z.string(), spa: z.boolean().optional() }),
  ]).optional(),
  crons: z.boolean().optional(),
});

const createAppBody = z.strictObject({
  slug: z.string().optional(),
  labels: labels.optional(),
  layers: z.array(z.string()).optional(),
  env_vars: z.array(envVarInput).optional(),
  config: appConfig.optional(),
});

const updateAppBody = z.strictObject({
  slug: z.string().optional(),
  labels: labels.optional(),
  layers: z.array(z.string()).optional(),
  env_vars: z.array(envVarUpdate).optional(),
  config: appConfig.optional(),
});

/** Registers the app routes. */
export function registerAppRoutes(v2: Hono<V2Env>, deps: V2Deps): void {
  const { store, engine } = deps;

  v2.get("/apps", (c) => {
    const filter: { labels: Record<string, string>; layerId?: string } = { labels: {} };
    for (const [key, value] of new URL(c.req.url).searchParams) {
      const label = key.match(/^labels\[(.+)\]$/)?.[1];
      if (label !== undefined) filter.labels[label] = value;
    }
    const layer = c.req.query("layer");
    if (layer) {
      const found = findLayer(store, c.get("organizationId"), layer);
      if (!found) return c.json([]);
      filter.layerId = found.id;
    }
    const ids = projectsMatching(store, c.get("organizationId"), filter);
    return c.json(
      paginate(c, ids).map((id) => appListItemJson(store, store.getProject(id)!)),
    );
  });

  v2.post("/apps", async (c) => {
    const body = parseBody(createAppBody, await deps.readJson(c, SMALL_BODY_BYTES));
    const settings: Partial<AppSettings> = {
      labels: body.labels ?? {},
      config: body.config ?? null,
      envVars: newEnvVars(body.env_vars ?? []),
      layerIds: layerIds(c, body.layers ?? []),
    };
    if (body.slug !== undefined) assertProjectName(body.slug);
    deps.quotas.assertCanCreate(c.get("organizationId"), "projects");
    // A random slug may clash with an existing name: draw again.
    for (let attempt = 0; attempt < 20; attempt++) {
      const name = body.slug ?? randomProjectName();
      try {
        const project = store.transaction(() => {
          const created = store.createProject(c.get("organizationId"), { name, description: "" });
          updateAppSettings(store, created.id, settings);
          return store.getProject(created.id)!;
        });
        return c.json(appJson(store, project));
      } catch (error) {
        if (!(error instanceof ProjectNameTakenError)) throw error;
        if (body.slug !== undefined) throw slugTaken(name);
      }
    }
    throw new Error("Could not find a free random app slug");
  });

  v2.get("/apps/:app", (c) => c.json(appJson(store, ownApp(c, store, c.req.param("app")))));

  v2.patch("/apps/:app", async (c) => {
    let project = ownApp(c, store, c.req.param("app"));
    const body = parseBody(updateAppBody, await deps.readJson(c, SMALL_BODY_BYTES));
    const current = appSettings(store, project.id)!;
    const patch: Partial<AppSettings> = {};
    if (body.labels) patch.labels = body.labels;
    if (body.config) patch.config = body.config;
    if (body.layers) patch.layerIds = layerIds(c, body.layers);
    if (body.env_vars) patch.envVars = mergeEnvVars(current.envVars, body.env_vars);
    if (body.slug !== undefined && body.slug !== project.name) {
      assertProjectName(body.slug);
      try {
        project = store.updateProject(project.id, { name: body.slug }, engine.baseDomain) ??
          project;
      } catch (error) {
        if (error instanceof ProjectNameTakenError) throw slugTaken(body.slug);
        throw error;
      }
    }
    updateAppSettings(store, project.id, patch);
    // Running processes pick the new variables up by restarting, as on Deploy.
    if (patch.envVars || patch.layerIds) await restartApp(deps, project.id);
    return c.json(appJson(store, store.getProject(project.id)!));
  });

  v2.delete("/apps/:app", async (c) => {
    const project = ownApp(c, store, c.req.param("app"));
    await deleteApp(deps, project);
    return c.body(null, 204);
  });

  function layerIds(c: V2Context, refs: string[]): string[] {
    return refs.map((ref) => {
      const layer = findLayer(store, c.get("organizationId"), ref);
      if (!layer) throw invalid(`Layer "${ref}" was not found`, "LAYER_NOT_FOUND");
      return layer.id;
    });
  }
}

/** Stops the running processes of every deployment of the app (they restart on demand). */
export async function restartApp(deps: V2Deps, projectId: string): Promise<void> {
  await deps.engine.restartDeployments?.(deps.store.listDeploymentIds(projectId));
}

/** Deletes an app and every revision of it. */
export async function deleteApp(deps: V2Deps, project: ProjectRecord): Promise<void> {
  await deps.writes.deleteProject(project.id);
}

function slugTaken(slug: string): RequestError {
  return new RequestError(
    409,
    "APP_ALREADY_EXISTS",
    `An app with the slug "${slug}" already exists`,
  );
}
