/**
 * v1 organizations and projects: `GET /organizations/{org}`, list and create projects, and
 * `GET/PATCH/DELETE /projects/{id}` (a rename moves every host name of the project).
 *
 * @module
 */
import type { Hono } from "hono";
import type { QuotaGuard } from "../quotas.ts";
import { randomProjectName } from "../../store/ids.ts";
import { ownOrganization, ownProject, projectNotFound } from "./ownership.ts";
import { ProjectNameTakenError, type Store } from "../../store/store.ts";
import {
  assertProjectName,
  createProjectBody,
  parseBody,
  RequestError,
  updateProjectBody,
} from "../validate.ts";
import type { DeploymentWrites } from "../deployment_writes.ts";
import type { ApiEngine } from "../engine.ts";
import { type ApiEnv, listAnswer, readJson, SMALL_BODY_BYTES } from "../http.ts";
import { organizationJson, projectJson } from "./wire.ts";

/** Registers the organization and project routes. */
export function registerProjectRoutes(
  app: Hono<ApiEnv>,
  store: Store,
  engine: ApiEngine,
  writes: DeploymentWrites,
  quotas: QuotaGuard,
): void {
  // ---- organizations ----

  app.get("/v1/organizations/:organizationId", (c) => {
    return c.json(organizationJson(ownOrganization(c, store, c.req.param("organizationId"))));
  });

  // ---- projects ----

  app.get("/v1/organizations/:organizationId/projects", (c) => {
    const organization = ownOrganization(c, store, c.req.param("organizationId"));
    return listAnswer(
      c,
      { sorts: ["name", "updated_at"], defaultSort: "updated_at" },
      (query) => store.listProjects(organization.id, query),
      projectJson,
    );
  });

  app.post("/v1/organizations/:organizationId/projects", async (c) => {
    const organization = ownOrganization(c, store, c.req.param("organizationId"));
    const body = parseBody(createProjectBody, await readJson(c, SMALL_BODY_BYTES));
    const description = body.description ?? "";
    quotas.assertCanCreate(organization.id, "projects");
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
    await writes.deleteProject(project.id);
    return c.body(null, 200);
  });

  function createProject(organizationId: string, name: string, description: string) {
    try {
      return store.createProject(organizationId, { name, description });
    } catch (error) {
      if (error instanceof ProjectNameTakenError) throw nameTaken(name);
      throw error;
    }
  }
}

function nameTaken(name: string): RequestError {
  return new RequestError(
    409,
    "projectNameTaken",
    `The project name "${name}" is already taken; choose another`,
  );
}
