/**
 * The local host's HTTP API, as a Hono app: the Subhosting v1 routes under `/v1` and the
 * Deploy v2 routes under `/v2` and `/api/v2`, over one store, with Deploy's paths, JSON,
 * `{code, message}` errors and `Link` pagination. Every response carries a trace id
 * (`x-deno-ray`; v2 also `x-deno-trace-id`).
 *
 * The API records deployments and their files; building and running them is the
 * {@link ApiEngine}'s job.
 *
 * @module
 */
import { BodyBudget, countBodyAgainst } from "./body_budget.ts";
import { Hono } from "hono";
import type { AppLogs } from "../tenant/app_logs.ts";
import type { BlobStore } from "../store/blobs.ts";
import { registerAnalyticsRoutes } from "./v1/analytics.ts";
import { registerDatabaseRoutes } from "./v1/databases.ts";
import { defaultDomainServices, type DomainServices, registerDomainRoutes } from "./v1/domains.ts";
import { registerAppLogRoutes } from "./v1/logs.ts";
import { registerRedeployRoutes } from "./v1/redeploy.ts";
import { storageFailure } from "./storage_errors.ts";
import type { Store } from "../store/store.ts";
import type { UsageMeter } from "../tenant/usage.ts";
import { RequestError } from "./validate.ts";
import { DeploymentWrites } from "./deployment_writes.ts";
import { QuotaGuard, type Quotas } from "./quotas.ts";
import { LiveStreamSlots } from "./live_streams.ts";
import type { ApiEngine } from "./engine.ts";
import { type ApiEnv, errorJson, newRayId, readJson } from "./http.ts";
import { registerDeploymentRoutes } from "./v1/deployments.ts";
import { registerProjectRoutes } from "./v1/projects.ts";
import { createV2Api } from "./v2/mod.ts";

export type { ApiEngine } from "./engine.ts";
export { startBuild } from "./engine.ts";
export { type ApiEnv, listAnswer, readJson, SMALL_BODY_BYTES } from "./http.ts";
export { deploymentJson } from "./v1/wire.ts";

type Env = ApiEnv;

/** Tunables of {@link createApi}. */
export interface ApiOptions {
  /** Largest accepted create-deployment body, in bytes. Default {@link DEFAULT_MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
  /** Per-organization quotas; the ones not given are the defaults (quotas.ts). */
  quotas?: Partial<Quotas>;
  /** Custom domains: DNS verification and the local CA. Default {@link defaultDomainServices}. */
  domains?: DomainServices;
  /** App logs; without them `GET /deployments/{id}/app_logs` is not served. */
  appLogs?: AppLogs;
  /** Usage counts; without them the analytics endpoints are not served. */
  usage?: UsageMeter;
}

/**
 * 1.5 GiB: Deploy allows 1 GB of assets per deployment, and base64 inflates binary files
 * by a third. (The body is parsed in one piece for now, so in practice V8's largest string,
 * about 512 MiB, is the real limit until a streaming parser lands.)
 */
export const DEFAULT_MAX_BODY_BYTES = 1.5 * 1024 ** 3;

/**
 * The API app: `GET /health`, the v1 routes under `/v1` and the v2 routes under `/v2` and
 * `/api/v2`, bearer-token authenticated. Serve it with `Deno.serve(app.fetch)` or mount it.
 */
export function createApi(
  store: Store,
  blobs: BlobStore,
  engine: ApiEngine,
  options: ApiOptions = {},
): Hono<Env> {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const quotas = new QuotaGuard(store, options.quotas);
  const writes = new DeploymentWrites(store, blobs, engine, quotas);
  // Shared by v1 and v2: an organization's live log streams count together.
  const liveStreams = new LiveStreamSlots();
  const app = new Hono<Env>();
  // Request bodies held at once: one body limit's worth per organization, twice that in all.
  const bodies = new BodyBudget(maxBodyBytes, 2 * maxBodyBytes);

  app.use("*", async (c, next) => {
    const rayId = newRayId();
    c.set("rayId", rayId);
    countBodyAgainst(c.req.raw, bodies);
    try {
      await next();
    } finally {
      // Answered: what its body parsed to is no longer held for it.
      bodies.release(c.req.raw);
    }
    c.res.headers.set("x-deno-ray", rayId);
  });

  app.get("/health", (c) => c.json({ ok: true }));

  app.use("/v1/*", async (c, next) => {
    const token = c.req.header("authorization")?.match(/^Bearer[ \t]+(\S+)[ \t]*$/i)?.[1];
    if (!token) {
      throw new RequestError(
        401,
        "unauthorized",
        "Missing access token: send the header 'Authorization: Bearer <token>'",
      );
    }
    const organizationId = store.organizationForToken(token);
    if (!organizationId) {
      throw new RequestError(401, "unauthorized", "The access token is invalid or was revoked");
    }
    c.set("organizationId", organizationId);
    await next();
  });

  registerProjectRoutes(app, store, engine, writes, quotas);
  registerDeploymentRoutes(app, store, engine, writes, maxBodyBytes);
  registerRedeployRoutes(app, store, engine, quotas);
  registerDatabaseRoutes(app, store, engine, quotas);
  if (options.appLogs) registerAppLogRoutes(app, store, options.appLogs, liveStreams);
  if (options.usage) registerAnalyticsRoutes(app, store, options.usage);
  const domainServices = options.domains ?? defaultDomainServices(engine.baseDomain);
  registerDomainRoutes(app, store, domainServices, quotas, engine);

  const v2 = createV2Api({
    store,
    engine,
    appLogs: options.appLogs,
    usage: options.usage,
    domains: domainServices,
    maxBodyBytes,
    writes,
    quotas,
    liveStreams,
    readJson,
  });
  app.route("/v2", v2);
  app.route("/api/v2", v2);

  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length > 0 && !allowed.includes(c.req.method)) {
      c.header("Allow", allowed.join(", "));
      return errorJson(
        c,
        405,
        "methodNotAllowed",
        `${c.req.method} is not allowed on ${c.req.path}; use ${allowed.join(" or ")}`,
      );
    }
    return errorJson(c, 404, "notFound", `No such endpoint: ${c.req.method} ${c.req.path}`);
  });

  app.onError((error, c) => {
    if (error instanceof RequestError) {
      return errorJson(c, error.status, error.code, error.message);
    }
    const rayId = c.get("rayId");
    const storage = storageFailure(error);
    if (storage) {
      // The operator's problem, not a bug: one line, no stack.
      console.error(`[x-deno-ray ${rayId}] ${c.req.method} ${c.req.path}: ${error.message}`);
      return errorJson(c, storage.status, storage.code, storage.message);
    }
    console.error(`[x-deno-ray ${rayId}] ${c.req.method} ${c.req.path} failed:`, error);
    return errorJson(
      c,
      500,
      "internalServerError",
      `An internal error occurred; quote x-deno-ray ${rayId} when reporting it`,
    );
  });

  const dispatch = app.fetch;
  app.fetch = (request, env, context) => dispatch(withUpperCaseMethod(request), env, context);
  return app;
}

/**
 * `request` with its method upper-cased. Methods are case-sensitive in HTTP, but Fetch
 * upper-cases only DELETE, GET, HEAD, OPTIONS, POST and PUT, so a client built on it that
 * writes `patch` sends it so (node-fetch under the official `subhosting` SDK, for every domain
 * update), and Deploy's API takes it.
 */
function withUpperCaseMethod(request: Request): Request {
  const method = request.method.toUpperCase();
  return method === request.method ? request : new Request(request, { method });
}

/** The methods of the routes (not middleware) whose pattern matches `path`, for `Allow`. */
function allowedMethods(app: Hono<Env>, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === "ALL") continue;
    const pattern = route.path.split("/").map((segment) =>
      segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    );
    if (new RegExp(`^${pattern.join("/")}$`).test(path)) methods.add(route.method);
  }
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}
