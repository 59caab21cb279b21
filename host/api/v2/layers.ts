/**
 * v2 layers: `GET/POST /layers`, `GET/PATCH/DELETE /layers/{layer}`, `GET
 * /layers/{layer}/apps`. A change to a layer's variables or bases restarts the running
 * processes of every app that inherits from it.
 *
 * @module
 */
import type { Hono } from "hono";
import { z } from "zod";
import {
  appsUsingLayer,
  createLayer,
  deleteLayer,
  findLayer,
  getLayer,
  LayerInUseError,
  type LayerRecord,
  LayerSlugTakenError,
  listLayers,
  projectsAffectedByLayer,
  updateLayer,
} from "../../store/layers.ts";
import type { Store } from "../../store/store.ts";
import { parseBody, RequestError } from "../validate.ts";
import {
  invalid,
  ownLayer,
  pageOf,
  paginate,
  param,
  slugProblem,
  SMALL_BODY_BYTES,
  type V2Context,
  type V2Deps,
  type V2Env,
} from "./common.ts";
import { envVarInput, envVarJson, envVarUpdate, mergeEnvVars, newEnvVars } from "./env_vars.ts";
import { restartApp } from "./apps.ts";
import { layerRefs } from "./wire.ts";

const createLayerBody = z.strictObject({
  slug: z.string(),
  description: z.string().max(1000).optional(),
  layers: z.array(z.string()).optional(),
  env_vars: z.array(envVarInput).optional(),
});

const updateLayerBody = z.strictObject({
  slug: z.string().optional(),
  description: z.string().max(1000).optional(),
  layers: z.array(z.string()).optional(),
  env_vars: z.array(envVarUpdate).optional(),
});

/** Registers the layer routes. */
export function registerLayerRoutes(v2: Hono<V2Env>, deps: V2Deps): void {
  const { store } = deps;

  v2.get("/layers", (c) => {
    const search = param(c, "search");
    const layers = pageOf(
      c,
      (offset, limit) => listLayers(store, c.get("organizationId"), search, { offset, limit }),
    );
    return c.json(layers.map((layer) => layerJson(store, layer)));
  });

  v2.post("/layers", async (c) => {
    const body = parseBody(createLayerBody, await deps.readJson(c, SMALL_BODY_BYTES));
    assertSlug(body.slug);
    deps.quotas.assertCanCreate(c.get("organizationId"), "layers");
    try {
      const layer = createLayer(store, c.get("organizationId"), {
        slug: body.slug,
        description: body.description ?? "",
        envVars: newEnvVars(body.env_vars ?? []),
        baseIds: baseIds(c, body.layers ?? []),
      });
      return c.json(layerJson(store, layer), 201);
    } catch (error) {
      throw slugError(error);
    }
  });

  v2.get(
    "/layers/:layer",
    (c) => c.json(layerJson(store, ownLayer(c, store, c.req.param("layer")))),
  );

  v2.patch("/layers/:layer", async (c) => {
    const layer = ownLayer(c, store, c.req.param("layer"));
    const body = parseBody(updateLayerBody, await deps.readJson(c, SMALL_BODY_BYTES));
    if (body.slug !== undefined) assertSlug(body.slug);
    const bases = body.layers && baseIds(c, body.layers, layer.id);
    let updated: LayerRecord | undefined;
    try {
      updated = updateLayer(store, layer.id, {
        slug: body.slug,
        description: body.description,
        envVars: body.env_vars && mergeEnvVars(layer.envVars, body.env_vars),
        baseIds: bases,
      });
    } catch (error) {
      throw slugError(error);
    }
    if (body.env_vars || body.layers) {
      for (const projectId of projectsAffectedByLayer(store, layer.id)) {
        await restartApp(deps, projectId);
      }
    }
    return c.json(layerJson(store, updated ?? layer));
  });

  v2.delete("/layers/:layer", (c) => {
    const layer = ownLayer(c, store, c.req.param("layer"));
    try {
      deleteLayer(store, layer.id);
    } catch (error) {
      if (!(error instanceof LayerInUseError)) throw error;
      throw new RequestError(
        409,
        "LAYER_IN_USE",
        `Layer "${layer.slug}" is used by ${error.users} app(s) or layer(s): remove it from them first`,
      );
    }
    return c.body(null, 204);
  });

  v2.get("/layers/:layer/apps", (c) => {
    const layer = ownLayer(c, store, c.req.param("layer"));
    return c.json(
      paginate(c, appsUsingLayer(store, layer.id)).map((app) => ({
        id: app.id,
        slug: app.slug,
        layer_position: app.layerPosition,
      })),
    );
  });

  /** Layer ids from ids or slugs; a layer may not (even indirectly) build on itself. */
  function baseIds(c: V2Context, refs: string[], self?: string): string[] {
    return refs.map((ref) => {
      const base = findLayer(store, c.get("organizationId"), ref);
      if (!base) throw invalid(`Layer "${ref}" was not found`, "LAYER_NOT_FOUND");
      if (self !== undefined && buildsOn(store, base.id, self)) {
        throw invalid(`Layer "${ref}" builds on this layer: layers cannot form a cycle`);
      }
      return base.id;
    });
  }
}

/** A layer as v2 answers it. */
export function layerJson(store: Store, layer: LayerRecord): Record<string, unknown> {
  return {
    id: layer.id,
    slug: layer.slug,
    description: layer.description,
    layers: layerRefs(store, layer.baseIds),
    env_vars: layer.envVars.map(envVarJson),
    app_count: appsUsingLayer(store, layer.id).length,
    created_at: layer.createdAt,
    updated_at: layer.updatedAt,
  };
}

/** Whether layer `id` is `target` or builds on it. */
function buildsOn(store: Store, id: string, target: string): boolean {
  const seen = new Set<string>();
  const visit = (current: string): boolean => {
    if (current === target) return true;
    if (seen.has(current)) return false;
    seen.add(current);
    return (getLayer(store, current)?.baseIds ?? []).some(visit);
  };
  return visit(id);
}

function assertSlug(slug: string): void {
  const problem = slugProblem(slug, "layer");
  if (problem) throw invalid(problem);
}

function slugError(error: unknown): unknown {
  if (!(error instanceof LayerSlugTakenError)) return error;
  return new RequestError(409, "LAYER_ALREADY_EXISTS", error.message);
}
