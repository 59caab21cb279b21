/**
 * Redeploy routes: `POST /deployments/{id}/redeploy` (notes A5) makes a new deployment from an
 * existing one — same files, entry point and build options, settings merged by
 * {@link mergeRedeploy} — and builds it. Deployments stay immutable.
 *
 * Also a local-host extension that Deno Deploy does not have: `GET /deployments/{id}/env_vars`
 * answers `{envVars}`, so `env list` can show what a redeploy would merge into.
 *
 * @module
 */
import type { Hono } from "hono";
import type { QuotaGuard } from "../quotas.ts";
import { type ApiEngine, startBuild } from "../engine.ts";
import { type ApiEnv, readJson, SMALL_BODY_BYTES } from "../http.ts";
import { deploymentJson } from "./wire.ts";
import { assertAttachable } from "../domains.ts";
import { newDeploymentId } from "../../store/ids.ts";
import { mergeRedeploy } from "./redeploy_body.ts";
import { assertDatabasesOwned } from "./databases.ts";
import type { Store } from "../../store/store.ts";
import { parseBody, redeployBody, resolveDomains } from "../validate.ts";
import { deploymentNotFound, ownDeployment } from "./ownership.ts";

/** Adds the redeploy and env var routes to the API app. */
export function registerRedeployRoutes(
  app: Hono<ApiEnv>,
  store: Store,
  engine: ApiEngine,
  quotas: QuotaGuard,
): void {
  app.post("/v1/deployments/:deploymentId/redeploy", async (c) => {
    const source = ownDeployment(c, store, c.req.param("deploymentId"));
    const organizationId = c.get("organizationId");
    const body = parseBody(redeployBody, await readJson(c, SMALL_BODY_BYTES));
    const settings = mergeRedeploy(source, body);
    quotas.assertCanCreate(organizationId, "deployments");
    assertDatabasesOwned(store, organizationId, settings.databases);

    // The new deployment asks for the domains the original asked for (null: the default).
    const id = newDeploymentId();
    const requestedDomains = source.requestedDomains ?? null;
    const domains = requestedDomains === null ? null : resolveDomains(requestedDomains, {
      projectName: source.projectName,
      deploymentId: id,
      baseDomain: engine.baseDomain,
    });
    for (const domain of domains ?? []) {
      assertAttachable(store, organizationId, domain, engine.baseDomain);
    }

    // One transaction: the original cannot be deleted between reading its files and
    // recording the copy, so the blobs they share are never freed under us.
    const record = store.transaction(() => {
      if (!store.getDeploymentRecord(source.id)) return undefined;
      return store.createDeployment({
        id,
        projectId: source.projectId,
        entryPointUrl: source.entryPointUrl,
        importMapUrl: source.importMapUrl,
        lockFileUrl: source.lockFileUrl,
        compilerOptions: source.compilerOptions,
        ...settings,
        domains,
        requestedDomains,
        enableCron: source.enableCron,
        runtimeArgs: source.runtimeArgs,
        assets: store.listDeploymentAssets(source.id),
      });
    });
    if (!record) throw deploymentNotFound(source.id);

    return c.json(deploymentJson(startBuild(store, engine, record)));
  });

  app.get("/v1/deployments/:deploymentId/env_vars", (c) => {
    const deployment = ownDeployment(c, store, c.req.param("deploymentId"));
    return c.json({ envVars: deployment.envVars });
  });
}
