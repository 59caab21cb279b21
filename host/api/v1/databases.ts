/**
 * KV database routes: `GET/POST /organizations/{id}/databases` and `PATCH /databases/{id}`,
 * with exactly the OpenAPI's `KvDatabase` objects, and two extensions that free one (a KV
 * database that filled the disk must be recoverable): `POST /databases/{id}/clear` and
 * `DELETE /databases/{id}` (409 `databaseInUse` while deployments are bound to it). A database's data lives in the host's data
 * dir (`<dataDir>/kv/<id>/`), created by the runtime when a deployment bound to it starts.
 *
 * @module
 */
import type { Hono } from "hono";
import type { QuotaGuard } from "../quotas.ts";
import type { ApiEngine } from "../engine.ts";
import type { KvDatabase } from "../../../lib/types.ts";
import { type ApiEnv, listAnswer, readJson, SMALL_BODY_BYTES } from "../http.ts";
import { isUuid } from "../../store/ids.ts";
import type { Store } from "../../store/store.ts";
import {
  createKvDatabaseBody,
  parseBody,
  RequestError,
  updateKvDatabaseBody,
} from "../validate.ts";
import { databaseNotFound, ownDatabase, ownOrganization } from "./ownership.ts";
import {
  createKvDatabase,
  deleteKvDatabase,
  deploymentsUsingKvDatabase,
  getKvDatabase,
  listKvDatabases,
  updateKvDatabase,
} from "../../store/kv_databases.ts";

/** Adds the KV database routes to the API app. */
export function registerDatabaseRoutes(
  app: Hono<ApiEnv>,
  store: Store,
  engine: ApiEngine,
  quotas: QuotaGuard,
): void {
  app.get("/v1/organizations/:organizationId/databases", (c) => {
    const organizationId = ownOrganization(c, store, c.req.param("organizationId")).id;
    return listAnswer(
      c,
      { sorts: ["created_at"], defaultSort: "created_at" },
      (query) => listKvDatabases(store, organizationId, query),
      kvDatabaseJson,
    );
  });

  app.post("/v1/organizations/:organizationId/databases", async (c) => {
    const organizationId = ownOrganization(c, store, c.req.param("organizationId")).id;
    const body = parseBody(createKvDatabaseBody, await readJson(c, SMALL_BODY_BYTES));
    quotas.assertCanCreate(organizationId, "databases");
    return c.json(kvDatabaseJson(createKvDatabase(store, organizationId, body.description ?? "")));
  });

  app.patch("/v1/databases/:databaseId", async (c) => {
    const database = ownDatabase(c, store, c.req.param("databaseId"));
    const body = parseBody(updateKvDatabaseBody, await readJson(c, SMALL_BODY_BYTES));
    const updated = updateKvDatabase(store, database.id, {
      description: body.description ?? undefined,
    });
    if (!updated) throw databaseNotFound(database.id);
    return c.json(kvDatabaseJson(updated));
  });

  // Extensions of the local host: Deploy v1 has no call that frees a KV database.

  app.post("/v1/databases/:databaseId/clear", async (c) => {
    const database = ownDatabase(c, store, c.req.param("databaseId"));
    await engine.clearKvDatabase?.(database.id, deploymentsUsingKvDatabase(store, database.id));
    return c.json(kvDatabaseJson(database));
  });

  app.delete("/v1/databases/:databaseId", async (c) => {
    const database = ownDatabase(c, store, c.req.param("databaseId"));
    const users = deploymentsUsingKvDatabase(store, database.id);
    if (users.length > 0) {
      const named = users.slice(0, 5).join(", ") + (users.length > 5 ? ", …" : "");
      throw new RequestError(
        409,
        "databaseInUse",
        `KV database ${database.id} is bound to ${users.length} deployment(s) (${named}): ` +
          "delete them or redeploy them with another database first, or empty it with " +
          `POST /v1/databases/${database.id}/clear`,
      );
    }
    await engine.clearKvDatabase?.(database.id, []);
    deleteKvDatabase(store, database.id);
    return c.body(null, 200);
  });
}

/**
 * Checks that every bound database (`{"default": id}`) is one of the organization's.
 *
 * @throws {RequestError} 400 `databaseNotFound` naming the first one that is not.
 */
export function assertDatabasesOwned(
  store: Store,
  organizationId: string,
  databases: Record<string, string>,
): void {
  for (const [name, id] of Object.entries(databases)) {
    const database = isUuid(id) ? getKvDatabase(store, id.toLowerCase()) : undefined;
    if (!database || database.organizationId !== organizationId) {
      throw new RequestError(
        400,
        "databaseNotFound",
        `databases.${name}: KV database ${id} was not found in this organization; ` +
          `create one with POST /organizations/${organizationId}/databases`,
      );
    }
  }
}

/** Exactly the OpenAPI `KvDatabase` fields. */
function kvDatabaseJson(database: KvDatabase): KvDatabase {
  const { id, organizationId, description, createdAt, updatedAt } = database;
  return { id, organizationId, description, createdAt, updatedAt };
}
