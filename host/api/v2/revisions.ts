/**
 * v2 revisions: `POST /apps/{app}/deploy` (202), `GET /apps/{app}/revisions`, `GET/PATCH/DELETE
 * /revisions/{id}`, `cancel`, `promote`, `progress` and `build_logs` (SSE or NDJSON, ending
 * when the build does), timelines, and attaching or detaching host names. A revision is a
 * deployment: it is built, checked and served exactly as a v1 deployment is.
 *
 * @module
 */
import type { Hono } from "hono";
import { z } from "zod";
import type { BuildLogEntry } from "../../../lib/types.ts";
import { stripJsonComments } from "../../../lib/config.ts";
import { startBuild } from "../engine.ts";
import { isProduction, productionNames } from "../../build/builder.ts";
import { assertAttachable } from "../domains.ts";
import { movingProduction } from "../production_context.ts";
import { newDeploymentId } from "../../store/ids.ts";
import { appSettings } from "../../store/app_settings.ts";
import {
  checkDeployment,
  createDeploymentBody,
  parseBody,
  RequestError,
  resolveDomains,
} from "../validate.ts";
import { appConfig } from "./apps.ts";
import {
  invalid,
  ownApp,
  ownLayer,
  ownRevision,
  pageOf,
  paginate,
  param,
  SMALL_BODY_BYTES,
  type V2Context,
  type V2Deps,
  type V2Env,
} from "./common.ts";
import { revisionProgress } from "./progress.ts";
import {
  isTerminal,
  revisionJson,
  revisionListItemJson,
  revisionStatus,
  timelineObjects,
} from "./wire.ts";

const target = z.union([
  z.boolean(),
  z.strictObject({
    domains: z.array(z.string()).optional(),
    databases: z.array(z.strictObject({ instance: z.string(), name: z.string() })).optional(),
  }),
]);

const deployBody = z.strictObject({
  assets: z.record(
    z.string(),
    z.union([
      z.strictObject({
        kind: z.literal("file").optional(),
        encoding: z.enum(["utf-8", "base64"]).optional(),
        content: z.string(),
      }),
      z.strictObject({ kind: z.literal("symlink"), target: z.string() }),
    ]),
  ),
  config: appConfig.optional(),
  layers: z.array(z.string()).optional(),
  env_vars: z.array(z.strictObject({ key: z.string(), value: z.string() })).optional(),
  labels: z.record(
    z.string().min(1).max(128),
    z.union([z.string().max(256), z.array(z.string().max(256)).max(16)]),
  ).refine((value) => Object.keys(value).length <= 32, { message: "at most 32 labels" })
    .optional(),
  production: target.optional(),
  preview: target.optional(),
  retention: z.string().optional(),
});

/** The options of a `deploy` key that make it the app configuration (deploy/reference/builds.md). */
const CONFIG_OPTIONS = ["framework", "install", "build", "predeploy", "runtime"];

/**
 * The app configuration in the deployed `deno.json` or `deno.jsonc` (its `deploy` key, when that
 * holds any of {@link CONFIG_OPTIONS}), checked as the API's `config`; `undefined` when none.
 */
function configFromSource(
  assets: Record<string, { content: string; encoding?: string } | { kind: "symlink" }>,
): z.infer<typeof appConfig> | undefined {
  for (const name of ["deno.json", "deno.jsonc"]) {
    const asset = assets[name];
    if (!asset || !("content" in asset)) continue;
    const text = asset.encoding === "base64"
      ? new TextDecoder().decode(Uint8Array.fromBase64(asset.content))
      : asset.content;
    let deploy: unknown;
    try {
      deploy = (JSON.parse(stripJsonComments(text)) as { deploy?: unknown })?.deploy;
    } catch {
      return undefined; // not JSON: Deno reports it when the app starts
    }
    if (typeof deploy !== "object" || deploy === null) return undefined;
    const options = Object.fromEntries(
      Object.entries(deploy).filter(([key]) => CONFIG_OPTIONS.includes(key)),
    );
    if (Object.keys(options).length === 0) return undefined;
    // In deno.json `type` may be left out: dynamic is the default.
    const runtime = options.runtime;
    if (typeof runtime === "object" && runtime !== null && !("type" in runtime)) {
      options.runtime = { type: "dynamic", ...runtime };
    }
    const checked = appConfig.safeParse(options);
    if (!checked.success) {
      throw invalid(
        `${name}: "deploy" is not a valid app configuration: ${checked.error.issues[0]?.message}`,
      );
    }
    return checked.data;
  }
  return undefined;
}

/** Entry points tried, in order, when neither the revision nor the app names one. */
const ENTRYPOINTS = ["main.ts", "main.js", "mod.ts", "index.ts", "index.js", "src/main.ts"];

/** v2's template variables → v1's placeholders (the rest are filled in here). */
const TEMPLATES: Record<string, string> = {
  "{deno.app.slug}": "{project.name}",
  "{deno.revision.id}": "{deployment.id}",
};

/** Registers the revision routes. */
export function registerRevisionRoutes(v2: Hono<V2Env>, deps: V2Deps): void {
  const { store, engine } = deps;
  const baseDomain = engine.baseDomain;

  v2.post("/apps/:app/deploy", async (c) => {
    const project = ownApp(c, store, c.req.param("app"));
    const organizationId = c.get("organizationId");
    const body = parseBody(deployBody, await deps.readJson(c, deps.maxBodyBytes));
    if (body.retention !== undefined && body.retention !== "auto") {
      throw new RequestError(
        403,
        "REVISION_RETENTION_NOT_AVAILABLE",
        'Revision retention other than "auto" is not available on the local host',
      );
    }
    // As Deploy's builds: app configuration in the source's deno.json(c) `deploy` key wins over
    // the deploy's and the app's, entirely (deploy/reference/builds.md).
    const sourceConfig = configFromSource(body.assets);
    const config = sourceConfig ?? body.config ?? appSettings(store, project.id)?.config ?? null;
    const entrypoint = entrypointOf(config, Object.keys(body.assets));
    for (const which of ["production", "preview"] as const) {
      const value = body[which];
      if (typeof value === "object" && value.databases?.length) {
        throw invalid(
          `${which}.databases: database bindings are not supported by the local host; ` +
            "KV is bound with v1's databases.default",
        );
      }
    }
    const checked = checkDeployment(parseBody(createDeploymentBody, {
      entryPointUrl: entrypoint,
      assets: Object.fromEntries(
        Object.entries(body.assets).map(([path, asset]) => [path, { kind: "file", ...asset }]),
      ),
      envVars: Object.fromEntries((body.env_vars ?? []).map(({ key, value }) => [key, value])),
    }));
    const id = newDeploymentId();
    const requested = requestedDomains(body.production ?? true, body.preview ?? false, baseDomain);
    const context = {
      projectName: project.name,
      deploymentId: id,
      baseDomain,
      organizationSlug: store.getOrganization(organizationId)!.slug,
    };
    const domains = resolveDomains(
      requested.map((d) => fillTemplates(d, project.id, organizationId)),
      context,
    );
    for (const domain of domains) assertAttachable(store, organizationId, domain, baseDomain);
    const record = await deps.writes.record(organizationId, checked, {
      id,
      projectId: project.id,
      domains,
      requestedDomains: requested,
      // v2 runs Deno.cron jobs unless the config says `crons: false`.
      enableCron: config?.crons !== false,
      runtimeArgs: (config?.runtime as { args?: string[] } | undefined)?.args ?? [],
      revision: {
        labels: body.labels ?? {},
        config: sourceConfig ?? body.config ?? null,
        layerIds: body.layers?.map((ref) => ownLayer(c, store, ref).id) ?? null,
        preview: body.preview !== undefined && body.preview !== false,
      },
    });
    return c.json(revisionJson(store, startBuild(store, engine, record), baseDomain), 202);
  });

  v2.get("/apps/:app/revisions", (c) => {
    const project = ownApp(c, store, c.req.param("app"));
    const status = param(c, "status");
    const page = pageOf(
      c,
      (offset, limit) => store.listRevisionPage(project.id, { offset, limit, status }),
    );
    return c.json(page.map(revisionListItemJson));
  });

  v2.get("/apps/:app/timelines", (c) => {
    const project = ownApp(c, store, c.req.param("app"));
    // Only a built revision holding the v2 production name has the production timeline.
    const [, name] = productionNames(
      project.name,
      store.getOrganization(project.organizationId)!.slug,
      baseDomain,
    );
    const production = store.listBuiltDeploymentsNamed(project.id, name)
      .filter((r) => isProduction(r, baseDomain));
    const timelines = production.flatMap((r) => timelineObjects(r, baseDomain))
      .filter((t) => t.slug === "production");
    return c.json(paginate(c, timelines));
  });

  v2.get("/revisions/:id", (c) => {
    return c.json(revisionJson(store, ownRevision(c, store, c.req.param("id")), baseDomain));
  });

  v2.patch("/revisions/:id", async (c) => {
    const record = ownRevision(c, store, c.req.param("id"));
    const body = parseBody(
      z.strictObject({ retention: z.string().optional() }),
      await deps.readJson(c, SMALL_BODY_BYTES),
    );
    if (body.retention !== undefined && body.retention !== "auto") {
      throw new RequestError(
        403,
        "REVISION_RETENTION_NOT_AVAILABLE",
        'Revision retention other than "auto" is not available on the local host',
      );
    }
    return c.json(revisionJson(store, record, baseDomain));
  });

  v2.delete("/revisions/:id", async (c) => {
    const record = ownRevision(c, store, c.req.param("id"));
    if (!isTerminal(record)) {
      throw new RequestError(409, "REVISION_BUILDING", `Revision ${record.id} is still building`);
    }
    if (isProduction(record, baseDomain)) {
      throw new RequestError(
        409,
        "REVISION_ROUTED",
        `Revision ${record.id} serves production: deploy or promote another revision first`,
      );
    }
    await deps.writes.delete(record.id);
    return c.body(null, 204);
  });

  v2.post("/revisions/:id/cancel", (c) => {
    const record = ownRevision(c, store, c.req.param("id"));
    if (!isTerminal(record)) store.requestCancellation(record.id);
    return c.json(revisionJson(store, store.getDeploymentRecord(record.id) ?? record, baseDomain));
  });

  v2.post("/revisions/:id/promote", async (c) => {
    const record = ownRevision(c, store, c.req.param("id"));
    if (record.status !== "success") {
      throw new RequestError(
        409,
        "REVISION_NOT_READY",
        `Revision ${record.id} is ${revisionStatus(record)}: only a built revision can be promoted`,
      );
    }
    await movingProduction(store, engine, record, () => {
      for (const name of productionNames(record.projectName, record.organizationSlug, baseDomain)) {
        store.attachDomain(record.id, name);
      }
    });
    return c.body(null, 204);
  });

  v2.get("/revisions/:id/timelines", (c) => {
    return c.json(timelineObjects(ownRevision(c, store, c.req.param("id")), baseDomain));
  });

  v2.get("/revisions/:id/progress", (c) => {
    const record = ownRevision(c, store, c.req.param("id"));
    const sse = wantsSse(c);
    let last = "";
    return eventStream(c, sse, record.id, (emit) => {
      const now = store.getDeploymentRecord(record.id);
      if (!now) return;
      const json = JSON.stringify(revisionProgress(now, baseDomain));
      if (json !== last) emit(json);
      last = json;
    });
  });

  v2.put("/revisions/:id/domains", async (c) => {
    const record = ownRevision(c, store, c.req.param("id"));
    const body = parseBody(
      z.strictObject({
        production: z.array(z.string()).optional(),
        preview: z.array(z.string()).optional(),
      }),
      await deps.readJson(c, SMALL_BODY_BYTES),
    );
    if (record.status !== "success") {
      throw new RequestError(
        409,
        "REVISION_NOT_READY",
        `Revision ${record.id} is ${revisionStatus(record)}: only a built revision serves names`,
      );
    }
    const names = resolveDomains(
      [...body.production ?? [], ...body.preview ?? []].map((d) =>
        fillTemplates(d, record.projectId, record.organizationId)
      ),
      {
        projectName: record.projectName,
        deploymentId: record.id,
        baseDomain,
        organizationSlug: record.organizationSlug,
      },
    );
    for (const name of names) {
      assertAttachable(store, record.organizationId, name, baseDomain);
    }
    await movingProduction(store, engine, record, () => {
      for (const name of names) store.attachDomain(record.id, name);
    });
    return c.body(null, 204);
  });

  v2.delete("/revisions/:id/domains/:hostname", async (c) => {
    const record = ownRevision(c, store, c.req.param("id"));
    const [name] = resolveDomains(
      [fillTemplates(c.req.param("hostname"), record.projectId, record.organizationId)],
      {
        projectName: record.projectName,
        deploymentId: record.id,
        baseDomain,
        organizationSlug: record.organizationSlug,
      },
    );
    const detached = await movingProduction(
      store,
      engine,
      record,
      () => store.detachDomain(record.id, name),
    );
    if (!detached) {
      throw new RequestError(
        404,
        "DOMAIN_NOT_ATTACHED",
        `${name} is not attached to revision ${record.id}`,
      );
    }
    return c.body(null, 204);
  });

  v2.get("/revisions/:id/build_logs", (c) => {
    const record = ownRevision(c, store, c.req.param("id"));
    const sse = wantsSse(c);
    const step = param(c, "step");
    let sent = 0;
    return eventStream(c, sse, record.id, (emit) => {
      const entries = store.buildLogs(record.id);
      for (; sent < entries.length; sent++) {
        const entry = buildLogJson(entries[sent]);
        if (step === undefined || step === entry.step) emit(JSON.stringify(entry));
      }
    });
  });

  /**
   * A stream of JSON events (SSE `data:` events or NDJSON lines): `update` runs now, on every
   * build log line, and once more when the build ends; then the stream closes.
   */
  function eventStream(
    c: V2Context,
    sse: boolean,
    id: string,
    update: (emit: (json: string) => void) => void,
  ): Response {
    const encoder = new TextEncoder();
    let unsubscribe = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        const emit = (json: string) =>
          controller.enqueue(encoder.encode(sse ? `data: ${json}\n\n` : `${json}\n`));
        // Read and subscribe in one synchronous step: no line can slip in between.
        update(emit);
        unsubscribe = store.subscribeBuildLogs(id, (entry) => {
          update(emit);
          if (entry !== null) return;
          unsubscribe();
          controller.close();
        });
      },
      cancel() {
        unsubscribe();
      },
    });
    return c.body(stream, 200, {
      "content-type": sse ? "text/event-stream" : "application/x-ndjson",
      "cache-control": "no-store",
    });
  }
}

/** v2 `BuildLogEntry` of a stored line. */
function buildLogJson(entry: BuildLogEntry): Record<string, string> {
  return {
    timestamp: new Date().toISOString(),
    level: entry.level === "warning" ? "warn" : entry.level,
    message: entry.message,
    step: "building",
  };
}

function wantsSse(c: V2Context): boolean {
  return (c.req.header("accept") ?? "").includes("text/event-stream");
}

/** The domains of a deploy request (v1 placeholders) for `production` and `preview`. */
function requestedDomains(
  production: boolean | { domains?: string[] },
  preview: boolean | { domains?: string[] },
  base: string,
): string[] {
  const domains: string[] = [];
  // The revision's own name is always there: every revision is reachable for checks.
  if (typeof preview === "object" && preview.domains) domains.push(...preview.domains);
  domains.push(`{project.name}-{deployment.id}.${base}`);
  if (production === true) domains.push(`{project.name}.${base}`);
  else if (typeof production === "object") {
    domains.push(...production.domains ?? [`{project.name}.${base}`]);
  }
  return domains;
}

/** v2's templates as v1 placeholders, and the ones only known here filled in. */
function fillTemplates(domain: string, appId: string, organizationId: string): string {
  let out = domain;
  for (const [v2, v1] of Object.entries(TEMPLATES)) out = out.replaceAll(v2, v1);
  return out.replaceAll("{deno.app.id}", appId).replaceAll(
    "{deno.organization.id}",
    organizationId,
  );
}

function entrypointOf(config: Record<string, unknown> | null, paths: string[]): string {
  const runtime = config?.runtime as { type?: string; entrypoint?: string } | undefined;
  if (runtime?.type === "static") {
    throw invalid('Static apps (config.runtime.type "static") are not supported by the local host');
  }
  if (config?.framework) {
    throw invalid(
      `Framework presets (config.framework "${config.framework}") are not supported by the ` +
        "local host: give config.runtime.entrypoint",
    );
  }
  if (runtime?.entrypoint) return runtime.entrypoint.replace(/^\.\//, "");
  const found = ENTRYPOINTS.find((path) => paths.includes(path));
  if (!found) {
    throw invalid(
      `No entry point: set config.runtime {"type":"dynamic","entrypoint":"main.ts"} on the ` +
        `app or the deploy, or ship one of ${ENTRYPOINTS.join(", ")}`,
    );
  }
  return found;
}
