/**
 * v1 deployments: list and create (`POST /projects/{id}/deployments`, built in the
 * background), get, delete, and the build log as JSON or a live NDJSON stream.
 *
 * @module
 */
import type { Hono } from "hono";
import type { BuildLogEntry } from "../../../lib/types.ts";
import { assertAttachable } from "../domains.ts";
import { newDeploymentId } from "../../store/ids.ts";
import { ownDeployment, ownProject } from "./ownership.ts";
import { assertDatabasesOwned } from "./databases.ts";
import type { DeploymentRecord, Store } from "../../store/store.ts";
import { checkDeployment, createDeploymentBody, parseBody, resolveDomains } from "../validate.ts";
import type { DeploymentWrites } from "../deployment_writes.ts";
import { type ApiEngine, startBuild } from "../engine.ts";
import { type ApiEnv, listAnswer, readJson } from "../http.ts";
import { deploymentJson } from "./wire.ts";

/** Registers the deployment routes; create bodies may be up to `maxBodyBytes`. */
export function registerDeploymentRoutes(
  app: Hono<ApiEnv>,
  store: Store,
  engine: ApiEngine,
  writes: DeploymentWrites,
  maxBodyBytes: number,
): void {
  // ---- deployments ----

  app.get("/v1/projects/:projectId/deployments", (c) => {
    const project = ownProject(c, store, c.req.param("projectId"));
    return listAnswer(
      c,
      { sorts: ["id", "created_at"], defaultSort: "created_at" },
      (query) => store.listDeployments(project.id, query),
      deploymentJson,
    );
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

    const record = await writes.record(organizationId, checked, {
      id,
      projectId: project.id,
      domains,
      requestedDomains: body.domains ?? null,
      enableCron: body.enableCron ?? false,
    });
    return c.json(deploymentJson(startBuild(store, engine, record)));
  });

  app.get("/v1/deployments/:deploymentId", (c) => {
    return c.json(deploymentJson(ownDeployment(c, store, c.req.param("deploymentId"))));
  });

  app.delete("/v1/deployments/:deploymentId", async (c) => {
    await writes.delete(ownDeployment(c, store, c.req.param("deploymentId")).id);
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
