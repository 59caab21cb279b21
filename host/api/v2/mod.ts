/**
 * The Deploy v2 API of the local host, served at `/v2` and `/api/v2` (the official SDK's
 * form) from the same store as v1: apps, revisions, timelines, layers, logs, analytics.
 * Bearer tokens as for v1; `X-Deno-Org` may name the organization by slug or id. Every answer
 * carries `x-deno-trace-id`; errors are `{code, message}` with v2's upper-case codes.
 *
 * @module
 */
import { Hono } from "hono";
import { storageFailure } from "../storage_errors.ts";
import { RequestError } from "../validate.ts";
import { registerAppRoutes } from "./apps.ts";
import { notFound, type V2Deps, type V2Env, v2Error } from "./common.ts";
import { registerLayerRoutes } from "./layers.ts";
import { registerDomainRoutes } from "./domains.ts";
import { registerAnalyticsRoute, registerLogRoutes } from "./logs.ts";
import { registerRevisionRoutes } from "./revisions.ts";

export type { V2Deps, V2Env } from "./common.ts";

/** The v2 routes, to mount under `/v2` and `/api/v2`. */
export function createV2Api(deps: V2Deps): Hono<V2Env> {
  const { store } = deps;
  const v2 = new Hono<V2Env>();

  v2.use("*", async (c, next) => {
    c.header("x-deno-trace-id", c.get("rayId"));
    const token = c.req.header("authorization")?.match(/^Bearer[ \t]+(\S+)[ \t]*$/i)?.[1];
    if (!token) {
      throw new RequestError(
        401,
        "UNAUTHORIZED",
        "Missing access token: send the header 'Authorization: Bearer <token>'",
      );
    }
    const organizationId = store.organizationForToken(token);
    if (!organizationId) {
      throw new RequestError(401, "UNAUTHORIZED", "The access token is invalid or was revoked");
    }
    const named = c.req.header("x-deno-org");
    if (named && store.findOrganization(named)?.id !== organizationId) {
      throw new RequestError(
        403,
        "FORBIDDEN",
        `The access token has no access to organization "${named}"`,
      );
    }
    c.set("organizationId", organizationId);
    await next();
  });

  registerAppRoutes(v2, deps);
  registerRevisionRoutes(v2, deps);
  registerLayerRoutes(v2, deps);
  registerDomainRoutes(v2, deps, deps.domains);
  if (deps.appLogs) registerLogRoutes(v2, deps, deps.appLogs);
  if (deps.usage) registerAnalyticsRoute(v2, deps, deps.usage);

  v2.all("*", (c) => {
    throw notFound("endpoint", `${c.req.method} ${c.req.path}`);
  });

  v2.onError((error, c) => {
    c.header("x-deno-trace-id", c.get("rayId"));
    if (error instanceof RequestError) return v2Error(c, error.status, error.code, error.message);
    const storage = storageFailure(error);
    if (storage) {
      console.error(`[trace ${c.get("rayId")}] ${c.req.method} ${c.req.path}: ${error.message}`);
      return v2Error(c, storage.status, storage.code, storage.message);
    }
    console.error(`[trace ${c.get("rayId")}] ${c.req.method} ${c.req.path} failed:`, error);
    return v2Error(
      c,
      500,
      "INTERNAL_SERVER_ERROR",
      `An internal error occurred; quote x-deno-trace-id ${c.get("rayId")} when reporting it`,
    );
  });

  return v2;
}
