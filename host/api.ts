/**
 * The Subhosting v1 HTTP API of the local host, as a Hono app: organizations, projects,
 * deployments and build logs, with the same paths, JSON, `{code, message}` errors and
 * `Link` pagination as Deno Deploy. Every response carries an `x-deno-ray` trace id.
 *
 * The API records deployments and their files; building and running them is the
 * {@link ApiEngine}'s job.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { BuildLogEntry, Deployment, Organization, Project } from "../lib/types.ts";
import type { BlobStore } from "./blobs.ts";
import { newDeploymentId, randomProjectName } from "./ids.ts";
import { assertDatabasesOwned, registerDatabaseRoutes } from "./routes_databases.ts";
import { registerRedeployRoutes } from "./routes_redeploy.ts";
import type { AppLogs } from "./app_logs.ts";
import type { UsageMeter } from "./usage.ts";
import { parseStrictJsonBytes } from "./strict_json.ts";
import { registerAppLogRoutes } from "./routes_logs.ts";
import { registerAnalyticsRoutes } from "./routes_analytics.ts";
import { storageFailure } from "./storage_errors.ts";
import {
  defaultDomainServices,
  type DomainServices,
  registerDomainRoutes,
} from "./routes_domains.ts";
import { assertAttachable } from "./domains.ts";
import {
  type AssetRecord,
  type DeploymentRecord,
  type NewDeployment,
  ProjectNameTakenError,
  type ProjectRecord,
  type Store,
  UnknownBlobError,
} from "./store.ts";
import {
  assertProjectName,
  checkDeployment,
  type CheckedAsset,
  type CheckedDeployment,
  createDeploymentBody,
  createProjectBody,
  parseBody,
  parseListQuery,
  RequestError,
  resolveDomains,
  updateProjectBody,
} from "./validate.ts";
import { ownDeployment, ownOrganization, ownProject, projectNotFound } from "./ownership.ts";
import { createV2Api } from "./api/v2/mod.ts";

/** What the API needs from the build and runtime side of the host. */
export interface ApiEngine {
  /** The domain deployments are served under, e.g. `localhost`. */
  baseDomain: string;
  /** A pending deployment was recorded: start its build (the API answers at once). */
  deploymentCreated(id: string): void;
  /** A deployment is being deleted: stop its process and remove its files. */
  deploymentDeleted(id: string): Promise<void>;
  /**
   * The variables of these deployments changed (an app's or a layer's): stop their running
   * processes, so the next request starts them with the new values.
   */
  restartDeployments?(ids: string[]): Promise<void>;
}

/** Tunables of {@link createApi}. */
export interface ApiOptions {
  /** Largest accepted create-deployment body, in bytes. Default {@link DEFAULT_MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
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

/** Bodies of the small JSON requests (projects, databases, redeploys). */
export const SMALL_BODY_BYTES = 1024 * 1024;

/** Blob writes in flight per create-deployment request. */
const PUT_CONCURRENCY = 8;

/** Hono variables of an API request: the authenticated organization and the trace id. */
export type ApiEnv = { Variables: { organizationId: string; rayId: string } };
type Env = ApiEnv;

/**
 * The API app: `GET /health` and the v1 routes under `/v1`, bearer-token authenticated.
 * Serve it with `Deno.serve(app.fetch)` or mount it in another Hono app.
 */
export function createApi(
  store: Store,
  blobs: BlobStore,
  engine: ApiEngine,
  options: ApiOptions = {},
): Hono<Env> {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  // Creating deployments (which reuse blobs) shares this lock; freeing blobs takes it
  // alone, so a blob is never deleted between a create's check and its insert.
  const blobLock = new SharedExclusiveLock();
  const app = new Hono<Env>();

  app.use("*", async (c, next) => {
    const rayId = newRayId();
    c.set("rayId", rayId);
    await next();
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

  // ---- organizations ----

  app.get("/v1/organizations/:organizationId", (c) => {
    return c.json(organizationJson(ownOrganization(c, store, c.req.param("organizationId"))));
  });

  // ---- projects ----

  app.get("/v1/organizations/:organizationId/projects", (c) => {
    const organization = ownOrganization(c, store, c.req.param("organizationId"));
    const query = parseListQuery(new URL(c.req.url).searchParams, {
      sorts: ["name", "updated_at"],
      defaultSort: "updated_at",
    });
    const page = store.listProjects(organization.id, query);
    setLinkHeader(c, query.page, query.limit, page.total);
    return c.json(page.items.map(projectJson));
  });

  app.post("/v1/organizations/:organizationId/projects", async (c) => {
    const organization = ownOrganization(c, store, c.req.param("organizationId"));
    const body = parseBody(createProjectBody, await readJson(c, SMALL_BODY_BYTES));
    const description = body.description ?? "";
    if (body.name != null) {
      assertProjectName(body.name);
      return c.json(projectJson(createProject(organization.id, body.name, description)));
    }
    // A random name may clash with an existing one: draw again.
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        return c.json(projectJson(
          store.createProject(organization.id, { name: randomProjectName(), description }),
        ));
      } catch (error) {
        if (!(error instanceof ProjectNameTakenError)) throw error;
      }
    }
    throw new Error("Could not find a free random project name");
  });

  app.get("/v1/projects/:projectId", (c) => {
    return c.json(projectJson(ownProject(c, store, c.req.param("projectId"))));
  });

  app.patch("/v1/projects/:projectId", async (c) => {
    const project = ownProject(c, store, c.req.param("projectId"));
    const body = parseBody(updateProjectBody, await readJson(c, SMALL_BODY_BYTES));
    if (body.name != null) assertProjectName(body.name);
    try {
      const updated = store.updateProject(
        project.id,
        { name: body.name ?? undefined, description: body.description ?? undefined },
        engine.baseDomain,
      );
      if (!updated) throw projectNotFound(project.id);
      return c.json(projectJson(updated));
    } catch (error) {
      if (error instanceof ProjectNameTakenError) throw nameTaken(error.projectName);
      throw error;
    }
  });

  app.delete("/v1/projects/:projectId", async (c) => {
    const project = ownProject(c, store, c.req.param("projectId"));
    // Loop until none is left: a deployment may be created while we delete.
    for (let ids = store.listDeploymentIds(project.id); ids.length > 0;) {
      for (const id of ids) await deleteDeployment(id);
      ids = store.listDeploymentIds(project.id);
    }
    store.deleteProject(project.id);
    return c.body(null, 200);
  });

  // ---- deployments ----

  app.get("/v1/projects/:projectId/deployments", (c) => {
    const project = ownProject(c, store, c.req.param("projectId"));
    const query = parseListQuery(new URL(c.req.url).searchParams, {
      sorts: ["id", "created_at"],
      defaultSort: "created_at",
    });
    const page = store.listDeployments(project.id, query);
    setLinkHeader(c, query.page, query.limit, page.total);
    return c.json(page.items.map(deploymentJson));
  });

  app.post("/v1/projects/:projectId/deployments", async (c) => {
    const project = ownProject(c, store, c.req.param("projectId"));
    const organizationId = c.get("organizationId");
    const body = parseBody(createDeploymentBody, await readJson(c, maxBodyBytes));
    const checked = checkDeployment(body);
    assertDatabasesOwned(store, organizationId, checked.databases);
    const id = newDeploymentId();
    const domains = body.domains == null ? null : resolveDomains(body.domains, {
      projectName: project.name,
      deploymentId: id,
      baseDomain: engine.baseDomain,
    });
    for (const domain of domains ?? []) {
      assertAttachable(store, organizationId, domain, engine.baseDomain);
    }

    const record = await recordDeployment(organizationId, checked, {
      id,
      projectId: project.id,
      domains,
      requestedDomains: body.domains ?? null,
    });
    return c.json(deploymentJson(startBuild(store, engine, record)));
  });

  app.get("/v1/deployments/:deploymentId", (c) => {
    return c.json(deploymentJson(ownDeployment(c, store, c.req.param("deploymentId"))));
  });

  app.delete("/v1/deployments/:deploymentId", async (c) => {
    await deleteDeployment(ownDeployment(c, store, c.req.param("deploymentId")).id);
    return c.body(null, 200);
  });

  app.get("/v1/deployments/:deploymentId/build_logs", (c) => {
    const deployment = ownDeployment(c, store, c.req.param("deploymentId"));
    if (!(c.req.header("accept") ?? "").includes("application/x-ndjson")) {
      return c.json(store.buildLogs(deployment.id));
    }
    return c.body(buildLogStream(deployment), 200, {
      "content-type": "application/x-ndjson",
      "cache-control": "no-store",
    });
  });

  registerRedeployRoutes(app, store, engine);
  registerDatabaseRoutes(app, store);
  if (options.appLogs) registerAppLogRoutes(app, store, options.appLogs);
  if (options.usage) registerAnalyticsRoutes(app, store, options.usage);
  const domainServices = options.domains ?? defaultDomainServices(engine.baseDomain);
  registerDomainRoutes(app, store, domainServices);

  // ---- v2, from the same store ----

  const v2 = createV2Api({
    store,
    engine,
    appLogs: options.appLogs,
    usage: options.usage,
    domains: domainServices,
    maxBodyBytes,
    recordDeployment,
    deleteDeployment,
    readJson,
  });
  app.route("/v2", v2);
  app.route("/api/v2", v2);

  // ---- errors ----

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

  return app;

  // ---- helpers that need the store ----

  function createProject(organizationId: string, name: string, description: string) {
    try {
      return store.createProject(organizationId, { name, description });
    } catch (error) {
      if (error instanceof ProjectNameTakenError) throw nameTaken(name);
      throw error;
    }
  }

  /**
   * Stores the checked files as blobs, then records the pending deployment and its assets
   * (v1's create and v2's deploy both end here). Throws 404 when the project went away.
   */
  async function recordDeployment(
    organizationId: string,
    checked: CheckedDeployment,
    fields: Pick<NewDeployment, "id" | "projectId" | "domains" | "requestedDomains" | "revision">,
  ): Promise<DeploymentRecord> {
    const record = await blobLock.shared(async () => {
      await assertBlobsKnown(organizationId, checked.assets);
      // Blobs first, then the rows that point at them.
      const assets = await mapConcurrent(
        checked.assets,
        PUT_CONCURRENCY,
        async (asset): Promise<AssetRecord> => {
          if (!("bytes" in asset)) return asset;
          const gitSha1 = await blobs.put(asset.bytes);
          store.recordOrgBlob(organizationId, gitSha1);
          return { path: asset.path, kind: "file", gitSha1 };
        },
      );
      try {
        return store.createDeployment({
          ...fields,
          description: checked.description,
          entryPointUrl: checked.entryPointUrl,
          envVars: checked.envVars,
          databases: checked.databases,
          importMapUrl: checked.importMapUrl,
          lockFileUrl: checked.lockFileUrl,
          compilerOptions: checked.compilerOptions,
          requestTimeout: checked.requestTimeout,
          permissions: checked.permissions,
          assets,
        });
      } catch (error) {
        if (error instanceof UnknownBlobError) {
          const asset = assets.find((a) => a.gitSha1 === error.gitSha1);
          throw unknownGitSha1([asset?.path ?? error.gitSha1]);
        }
        throw error;
      }
    });
    if (!record) throw projectNotFound(fields.projectId);
    return record;
  }

  /** Hash-only assets must be blobs this organization uploaded and the store still holds. */
  async function assertBlobsKnown(organizationId: string, assets: CheckedAsset[]) {
    const unknown: string[] = [];
    for (const asset of assets) {
      if (!("gitSha1" in asset)) continue;
      const known = store.orgHasBlob(organizationId, asset.gitSha1) &&
        await blobs.has(asset.gitSha1);
      if (!known) unknown.push(asset.path);
    }
    if (unknown.length > 0) throw unknownGitSha1(unknown);
  }

  async function deleteDeployment(id: string): Promise<void> {
    await engine.deploymentDeleted(id);
    await blobLock.exclusive(async () => {
      for (const gitSha1 of store.deleteDeployment(id)) await blobs.delete(gitSha1);
    });
  }

  /** Existing lines, then live ones until the build ends; closed at once if not pending. */
  function buildLogStream(deployment: DeploymentRecord): ReadableStream<Uint8Array> {
    const encoder = new TextEncoder();
    const line = (entry: BuildLogEntry) => encoder.encode(`${JSON.stringify(entry)}\n`);
    let unsubscribe = () => {};
    return new ReadableStream<Uint8Array>({
      start(controller) {
        // Read and subscribe in one synchronous step: no line can slip in between.
        for (const entry of store.buildLogs(deployment.id)) controller.enqueue(line(entry));
        if (store.getDeploymentRecord(deployment.id)?.status !== "pending") {
          controller.close();
          return;
        }
        let open = true;
        unsubscribe = store.subscribeBuildLogs(deployment.id, (entry) => {
          if (!open) return;
          if (entry) return controller.enqueue(line(entry));
          open = false;
          unsubscribe();
          controller.close();
        });
      },
      cancel() {
        unsubscribe();
      },
    });
  }
}

// ---- JSON shapes (exactly the OpenAPI fields) ----

function organizationJson(organization: Organization): Organization {
  const { id, name, createdAt, updatedAt } = organization;
  return { id, name, createdAt, updatedAt };
}

function projectJson(project: ProjectRecord): Project {
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

// ---- errors ----

function errorJson(c: Context<Env>, status: number, code: string, message: string): Response {
  return c.json({ code, message }, status as ContentfulStatusCode);
}

function nameTaken(name: string): RequestError {
  return new RequestError(
    409,
    "projectNameTaken",
    `The project name "${name}" is already taken; choose another`,
  );
}

function unknownGitSha1(paths: string[]): RequestError {
  const named = paths.slice(0, 10).map((p) => `"${p}"`).join(", ");
  const more = paths.length > 10 ? ` and ${paths.length - 10} more` : "";
  return new RequestError(
    400,
    "unknownGitSha1",
    `Unknown gitSha1 for asset ${named}${more}: this organization has not uploaded that ` +
      `content; send the asset with its content instead`,
  );
}

// ---- HTTP helpers ----

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

function newRayId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** RFC 8288 `Link` with next/prev (when they exist), first and last, as absolute URLs. */
export function setLinkHeader(c: Context<Env>, page: number, limit: number, total: number): void {
  const last = Math.max(1, Math.ceil(total / limit));
  const link = (target: number, rel: string) => {
    const url = new URL(c.req.url);
    url.searchParams.set("page", String(target));
    return `<${url.href}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (page < last) links.push(link(page + 1, "next"));
  if (page > 1) links.push(link(Math.min(page - 1, last), "prev"));
  links.push(link(1, "first"), link(last, "last"));
  c.header("Link", links.join(", "));
}

/**
 * Reads a JSON body of at most `maxBytes`, counting as it arrives so an oversized body
 * is refused without being buffered, and parses it strictly ({@link parseStrictJson}).
 * A `Content-Type` other than JSON is 415. The whole body is still parsed in one piece: a
 * streaming parser (assets written as they arrive) is future work.
 */
export async function readJson(c: Context<Env>, maxBytes: number): Promise<unknown> {
  const tooLarge = () =>
    new RequestError(
      413,
      "payloadTooLarge",
      `The request body is larger than the limit of ${maxBytes} bytes`,
    );
  const type = c.req.header("content-type");
  // A body without a type is taken as JSON; a form or text body is a mistake worth naming.
  if (type && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new RequestError(
      415,
      "unsupportedMediaType",
      `The request body must be JSON sent with 'Content-Type: application/json', not "${type}"`,
    );
  }
  const declared = Number(c.req.header("content-length") ?? NaN);
  if (declared > maxBytes) throw tooLarge();

  // Chunks are copied into one buffer as they come, so the body (it can be over a gigabyte)
  // is held about once, not twice. The declared length is trusted only as far as the bytes
  // that arrived: past the first buffer, it grows to the declared size at once.
  const declaredSize = declared >= 0 ? declared : undefined;
  let buffer = new Uint8Array(
    declaredSize === undefined ? 64 * 1024 : Math.min(declaredSize, FIRST_BUFFER_BYTES),
  );
  let size = 0;
  try {
    for await (const chunk of c.req.raw.body ?? []) {
      const needed = size + chunk.byteLength;
      if (needed > maxBytes) throw tooLarge();
      if (needed > buffer.byteLength) {
        const doubled = Math.max(buffer.byteLength * 2, needed);
        const grown = new Uint8Array(
          Math.min(
            maxBytes,
            declaredSize !== undefined && declaredSize >= needed ? declaredSize : doubled,
          ),
        );
        grown.set(buffer.subarray(0, size));
        buffer = grown;
      }
      buffer.set(chunk, size);
      size = needed;
    }
  } catch (error) {
    if (error instanceof RequestError) throw error;
    // The client broke the body off (or framed it wrongly): its fault, not ours.
    throw new RequestError(400, "invalidBody", "The request body could not be read to its end");
  }
  if (size === 0) throw new RequestError(400, "invalidJson", "The request body is empty");
  return parseStrictJsonBytes(buffer.subarray(0, size));
}

/** The buffer a request body is first read into (it grows when the body is larger). */
const FIRST_BUFFER_BYTES = 16 * 1024 * 1024;

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep their order. */
async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Many shared holders or one exclusive holder; a waiting exclusive holder blocks new shared ones. */
class SharedExclusiveLock {
  #shared = 0;
  #exclusive = false;
  #exclusiveWaiting = 0;
  #waiters: (() => void)[] = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive || this.#exclusiveWaiting > 0) await this.#wait();
    this.#shared++;
    try {
      return await fn();
    } finally {
      this.#shared--;
      this.#wake();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.#exclusiveWaiting++;
    try {
      while (this.#exclusive || this.#shared > 0) await this.#wait();
    } finally {
      this.#exclusiveWaiting--;
    }
    this.#exclusive = true;
    try {
      return await fn();
    } finally {
      this.#exclusive = false;
      this.#wake();
    }
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}

/**
 * Hands a newly recorded deployment to the engine's build and returns it as it now stands; a
 * build that cannot even start is recorded as failed rather than left pending.
 */
export function startBuild(
  store: Store,
  engine: ApiEngine,
  record: DeploymentRecord,
): DeploymentRecord {
  try {
    engine.deploymentCreated(record.id);
  } catch (error) {
    console.error(`Could not start the build of deployment ${record.id}:`, error);
    store.appendBuildLog(record.id, "error", "The build could not be started");
    store.setDeploymentStatus(record.id, "failed");
  }
  return store.getDeploymentRecord(record.id) ?? record;
}
